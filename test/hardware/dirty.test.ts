// Dirty tracking: set only by successful writes while tracking is on (I4),
// reported once at leaf granularity and cleared, kept with noClear (I5).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IoPageTable } from '../../hardware/pagetable/radix.ts';
import {
  ACC_READ, ACC_UPDATE, ACC_WRITE, FMT_AMD_V1, FMT_SMMU_S1, FMT_SMMU_S2, FMT_VTD_FL, FMT_VTD_SL, PROT_READ, PROT_WRITE,
} from '../../hardware/pagetable/format.ts';

const RW = PROT_READ | PROT_WRITE;
const M2 = 2 ** 21;
const FMTS = [FMT_VTD_SL, FMT_SMMU_S1, FMT_SMMU_S2, FMT_AMD_V1, FMT_VTD_FL] as const;

for (const fmt of FMTS) {
  describe(`dirty tracking, format ${fmt}`, () => {
    it('writes are reported once, cleared, and kept with noClear', () => {
      fc.assert(
        fc.property(fc.array(fc.record({ page: fc.nat(511 + 8), write: fc.boolean() }), { maxLength: 40 }), (accesses) => {
          const t = IoPageTable.create(fmt, { tracking: true });
          // 256 4 KiB pages at 0, one 2 MiB block at 2 MiB, one read-only page above
          t.map(0, 0x100_0000, 256 * 4096, RW);
          t.map(M2, 0x4000_0000, M2, RW);
          t.map(2 * M2, 0x5000_0000, 4096, PROT_READ);
          t.readAndClearDirty(0, 4 * M2); // start clean (LPAE maps writable-dirty)
          const want = new Set<number>();
          for (const a of accesses) {
            const iova = a.page < 256 ? a.page * 4096 : a.page < 512 ? M2 + (a.page - 256) * 4096 : 2 * M2;
            const r = t.walk(iova, (a.write ? ACC_WRITE : ACC_READ) | ACC_UPDATE);
            if (iova === 2 * M2 && a.write) expect(r.ok).toBe(false);
            else if (a.write) want.add(iova >= M2 ? M2 : iova);
          }
          const leafSize = (x: number) => (x === M2 ? M2 : 4096);
          const expected = [...want].sort((a, b) => a - b).map((iova) => ({ iova, size: leafSize(iova) }));
          expect(t.readAndClearDirty(0, 4 * M2, true)).toEqual(expected);
          expect(t.readAndClearDirty(0, 4 * M2, true)).toEqual(expected);
          expect(t.readAndClearDirty(0, 4 * M2)).toEqual(expected);
          expect(t.readAndClearDirty(0, 4 * M2)).toEqual([]);
        }),
        { numRuns: 30, seed: 42 + fmt },
      );
    });

    it('a range read reports the whole leaf that overlaps it', () => {
      const t = IoPageTable.create(fmt, { tracking: true });
      t.map(M2, 0x4000_0000, M2, RW);
      t.readAndClearDirty(0, 4 * M2);
      t.write(M2 + 5 * 4096);
      expect(t.readAndClearDirty(M2 + 100 * 4096, 4096)).toEqual([{ iova: M2, size: M2 }]);
    });
  });
}

describe('tracking off', () => {
  for (const fmt of [FMT_VTD_SL, FMT_AMD_V1, FMT_SMMU_S1] as const) {
    it(`format ${fmt}: writes set nothing`, () => {
      const t = IoPageTable.create(fmt, { tracking: false });
      t.map(0, 0x100_0000, 4096, RW);
      t.readAndClearDirty(0, M2);
      expect(t.write(0).ok).toBe(true);
      expect(t.readAndClearDirty(0, M2)).toEqual([]);
    });
  }
  it('faulted writes never dirty (read-only leaf)', () => {
    const t = IoPageTable.create(FMT_VTD_SL, { tracking: true });
    t.map(0, 0x100_0000, 4096, PROT_READ);
    expect(t.write(0).ok).toBe(false);
    expect(t.readAndClearDirty(0, M2)).toEqual([]);
  });
});
