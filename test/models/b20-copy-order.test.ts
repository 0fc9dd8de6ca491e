/**
 * B20 (spec/bugs.md; 30a3f2f3e4bd "iommu: Fix two issues in
 * iommu_copy_struct_from_user()"): the fixed helper checks for a NULL
 * user-data descriptor (WARN_ON) before comparing its type; the buggy one
 * read src_data->type first.  Every check answers EINVAL, so for any
 * descriptor that exists both orders agree errno for errno; only a NULL
 * descriptor tells them apart (WARN + EINVAL against a NULL dereference).
 */
import { describe, expect, it } from 'vitest';
import { iommuCopyStructFromUser } from '../../hardware/models/common.ts';
import { EINVAL } from '../../uapi/errno.ts';
import { iommu_hwpt_selftest } from '../../uapi/structs.ts';

const T = 0xdead;
const cases: [string, number, Uint8Array, number][] = [
  ['wrong type', T + 1, new Uint8Array(8), EINVAL],
  ['shorter than the first version', T, new Uint8Array(3), EINVAL],
  ['longer than the kernel struct', T, new Uint8Array(9), EINVAL],
  ['between the first version and the kernel struct (zero-extended)', T, new Uint8Array([1, 0, 0, 0, 2, 0]), 0],
  ['exact', T, new Uint8Array([5, 0, 0, 0, 0, 0, 0, 0]), 0],
];

describe('B20: __iommu_copy_struct_from_user check order', () => {
  it.each(cases)('%s: the same errno in both orders', (_what, type, bytes, errno) => {
    const fixed = iommuCopyStructFromUser(iommu_hwpt_selftest, T, type, bytes, 4);
    const buggy = iommuCopyStructFromUser(iommu_hwpt_selftest, T, type, bytes, 4, 'B20');
    expect(fixed.errno).toBe(errno);
    expect(buggy).toEqual(fixed);
  });

  it('no descriptor: fixed WARNs and fails EINVAL, B20 dereferences NULL', () => {
    const fixed = iommuCopyStructFromUser(iommu_hwpt_selftest, T, 0, null, 4);
    expect(fixed.errno).toBe(EINVAL);
    expect(fixed.warn).toMatch(/WARN_ON\(!src_data\)/);
    expect(() => iommuCopyStructFromUser(iommu_hwpt_selftest, T, 0, null, 4, 'B20')).toThrow(/NULL pointer dereference/);
  });
});
