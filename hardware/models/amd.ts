/**
 * AMD-Vi (drivers/iommu/amd/iommu.c, iommufd.c, nested.c;
 * hardware.md §4).  Paging domains pick the v1 (host) or v2 (x86, PASID)
 * table from the flags; nesting is partial in the reference tree: a vIOMMU
 * and guest-DTE nested domains exist, user cache invalidation does not.
 */
import { EINVAL, EOPNOTSUPP } from '../../uapi/errno.ts';
import {
  IOMMU_HW_INFO_TYPE_AMD, IOMMU_HW_INFO_TYPE_DEFAULT, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_AMD_GUEST, IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID,
} from '../../uapi/enums.ts';
import { iommu_hw_info_amd, iommu_hwpt_amd_guest } from '../../uapi/structs.ts';
import { pack } from '../../uapi/layout.ts';
import { FMT_AMD_V1, FMT_AMD_V2 } from '../pagetable/format.ts';
import type { DeviceSpec, IommuSpec, ReservedRegion } from '../topology.ts';
import { isPci } from '../topology.ts';
import {
  DIRTY_HW, SZ_1G, SZ_2M, SZ_4K, U64_MAX, bit, fieldGet, fieldPrep, has, hwInfoFail, hwInfoResult, invalFail,
  iommuCopyStructFromUser, pasidAttachErrno, withDeviceRegions,
} from './common.ts';
import type { AnyDomain, AttachContext, DomainParams, IommuModel, ModelCaps, NestedDomainParams } from './types.ts';

/**
 * unverified: the newest uapi's AMD vIOMMU type value (enum iommu_viommu_type
 * continues after TEGRA241_CMDQV = 2); uapi/enums.ts does not define it.
 */
export const IOMMU_VIOMMU_TYPE_AMD = 3;

// ---------------------------------------------------------------- EFR / EFR2 (amd_iommu_types.h)
export const FEATURE_PREFETCH = 0;
export const FEATURE_PPR = 1;
export const FEATURE_X2APIC = 2;
export const FEATURE_NX = 3;
export const FEATURE_GT = 4;
export const FEATURE_IA = 6;
export const FEATURE_GA = 7;
export const FEATURE_HE = 8;
export const FEATURE_PC = 9;
export const FEATURE_HATS = [11, 10] as const;
export const FEATURE_GATS = [13, 12] as const;
export const FEATURE_GLX = [15, 14] as const;
export const FEATURE_GAM_VAPIC = 21;
export const FEATURE_PASMAX = [36, 32] as const;
export const FEATURE_GIOSUP = 48;
export const FEATURE_HASUP = 49;
export const FEATURE_EPHSUP = 50;
export const FEATURE_HDSUP = 52;
export const FEATURE2_GCR3TRPMODE = 3;

const GUEST_PGTABLE_5_LEVEL = 1;

/** MSI_RANGE_START..END and the HyperTransport hole, as amd_iommu_get_resv_regions reports them */
export const MSI_RANGE_START = 0xfee00000n;
export const MSI_RANGE_END = 0xfeefffffn;
export const HT_RANGE_START = 0xfd00000000n;
export const HT_RANGE_END = 0xffffffffffn;

/** AMD_IOMMU_PGSIZES: every power of two from 4 KiB except 512 GiB (v1 leaves of any size via next-level 7). */
export const AMD_IOMMU_PGSIZES = (U64_MAX & ~0xfffn) & ~(2n << 38n);
/** AMD_IOMMU_PGSIZES_V2 */
export const AMD_IOMMU_PGSIZES_V2 = SZ_4K | SZ_2M | SZ_1G;

