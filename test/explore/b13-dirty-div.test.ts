/**
 * B13 (spec/bugs.md; cb30dfa75d55 "iommufd: Don't overflow during division
 * for dirty tracking", checked against the patch): GET_DIRTY_BITMAP with
 * page_size 1 << 63 over [0, 1 << 63) passes every range check (aligned,
 * no overflow), and the bitmap index arithmetic then divided by
 * 64 * page_size, which wraps to 0 in 64 bits.  Fixed: one bit, cleared.
 */
import { describe, expect, it } from 'vitest';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_DIRTY_TRACKING_ENABLE } from '../../uapi/enums.ts';
import { mockDeviceOnIoas } from '../helpers/mock-device.ts';

function fixture(variant: string | null) {
  const { p, ifd, ioas, dev } = mockDeviceOnIoas(variant);
  const h = ifd.hwptAlloc({ dev_id: dev, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING, data_type: 0, data_len: 0, data_uptr: 0n });
  expect(h.errno).toBe(0);
  const hwpt = h.out.out_hwpt_id;
  expect(ifd.setDirtyTracking({ flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE, hwpt_id: hwpt }).errno).toBe(0);
  const bitmap = p.mmap({ length: 0x1000n });
  expect(p.poke(bitmap, new Uint8Array(8).fill(0xff))).toBe(0);
  return { p, ifd, hwpt, bitmap };
}

const HUGE = 1n << 63n;

describe('B13: dirty bitmap with page_size 1 << 63', () => {
  it('fixed: succeeds with one clean bit', () => {
    const { p, ifd, hwpt, bitmap } = fixture(null);
    const r = ifd.getDirtyBitmap({ hwpt_id: hwpt, flags: 0, iova: 0n, length: HUGE, page_size: HUGE, data: bitmap });
    expect(r.errno).toBe(0);
    // Bits already set in the user's bitmap stay; nothing is dirty, so the first byte is what it was.
    expect((p.peek(bitmap, 1) as Uint8Array)[0]).toBe(0xff);
    expect(p.sim.world.kobj.warn).toBeUndefined();
  });

  it('B13: the index arithmetic divides by zero (an oops)', () => {
    const { p, ifd, hwpt, bitmap } = fixture('B13');
    ifd.getDirtyBitmap({ hwpt_id: hwpt, flags: 0, iova: 0n, length: HUGE, page_size: HUGE, data: bitmap });
    expect(p.sim.world.kobj.warn).toEqual([expect.stringMatching(/^Oops: divide error in iova_bitmap_offset_to_index/)]);
  });

  it.each([null, 'B13'])('variant %s: an ordinary page size is the same', (variant) => {
    const { ifd, hwpt, bitmap } = fixture(variant);
    expect(ifd.getDirtyBitmap({ hwpt_id: hwpt, flags: 0, iova: 0n, length: 0x10000n, page_size: 0x1000n, data: bitmap }).errno).toBe(0);
  });
});
