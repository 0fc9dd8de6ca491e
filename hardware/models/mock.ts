/**
 * The selftest mock IOMMU (drivers/iommu/iommufd/selftest.c,
 * mock-and-selftest.md §1): one software IOMMU with a 2 KiB-granule paging
 * domain, a "selftest" nested domain whose IOTLB is four u32 slots, a
 * selftest vIOMMU with per-device cache slots, and dirty tracking that only
 * the DIRTY test op ever sets.
 */
import { EINVAL, ENOENT, EOPNOTSUPP } from '../../uapi/errno.ts';
import {
  IOMMU_HW_INFO_SELFTEST_REGVAL, IOMMU_HW_INFO_TYPE_DEFAULT, IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_SELFTEST, IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_TEST_INVALIDATE_FLAG_ALL, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, IOMMU_VIOMMU_TYPE_SELFTEST,
  MOCK_APERTURE_LAST, MOCK_APERTURE_START, MOCK_DEV_CACHE_ID_MAX, MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_FLAGS_DEVICE_PASID, MOCK_HUGE_PAGE_SIZE, MOCK_IOMMUPT_DEFAULT, MOCK_IOMMUPT_HUGE,
  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX, MOCK_NESTED_DOMAIN_IOTLB_NUM, MOCK_PAGE_SIZE, MOCK_PASID_WIDTH,
} from '../../uapi/enums.ts';
import {
  iommu_hwpt_invalidate_selftest, iommu_hwpt_selftest, iommu_test_hw_info, iommu_viommu_invalidate_selftest,
  iommu_viommu_selftest,
} from '../../uapi/structs.ts';
import { pack } from '../../uapi/layout.ts';
import { FMT_MOCK } from '../pagetable/format.ts';
import type { DeviceSpec, IommuSpec, ReservedRegion } from '../topology.ts';
import {
  hwInfoFail, hwInfoResult, invalAllocFail, invalFail, iommuCopyStructFromFullUserArray, iommuCopyStructFromUser,
  iommuCopyStructFromUserArray, pasidAttachErrno,
} from './common.ts';
import type {
  AnyDomain, AttachContext, DomainParams, FlushOp, InvalidateContext, InvalidateRequest, InvalidateResult,
  IommuModel, ModelCaps, NestedDomainParams, ViommuParams,
} from './types.ts';

/** Host PAGE_SIZE: the HUGE page-table type maps it alongside 1 MiB leaves. */
const PAGE_SIZE = 4096;
/**
 * Input width of the mock format's default 3-level table (11 + 3 * 9 bits).
 * unverified: the spec only says the HUGE type's aperture is "the wide
 * native one"; this is the width our mock page table translates.
 */
const MOCK_NATIVE_IOVA_BITS = 38;
/** The selftest vIOMMU exports two zeroed host pages for mmap. */
const MOCK_VIOMMU_MMAP_PAGES = 2;

const MOCK_DIRTY = {
  hwUpdates: false, granularity: 'leaf', clearNeedsFlush: false, readWhileDisabled: 'einval', enableBit: 'mock',
} as const;

function mockFlags(dev: DeviceSpec): number {
  return (dev.mockFlags ?? 0) | (dev.pasid > 0 ? MOCK_FLAGS_DEVICE_PASID : 0);
}