export function amdRegisters(spec: IommuSpec): { efr: bigint; efr2: bigint } {
  const c = spec.caps ?? {};
  const pasidBits = c.pasidBits ?? 16;
  const nesting = c.nesting ?? true;
  const pri = c.pri ?? true;
  let efr = bit(FEATURE_PREFETCH) | bit(FEATURE_X2APIC) | bit(FEATURE_NX) | bit(FEATURE_IA) | bit(FEATURE_GA) |
    bit(FEATURE_HE) | bit(FEATURE_PC) | bit(FEATURE_GAM_VAPIC) | bit(FEATURE_EPHSUP) |
    // unverified: HATS = host levels - 4; a 39-bit request still gets the 4-level minimum
    fieldPrep(...FEATURE_HATS, (c.addressWidth ?? 48) === 57 ? 1 : 0) |
    fieldPrep(...FEATURE_GATS, c.fiveLevel ? GUEST_PGTABLE_5_LEVEL : 0);
  if (pri) efr |= bit(FEATURE_PPR);
  // guest translation backs both PASID (v2 tables) and nesting
  if (pasidBits > 0 || nesting) efr |= bit(FEATURE_GT);
  if (pasidBits > 0) efr |= fieldPrep(...FEATURE_PASMAX, pasidBits - 1) | fieldPrep(...FEATURE_GLX, 1);
  if (nesting) efr |= bit(FEATURE_GIOSUP);
  if (c.dirtyTracking ?? true) efr |= bit(FEATURE_HASUP) | bit(FEATURE_HDSUP);
  const efr2 = nesting ? bit(FEATURE2_GCR3TRPMODE) : 0n;
  return { efr, efr2 };
}

export function amdFeatures(efr: bigint, efr2: bigint) {
  const gtPpr = has(efr, FEATURE_GT) && has(efr, FEATURE_PPR);
  const pasmax = fieldGet(efr, ...FEATURE_PASMAX);
  return {
    hd: has(efr, FEATURE_HDSUP),
    /** amd_iommu_pasid_supported: GT and PPR */
    pasid: gtPpr,
    /** is_nest_parent_supported */
    nestParent: has(efr, FEATURE_GT) && has(efr, FEATURE_GIOSUP) && has(efr2, FEATURE2_GCR3TRPMODE),
    hptLevels: 4 + fieldGet(efr, ...FEATURE_HATS),
    gptLevels: fieldGet(efr, ...FEATURE_GATS) === GUEST_PGTABLE_5_LEVEL ? 5 : 4,
    // unverified: amd_iommu_max_pasid = (1 << (PASMAX + 1)) - 1, so log2 reads one less than the width
    maxPasids: gtPpr ? 2 ** (pasmax + 1) - 1 : 0,
    pri: has(efr, FEATURE_PPR),
  };
}

