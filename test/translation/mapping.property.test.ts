/**
 * Property: after any sequence of IOAS_MAP / IOAS_UNMAP / IOAS_COPY (and CPU
 * writes, DMA writes) on an IOAS with a device attached, the device's
 * hardware domain holds exactly the IOAS's mappings (physical addresses of
 * the pinned user pages), every mapped IOVA reads the process's bytes by
 * DMA, every unmapped one faults, and no stale translation is ever used.
 * One run per IOMMU kind of the default topology (VT-d dev0, SMMUv3 dev2).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Simulation } from '../../actors/sim.ts';
import { hwDomainMismatches, hwDomainPages, ioasDomainPages, staleTranslations } from '../../actors/invariants-hw.ts';
import { ioptIovaToPhys } from '../../actors/iommufd/io_pagetable.ts';
import { ioptEnv } from '../../actors/iommufd/ioas.ts';
import { IOMMU_IOAS_MAP_READABLE } from '../../uapi/enums.ts';
import { FIXED, PAGE, RW, domainOf, ioptOf, journaled, pattern, peek, poke, rig, type DevName } from './helpers.ts';

const BASE = 0x4000_0000;
const SLOTS = 48;
const BUF_PAGES = 32;

type Cmd =
  | { op: 'map'; bufPage: number; pages: number; slot: number | null; ro: boolean }
  | { op: 'unmap'; slot: number; pages: number }
  | { op: 'unmapArea'; pick: number }
  | { op: 'copy'; srcPage: number; pages: number; slot: number | null }
  | { op: 'cpuWrite'; bufPage: number; salt: number }
  | { op: 'dmaWrite'; pick: number; salt: number }
  | { op: 'probe'; picks: number[] };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('map' as const), bufPage: fc.nat(BUF_PAGES - 1), pages: fc.integer({ min: 1, max: 6 }), slot: fc.option(fc.nat(SLOTS - 1), { freq: 4 }), ro: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('unmap' as const), slot: fc.nat(SLOTS - 1), pages: fc.integer({ min: 1, max: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('unmapArea' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('copy' as const), srcPage: fc.nat(BUF_PAGES - 1), pages: fc.integer({ min: 1, max: 4 }), slot: fc.option(fc.nat(SLOTS - 1), { freq: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cpuWrite' as const), bufPage: fc.nat(BUF_PAGES - 1), salt: fc.nat(1000) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('dmaWrite' as const), pick: fc.nat(), salt: fc.nat(1000) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('probe' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 6 }) }) },
);

/** What the runs really exercised (the property is only as good as its coverage). */
const seen = { map: 0, copy: 0, unmapped: 0, dmaWrite: 0, dmaWriteRefused: 0, probeMapped: 0, probeUnmapped: 0 };

