/**
 * The vIOMMU invalidation drivers kcalloc their copy of the command array
 * (arm_vsmmu_cache_invalidate, mock_viommu_cache_invalidate) and return
 * -ENOMEM before writing array->entry_num, so the core hands the caller's
 * own entry_num back.  kcalloc(0) never fails; the nested-HWPT drivers,
 * reading entry by entry, allocate nothing.
 */
import { describe, expect, it } from 'vitest';
import { smmuv3Model } from '../../hardware/models/smmuv3.ts';
import { mockModel } from '../../hardware/models/mock.ts';
import type { DomainParams, InvalidateRequest, NestedDomainParams, ViommuParams } from '../../hardware/models/types.ts';
import { EINVAL, ENOMEM } from '../../uapi/errno.ts';
import * as E from '../../uapi/enums.ts';
import { pack } from '../../uapi/layout.ts';
import { iommu_hwpt_invalidate_selftest, iommu_hwpt_selftest } from '../../uapi/structs.ts';
import { invalReq, iommu, mockDev, must, pciDev, u64s } from './helpers.ts';

/** `req` whose allocation fails; counts the attempts. */
function failing(req: InvalidateRequest): { req: InvalidateRequest; tries: () => number } {
  let n = 0;
  return { req: { ...req, alloc: () => (n++, false) }, tries: () => n };
}

describe('vIOMMU invalidation: the command copy allocation', () => {
  it('SMMUv3: ENOMEM with entry_num unchanged, nothing issued; zero entries never allocate (EINVAL from the copy)', () => {
    const s = smmuv3Model(iommu('smmuv3'));
    const dev = pciDev({ iommu: 'i0', bdf: '0000:01:00.0', rid: 0x100, ats: true });
    const parent = must<{ domain: DomainParams }>(s.allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT, dev)).domain;
    const v = must<{ viommu: ViommuParams }>(s.allocViommu(E.IOMMU_VIOMMU_TYPE_ARM_SMMUV3, parent, dev)).viommu;
    const T = E.IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3;
    const three = failing(invalReq(T, [u64s(0x10n, 0n), u64s(0x10n, 0n), u64s(0x10n, 0n)]));
    expect(s.invalidateViommu(v, three.req, { vmid: 7 })).toEqual({ errno: ENOMEM, processed: 3, flushes: [] });
    expect(three.tries()).toBe(1);
    // the allocation comes before the type check: ENOMEM even for a wrong type
    const wrong = failing(invalReq(0, [u64s(0x10n, 0n)]));
    expect(s.invalidateViommu(v, wrong.req, { vmid: 7 }).errno).toBe(ENOMEM);
    const none = failing(invalReq(T, []));
    expect(s.invalidateViommu(v, none.req, { vmid: 7 })).toEqual({ errno: EINVAL, processed: 0, flushes: [] });
    expect(none.tries()).toBe(0);
  });

  it('mock vIOMMU: the zero-entry probe returns first; then ENOMEM with entry_num unchanged', () => {
    const m = mockModel(iommu('mock'));
    const dev = mockDev();
    const parent = must<{ domain: DomainParams }>(m.allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT, dev)).domain;
    const v = must<{ viommu: ViommuParams }>(m.allocViommu(E.IOMMU_VIOMMU_TYPE_SELFTEST, parent, dev)).viommu;
    const T = E.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST;
    const probe = failing(invalReq(T, []));
    expect(m.invalidateViommu(v, probe.req)).toEqual({ errno: 0, processed: 0, flushes: [] });
    expect(probe.tries()).toBe(0);
    const two = failing(invalReq(T, [new Uint8Array(12), new Uint8Array(12)]));
    expect(m.invalidateViommu(v, two.req)).toEqual({ errno: ENOMEM, processed: 2, flushes: [] });
    expect(two.tries()).toBe(1);

    // the nested HWPT reads entry by entry into a stack struct: no allocation to fail
    const nested = must<{ domain: NestedDomainParams }>(
      m.allocNested(parent, E.IOMMU_HWPT_DATA_SELFTEST, pack(iommu_hwpt_selftest, { iotlb: 1, pagetable_type: 0 }), dev),
    ).domain;
    const hw = failing(invalReq(E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [pack(iommu_hwpt_invalidate_selftest, { flags: 0, iotlb_id: 2 })]));
    expect(m.invalidateHwpt(nested, hw.req)).toEqual({ errno: 0, processed: 1, flushes: [{ scope: 'mock-iotlb', all: false, index: 2 }] });
    expect(hw.tries()).toBe(0);
  });
});
