// The burst engine: bytes really move, faults are reported per access, dirty
// state follows writes, and stale IOTLB/ATC uses are caught in a deliberately
// broken engine but never in the correct one.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  burstResultObjects, engineAddNestedDomain, engineAddPagingDomain, engineAttach, engineCreate, engineFlushIotlb,
  engineMap, engineRestore, engineSetDirtyTracking, engineSnapshot, engineUnmap, probeTranslate, translateBurst, auditIotlb,
  type EngineBugs,
} from '../../hardware/translate.ts';
import { FMT_MOCK, FMT_SMMU_S1, FMT_SMMU_S2, FMT_VTD_SL, PROT_READ, PROT_WRITE } from '../../hardware/pagetable/format.ts';
import { ptReadAndClearDirty } from '../../hardware/pagetable/radix.ts';
import { IoPageTable } from '../../hardware/pagetable/radix.ts';
import { poolCreate } from '../../hardware/pagetable/pool.ts';
import { encodeCd, materializeGuestTable } from '../../hardware/pagetable/nested.ts';
import { TAG_ASID, TAG_DOMAIN, atcInvalidate, iotlbEntries } from '../../hardware/iotlb.ts';
import { SparseMem } from './helpers.ts';
import { burstOf, type DmaAccess } from '../../hardware/burst.ts';
import type { PhysMemPort } from '../../hardware/translate.ts';
import { createPhysMem } from '../../hardware/physmem.ts';
import { physMemPort } from '../../actors/hw/physmem-port.ts';

const RW = PROT_READ | PROT_WRITE;
const K4 = 4096;

function setup(bugs: Partial<EngineBugs> = {}, ats = false) {
  const s = engineCreate({ bugs, iotlbCapacity: 256 });
  engineAddPagingDomain(s, 1, FMT_VTD_SL);
  engineAttach(s, 1, { iommu: 0, kind: TAG_DOMAIN, tag: 42, atsDevices: ats ? [7] : [] });
  const mem = new SparseMem();
  return { s, mem };
}

describe('translateBurst', () => {
  it('moves bytes across page boundaries and reports chunks', () => {
    const { s, mem } = setup();
    expect(engineMap(s, 1, 0x10000, 0x50000, K4, RW)).toBe(0);
    expect(engineMap(s, 1, 0x11000, 0x90000, K4, RW)).toBe(0);
    const data = Uint8Array.from({ length: 100 }, (_, i) => i + 1);
    const w = burstResultObjects(translateBurst(s, { iommu: 0, domain: 1, burst: burstOf([{ iova: 0x10fd0, length: 100, write: true, data }]) }, mem));
    expect(w[0]).toEqual({ ok: true, chunks: [{ iova: 0x10fd0, pa: 0x50fd0, len: 48 }, { iova: 0x11000, pa: 0x90000, len: 52 }] });
    expect(mem.readPhys(0x90000, 52)).toEqual(data.subarray(48));
    const r = burstResultObjects(translateBurst(s, { iommu: 0, domain: 1, burst: burstOf([{ iova: 0x10fd0n, length: 100, write: false }]) }, mem));
    expect(r[0]!.ok && r[0]!.data).toEqual(data);
  });

  it('faults per access without stopping the burst; read-only pages refuse writes', () => {
    const { s, mem } = setup();
    engineMap(s, 1, 0x10000, 0x50000, K4, PROT_READ);
    const r = burstResultObjects(translateBurst(s, {
      iommu: 0, domain: 1, burst: burstOf([
        { iova: 0x10000, length: 8, write: true, data: new Uint8Array(8) },
        { iova: 0x10008, length: 8, write: false },
        { iova: 0x20000, length: 8, write: false },
      ]),
    }, mem));
    expect(r.map((x) => (x.ok ? 'ok' : x.fault.kind))).toEqual(['permission', 'ok', 'translation']);
    expect(s.stats.faults).toBe(2);
  });

  it('an unattached domain faults every access', () => {
    const s = engineCreate();
    engineAddPagingDomain(s, 3, FMT_VTD_SL);
    const r = burstResultObjects(translateBurst(s, { iommu: 0, domain: 3, burst: burstOf([{ iova: 0, length: 4, write: false }]) }, new SparseMem()));
    expect(r[0]!.ok).toBe(false);
  });

  it('sets dirty bits on writes when tracking is on, never on reads', () => {
    const { s, mem } = setup();
    engineMap(s, 1, 0, 0x100000, 16 * K4, RW);
    engineSetDirtyTracking(s, 1, true);
    const table = (s.domains[1] as { table: import('../../hardware/pagetable/radix.ts').TableState }).table;
    translateBurst(s, { iommu: 0, domain: 1, burst: burstOf([{ iova: 3 * K4, length: 4, write: false }]) }, mem);
    translateBurst(s, { iommu: 0, domain: 1, burst: burstOf([{ iova: 3 * K4, length: 4, write: true, data: new Uint8Array(4) }]) }, mem);
    translateBurst(s, { iommu: 0, domain: 1, burst: burstOf([{ iova: 5 * K4, length: 4, write: true, data: new Uint8Array(4) }]) }, mem);
    expect(ptReadAndClearDirty(s.pool, table, 0, 16 * K4, false).map((d) => d.iova)).toEqual([3 * K4, 5 * K4]);
    // a cached write-ok entry must not hide the next dirtying: after clear, the
    // IOTLB still holds it, so the core flushes (gather) as iommufd does
    engineFlushIotlb(s, 0, { kind: TAG_DOMAIN, tag: 42 });
    translateBurst(s, { iommu: 0, domain: 1, burst: burstOf([{ iova: 5 * K4, length: 4, write: true, data: new Uint8Array(4) }]) }, mem);
    expect(ptReadAndClearDirty(s.pool, table, 0, 16 * K4, false).map((d) => d.iova)).toEqual([5 * K4]);
  });
});

