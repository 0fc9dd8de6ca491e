/**
 * Random MAP (fixed/automatic) / COPY / UNMAP (incl. unmap-all) /
 * ALLOW_IOVAS / DESTROY (+ re-ALLOC) sequences on 1–2 IOASes, through the
 * raw ABI of a Simulation, judged by the reference model in reference.ts:
 * every errno and every written-back field must agree, the mapped intervals
 * of each IOAS must agree at the end, and after close nothing is pinned, no
 * locked memory is charged, no iopt_pages and no object actor is left.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IOMMU_IOAS_ALLOW_IOVAS } from '../../uapi/ioctl.ts';
import { encodeArray } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import type { XStateActor } from '../../actors/runtime/xstate-actor.ts';
import {
  PAGE, copy, destroy, iommufdActors, ioasAlloc, journalOf, lockedTotal, map, packArg, pins, rawBytes, sameBytes, scratch,
  setup, unmap, type H,
} from './helpers.ts';
import { MAX, RefCtx, type Range } from './reference.ts';

type Op =
  | { k: 'map'; ioas: number; flags: number; iova: bigint; va: bigint; length: bigint }
  | { k: 'copy'; src: number; dst: number; flags: number; srcIova: bigint; dstIova: bigint; length: bigint }
  | { k: 'unmap'; ioas: number; iova: bigint; length: bigint }
  | { k: 'unmapAll'; ioas: number }
  | { k: 'allow'; ioas: number; ranges: Range[] }
  | { k: 'destroy'; ioas: number }
  | { k: 'alloc' }
  /** Aimed at an existing interval of the reference (resolved at run time): [start + dStart, last + dEnd]. */
  | { k: 'unmapAt'; ioas: number; pick: number; dStart: bigint; dEnd: bigint }
  | { k: 'copyAt'; src: number; dst: number; flags: number; pick: number; dStart: bigint; dEnd: bigint; dstIova: bigint };

const BUF = 0x40000000n;
const pg = (n: number) => BigInt(n) * PAGE;

const ioasId = fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 4, arbitrary: fc.constant(2) }, { weight: 1, arbitrary: fc.constantFrom(0, 3) });
const flags = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(6, 7, 6, 7, 4, 5, 2, 3) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 8, 0x86) },
);
const iova = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 24 }).map(pg) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 200 }).map((n) => BigInt(n) * 512n) },
  { weight: 1, arbitrary: fc.constantFrom(MAX, MAX - PAGE + 1n, 1n) },
);
const length = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 1, max: 4 }).map(pg) },
  { weight: 2, arbitrary: fc.constantFrom(0n, 1n, 0x800n, 0x1800n, 0x123n) },
  { weight: 1, arbitrary: fc.constantFrom(MAX, MAX - 1n, 1n << 63n) },
);
/** UNMAP ranges are wider so they often contain whole areas. */
const unmapLength = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 1, max: 24 }).map(pg) },
  { weight: 1, arbitrary: fc.constantFrom(0n, 0x800n, MAX, MAX - 1n) },
);
const va = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 16 }).map((n) => BUF + pg(n)) },
  { weight: 2, arbitrary: fc.constantFrom(0n, BUF + 0x800n, BUF + 0x123n, 0x7000n) },
  { weight: 1, arbitrary: fc.constantFrom(MAX - PAGE + 1n, MAX) },
);
const range = fc.tuple(fc.integer({ min: 0, max: 48 }), fc.integer({ min: -1, max: 24 }))
  .map(([s, l]): Range => ({ start: pg(s), last: pg(s) + pg(l) + (l < 0 ? 0n : PAGE - 1n) }));