export function amdModel(spec: IommuSpec): IommuModel {
  const { efr, efr2 } = amdRegisters(spec);
  const ft = amdFeatures(efr, efr2);
  const defaultPgtable = spec.caps?.pgtable ?? 'v1';

  function v1(flags: number): DomainParams {
    const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
    return {
      type: 'paging', iommu: spec.id, kind: 'amd', format: 'amd-v1', formatId: FMT_AMD_V1,
      // the driver grows v1 tables on demand up to 6 levels; our format stops at 5 (57 bits)
      levels: 5,
      iovaBits: 64,
      pgsizeBitmap: AMD_IOMMU_PGSIZES,
      apertureStart: 0n,
      // dma_max_address(PD_MODE_V1)
      apertureEnd: U64_MAX,
      nestParent: (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0,
      dirtyTracking: dirty,
      pasidCapable: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0,
      enforceCacheCoherency: true,
      dirty: dirty ? DIRTY_HW('dte.had') : null,
    };
  }

  function v2(flags: number): DomainParams {
    const bits = 12 + 9 * ft.gptLevels;
    return {
      type: 'paging', iommu: spec.id, kind: 'amd', format: 'amd-v2', formatId: FMT_AMD_V2,
      levels: ft.gptLevels,
      iovaBits: bits,
      pgsizeBitmap: AMD_IOMMU_PGSIZES_V2,
      apertureStart: 0n,
      apertureEnd: (1n << BigInt(bits)) - 1n,
      nestParent: false,
      dirtyTracking: false,
      pasidCapable: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0,
      enforceCacheCoherency: true,
      dirty: null,
    };
  }

  const caps: ModelCaps = {
    hwInfoType: IOMMU_HW_INFO_TYPE_AMD,
    nestedDataType: ft.nestParent ? IOMMU_HWPT_DATA_AMD_GUEST : null,
    hwptInvalidateDataType: null,
    viommuTypes: ft.nestParent ? [IOMMU_VIOMMU_TYPE_AMD] : [],
    viommuInvalidateDataType: null,
    nesting: ft.nestParent,
    dirtyTracking: ft.hd,
    maxPasids: ft.maxPasids,
    pri: ft.pri,
    ats: true,
    enforceCacheCoherency: true,
    defaultDomain: (() => {
      const d = defaultPgtable === 'v2' && ft.pasid ? v2(0) : v1(0);
      return { format: d.format, pgsizeBitmap: d.pgsizeBitmap, apertureStart: d.apertureStart, apertureEnd: d.apertureEnd };
    })(),
  };

  const devMaxPasids = (dev: DeviceSpec) => (isPci(dev) && dev.pasid > 0 && ft.pasid ? Math.min(dev.pasid, ft.maxPasids) : 0);

  const model: IommuModel = {
    kind: 'amd',
    spec,
    caps,
    registers: { efr, efr2 },

    hwInfo(dev, requestedType = IOMMU_HW_INFO_TYPE_DEFAULT) {
      if (requestedType !== IOMMU_HW_INFO_TYPE_DEFAULT && requestedType !== IOMMU_HW_INFO_TYPE_AMD) {
        return hwInfoFail(EOPNOTSUPP);
      }
      const data = pack(iommu_hw_info_amd, { efr, efr2 });
      return hwInfoResult(IOMMU_HW_INFO_TYPE_AMD, data, dev, devMaxPasids(dev), ft.hd);
    },
    dirtyCapable: () => ft.hd,
    // IOMMU_PTE_FC is always set, so snooping is always enforced
    enforceCoherencyCapable: () => true,
    devMaxPasids,

    allocPaging(flags, _dev, data) {
      const f = flags & ~IOMMU_HWPT_FAULT_ID_VALID;
      const supported = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID | IOMMU_HWPT_ALLOC_NEST_PARENT;
      if ((f & ~supported) !== 0 || (data && data.type !== IOMMU_HWPT_DATA_NONE)) return { errno: EOPNOTSUPP };
      switch (f) {
        case IOMMU_HWPT_ALLOC_DIRTY_TRACKING:
        case IOMMU_HWPT_ALLOC_NEST_PARENT:
        case IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT:
          if ((f & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0 && !ft.hd) return { errno: EOPNOTSUPP };
          if ((f & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0 && !ft.nestParent) return { errno: EOPNOTSUPP };
          return { domain: v1(f) };
        case IOMMU_HWPT_ALLOC_PASID:
          return ft.pasid ? { domain: v2(f) } : { errno: EOPNOTSUPP };
        case 0:
          // the command-line default, falling back to the other table when it cannot be had
          return { domain: defaultPgtable === 'v2' && ft.pasid ? v2(0) : v1(0) };
        default:
          return { errno: EOPNOTSUPP };
      }
    },

    allocNested(parent, dataType, data, _dev, flags = 0, viommu = null) {
      if (!viommu) return { errno: EOPNOTSUPP };
      // unverified: the guest-DTE allocator taking no flags
      if ((flags & ~IOMMU_HWPT_FAULT_ID_VALID) !== 0) return { errno: EOPNOTSUPP };
      if (dataType !== IOMMU_HWPT_DATA_AMD_GUEST) return { errno: EOPNOTSUPP };
      const c = iommuCopyStructFromUser(iommu_hwpt_amd_guest, IOMMU_HWPT_DATA_AMD_GUEST, dataType, data, iommu_hwpt_amd_guest.size);
      if (c.errno !== 0 || !c.value) return { errno: c.errno };
      const dte = c.value.dte as bigint[];
      const [w0, w1, w2] = [dte[0]!, dte[1]!, dte[2]!];
      // validate_gdte_nested
      if (fieldGet(w0, 11, 9) !== 0 || (w0 & ((1n << 52n) - (1n << 12n))) !== 0n) return { errno: EINVAL };
      const gcr3Root = (BigInt(fieldGet(w0, 60, 58)) << 12n) | (BigInt(fieldGet(w1, 31, 16)) << 15n) |
        (BigInt(fieldGet(w1, 63, 43)) << 31n);
      const v = has(w0, 0);
      const gv = has(w0, 55);
      if (v && gv && gcr3Root === 0n) return { errno: EINVAL };
      const gpl = fieldGet(w2, 55, 54);
      if (gpl !== 0 && gpl !== 1) return { errno: EINVAL };
      const glx = fieldGet(w0, 57, 56);
      if (glx === 3) return { errno: EINVAL };
      if (gpl === GUEST_PGTABLE_5_LEVEL && ft.gptLevels < 5) return { errno: EOPNOTSUPP };
      const d: NestedDomainParams = {
        type: 'nested', iommu: spec.id, kind: 'amd', dataType, parent: { ...parent }, viommu: viommu.iommu,
        pasidCapable: false,
        config: { kind: 'amd', dte: [...dte], gdomId: fieldGet(w1, 15, 0), guestPagingMode: gpl, gcr3Root, glx, gv },
      };
      return { domain: d };
    },

    allocViommu(type, parent, dev) {
      if (type !== IOMMU_VIOMMU_TYPE_AMD || !ft.nestParent) return { errno: EOPNOTSUPP };
      if (parent.kind !== 'amd' || dev.iommu !== spec.id) return { errno: EINVAL };
      return { viommu: { iommu: spec.id, kind: 'amd', type, parent: { ...parent }, hasCacheInvalidate: false } };
    },

    // no cache_invalidate_user / cache_invalidate op: the core answers EOPNOTSUPP
    invalidateHwpt: () => invalFail(EOPNOTSUPP),
    invalidateViommu: () => invalFail(EOPNOTSUPP),

    canAttach(domain: AnyDomain, dev: DeviceSpec, ctx?: AttachContext) {
      if (domain.kind !== 'amd') return EINVAL;
      if (domain.type === 'nested') {
        if (domain.iommu !== dev.iommu) return EINVAL;
        // the guest DTE replaces the PASID (GCR3) setup of the host
        if ((ctx?.pasidsAttached ?? 0) > 0) return EINVAL;
        // unverified: nested domains only on the RID
        if ((ctx?.pasid ?? 0) !== 0) return EOPNOTSUPP;
        return 0;
      }
      // unverified: a dirty-tracking domain on an IOMMU without HDSUP
      if (domain.dirtyTracking && !ft.hd) return EINVAL;
      // unverified: PASIDs are served by v2 (GCR3) tables only
      if ((ctx?.pasid ?? 0) !== 0 && domain.format !== 'amd-v2') return EINVAL;
      return pasidAttachErrno(domain, devMaxPasids(dev), ctx);
    },

    checkMap: () => 0,
    setDirtyTracking: () => 0,

    reservedRegions(dev: DeviceSpec): ReservedRegion[] {
      return withDeviceRegions([
        { start: MSI_RANGE_START, last: MSI_RANGE_END, type: 'msi' },
        // unverified: reported on every system (some kernels skip it when the IOMMU lacks the HT hole)
        { start: HT_RANGE_START, last: HT_RANGE_END, type: 'reserved' },
      ], dev);
    },
  };
  return model;
}