describe('stale-use detection (I1/I2)', () => {
  const scenario = (bugs: Partial<EngineBugs>, ats: boolean) => {
    const { s, mem } = setup(bugs, ats);
    engineMap(s, 1, 0x10000, 0x50000, 4 * K4, RW);
    const req = (write: boolean) => ({ iommu: 0, domain: 1, device: 7, ats, burst: burstOf([{ iova: 0x11000, length: 16, write, data: new Uint8Array(16).fill(9) }]) });
    expect(burstResultObjects(translateBurst(s, req(false), mem))[0]!.ok).toBe(true);
    expect(engineUnmap(s, 1, 0x10000, 4 * K4)).toBe(4 * K4);
    const after = burstResultObjects(translateBurst(s, req(true), mem))[0]!;
    return { s, mem, after };
  };

  it('correct engine: DMA after a completed unmap faults, no stale use', () => {
    const { s, after, mem } = scenario({}, false);
    expect(after.ok).toBe(false);
    expect(s.staleUses).toEqual([]);
    expect(auditIotlb(s, mem)).toEqual([]);
    expect(probeTranslate(s, 1, mem, 0x11000, false).ok).toBe(false);
  });

  it('broken engine (unmap skips the IOTLB flush): the write lands in freed memory and is recorded', () => {
    const { s, after, mem } = scenario({ skipIotlbFlushOnUnmap: true }, false);
    expect(after.ok).toBe(true);
    expect(mem.readPhys(0x51000, 1)[0]).toBe(9);
    expect(s.staleUses.length).toBe(1);
    expect(s.staleUses[0]).toMatchObject({ iova: 0x11000, cache: 'iotlb', kind: TAG_DOMAIN, tag: 42, cachedPa: 0x51000, tablePa: -1, tableFault: 'translation' });
    expect(auditIotlb(s, mem).length).toBe(1);
  });

  it('ATS: skipping the ATC flush is caught as an ATC stale use; the correct order is clean', () => {
    expect(scenario({}, true).s.staleUses).toEqual([]);
    const { s } = scenario({ skipAtcFlushOnUnmap: true }, true);
    expect(s.staleUses.map((u) => u.cache)).toEqual(['atc']);
  });

  it('property: stale uses are recorded exactly when a DMA hits an unflushed unmapped page', () => {
    const opArb = fc.record({ op: fc.constantFrom('map', 'unmap', 'dma', 'dma'), page: fc.nat(31), n: fc.integer({ min: 1, max: 4 }), write: fc.boolean() });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        for (const broken of [false, true]) {
          const { s, mem } = setup({ skipIotlbFlushOnUnmap: broken });
          const mapped = new Set<number>();
          const cached = new Set<number>();
          let expectStale = 0;
          for (const o of ops) {
            const pages = Array.from({ length: o.n }, (_, i) => o.page + i);
            if (o.op === 'map') {
              if (engineMap(s, 1, o.page * K4, 0x100000 + o.page * K4, o.n * K4, RW) === 0) pages.forEach((p) => mapped.add(p));
            } else if (o.op === 'unmap') {
              engineUnmap(s, 1, o.page * K4, o.n * K4);
              for (const p of pages) {
                mapped.delete(p);
                if (!broken) cached.delete(p);
              }
            } else {
              const r = translateBurst(s, { iommu: 0, domain: 1, burst: burstOf([{ iova: o.page * K4 + 8, length: 8, write: o.write, data: new Uint8Array(8) }]) }, mem);
              const hitsStale = !mapped.has(o.page) && cached.has(o.page);
              if (hitsStale) expectStale++;
              expect(r.status[0] === 0).toBe(mapped.has(o.page) || hitsStale);
              if (r.status[0] === 0) cached.add(o.page);
            }
          }
          expect(s.staleUses.length).toBe(expectStale);
          if (!broken) expect(expectStale).toBe(0);
        }
      }),
      { numRuns: 60, seed: 99 },
    );
  });
});

