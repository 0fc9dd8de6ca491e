/**
 * Random MAP/COPY/UNMAP/unmap-all/ALLOW_IOVAS/reserve sequences over two
 * IOASes: the io_pagetable must agree with the reference model on every
 * errno, chosen IOVA and unmapped length; with domains attached the pin and
 * accounting counters must equal "once per page in use", domain effects
 * replayed must equal the expected domain mappings, and closing must release
 * everything.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  applyEffectsToFlat, createIopt, ioptAddDomain, ioptAllowIovas, ioptCopy, ioptDestroy, ioptDomainMappings,
  ioptMapUserPages, ioptReserve, ioptUnmap, ioptUnmapAll, type DomainEffect, type IoPagetable,
} from '../../actors/iommufd/io_pagetable.ts';
import { totalPins } from '../../hardware/physmem.ts';
import { RefIoas } from './reference.ts';
import { BUFFER_VA, PAGE, RO, RW, lockedVm, setup, wideDomain, type Fx } from './fixture.ts';

const MAX = 0xffffffffffffffffn;

type Op =
  | { k: 'map'; ioas: number; fixed: boolean; iova: bigint; uptr: bigint; length: bigint; write: boolean }
  | { k: 'copy'; src: number; dst: number; srcIova: bigint; length: bigint; fixed: boolean; dstIova: bigint; write: boolean }
  | { k: 'unmap'; ioas: number; iova: bigint; length: bigint }
  | { k: 'unmapAll'; ioas: number }
  | { k: 'allow'; ioas: number; ranges: Array<{ start: bigint; last: bigint }> }
  | { k: 'reserve'; ioas: number; start: bigint; last: bigint };

function opsArb(pagesOnly: boolean, bufferPages: number) {
  const pg = (n: number) => BigInt(n) * PAGE;
  const iova = pagesOnly
    ? fc.integer({ min: 0, max: 48 }).map(pg)
    : fc.oneof(
      fc.integer({ min: 0, max: 48 }).map(pg),
      fc.integer({ min: 0, max: 48 * 8 }).map((n) => BigInt(n) * 512n),
      fc.constantFrom(MAX - PAGE, MAX - 2n * PAGE + 1n, 1n),
    );
  const length = pagesOnly
    ? fc.integer({ min: 0, max: 6 }).map(pg)
    : fc.oneof(fc.integer({ min: 0, max: 6 }).map(pg), fc.constantFrom(1n, 2048n, 6144n, MAX / 2n, MAX - 1n));
  const uptr = pagesOnly
    ? fc.integer({ min: 0, max: bufferPages - 6 }).map((n) => BUFFER_VA + pg(n))
    : fc.oneof(
      fc.integer({ min: 0, max: 32 }).map((n) => BUFFER_VA + pg(n)),
      fc.constantFrom(0n, BUFFER_VA + 2048n, BUFFER_VA + 1n, MAX - PAGE, 0x123000n),
    );
  const ioas = fc.integer({ min: 0, max: 1 });
  const range = fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: -1, max: 30 }))
    .map(([s, l]) => ({ start: pg(s), last: pg(s) + pg(l) + (l < 0 ? 0n : PAGE - 1n) }));
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant('map' as const), ioas, fixed: fc.boolean(), iova, uptr, length, write: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('copy' as const), src: ioas, dst: ioas, srcIova: iova, length, fixed: fc.boolean(), dstIova: iova, write: fc.boolean() }) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('unmap' as const), ioas, iova, length }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('unmapAll' as const), ioas }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('allow' as const), ioas, ranges: fc.array(range, { maxLength: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('reserve' as const), ioas, start: iova, last: iova }) },
  );
  return fc.array(op, { maxLength: 40 });
}

interface Outcome {
  errno: number;
  iova?: bigint;
  unmapped?: bigint;
}

function runReal(fx: Fx, iopts: IoPagetable[], op: Op, effects: DomainEffect[]): Outcome {
  const prot = (w: boolean) => (w ? RW : RO);
  switch (op.k) {
    case 'map': {
      const r = ioptMapUserPages(iopts[op.ioas], fx.env, {
        pid: fx.mm.pid, uptr: op.uptr, length: op.length, iova: op.iova, prot: prot(op.write), fixed: op.fixed,
      });
      effects.push(...r.effects);
      return r.errno ? { errno: r.errno } : { errno: 0, iova: r.iova };
    }
    case 'copy': {
      const r = ioptCopy(iopts[op.src], iopts[op.dst], fx.env, {
        srcIova: op.srcIova, length: op.length, dstIova: op.dstIova, prot: prot(op.write), fixed: op.fixed,
      });
      effects.push(...r.effects);
      return r.errno ? { errno: r.errno } : { errno: 0, iova: r.iova };
    }
    case 'unmap': {
      const r = ioptUnmap(iopts[op.ioas], fx.env, op.iova, op.length);
      effects.push(...r.effects);
      return { errno: r.errno, unmapped: r.unmapped };
    }
    case 'unmapAll': {
      const r = ioptUnmapAll(iopts[op.ioas], fx.env);
      effects.push(...r.effects);
      return { errno: r.errno, unmapped: r.unmapped };
    }
    case 'allow':
      return { errno: ioptAllowIovas(iopts[op.ioas], fx.env, op.ranges) };
    case 'reserve':
      return { errno: ioptReserve(iopts[op.ioas], fx.env, 'test', op.start, op.last >= op.start ? op.last : op.start) };
  }
}

function runRef(refs: RefIoas[], op: Op): Outcome {
  switch (op.k) {
    case 'map': {
      const r = refs[op.ioas].map(op.uptr, op.length, op.fixed, op.iova, op.write);
      return r.errno ? { errno: r.errno } : r;
    }
    case 'copy': {
      const r = refs[op.src].copyTo(refs[op.dst], op.srcIova, op.length, op.fixed, op.dstIova, op.write);
      return r.errno ? { errno: r.errno } : r;
    }
    case 'unmap':
      return refs[op.ioas].unmap(op.iova, op.length);
    case 'unmapAll':
      return refs[op.ioas].unmapAll();
    case 'allow':
      return { errno: refs[op.ioas].allowIovas(op.ranges) };
    case 'reserve':
      return { errno: refs[op.ioas].reserve(op.start, op.last >= op.start ? op.last : op.start) };
  }
}

function areasOf(iopt: IoPagetable): Array<[bigint, bigint]> {
  return iopt.areas.map((a) => [a.iova, a.last]);
}

/** Expected pins: per pages object, the distinct page indices under filled areas. */
function expectedPinned(fx: Fx, iopts: IoPagetable[]): number {
  const per: Record<number, Set<number>> = {};
  for (const iopt of iopts) {
    for (const a of iopt.areas) {
      if (!a.filled) continue;
      const s = (per[a.pagesId] ??= new Set());
      for (let i = a.firstIndex; i <= a.lastIndex; i++) s.add(i);
    }
  }
  let n = 0;
  for (const id in per) {
    expect(fx.env.pagesTable.pages[Number(id)].npinned).toBe(per[id].size);
    n += per[id].size;
  }
  return n;
}

