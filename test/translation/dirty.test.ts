/**
 * Dirty tracking end to end: HWPT_ALLOC(DIRTY_TRACKING), SET_DIRTY_TRACKING,
 * device DMA writes, GET_DIRTY_BITMAP (uapi §3.15: u64 words, bit n for IOVA
 * iova + n * page_size) reports exactly the written pages; NO_CLEAR keeps
 * them, a read without it clears, and a page written again through a cached
 * (IOTLB) translation after the clear is reported again (I5).
 */
import { describe, expect, it } from 'vitest';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_DIRTY_TRACKING_ENABLE, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR } from '../../uapi/enums.ts';
import { FIXED, PAGE, RW, domainOf, journaled, peek, poke, rig, tr, type DevName, type Rig } from './helpers.ts';
import { staleTranslations } from '../../actors/invariants-hw.ts';

const IOVA = 0x2000_0000;
const PAGES = 96;

function bitmapOf(r: Rig, hwpt: number, bm: bigint, o: { noClear: boolean; pageSize?: number }): Set<number> {
  const pageSize = o.pageSize ?? PAGE;
  const nbits = (PAGES * PAGE) / pageSize;
  const words = Math.ceil(nbits / 64);
  poke(r.p, bm, new Uint8Array(words * 8));
  const g = r.ifd.getDirtyBitmap({
    hwpt_id: hwpt, flags: o.noClear ? IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0, iova: BigInt(IOVA), length: BigInt(PAGES * PAGE),
    page_size: BigInt(pageSize), data: bm,
  });
  expect(g.errno).toBe(0);
  const b = peek(r.p, bm, words * 8);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const set = new Set<number>();
  for (let w = 0; w < words; w++) {
    const v = dv.getBigUint64(w * 8, true);
    for (let bit = 0; bit < 64; bit++) if ((v >> BigInt(bit)) & 1n) set.add(w * 64 + bit);
  }
  return set;
}

const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);

describe.each<DevName>(['dev0', 'dev2'])('dirty tracking end to end (%s)', (dev) => {
  it('GET_DIRTY_BITMAP reports exactly the pages the device wrote; NO_CLEAR keeps, a plain read clears', () => {
    journaled((sim) => {
      const r = rig(sim, dev, { attach: false });
      const h = r.ifd.hwptAlloc({ dev_id: r.devId, pt_id: r.ioas, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING, data_type: 0, data_len: 0, data_uptr: 0n });
      expect(h.errno).toBe(0);
      const hwpt = h.out.out_hwpt_id;
      expect(r.vfio.attach(hwpt).errno).toBe(0);
      const va = r.p.mmap({ length: PAGES * PAGE });
      poke(r.p, va, new Uint8Array(PAGES * PAGE).fill(1));
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(PAGES * PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      const bm = r.p.mmap({ length: PAGE });
      const w = (pages: number[]) => {
        const out = sim.dma(dev, pages.map((p) => ({ iova: IOVA + p * PAGE + 8, length: 16, write: true, data: new Uint8Array(16).fill(p) })));
        expect(out.every((o) => o.ok)).toBe(true);
      };
      const rd = (pages: number[]) => expect(sim.dma(dev, pages.map((p) => ({ iova: IOVA + p * PAGE, length: 64, write: false }))).every((o) => o.ok)).toBe(true);

      // tracking off: writes leave no dirty state behind
      w([0, 1]);
      expect(r.ifd.setDirtyTracking({ hwpt_id: hwpt, flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE }).errno).toBe(0);
      expect(sorted(bitmapOf(r, hwpt, bm, { noClear: true }))).toEqual([]);

      // tracking on: writes (some through IOTLB entries filled before), reads, a faulted write
      const written = [1, 5, 6, 63, 64, 95];
      w(written);
      rd([2, 3, 5, 70]);
      expect(sim.dma(dev, [{ iova: IOVA + PAGES * PAGE, length: 8, write: true, data: new Uint8Array(8) }])[0]!.ok).toBe(false);
      for (const p of written) expect(peek(r.p, va + BigInt(p * PAGE + 8), 16)).toEqual(new Uint8Array(16).fill(p));

      expect(sorted(bitmapOf(r, hwpt, bm, { noClear: true }))).toEqual(written);
      expect(sorted(bitmapOf(r, hwpt, bm, { noClear: true }))).toEqual(written);
      // one bit per two pages
      expect(sorted(bitmapOf(r, hwpt, bm, { noClear: true, pageSize: 2 * PAGE }))).toEqual([...new Set(written.map((p) => p >> 1))].sort((a, b) => a - b));
      // read-and-clear: reported once, then clean
      expect(sorted(bitmapOf(r, hwpt, bm, { noClear: false }))).toEqual(written);
      expect(sorted(bitmapOf(r, hwpt, bm, { noClear: true }))).toEqual([]);

      // writes after the clear, through translations the IOTLB still caches, are reported again
      const hits = tr(sim).st.engine.stats.iotlbHits;
      w([5, 64, 7]);
      expect(tr(sim).st.engine.stats.iotlbHits + tr(sim).st.engine.stats.walks).toBeGreaterThan(hits);
      expect(sorted(bitmapOf(r, hwpt, bm, { noClear: false }))).toEqual([5, 7, 64]);
      expect(sorted(bitmapOf(r, hwpt, bm, { noClear: false }))).toEqual([]);

      // tracking off again: writes are not recorded
      expect(r.ifd.setDirtyTracking({ hwpt_id: hwpt, flags: 0 }).errno).toBe(0);
      w([9]);
      expect(r.ifd.setDirtyTracking({ hwpt_id: hwpt, flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE }).errno).toBe(0);
      expect(sorted(bitmapOf(r, hwpt, bm, { noClear: true }))).toEqual([]);
      expect(domainOf(sim, dev)).toBeGreaterThan(0);
      expect(staleTranslations(sim)).toEqual([]);
    });
  });
});
