import { describe, expect, it } from 'vitest';
import { checkFlags, checkNonDefault, checkReserved, checkUpfront } from '../../uapi/checks.ts';
import { ioctlEntry, IOMMUFD_IOCTL_OPS_TEST } from '../../uapi/dispatch.ts';
import { EOPNOTSUPP } from '../../uapi/errno.ts';
import * as E from '../../uapi/enums.ts';
import { decode, fieldOf, pack } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';

const entry = (n: string) => ioctlEntry(n)!;
const map = (v: Parameters<typeof pack<typeof S.iommu_ioas_map>>[1]) =>
  decode(S.iommu_ioas_map, pack(S.iommu_ioas_map, { size: 40, ...v }));

describe('generic field checks', () => {
  it('IOAS_MAP: valid flags pass, unknown bits and __reserved fail EOPNOTSUPP', () => {
    const e = entry('IOMMU_IOAS_MAP');
    expect(checkUpfront(e, map({ flags: E.IOMMU_IOAS_MAP_FLAGS_VALID }))).toBe(0);
    expect(checkUpfront(e, map({ flags: 1 << 3 }))).toBe(EOPNOTSUPP);
    expect(checkUpfront(e, map({ __reserved: 1 }))).toBe(EOPNOTSUPP);
    // No READ/WRITE is EINVAL, later and in the handler: not a generic check.
    expect(checkUpfront(e, map({ flags: 0 }))).toBe(0);
  });

  it('GET_HW_INFO: each __reserved byte is checked; INPUT_TYPE is a valid flag', () => {
    const e = entry('IOMMU_GET_HW_INFO');
    for (const i of [0, 1, 2]) {
      const r = [0, 0, 0];
      r[i] = 1;
      const d = decode(S.iommu_hw_info, pack(S.iommu_hw_info, { __reserved: r }));
      expect(checkUpfront(e, d)).toBe(EOPNOTSUPP);
    }
    const ok = decode(S.iommu_hw_info, pack(S.iommu_hw_info, { flags: E.IOMMU_HW_INFO_FLAG_INPUT_TYPE }));
    expect(checkUpfront(e, ok)).toBe(0);
    expect(checkFlags(e, decode(S.iommu_hw_info, pack(S.iommu_hw_info, { flags: 2 })))).toBe(EOPNOTSUPP);
  });

  it('HWPT_ALLOC: flags are not an up-front check (validated per pt_id type later)', () => {
    const e = entry('IOMMU_HWPT_ALLOC');
    const d = decode(S.iommu_hwpt_alloc, pack(S.iommu_hwpt_alloc, { flags: 1 << 7 }));
    expect(checkUpfront(e, d)).toBe(0);
    expect(checkFlags(e, d)).toBe(EOPNOTSUPP);
    const nested = decode(S.iommu_hwpt_alloc, pack(S.iommu_hwpt_alloc, { flags: E.IOMMU_HWPT_ALLOC_NEST_PARENT }));
    expect(checkFlags(e, nested)).toBe(0);
    expect(checkFlags(e, nested, E.IOMMU_HWPT_ALLOC_NESTED_FLAGS)).toBe(EOPNOTSUPP);
  });

  it('unverified reserved fields are enforced only on request', () => {
    const e = entry('IOMMU_HWPT_ALLOC');
    const d = decode(S.iommu_hwpt_alloc, pack(S.iommu_hwpt_alloc, { __reserved2: 1 }));
    expect(checkReserved(e, d)).toBe(0);
    expect(checkReserved(e, d, { includeUnverified: true })).toBe(EOPNOTSUPP);
    expect(checkUpfront(e, d, { includeUnverified: true })).toBe(EOPNOTSUPP);
  });

  it('VIOMMU/VEVENTQ/HW_QUEUE reject type DEFAULT up front', () => {
    for (const [name, layout] of [
      ['IOMMU_VIOMMU_ALLOC', S.iommu_viommu_alloc],
      ['IOMMU_VEVENTQ_ALLOC', S.iommu_veventq_alloc],
      ['IOMMU_HW_QUEUE_ALLOC', S.iommu_hw_queue_alloc],
    ] as const) {
      const e = entry(name);
      expect(checkNonDefault(e, decode(layout, pack(layout, {})))).toBe(EOPNOTSUPP);
      expect(checkUpfront(e, decode(layout, pack(layout, { type: 0xdeadbeef })))).toBe(0);
      expect(checkUpfront(e, decode(layout, pack(layout, { type: 0xdeadbeef, flags: 1 })))).toBe(EOPNOTSUPP);
    }
  });

  it('TEST_CMD __reserved is deliberately not validated', () => {
    const e = entry('IOMMU_TEST_CMD');
    expect(checkUpfront(e, decode(S.iommu_test_cmd, pack(S.iommu_test_cmd, { __reserved: 5 })))).toBe(0);
  });

  it('every field the table names exists in its struct', () => {
    for (const e of IOMMUFD_IOCTL_OPS_TEST) {
      if (!e) continue;
      const names = [...e.checks.reserved, ...e.checks.unverifiedReserved, ...e.checks.nonDefault];
      if (e.checks.flags) names.push(e.checks.flags.field);
      if (typeof e.writeback === 'object') names.push(e.writeback.field);
      for (const n of names) expect(() => fieldOf(e.layout, n), `${e.name}.${n}`).not.toThrow();
    }
  });
});

describe('enum values (uapi.md §8, mock §1.2)', () => {
  it('samples', () => {
    expect(E.IOMMU_HW_INFO_TYPE_ARM_SMMUV3).toBe(2);
    expect(E.IOMMU_HWPT_ALLOC_PASID).toBe(8);
    expect(E.IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3).toBe(1);
    expect(E.IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV).toBe(1);
    expect(E.IOMMU_VFIO_IOAS_CLEAR).toBe(2);
    expect(E.MOCK_APERTURE_START).toBe(0x1000000);
    expect(E.MOCK_HUGE_PAGE_SIZE).toBe(1 << 20);
    expect(E.MOCK_FLAGS_ACCESS_SYZ).toBe(0x10000);
    expect(E.IOMMU_HW_INFO_TYPE_SELFTEST).toBe(0xfeedbeef);
    expect(E.IOMMU_VEVENTQ_TYPE_SELFTEST).toBe(0xbeefbeef);
    expect(E.IOMMU_TEST_OP_PASID_CHECK_HWPT).toBe(21);
    expect(E.IOMMU_TEST_OP_DMABUF_REVOKE).toBe(23);
  });
});