export function mockModel(spec: IommuSpec): IommuModel {
  const caps: ModelCaps = {
    hwInfoType: IOMMU_HW_INFO_TYPE_SELFTEST,
    nestedDataType: IOMMU_HWPT_DATA_SELFTEST,
    hwptInvalidateDataType: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
    viommuTypes: [IOMMU_VIOMMU_TYPE_SELFTEST],
    viommuInvalidateDataType: IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
    nesting: true,
    // The mock's dirty capability is per device (MOCK_FLAGS_DEVICE_NO_DIRTY); the override sets the default.
    dirtyTracking: spec.caps?.dirtyTracking ?? true,
    maxPasids: 1 << MOCK_PASID_WIDTH,
    pri: true, // faults come from the TRIGGER_IOPF test op
    ats: false,
    enforceCacheCoherency: false,
    defaultDomain: {
      format: 'mock', pgsizeBitmap: BigInt(MOCK_PAGE_SIZE),
      apertureStart: BigInt(MOCK_APERTURE_START), apertureEnd: BigInt(MOCK_APERTURE_LAST),
    },
  };

  const dirtyCapable = (dev: DeviceSpec) =>
    (mockFlags(dev) & MOCK_FLAGS_DEVICE_NO_DIRTY) === 0 && spec.caps?.dirtyTracking !== false;
  const devMaxPasids = (dev: DeviceSpec) => ((mockFlags(dev) & MOCK_FLAGS_DEVICE_PASID) !== 0 ? caps.maxPasids : 0);

  function paging(flags: number, pagetableType: number): DomainParams {
    const huge = pagetableType === MOCK_IOMMUPT_HUGE;
    const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
    return {
      type: 'paging',
      iommu: spec.id,
      kind: 'mock',
      format: 'mock',
      formatId: FMT_MOCK,
      levels: 3,
      iovaBits: huge ? MOCK_NATIVE_IOVA_BITS : 31,
      // DEFAULT narrows to the selftest aperture and 2 KiB pages; HUGE keeps the native geometry.
      pgsizeBitmap: huge ? BigInt(MOCK_HUGE_PAGE_SIZE | PAGE_SIZE) : BigInt(MOCK_PAGE_SIZE),
      apertureStart: huge ? 0n : BigInt(MOCK_APERTURE_START),
      apertureEnd: huge ? (1n << BigInt(MOCK_NATIVE_IOVA_BITS)) - 1n : BigInt(MOCK_APERTURE_LAST),
      nestParent: (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0,
      dirtyTracking: dirty,
      pasidCapable: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0,
      enforceCacheCoherency: false,
      dirty: dirty ? { ...MOCK_DIRTY } : null,
      mockPagetableType: pagetableType,
    };
  }

  function nestedFrom(parent: DomainParams, data: Uint8Array, dataType: number, flags: number, viommu: ViommuParams | null) {
    if (dataType !== IOMMU_HWPT_DATA_SELFTEST) return { errno: EOPNOTSUPP };
    // min length: offsetofend(iotlb), the first version of the struct
    const c = iommuCopyStructFromUser(iommu_hwpt_selftest, IOMMU_HWPT_DATA_SELFTEST, dataType, data, 4);
    if (c.errno !== 0 || !c.value) return { errno: c.errno };
    const iotlb = new Array<number>(MOCK_NESTED_DOMAIN_IOTLB_NUM).fill(c.value.iotlb);
    const domain: NestedDomainParams = {
      type: 'nested', iommu: spec.id, kind: 'mock', dataType, parent: { ...parent }, viommu: viommu ? spec.id : null,
      pasidCapable: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0, config: { kind: 'mock', iotlb },
    };
    return { domain };
  }

  const model: IommuModel = {
    kind: 'mock',
    spec,
    caps,
    registers: {},

    hwInfo(dev, requestedType = IOMMU_HW_INFO_TYPE_DEFAULT) {
      if (requestedType !== IOMMU_HW_INFO_TYPE_DEFAULT && requestedType !== IOMMU_HW_INFO_TYPE_SELFTEST) {
        return hwInfoFail(EOPNOTSUPP);
      }
      const data = pack(iommu_test_hw_info, { flags: 0, test_reg: IOMMU_HW_INFO_SELFTEST_REGVAL });
      return hwInfoResult(IOMMU_HW_INFO_TYPE_SELFTEST, data, dev, devMaxPasids(dev), dirtyCapable(dev));
    },
    dirtyCapable,
    enforceCoherencyCapable: () => false,
    devMaxPasids,

    allocPaging(flags, dev, data) {
      const f = flags & ~IOMMU_HWPT_FAULT_ID_VALID;
      if ((f & ~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID)) !== 0) {
        return { errno: EOPNOTSUPP };
      }
      if ((f & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0 && !dirtyCapable(dev)) return { errno: EOPNOTSUPP };
      let pagetableType = MOCK_IOMMUPT_DEFAULT;
      if (data && data.type !== IOMMU_HWPT_DATA_NONE) {
        if (data.type !== IOMMU_HWPT_DATA_SELFTEST) return { errno: EOPNOTSUPP };
        const c = iommuCopyStructFromUser(iommu_hwpt_selftest, IOMMU_HWPT_DATA_SELFTEST, data.type, data.bytes, 4);
        if (c.errno !== 0 || !c.value) return { errno: c.errno };
        pagetableType = c.value.pagetable_type;
        if (pagetableType !== MOCK_IOMMUPT_DEFAULT && pagetableType !== MOCK_IOMMUPT_HUGE) return { errno: EOPNOTSUPP };
      }
      return { domain: paging(f, pagetableType) };
    },

    allocNested(parent, dataType, data, _dev, flags = 0, viommu = null) {
      const f = flags & ~IOMMU_HWPT_FAULT_ID_VALID;
      if ((f & ~IOMMU_HWPT_ALLOC_PASID) !== 0) return { errno: EOPNOTSUPP };
      if (parent.kind !== 'mock') return { errno: EINVAL };
      return nestedFrom(parent, data, dataType, f, viommu);
    },

    allocViommu(type, parent, _dev, data) {
      if (type !== IOMMU_VIOMMU_TYPE_SELFTEST) return { errno: EOPNOTSUPP };
      if (parent.kind !== 'mock' || !parent.nestParent) return { errno: EINVAL };
      let inData = 0;
      if (data && data.bytes.length > 0) {
        const c = iommuCopyStructFromUser(iommu_viommu_selftest, IOMMU_VIOMMU_TYPE_SELFTEST, data.type, data.bytes, 8);
        if (c.errno !== 0 || !c.value) return { errno: c.errno };
        inData = c.value.in_data;
      }
      return {
        viommu: {
          iommu: spec.id, kind: 'mock', type, parent: { ...parent }, hasCacheInvalidate: true,
          mock: { inData, mmapLength: MOCK_VIOMMU_MMAP_PAGES * PAGE_SIZE },
        },
      };
    },

    invalidateHwpt(_domain, req) {
      // mock_domain_cache_invalidate_user: per entry, stop at the first failure
      if (req.dataType !== IOMMU_HWPT_INVALIDATE_DATA_SELFTEST) return invalFail(EINVAL);
      const flushes: FlushOp[] = [];
      for (let i = 0; i < req.entryNum; i++) {
        const c = iommuCopyStructFromUserArray(iommu_hwpt_invalidate_selftest, req, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, i, 8);
        if (c.errno !== 0 || !c.value) return { errno: c.errno, processed: i, flushes };
        const inv = c.value;
        if ((inv.flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) !== 0) return { errno: EOPNOTSUPP, processed: i, flushes };
        // checked before FLAG_ALL is looked at, so FLAG_ALL with a bad id fails too
        if (inv.iotlb_id > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX) return { errno: EINVAL, processed: i, flushes };
        const all = (inv.flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) !== 0;
        flushes.push({ scope: 'mock-iotlb', all, index: all ? 0 : inv.iotlb_id });
      }
      return { errno: 0, processed: req.entryNum, flushes };
    },

    invalidateViommu(_viommu: ViommuParams, req: InvalidateRequest, ctx?: InvalidateContext): InvalidateResult {
      // A zero-length array only probes the type.
      if (req.entryNum === 0 && req.dataType === IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST) return invalFail(0);
      const nomem = invalAllocFail(req);
      if (nomem) return nomem;
      const all = iommuCopyStructFromFullUserArray(iommu_viommu_invalidate_selftest, req, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST);
      if (all.errno !== 0) return invalFail(all.errno);
      const flushes: FlushOp[] = [];
      for (const [i, cmd] of all.values.entries()) {
        if ((cmd.flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) !== 0) return { errno: EOPNOTSUPP, processed: i, flushes };
        if (cmd.cache_id > MOCK_DEV_CACHE_ID_MAX) return { errno: EINVAL, processed: i, flushes };
        const dev = ctx?.vdevs?.[String(cmd.vdev_id)];
        if (!dev) return { errno: EINVAL, processed: i, flushes };
        const everything = (cmd.flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) !== 0;
        flushes.push({ scope: 'mock-dev-cache', device: dev.id, all: everything, index: everything ? 0 : cmd.cache_id });
      }
      return { errno: 0, processed: all.values.length, flushes };
    },

    canAttach(domain: AnyDomain, dev: DeviceSpec, ctx?: AttachContext) {
      if (domain.kind !== 'mock' || domain.iommu !== dev.iommu) return EINVAL;
      // mock_domain_nop_attach: only a domain carrying dirty ops cares
      if (domain.type === 'paging' && domain.dirtyTracking && !dirtyCapable(dev)) return EINVAL;
      if (domain.type === 'nested' && domain.viommu !== null && !ctx?.hasVdevice) return ENOENT;
      return pasidAttachErrno(domain, devMaxPasids(dev), ctx);
    },

    checkMap: () => 0,

    setDirtyTracking(domain, enable) {
      return enable && !domain.dirtyTracking ? EINVAL : 0;
    },

    reservedRegions(dev: DeviceSpec): ReservedRegion[] {
      // The mock has no get_resv_regions; reserved IOVA comes from the ADD_RESERVED test op instead.
      return dev.reservedRegions.map((r) => ({ ...r }));
    },
  };
  return model;
}

