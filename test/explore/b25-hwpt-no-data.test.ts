/**
 * B25 (spec/bugs.md, "iommufd: Reject non-zero data_type if no data_len is
 * provided"): IOMMU_HWPT_ALLOC with data_type SELFTEST, data_len 0 and no
 * data pointer.  The kernel refuses it EINVAL and allocates no id; the B25
 * variant builds a plain paging HWPT from it.
 */
import { describe, expect, it } from 'vitest';
import { EINVAL } from '../../uapi/errno.ts';
import { IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_DATA_SELFTEST } from '../../uapi/enums.ts';
import { mockDeviceOnIoas } from '../helpers/mock-device.ts';

const fixture = mockDeviceOnIoas;

describe('B25: HWPT_ALLOC with a data type and no data', () => {
  it.each([null, 'B25'])('variant %s: NONE with data is EINVAL in both', (variant) => {
    const { ifd, ioas, dev } = fixture(variant);
    expect(ifd.hwptAlloc({ dev_id: dev, pt_id: ioas, flags: 0, data_type: IOMMU_HWPT_DATA_NONE, data_len: 8, data_uptr: 0n }).errno).toBe(EINVAL);
  });

  it('fixed: SELFTEST with data_len 0 is EINVAL and no id is used', () => {
    const { ifd, ioas, dev } = fixture(null);
    // The lowest free id, which the refused call would have taken.
    const free = ifd.ioasAlloc().out.out_ioas_id;
    expect(ifd.destroy(free).errno).toBe(0);
    expect(ifd.hwptAlloc({ dev_id: dev, pt_id: ioas, flags: 0, data_type: IOMMU_HWPT_DATA_SELFTEST, data_len: 0, data_uptr: 0n }).errno).toBe(EINVAL);
    const next = ifd.hwptAlloc({ dev_id: dev, pt_id: ioas, flags: 0, data_type: IOMMU_HWPT_DATA_NONE, data_len: 0, data_uptr: 0n });
    expect(next.errno).toBe(0);
    expect(next.out.out_hwpt_id).toBe(free);
  });

  it('B25: SELFTEST with data_len 0 succeeds and builds a paging HWPT', () => {
    const { ifd, ioas, dev } = fixture('B25');
    const r = ifd.hwptAlloc({ dev_id: dev, pt_id: ioas, flags: 0, data_type: IOMMU_HWPT_DATA_SELFTEST, data_len: 0, data_uptr: 0n });
    expect(r.errno).toBe(0);
    expect(r.out.out_hwpt_id).toBeGreaterThan(0);
    // An idle paging HWPT: DESTROY takes it.
    expect(ifd.destroy(r.out.out_hwpt_id).errno).toBe(0);
  });
});