function runSequence(sim: Simulation, dev: DevName, cmds: Cmd[]): void {
  const r = rig(sim, dev);
  // the process's buffer, and a second IOAS holding all of it (the COPY source)
  const buf = r.p.mmap({ length: BUF_PAGES * PAGE });
  poke(r.p, buf, pattern(BUF_PAGES, 1));
  const src = r.ifd.ioasAlloc().out.out_ioas_id;
  const SRC_IOVA = 0x10_0000n;
  expect(r.ifd.ioasMap({ ioas_id: src, flags: RW | FIXED, user_va: buf, length: BigInt(BUF_PAGES * PAGE), iova: SRC_IOVA }).errno).toBe(0);
  const dom = domainOf(sim, dev);
  const env = ioptEnv(sim.world);
  /** Model: IOVA page → (user VA of the page, writable). */
  const model = new Map<number, { va: bigint; writable: boolean }>();

  const sync = () => {
    // Pages the IOAS no longer maps are gone (UNMAP may take part of a range before failing).
    const iopt = ioptOf(r);
    for (const iova of [...model.keys()]) if (ioptIovaToPhys(iopt, env, BigInt(iova)) < 0) model.delete(iova);
  };
  const add = (iova: bigint, pages: number, va: bigint, writable: boolean) => {
    for (let i = 0; i < pages; i++) model.set(Number(iova) + i * PAGE, { va: va + BigInt(i * PAGE), writable });
  };
  const mapped = () => [...model.keys()].sort((a, b) => a - b);

  const check = () => {
    sync();
    const iopt = ioptOf(r);
    const want = ioasDomainPages(sim, iopt, dom);
    // the model and the IOAS agree on which pages are mapped ...
    expect([...want.keys()].sort((a, b) => a - b)).toEqual(mapped());
    // ... and the hardware domain holds exactly the IOAS's pages
    expect(hwDomainPages(sim, dom)).toEqual(want);
    expect(hwDomainMismatches(sim)).toEqual([]);
    expect(staleTranslations(sim)).toEqual([]);
  };

  for (const c of cmds) {
    switch (c.op) {
      case 'map': {
        const pages = Math.min(c.pages, BUF_PAGES - c.bufPage);
        const va = buf + BigInt(c.bufPage * PAGE);
        const flags = (c.ro ? IOMMU_IOAS_MAP_READABLE : RW) | (c.slot === null ? 0 : FIXED);
        const m = r.ifd.ioasMap({ ioas_id: r.ioas, flags, user_va: va, length: BigInt(pages * PAGE), iova: c.slot === null ? 0n : BigInt(BASE + c.slot * PAGE) });
        if (m.errno === 0) {
          add(m.out.iova, pages, va, !c.ro);
          seen.map++;
        }
        break;
      }
      case 'unmap':
        if (r.ifd.ioasUnmap({ ioas_id: r.ioas, iova: BigInt(BASE + c.slot * PAGE), length: BigInt(c.pages * PAGE) }).errno === 0) seen.unmapped++;
        break;
      case 'unmapArea': {
        const areas = ioptOf(r).areas;
        if (!areas.length) break;
        const a = areas[c.pick % areas.length]!;
        const u = r.ifd.ioasUnmap({ ioas_id: r.ioas, iova: a.iova, length: a.last - a.iova + 1n });
        expect(u.errno).toBe(0);
        expect(u.out.length).toBe(a.last - a.iova + 1n);
        seen.unmapped++;
        break;
      }
      case 'copy': {
        const pages = Math.min(c.pages, BUF_PAGES - c.srcPage);
        const cp = r.ifd.ioasCopy({
          dst_ioas_id: r.ioas, src_ioas_id: src, flags: RW | (c.slot === null ? 0 : FIXED), length: BigInt(pages * PAGE),
          dst_iova: c.slot === null ? 0n : BigInt(BASE + c.slot * PAGE), src_iova: SRC_IOVA + BigInt(c.srcPage * PAGE),
        });
        if (cp.errno === 0) {
          add(cp.out.dst_iova, pages, buf + BigInt(c.srcPage * PAGE), true);
          seen.copy++;
        }
        break;
      }
      case 'cpuWrite':
        poke(r.p, buf + BigInt(c.bufPage * PAGE), pattern(1, c.salt + 2));
        break;
      case 'dmaWrite': {
        sync();
        const m = mapped();
        if (!m.length) break;
        const iova = m[c.pick % m.length]!;
        const e = model.get(iova)!;
        const off = c.salt % 2048;
        const data = pattern(1, c.salt + 5000).subarray(0, 64 + (c.salt % 1000));
        const before = peek(r.p, e.va + BigInt(off), data.length);
        const o = sim.dma(dev, [{ iova: iova + off, length: data.length, write: true, data }])[0]!;
        if (e.writable) {
          expect(o.ok).toBe(true);
          expect(peek(r.p, e.va + BigInt(off), data.length)).toEqual(data);
          seen.dmaWrite++;
        } else {
          seen.dmaWriteRefused++;
          expect(o).toMatchObject({ ok: false, fault: 'permission' });
          expect(peek(r.p, e.va + BigInt(off), data.length)).toEqual(before);
        }
        break;
      }
      case 'probe': {
        sync();
        const m = mapped();
        const unmappedSlots: number[] = [];
        for (let s = 0; s < SLOTS; s++) if (!model.has(BASE + s * PAGE)) unmappedSlots.push(BASE + s * PAGE);
        const acc: { iova: number; length: number; write: false }[] = [];
        const expect1: (bigint | null)[] = [];
        for (const p of c.picks) {
          if (p % 3 === 0 && unmappedSlots.length) {
            acc.push({ iova: unmappedSlots[p % unmappedSlots.length]! + (p % PAGE), length: 1, write: false });
            expect1.push(null);
          } else if (m.length) {
            const iova = m[p % m.length]!;
            const off = p % (PAGE - 32);
            acc.push({ iova: iova + off, length: 32, write: false });
            expect1.push(model.get(iova)!.va + BigInt(off));
          }
        }
        if (!acc.length) break;
        // one burst: mapped IOVAs return the process's bytes, unmapped ones fault
        const out = sim.dma(dev, acc);
        out.forEach((o, i) => {
          const va = expect1[i];
          if (va === null) {
            expect(o).toMatchObject({ ok: false, fault: 'translation' });
            seen.probeUnmapped++;
          } else {
            seen.probeMapped++;
            expect(o.ok).toBe(true);
            expect(o.data).toEqual(peek(r.p, va!, 32));
          }
        });
        break;
      }
    }
    check();
  }
  // Finally every mapped page, whole, by DMA.
  sync();
  const all = mapped();
  if (all.length) {
    const out = sim.dma(dev, all.map((iova) => ({ iova, length: PAGE, write: false })));
    out.forEach((o, i) => expect(o.data).toEqual(peek(r.p, model.get(all[i]!)!.va, PAGE)));
  }
}

describe.each<DevName>(['dev0', 'dev2'])('hardware domain = IOAS mappings (%s)', (dev) => {
  it('holds after random MAP/UNMAP/COPY sequences; DMA agrees with the process', () => {
    for (const k of Object.keys(seen) as (keyof typeof seen)[]) seen[k] = 0;
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 4, maxLength: 30 }), (cmds) => {
        runSequence(new Simulation({ totalPages: 1 << 14 }), dev, cmds);
      }),
      { seed: dev === 'dev0' ? 0x5eed0 : 0x5eed2, numRuns: 40, endOnFailure: true },
    );
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThanOrEqual(k === 'dmaWriteRefused' ? 3 : 10);
    expect(seen.probeMapped).toBeGreaterThan(100);
  });

  it('a random sequence journals and replays without divergence', () => {
    const cmds = fc.sample(fc.array(cmdArb, { minLength: 16, maxLength: 16 }), { seed: 77, numRuns: 1 })[0]!;
    journaled((sim) => runSequence(sim, dev, cmds), { totalPages: 1 << 14 });
  });
});