/** How far an aimed range sticks out of (or into) its interval. */
const delta = fc.oneof({ weight: 4, arbitrary: fc.constant(0n) }, { weight: 2, arbitrary: fc.constantFrom(-PAGE, PAGE, -0x800n, 0x800n, 2n * PAGE) });

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('map' as const), ioas: ioasId, flags, iova, va, length }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('copy' as const), src: ioasId, dst: ioasId, flags, srcIova: iova, dstIova: iova, length }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('unmap' as const), ioas: ioasId, iova, length: unmapLength }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('unmapAll' as const), ioas: ioasId }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('allow' as const), ioas: ioasId, ranges: fc.array(range, { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('destroy' as const), ioas: ioasId }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('alloc' as const) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('unmapAt' as const), ioas: ioasId, pick: fc.nat(7), dStart: delta, dEnd: delta }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('copyAt' as const), src: ioasId, dst: ioasId, flags, pick: fc.nat(7), dStart: delta, dEnd: delta, dstIova: iova }) },
);
const program = fc.record({ two: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), ops: fc.array(op, { minLength: 4, maxLength: 40, size: 'max' }) });

let lastErrno = 0;

/** Run one op against both; returns a description of the first disagreement, or null. */
function step(h: H, ref: RefCtx, o: Op): string | null {
  if (o.k === 'unmapAt' || o.k === 'copyAt') {
    const ivs = ref.intervals(o.k === 'unmapAt' ? o.ioas : o.src);
    const iv = ivs.length ? ivs[o.pick % ivs.length]! : ([PAGE, 2n * PAGE - 1n] as [bigint, bigint]);
    // Plain u64 values, as a C caller would compute them (wrapping).
    const start = BigInt.asUintN(64, iv[0] + o.dStart);
    const last = BigInt.asUintN(64, iv[1] + o.dEnd);
    const len = last >= start ? BigInt.asUintN(64, last - start + 1n) : 0n;
    return o.k === 'unmapAt'
      ? step(h, ref, { k: 'unmap', ioas: o.ioas, iova: start, length: len })
      : step(h, ref, { k: 'copy', src: o.src, dst: o.dst, flags: o.flags, srcIova: start, dstIova: o.dstIova, length: len });
  }
  const diff = (what: string, sim: unknown, want: unknown) =>
    sim === want ? null : `${o.k} ${what}: simulator ${String(sim)}, reference ${String(want)}`;
  switch (o.k) {
    case 'map': {
      const r = map(h, o.ioas, { va: o.va, length: o.length, iova: o.iova, flags: o.flags });
      const w = ref.map({ flags: o.flags, ioas: o.ioas, va: o.va, length: o.length, iova: o.iova });
      lastErrno = r.errno;
      if (r.errno !== w.errno) return diff('errno', r.errno, w.errno);
      if (r.errno) return r.untouched ? null : 'failed MAP wrote back';
      return diff('iova', r.out.iova, w.iova);
    }
    case 'copy': {
      const r = copy(h, { dst: o.dst, src: o.src, srcIova: o.srcIova, length: o.length, dstIova: o.dstIova, flags: o.flags });
      const w = ref.copy({ flags: o.flags, dst: o.dst, src: o.src, length: o.length, dstIova: o.dstIova, srcIova: o.srcIova });
      lastErrno = r.errno;
      if (r.errno !== w.errno) return diff('errno', r.errno, w.errno);
      if (r.errno) return r.untouched ? null : 'failed COPY wrote back';
      return diff('dst_iova', r.out.dst_iova, w.iova);
    }
    case 'unmap':
    case 'unmapAll': {
      const [iv, len] = o.k === 'unmap' ? [o.iova, o.length] : [0n, MAX];
      const r = unmap(h, o.ioas, iv, len);
      const w = ref.unmap({ ioas: o.ioas, iova: iv, length: len });
      lastErrno = r.errno;
      if (r.errno !== w.errno) return diff('errno', r.errno, w.errno);
      if (r.errno) return r.untouched ? null : 'failed UNMAP wrote back';
      return diff('length', r.out.length, w.length);
    }
    case 'allow': {
      const at = scratch(h) + 0x4000n;
      if (o.ranges.length) {
        const bytes = new Uint8Array(o.ranges.length * 16);
        encodeArray(S.iommu_iova_range, o.ranges as never, bytes);
        h.p.poke(at, bytes);
      }
      const r = rawBytes(h, IOMMU_IOAS_ALLOW_IOVAS, packArg('IOMMU_IOAS_ALLOW_IOVAS', { ioas_id: o.ioas, num_iovas: o.ranges.length, allowed_iovas: at }));
      lastErrno = r.errno;
      return diff('errno', r.errno, ref.allow(o.ioas, o.ranges));
    }
    case 'destroy':
      lastErrno = destroy(h, o.ioas);
      return diff('errno', lastErrno, ref.destroy(o.ioas));
    case 'alloc': {
      lastErrno = 0;
      if (ref.spaces.size >= 2) return null;
      return diff('id', ioasAlloc(h), ref.alloc());
    }
  }
}