describe('nested SMMUv3 through the engine', () => {
  it('caches combined entries by ASID+VMID and drops them when the parent is unmapped', () => {
    const s = engineCreate();
    const mem = new SparseMem();
    engineAddPagingDomain(s, 1, FMT_SMMU_S2);
    engineAttach(s, 1, { iommu: 0, kind: 2, tag: 5 });
    // stage 2: tables window and a data page
    engineMap(s, 1, 0x8000_0000, 0x2_0000_0000, 2 ** 21, RW);
    engineMap(s, 1, 0x4000_0000, 0x3_0000_0000, K4, RW);
    const s1 = IoPageTable.create(FMT_SMMU_S1, {}, poolCreate(8));
    s1.map(0x1000, 0x4000_0000, K4, RW);
    let next = 0x8000_1000;
    const root = materializeGuestTable(s1.pool, s1.state, () => (next += K4), (gpa, v) => mem.write64(gpa - 0x8000_0000 + 0x2_0000_0000, v));
    const [w0, w1] = encodeCd({ t0sz: 16, ttb0: root, asid: 33 });
    mem.write64(0x2_0000_0000, w0);
    mem.write64(0x2_0000_0008, w1);
    engineAddNestedDomain(s, 2, 1, { type: 'smmuv3', cdTable: 0x8000_0000, s1cdmax: 0 });
    engineAttach(s, 2, { iommu: 0, kind: TAG_ASID, tag: 0, tag2: 5 });
    const req = { iommu: 0, domain: 2, burst: burstOf([{ iova: 0x1010, length: 4, write: true, data: Uint8Array.of(1, 2, 3, 4) }]) };
    expect(burstResultObjects(translateBurst(s, req, mem))[0]!.ok).toBe(true);
    expect(mem.readPhys(0x3_0000_0010, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(iotlbEntries(s.iotlbs[0]!).map((e) => [e.kind, e.tag, e.tag2])).toEqual([[TAG_ASID, 33, 5]]);
    expect(burstResultObjects(translateBurst(s, req, mem))[0]!.ok).toBe(true);
    expect(s.stats.iotlbHits).toBe(1);
    engineUnmap(s, 1, 0x4000_0000, K4);
    expect(iotlbEntries(s.iotlbs[0]!)).toEqual([]);
    const f = burstResultObjects(translateBurst(s, req, mem))[0]!;
    expect(!f.ok && f.fault.stage).toBe(2);
    expect(s.staleUses).toEqual([]);
  });
});

describe('engine snapshot', () => {
  it('restores bit-exactly and behaves identically afterwards (I15)', () => {
    const { s, mem } = setup();
    engineAddPagingDomain(s, 2, FMT_MOCK);
    engineAttach(s, 2, { iommu: 0, kind: TAG_DOMAIN, tag: 43 });
    engineMap(s, 1, 0, 0x100000, 64 * K4, RW);
    engineMap(s, 2, 1 << 24, 0x200000, 8 * 2048, RW);
    translateBurst(s, { iommu: 0, domain: 1, burst: burstOf([{ iova: 5 * K4, length: 4, write: false }]) }, mem);
    const snap = engineSnapshot(s);
    const r = engineRestore(structuredClone(snap));
    expect(engineSnapshot(r)).toEqual(snap);
    const step = (e: typeof s) => {
      engineUnmap(e, 1, 0, 8 * K4);
      return burstResultObjects(translateBurst(e, { iommu: 0, domain: 2, burst: burstOf([{ iova: (1 << 24) + 10, length: 4000, write: false }]) }, mem));
    };
    expect(step(r)).toEqual(step(s));
    expect(engineSnapshot(r)).toEqual(engineSnapshot(s));
  });
});

describe('translateBurst fast path (paging domain, no ATC, PASID 0)', () => {
  it('counts each page once: a miss walks, a hit is one IOTLB hit, a stale stamp re-checks without a second lookup', () => {
    const { s, mem } = setup();
    expect(engineMap(s, 1, 0x10000, 0x50000, 4 * K4, RW)).toBe(0);
    const tlb = s.iotlbs[0]!;
    const acc = (n: number) => Array.from({ length: n }, (_, i) => ({ iova: 0x10000 + i * K4 + 8, length: 16, write: true, data: new Uint8Array(16).fill(i + 1) }));
    translateBurst(s, { iommu: 0, domain: 1, burst: burstOf(acc(4)) }, mem);
    expect([s.stats.walks, s.stats.iotlbHits, tlb.misses, tlb.hits]).toEqual([4, 0, 4, 0]);
    // twice: the first hits come from the sets (and fill the front), the second from the front
    for (let k = 1; k <= 2; k++) {
      translateBurst(s, { iommu: 0, domain: 1, burst: burstOf(acc(4)) }, mem);
      expect([s.stats.walks, s.stats.iotlbHits, tlb.misses, tlb.hits]).toEqual([4, 4 * k, 4, 4 * k]);
    }
    // a map elsewhere bumps the table's generation: each hit is re-verified by a walk, still one hit each
    expect(engineMap(s, 1, 0x80000, 0x60000, K4, RW)).toBe(0);
    const r = burstResultObjects(translateBurst(s, { iommu: 0, domain: 1, burst: burstOf(acc(4)) }, mem));
    expect(r.map((x) => x.ok && x.chunks[0]!.pa)).toEqual([0x50008, 0x51008, 0x52008, 0x53008]);
    expect([s.stats.walks, s.stats.iotlbHits, tlb.misses, tlb.hits, s.stats.staleUses]).toEqual([4, 12, 4, 12, 0]);
    expect([s.stats.accesses, s.stats.pages, s.stats.bytes]).toEqual([16, 16, 256]);
    expect(mem.readPhys(0x53008, 16)).toEqual(new Uint8Array(16).fill(4));
  });

  it('ATS: the fast path asks the ATC first; a miss goes on to the IOTLB once; every page is counted once', () => {
    const { s, mem } = setup({}, true);
    expect(engineMap(s, 1, 0x10000, 0x50000, 4 * K4, RW)).toBe(0);
    const tlb = s.iotlbs[0]!;
    const atc = s.atcs[7]!;
    const acc = (n: number) => Array.from({ length: n }, (_, i) => ({ iova: 0x10000 + i * K4 + 8, length: 16, write: true, data: new Uint8Array(16).fill(i + 1) }));
    const req = (n: number) => ({ iommu: 0, domain: 1, device: 7, ats: true, burst: burstOf(acc(n)) });
    translateBurst(s, req(4), mem);
    // each page: ATC miss, IOTLB miss, a walk, and both filled
    expect([s.stats.walks, s.stats.atcHits, s.stats.iotlbHits, atc.misses, tlb.misses, tlb.hits]).toEqual([4, 0, 0, 4, 4, 0]);
    for (let k = 1; k <= 2; k++) {
      translateBurst(s, req(4), mem);
      expect([s.stats.walks, s.stats.atcHits, s.stats.iotlbHits, atc.hits, tlb.hits + tlb.misses]).toEqual([4, 4 * k, 0, 4 * k, 4]);
    }
    // the ATC flushed alone (as a context change does): the IOTLB answers and refills it
    expect(atcInvalidate(atc, 7)).toBe(4);
    translateBurst(s, req(4), mem);
    expect([s.stats.walks, s.stats.atcHits, s.stats.iotlbHits, iotlbEntries(atc).length]).toEqual([4, 8, 4, 4]);
    // a map elsewhere bumps the generation: the ATC hits are re-verified by a walk (no stale use), one hit each
    expect(engineMap(s, 1, 0x80000, 0x60000, K4, RW)).toBe(0);
    const r = burstResultObjects(translateBurst(s, req(4), mem));
    expect(r.map((x) => x.ok && x.chunks[0]!.pa)).toEqual([0x50008, 0x51008, 0x52008, 0x53008]);
    expect([s.stats.atcHits, s.stats.iotlbHits, s.stats.staleUses]).toEqual([12, 4, 0]);
    expect(mem.readPhys(0x52008, 16)).toEqual(new Uint8Array(16).fill(3));
  });

  // The fast path moves an access itself; every other shape goes page by page.
  it('one burst does what its accesses do one burst each (results, bytes, stats, caches) and what a page-by-page model says', () => {
    // pages 0..19 read-write and 20..23 read-only, each on a frame of its own out of order (so a byte
    // moved past its page lands in the wrong frame), 24..27 unmapped; lengths and offsets that often
    // end near a page boundary; PASID 0 or 1; reads with and without a buffer
    const frameOf = (p: number) => 0x20_0000 + ((p * 7) % 24) * K4;
    const accessArb = fc.record({
      page: fc.nat(27), off: fc.oneof(fc.nat(K4 - 1), fc.integer({ min: K4 - 80, max: K4 - 1 })),
      len: fc.oneof(fc.integer({ min: 0, max: 96 }), fc.integer({ min: 0, max: 2 * K4 })), write: fc.boolean(), pasid: fc.constantFrom(0, 0, 0, 1),
      buf: fc.boolean(), fillByte: fc.nat(255),
    });
    fc.assert(
      fc.property(fc.array(accessArb, { minLength: 1, maxLength: 24 }), fc.boolean(), (xs, warm) => {
        const engines = [0, 1].map(() => {
          const s = engineCreate({ iotlbCapacity: 64 });
          engineAddPagingDomain(s, 1, FMT_VTD_SL);
          engineAttach(s, 1, { iommu: 0, kind: TAG_DOMAIN, tag: 42 });
          for (let p = 0; p < 24; p++) expect(engineMap(s, 1, p * K4, frameOf(p), K4, p < 20 ? RW : PROT_READ)).toBe(0);
          const mem = physMemPort(createPhysMem({ totalPages: 1024 }));
          // a warm IOTLB sends the hits through the fast loop, a cold one through the walk
          if (warm) for (let p = 0; p < 24; p++) translateBurst(s, { iommu: 0, domain: 1, burst: burstOf([{ iova: p * K4, length: 1, write: false }]) }, mem);
          return { s, mem };
        });
        const make = (): DmaAccess[] => xs.map((x) => {
          const a: DmaAccess = { iova: x.page * K4 + x.off, length: x.len, write: x.write };
          if (x.pasid) a.pasid = x.pasid;
          if (x.write || x.buf) a.data = new Uint8Array(x.len).fill(x.write ? x.fillByte : 0xcc);
          return a;
        });
        const [one, each] = engines as [{ s: ReturnType<typeof engineCreate>; mem: PhysMemPort }, { s: ReturnType<typeof engineCreate>; mem: PhysMemPort }];
        const accesses = make();
        const together = burstResultObjects(translateBurst(one.s, { iommu: 0, domain: 1, burst: burstOf(accesses) }, one.mem));
        const apart = make().map((a) => burstResultObjects(translateBurst(each.s, { iommu: 0, domain: 1, burst: burstOf([a]) }, each.mem))[0]!);
        expect(together).toEqual(apart);
        // and what a page-by-page model of the same tables says: outcome, read bytes, memory
        const model = new Uint8Array(24 * K4);
        accesses.forEach((a, i) => {
          const iova = Number(a.iova);
          const got = together[i]!;
          const bytes = new Uint8Array(a.length);
          let fault: string | null = null;
          for (let off = 0; off < a.length && !fault; ) {
            const page = Math.floor((iova + off) / K4);
            const n = Math.min(a.length - off, K4 - ((iova + off) % K4));
            if (page >= 24) fault = 'translation';
            else if (a.write && page >= 20) fault = 'permission';
            else {
              const at = frameOf(page) - 0x20_0000 + ((iova + off) % K4);
              if (a.write) model.set(a.data!.subarray(off, off + n), at);
              else bytes.set(model.subarray(at, at + n), off);
              off += n;
            }
          }
          expect(got.ok ? 'ok' : got.fault.kind).toBe(fault ?? 'ok');
          if (got.ok && !a.write) expect(Buffer.from(a.data ?? got.data!).equals(bytes)).toBe(true);
        });
        expect(Buffer.from(one.mem.readPhys(0x20_0000, 24 * K4)).equals(model)).toBe(true);
        // (Buffer.equals: toEqual walks 96 KiB element by element)
        expect(Buffer.from(one.mem.readPhys(0x20_0000, 24 * K4)).equals(each.mem.readPhys(0x20_0000, 24 * K4))).toBe(true);
        expect(one.s.stats).toEqual(each.s.stats);
        expect(iotlbEntries(one.s.iotlbs[0]!)).toEqual(iotlbEntries(each.s.iotlbs[0]!));
      }),
      { numRuns: 150, seed: 11 },
    );
  });

  // Both must leave memory as a fresh, cache-free engine would, on both kinds
  // of port (zero-copy frame blocks and plain readPhys/writePhys).
  for (const portKind of ['frame blocks', 'readPhys/writePhys'] as const) {
    it(`moves the same bytes whichever path an access takes (${portKind} port)`, () => {
      const s = engineCreate({ iotlbCapacity: 256 });
      engineAddPagingDomain(s, 1, FMT_VTD_SL);
      engineAttach(s, 1, { iommu: 0, kind: TAG_DOMAIN, tag: 42 });
      const mem = portKind === 'frame blocks' ? physMemPort(createPhysMem({ totalPages: 64 })) : new SparseMem();
      // frames 16..19 (pa 0x10000..0x13fff): the zero-copy port's second block
      expect(engineMap(s, 1, 0x40000, 0x10000, 4 * K4, RW)).toBe(0);
      const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
      const run = (accesses: DmaAccess[]) => burstResultObjects(translateBurst(s, { iommu: 0, domain: 1, burst: burstOf(accesses) }, mem));
      run([{ iova: 0x40000, length: 4 * K4, write: true, data: fill(4 * K4, 0x11) }]); // warms the IOTLB, page by page
      const hits = s.stats.iotlbHits;
      const readBuf = fill(32, 0xee);
      const r = run([
        { iova: 0x40010, length: 64, write: true, data: fill(64, 0x22) }, // fast: inside one page
        { iova: 0x41ff0, length: 32, write: true, data: fill(32, 0x33) }, // crosses into the next page
        { iova: 0x42100, length: 48, write: true }, // no data: zeros
        { iova: 0x40010, length: 32, write: false, data: readBuf }, // fast read into the caller's buffer
        { iova: 0x41ff8, length: 16, write: false }, // read into a fresh buffer, across the page boundary
      ]);
      expect(r.every((x) => x.ok)).toBe(true);
      expect(s.stats.iotlbHits - hits).toBe(7); // one per page of each access, none twice
      const want = fill(4 * K4, 0x11);
      want.fill(0x22, 0x10, 0x50);
      want.fill(0x33, 0x1ff0, 0x2010);
      want.fill(0, 0x2100, 0x2130);
      expect(mem.readPhys(0x10000, 4 * K4)).toEqual(want);
      expect(readBuf).toEqual(fill(32, 0x22));
      expect(r[4]!.ok && r[4]!.data).toEqual(fill(16, 0x33));
      expect(r.map((x) => x.chunks.length)).toEqual([1, 2, 1, 1, 2]);
      // one burst's accesses act in order whichever path each takes: a read sees the writes before it
      const back = fill(64, 0);
      const o = run([
        { iova: 0x40010, length: 64, write: true, data: fill(64, 0x44) },
        { iova: 0x40020, length: 16, write: true },
        { iova: 0x40010, length: 64, write: false, data: back },
        { iova: 0x40010, length: 8, write: true, data: fill(8, 0x55) },
      ]);
      expect(o.every((x) => x.ok)).toBe(true);
      const seen = fill(64, 0x44);
      seen.fill(0, 0x10, 0x20);
      expect(back).toEqual(seen);
      seen.fill(0x55, 0, 8);
      expect(mem.readPhys(0x10010, 64)).toEqual(seen);
    });
  }
});
