import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IoPageTable } from '../../hardware/pagetable/radix.ts';
import { FORMATS } from '../../hardware/pagetable/registry.ts';
import {
  ACC_READ, ACC_WRITE, PROT_READ, PROT_WRITE, UNMAP_SPLIT, type FormatId,
} from '../../hardware/pagetable/format.ts';
import { poolCreate } from '../../hardware/pagetable/pool.ts';
import { RefMap, dumpIntervals, mergeIntervals } from './helpers.ts';

type Op = { op: 'map'; unit: number; idx: number; count: number; skew: number; paIdx: number; prot: number } | { op: 'unmap'; unit: number; idx: number; count: number; skew: number };

const opArb = fc.oneof(
  fc.record({
    op: fc.constant('map' as const),
    unit: fc.constantFrom(0, 0, 0, 1, 1, 2),
    idx: fc.nat(7),
    count: fc.integer({ min: 1, max: 3 }),
    skew: fc.constantFrom(0, 0, 1, 3),
    paIdx: fc.nat(15),
    prot: fc.constantFrom(PROT_READ, PROT_READ | PROT_WRITE),
  }),
  fc.record({
    op: fc.constant('unmap' as const),
    unit: fc.constantFrom(0, 0, 1, 1, 2),
    idx: fc.nat(7),
    count: fc.integer({ min: 1, max: 3 }),
    skew: fc.constantFrom(0, 0, 1, 5),
  }),
);

for (const f of FORMATS) {
  describe(`${f.name} page table vs reference interval model`, () => {
    it('dump() and walk() agree with the reference after random map/unmap', () => {
      const g = f.granule;
      // unit 0 = a few granules, 1 = the 2 MiB-class block, 2 = the 1 GiB-class block
      const units = [g * 4, g * 512, g * 512 * 512];
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), fc.array(fc.nat(2 ** 20 - 1), { minLength: 16, maxLength: 16 }), (ops: Op[], probes) => {
          const pool = poolCreate(8);
          const t = IoPageTable.create(f.id as FormatId, { blocks: f.blockLevels, partialUnmap: UNMAP_SPLIT }, pool);
          const ref = new RefMap();
          for (const o of ops) {
            const unit = units[o.unit]!;
            const iova = o.idx * unit + o.skew * g;
            const size = o.count * unit;
            if (o.op === 'map') {
              const pa = 2 ** 32 + o.paIdx * units[2]! + o.skew * g * 7;
              const expectOk = ref.map(iova, pa, size, o.prot);
              expect(t.map(iova, pa, size, o.prot)).toBe(expectOk ? 0 : -17);
            } else {
              expect(t.unmap(iova, size)).toBe(ref.unmap(iova, size));
            }
          }
          expect(dumpIntervals(t.dump())).toEqual(mergeIntervals(ref.list));
          const span = units[2]! * 10;
          const targets = [...probes.map((p) => Math.floor((p / 2 ** 20) * span)), ...ref.list.map((x) => x.iova + x.size - 1)];
          for (const iova of targets) {
            const want = ref.lookup(iova);
            const r = t.walk(iova, ACC_READ);
            if (!want) {
              expect(r.ok).toBe(false);
              expect(r.fault?.kind).toBe('translation');
            } else {
              expect(r.ok).toBe(true);
              expect(r.pa).toBe(want.pa);
              const w = t.walk(iova, ACC_WRITE);
              expect(w.ok).toBe((want.prot & PROT_WRITE) !== 0);
              if (!w.ok) expect(w.fault?.kind).toBe('permission');
            }
          }
          const before = t.dump();
          const copy = new IoPageTable(pool, { ...t.state });
          copy.restore(t.snapshot());
          expect(copy.dump()).toEqual(before);
          t.destroy();
          expect(pool.live).toBe(0);
        }),
        { numRuns: 40, seed: 0x5eed + f.id },
      );
    });

    it('uses block leaves when size and alignment allow, 4K-class pages otherwise', () => {
      const t = IoPageTable.create(f.id as FormatId, { blocks: f.blockLevels });
      const g = f.granule;
      const big = g * 512;
      expect(t.map(big * 4, big * 8, big * 2, PROT_READ)).toBe(0);
      expect(t.map(big * 8 + g, big * 16 + g, big, PROT_READ)).toBe(0);
      const sizes = t.dump().map((r) => r.pageSize);
      expect(sizes[0]).toBe(big);
      expect(sizes.slice(1).every((s) => s === g)).toBe(true);
      expect(t.walk(big * 4 + 5).pageSize).toBe(big);
    });
  });
}