/** The simulator's mapped intervals of IOAS `id` (read from its actor, for the end-of-run comparison). */
function simIntervals(h: H, id: number): Array<[bigint, bigint]> {
  const file = h.sim.world.procs[h.p.pid]!.fds[h.fd]!;
  const ctx = h.sim.rt.actor(`iommufd:${file}`) as XStateActor;
  const e = ctx.context.data.table.entries[id];
  if (!e) return [];
  const obj = h.sim.rt.actor(e.actor) as XStateActor;
  return (obj.context.data.iopt.areas as { iova: bigint; last: bigint }[]).map((a) => [a.iova, a.last]);
}

/** errno → count over all runs (to check the generator reaches every outcome). */
export const outcomes: Record<string, number> = {};

function runProgram(h: H, p: { two: boolean; ops: Op[] }): string | null {
  const ref = new RefCtx();
  const n = p.two ? 2 : 1;
  for (let i = 0; i < n; i++) {
    const d = step(h, ref, { k: 'alloc' });
    if (d) return d;
  }
  for (const [i, o] of p.ops.entries()) {
    const d = step(h, ref, o);
    if (d) return `op ${i}: ${d}`;
    const key = `${o.k.replace('At', '')}:${lastErrno}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  for (const id of [1, 2, 3]) {
    const a = JSON.stringify(simIntervals(h, id), (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v));
    const b = JSON.stringify(ref.intervals(id), (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v));
    if (a !== b) return `ioas ${id} intervals: simulator ${a}, reference ${b}`;
  }
  return null;
}

describe('IOAS ioctls vs reference model (raw ABI)', () => {
  it('random MAP/COPY/UNMAP/ALLOW_IOVAS/DESTROY sequences agree on every errno and output; close leaves nothing', () => {
    fc.assert(
      fc.property(program, (p) => {
        const h = setup();
        const d = runProgram(h, p);
        expect(d).toBeNull();
        expect(h.p.close(h.fd)).toBe(0);
        expect(pins(h)).toBe(0);
        expect(lockedTotal(h)).toBe(0);
        expect(Object.keys(h.sim.world.pages.pages)).toEqual([]);
        expect(iommufdActors(h)).toEqual([]);
        expect(h.sim.rt.deadLetters).toEqual([]);
      }),
    );
  });

  it('the generator reaches success and every errno the model can return for each op', () => {
    for (const k of Object.keys(outcomes)) delete outcomes[k];
    fc.assert(fc.property(program, (p) => void runProgram(setup(), p)), { numRuns: 100, seed: 7 });
    const want = ['map:0', 'map:17', 'map:22', 'map:2', 'map:75', 'map:95', 'copy:0', 'copy:2', 'copy:1', 'copy:22', 'copy:17',
      'unmap:0', 'unmap:2', 'unmap:22', 'unmap:75', 'unmapAll:0', 'allow:0', 'allow:22', 'destroy:0', 'destroy:2'];
    for (const k of want) expect(outcomes[k] ?? 0, `${k} never happened`).toBeGreaterThan(0);
  });

  it('the journal of a random sequence is byte-identical when run twice, and differs when one input differs', () => {
    fc.assert(
      fc.property(program.filter((p) => p.ops.length > 0), (p) => {
        const body = (h: H) => void runProgram(h, p);
        const a = journalOf(body, { scenario: 'property' });
        const b = journalOf(body, { scenario: 'property' });
        expect(sameBytes(a, b)).toBe(true);
        const changed = { ...p, ops: [...p.ops, { k: 'unmapAll' as const, ioas: 1 }] };
        const c = journalOf((h) => void runProgram(h, changed), { scenario: 'property' });
        expect(sameBytes(a, c)).toBe(false);
      }),
      { numRuns: 25 },
    );
  });
});