function flatExpected(fx: Fx, iopts: IoPagetable[], domainIds: number[]): Record<string, Record<string, number>> {
  const flat: Record<string, Record<string, number>> = {};
  iopts.forEach((iopt, i) => {
    if (domainIds[i] === undefined) return;
    flat[domainIds[i]] = {};
    applyEffectsToFlat(flat, ioptDomainMappings(iopt, fx.env, domainIds[i]));
  });
  return flat;
}

describe('io_pagetable vs reference model', () => {
  it('random MAP/COPY/UNMAP/ALLOW_IOVAS sequences agree on every result and errno (no domain)', () => {
    fc.assert(fc.property(opsArb(false, 64), (ops) => {
      const fx = setup({ bufferPages: 64 });
      const iopts = [fx.iopt, createIopt()];
      const refs = [new RefIoas(1n), new RefIoas(1n)];
      for (const op of ops) {
        const got = runReal(fx, iopts, op, []);
        const want = runRef(refs, op);
        expect(got, JSON.stringify(op, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))).toEqual(want);
        expect(areasOf(iopts[0])).toEqual(refs[0].sortedAreas());
        expect(areasOf(iopts[1])).toEqual(refs[1].sortedAreas());
      }
      expect(totalPins(fx.world.pm)).toBe(0);
    }), { numRuns: 400 });
  });

  it('with domains: same results, pins once per page, effects replay to the expected mappings, close releases all', () => {
    fc.assert(fc.property(opsArb(true, 64), fc.boolean(), (ops, secondDomain) => {
      const fx = setup({ bufferPages: 64 });
      const iopts = [fx.iopt, createIopt()];
      const refs = [new RefIoas(4096n), new RefIoas(secondDomain ? 4096n : 1n)];
      const domainIds = secondDomain ? [1, 2] : [1];
      const flat: Record<string, Record<string, number>> = {};
      domainIds.forEach((id, i) => {
        const r = ioptAddDomain(iopts[i], fx.env, wideDomain(id));
        expect(r.errno).toBe(0);
        applyEffectsToFlat(flat, r.effects);
      });
      for (const d of domainIds) flat[d] ??= {};
      for (const op of ops) {
        const effects: DomainEffect[] = [];
        const got = runReal(fx, iopts, op, effects);
        expect(got).toEqual(runRef(refs, op));
        applyEffectsToFlat(flat, effects);
        expect(flat).toEqual(flatExpected(fx, iopts, domainIds));
        const n = expectedPinned(fx, iopts);
        expect(totalPins(fx.world.pm)).toBe(n);
        expect(lockedVm(fx)).toBe(n);
        expect(fx.mm.pinnedVm).toBe(n);
      }
      for (const iopt of iopts) applyEffectsToFlat(flat, ioptDestroy(iopt, fx.env).effects);
      for (const d of domainIds) expect(flat[d]).toEqual({});
      expect([totalPins(fx.world.pm), lockedVm(fx), fx.mm.pinnedVm]).toEqual([0, 0, 0]);
      expect(Object.keys(fx.env.pagesTable.pages)).toEqual([]);
    }), { numRuns: 200 });
  });
});
