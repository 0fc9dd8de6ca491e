/**
 * Intel VT-d (drivers/iommu/intel/iommu.c, nested.c, pasid.c;
 * hardware.md §2).  Scalable mode only.  The model builds CAP/ECAP from
 * the topology's overrides and derives every rule from those bits, as the
 * driver's predicates do (sm_supported, pasid_supported, nested_supported,
 * ssads_supported).
 */
import { EINVAL, ENODEV, EOPNOTSUPP } from '../../uapi/errno.ts';
import {
  IOMMU_HW_INFO_TYPE_DEFAULT, IOMMU_HW_INFO_TYPE_INTEL_VTD, IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_VTD_S1, IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, IOMMU_VTD_INV_FLAGS_LEAF,
  IOMMU_VTD_S1_EAFE, IOMMU_VTD_S1_SRE,
} from '../../uapi/enums.ts';
import { iommu_hw_info_vtd, iommu_hwpt_vtd_s1, iommu_hwpt_vtd_s1_invalidate } from '../../uapi/structs.ts';
import { pack } from '../../uapi/layout.ts';
import { FMT_VTD_FL, FMT_VTD_SL, PROT_READ, PROT_WRITE } from '../pagetable/format.ts';
import type { DeviceSpec, IommuSpec, ReservedRegion } from '../topology.ts';
import { isPci } from '../topology.ts';
import {
  DIRTY_HW, SZ_1G, SZ_2M, SZ_4K, U64_MAX, bit, fieldGet, fieldPrep, has, hwInfoFail, hwInfoResult, invalFail,
  iommuCopyStructFromUser, iommuCopyStructFromUserArray, pasidAttachErrno, withDeviceRegions,
} from './common.ts';
import type {
  AnyDomain, AttachContext, DomainParams, FlushOp, IommuModel, ModelCaps, NestedDomainParams,
} from './types.ts';

// ---------------------------------------------------------------- CAP (hardware.md §2.4)
export const CAP_ND = [2, 0] as const;
export const CAP_SAGAW = [12, 8] as const;
export const CAP_MGAW = [21, 16] as const;
export const CAP_ZLR = 22;
export const CAP_FRO = [33, 24] as const;
export const CAP_SLLPS_2M = 34;
export const CAP_SLLPS_1G = 35;
export const CAP_PSI = 39;
export const CAP_NFR = [47, 40] as const;
export const CAP_MAMV = [53, 48] as const;
export const CAP_FL1GP = 56;
export const CAP_FL5LP = 60;

// ---------------------------------------------------------------- ECAP (hardware.md §2.5)
export const ECAP_C = 0;
export const ECAP_QI = 1;
export const ECAP_DT = 2;
export const ECAP_IR = 3;
export const ECAP_EIM = 4;
export const ECAP_PT = 6;
export const ECAP_SC = 7;
export const ECAP_IRO = [17, 8] as const;
export const ECAP_MTS = 25;
export const ECAP_NEST = 26;
export const ECAP_PRS = 29;
export const ECAP_SRS = 31;
export const ECAP_EAFS = 34;
export const ECAP_PSS = [39, 35] as const;
export const ECAP_PASID = 40;
export const ECAP_PDS = 42;
export const ECAP_SMTS = 43;
export const ECAP_SLADS = 45;
export const ECAP_SLTS = 46;
export const ECAP_FLTS = 47;
export const ECAP_SMPWC = 48;
export const ECAP_RPS = 49;

/** IOAPIC_RANGE_START..END: interrupt writes, reported as IOMMU_RESV_MSI (intel_iommu_get_resv_regions). */
export const IOAPIC_RANGE_START = 0xfee00000n;
export const IOAPIC_RANGE_END = 0xfeefffffn;

const ADDR_WIDTH_4LEVEL = 48;
const ADDR_WIDTH_5LEVEL = 57;
const VTD_PAGE_SIZE = 4096n;

/** CAP and ECAP for a topology entry; defaults describe a scalable-mode server part. */
export function vtdRegisters(spec: IommuSpec): { cap: bigint; ecap: bigint } {
  const c = spec.caps ?? {};
  const width = c.addressWidth ?? 48;
  const pasidBits = c.pasidBits ?? 20;
  const fiveLevel = c.fiveLevel ?? width === 57;
  const big = c.superpage1G ?? true;
  const coherent = c.coherent ?? true;
  // SAGAW bit 1 = 39-bit/3-level, bit 2 = 48-bit/4-level, bit 3 = 57-bit/5-level; hardware offers the narrower ones too
  const sagaw = width === 57 ? 0b1110 : width === 48 ? 0b0110 : 0b0010;
  let cap = fieldPrep(...CAP_ND, 6) | fieldPrep(...CAP_SAGAW, sagaw) | fieldPrep(...CAP_MGAW, width - 1) |
    bit(CAP_ZLR) | fieldPrep(...CAP_FRO, 0x40) | bit(CAP_SLLPS_2M) | bit(CAP_PSI) | fieldPrep(...CAP_NFR, 7) |
    fieldPrep(...CAP_MAMV, 18);
  if (big) cap |= bit(CAP_SLLPS_1G) | bit(CAP_FL1GP);
  if (fiveLevel) cap |= bit(CAP_FL5LP);
  let ecap = bit(ECAP_QI) | bit(ECAP_IR) | bit(ECAP_EIM) | bit(ECAP_PT) | fieldPrep(...ECAP_IRO, 0x50) |
    bit(ECAP_MTS) | bit(ECAP_PDS) | bit(ECAP_SMTS) | bit(ECAP_RPS);
  if (coherent) ecap |= bit(ECAP_C) | bit(ECAP_SMPWC);
  if (c.ats ?? true) ecap |= bit(ECAP_DT);
  if (c.snoopControl ?? true) ecap |= bit(ECAP_SC);
  if (c.nesting ?? true) ecap |= bit(ECAP_NEST);
  if (c.pri ?? true) ecap |= bit(ECAP_PRS);
  if (c.supervisorRequests ?? true) ecap |= bit(ECAP_SRS);
  if (c.extendedAccessed ?? false) ecap |= bit(ECAP_EAFS);
  if (pasidBits > 0) ecap |= fieldPrep(...ECAP_PSS, pasidBits - 1) | bit(ECAP_PASID);
  if (c.dirtyTracking ?? true) ecap |= bit(ECAP_SLADS);
  if (c.secondStage ?? true) ecap |= bit(ECAP_SLTS);
  if (c.firstStage ?? true) ecap |= bit(ECAP_FLTS);
  return { cap, ecap };
}

/** The predicates of drivers/iommu/intel/iommu.h, from the raw registers. */
export function vtdFeatures(cap: bigint, ecap: bigint) {
  const sm = has(ecap, ECAP_SMTS);
  const sagaw = fieldGet(cap, ...CAP_SAGAW);
  const mgaw = fieldGet(cap, ...CAP_MGAW) + 1;
  // iommu_calculate_agaw: the widest SAGAW level not above DEFAULT_DOMAIN_ADDRESS_WIDTH (57)
  const agawWidth = sagaw & 0b1000 ? 57 : sagaw & 0b0100 ? 48 : sagaw & 0b0010 ? 39 : 30;
  return {
    sm,
    pasid: sm && has(ecap, ECAP_PASID),
    nested: sm && has(ecap, ECAP_NEST),
    // the SMPWC requirement came with a later fix; older trees check SLADS only
    ssads: sm && has(ecap, ECAP_SLADS) && has(ecap, ECAP_SMPWC),
    flts: has(ecap, ECAP_FLTS),
    slts: has(ecap, ECAP_SLTS),
    sc: has(ecap, ECAP_SC),
    srs: has(ecap, ECAP_SRS),
    eafs: has(ecap, ECAP_EAFS),
    fl5lp: has(cap, CAP_FL5LP),
    fl1gp: has(cap, CAP_FL1GP),
    sl2m: has(cap, CAP_SLLPS_2M),
    sl1g: has(cap, CAP_SLLPS_1G),
    /** domain gaw: min(agaw width, MGAW) */
    width: Math.min(agawWidth, mgaw),
    agawLevels: (agawWidth - 12) / 9,
    maxPasids: sm && has(ecap, ECAP_PASID) ? 2 * 2 ** fieldGet(ecap, ...ECAP_PSS) : 0,
  };
}

export function vtdModel(spec: IommuSpec): IommuModel {
  const { cap, ecap } = vtdRegisters(spec);
  const ft = vtdFeatures(cap, ecap);
  const preferFirstStage = spec.caps?.preferFirstStage ?? true;

  function secondStage(flags: number): DomainParams {
    const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
    return {
      type: 'paging', iommu: spec.id, kind: 'vtd', format: 'vtd-sl', formatId: FMT_VTD_SL,
      levels: (ft.width - 12) / 9 > 0 ? Math.ceil((ft.width - 12) / 9) : 3,
      iovaBits: ft.width,
      pgsizeBitmap: SZ_4K | (ft.sl2m ? SZ_2M : 0n) | (ft.sl1g ? SZ_1G : 0n),
      apertureStart: 0n,
      apertureEnd: (1n << BigInt(ft.width)) - 1n,
      nestParent: (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0,
      dirtyTracking: dirty,
      pasidCapable: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0,
      enforceCacheCoherency: ft.sc,
      dirty: dirty ? DIRTY_HW('ssade') : null,
    };
  }

  function firstStage(flags: number): DomainParams {
    const five = ft.fl5lp && ft.width >= ADDR_WIDTH_5LEVEL;
    const bits = five ? ADDR_WIDTH_5LEVEL : ADDR_WIDTH_4LEVEL;
    return {
      type: 'paging', iommu: spec.id, kind: 'vtd', format: 'vtd-fl', formatId: FMT_VTD_FL,
      levels: five ? 5 : 4,
      // first level avoids the upper canonical half (gaw - 1)
      iovaBits: bits - 1,
      pgsizeBitmap: SZ_4K | SZ_2M | (ft.fl1gp ? SZ_1G : 0n),
      apertureStart: 0n,
      apertureEnd: (1n << BigInt(bits - 1)) - 1n,
      nestParent: false,
      dirtyTracking: false,
      pasidCapable: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0,
      enforceCacheCoherency: ft.sc,
      dirty: null,
    };
  }

  const caps: ModelCaps = {
    hwInfoType: IOMMU_HW_INFO_TYPE_INTEL_VTD,
    nestedDataType: ft.nested ? IOMMU_HWPT_DATA_VTD_S1 : null,
    hwptInvalidateDataType: IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
    viommuTypes: [],
    viommuInvalidateDataType: null,
    nesting: ft.nested,
    dirtyTracking: ft.ssads,
    maxPasids: ft.maxPasids,
    pri: has(ecap, ECAP_PRS),
    ats: has(ecap, ECAP_DT),
    enforceCacheCoherency: ft.sc,
    defaultDomain: (() => {
      const d = preferFirstStage && ft.sm && ft.flts ? firstStage(0) : secondStage(0);
      return { format: d.format, pgsizeBitmap: d.pgsizeBitmap, apertureStart: d.apertureStart, apertureEnd: d.apertureEnd };
    })(),
  };

  const devMaxPasids = (dev: DeviceSpec) => (isPci(dev) && dev.pasid > 0 && ft.pasid ? Math.min(dev.pasid, ft.maxPasids) : 0);

  /** paging_domain_compatible: can this IOMMU walk a domain allocated elsewhere? */
  function pagingCompatible(d: DomainParams, ctx: AttachContext | undefined): number {
    if (d.kind !== 'vtd') return EINVAL;
    if (d.dirtyTracking && !ft.ssads) return EINVAL;
    if (ctx?.enforcingCoherency && !ft.sc) return EINVAL;
    if (d.format === 'vtd-fl') {
      if (!ft.sm || !ft.flts) return EINVAL;
      if ((d.pgsizeBitmap & SZ_1G) !== 0n && !ft.fl1gp) return EINVAL;
      if (d.levels === 5 && !ft.fl5lp) return EINVAL;
    } else {
      if (ft.sm && !ft.slts) return EINVAL;
      if ((d.pgsizeBitmap & SZ_1G) !== 0n && !ft.sl1g) return EINVAL;
      if ((d.pgsizeBitmap & SZ_2M) !== 0n && !ft.sl2m) return EINVAL;
      if (d.iovaBits > ft.width) return EINVAL;
    }
    return 0;
  }

  const model: IommuModel = {
    kind: 'vtd',
    spec,
    caps,
    registers: { cap, ecap },

    hwInfo(dev, requestedType = IOMMU_HW_INFO_TYPE_DEFAULT) {
      if (requestedType !== IOMMU_HW_INFO_TYPE_DEFAULT && requestedType !== IOMMU_HW_INFO_TYPE_INTEL_VTD) {
        return hwInfoFail(EOPNOTSUPP);
      }
      // the errata flag is reported unconditionally (the read-only nest-parent rule always applies)
      const data = pack(iommu_hw_info_vtd, { flags: IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, cap_reg: cap, ecap_reg: ecap });
      return hwInfoResult(IOMMU_HW_INFO_TYPE_INTEL_VTD, data, dev, devMaxPasids(dev), ft.ssads);
    },
    dirtyCapable: () => ft.ssads,
    enforceCoherencyCapable: () => ft.sc,
    devMaxPasids,

    allocPaging(flags, _dev, data) {
      if (data && data.type !== IOMMU_HWPT_DATA_NONE) return { errno: EOPNOTSUPP };
      const f = flags & ~IOMMU_HWPT_FAULT_ID_VALID;
      // intel_iommu_domain_alloc_first_stage: only plain (or PASID) requests, scalable mode with FLTS
      if (preferFirstStage && (f & ~IOMMU_HWPT_ALLOC_PASID) === 0 && ft.sm && ft.flts) return { domain: firstStage(f) };
      // intel_iommu_domain_alloc_second_stage
      if ((f & ~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID)) !== 0) {
        return { errno: EOPNOTSUPP };
      }
      const nest = (f & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
      if ((nest && (!ft.nested || (f & IOMMU_HWPT_ALLOC_PASID) !== 0)) ||
          ((f & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0 && !ft.ssads) ||
          (ft.sm && !ft.slts)) {
        return { errno: EOPNOTSUPP };
      }
      return { domain: secondStage(f) };
    },

    allocNested(parent, dataType, data, _dev, flags = 0, viommu = null) {
      // VT-d nests on a HWPT parent only; the stored kernel has no VT-d vIOMMU
      if (viommu) return { errno: EOPNOTSUPP };
      if (((flags & ~IOMMU_HWPT_FAULT_ID_VALID) & ~IOMMU_HWPT_ALLOC_PASID) !== 0) return { errno: EOPNOTSUPP };
      if (dataType !== IOMMU_HWPT_DATA_VTD_S1) return { errno: EOPNOTSUPP };
      if (parent.kind !== 'vtd' || !parent.nestParent) return { errno: EINVAL };
      // nested.c copies the struct and validates nothing: the values are checked at attach
      const c = iommuCopyStructFromUser(iommu_hwpt_vtd_s1, IOMMU_HWPT_DATA_VTD_S1, dataType, data, iommu_hwpt_vtd_s1.size);
      if (c.errno !== 0 || !c.value) return { errno: c.errno };
      const domain: NestedDomainParams = {
        type: 'nested', iommu: spec.id, kind: 'vtd', dataType, parent: { ...parent }, viommu: null,
        pasidCapable: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0,
        config: { kind: 'vtd', flags: c.value.flags, pgtblAddr: c.value.pgtbl_addr, addrWidth: c.value.addr_width },
      };
      return { domain };
    },

    allocViommu: () => ({ errno: EOPNOTSUPP }),

    invalidateHwpt(_domain, req) {
      // intel_nested_cache_invalidate_user
      if (req.dataType !== IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) return invalFail(EINVAL);
      const flushes: FlushOp[] = [];
      for (let i = 0; i < req.entryNum; i++) {
        const c = iommuCopyStructFromUserArray(
          iommu_hwpt_vtd_s1_invalidate, req, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, i, iommu_hwpt_vtd_s1_invalidate.size,
        );
        if (c.errno !== 0 || !c.value) return { errno: c.errno, processed: i, flushes };
        const inv = c.value;
        if ((inv.flags & ~IOMMU_VTD_INV_FLAGS_LEAF) !== 0 || inv.__reserved !== 0) {
          return { errno: EOPNOTSUPP, processed: i, flushes };
        }
        if (inv.addr % VTD_PAGE_SIZE !== 0n || (inv.npages === U64_MAX && inv.addr !== 0n)) {
          return { errno: EINVAL, processed: i, flushes };
        }
        const leaf = (inv.flags & IOMMU_VTD_INV_FLAGS_LEAF) !== 0;
        // end = addr + npages * 4K - 1 in u64: npages == 0 at addr 0 wraps to "everything"
        if (inv.addr === 0n && (inv.npages === U64_MAX || inv.npages === 0n || inv.npages >= 1n << 52n)) {
          flushes.push({ scope: 'domain', leaf });
        } else {
          // unverified: npages == 0 at a non-zero address; the PSI rounding flushes one page there
          const pages = inv.npages === 0n ? 1n : inv.npages;
          const room = (1n << 64n) - inv.addr;
          const size = pages * VTD_PAGE_SIZE > room ? room : pages * VTD_PAGE_SIZE;
          flushes.push({ scope: 'range', iova: inv.addr, size, leaf });
        }
      }
      return { errno: 0, processed: req.entryNum, flushes };
    },

    invalidateViommu: () => invalFail(EOPNOTSUPP),

    canAttach(domain: AnyDomain, dev: DeviceSpec, ctx?: AttachContext) {
      if (domain.type === 'paging') {
        const e = pagingCompatible(domain, ctx);
        return e !== 0 ? e : pasidAttachErrno(domain, devMaxPasids(dev), ctx);
      }
      if (domain.kind !== 'vtd' || domain.config.kind !== 'vtd') return EINVAL;
      // intel_nested_attach_dev: AGAW first, then the parent's compatibility, then intel_pasid_setup_nested
      if (ft.agawLevels < domain.parent.levels) return ENODEV;
      const e = pagingCompatible(domain.parent, ctx);
      if (e !== 0) return e;
      const s1 = domain.config;
      if (s1.addrWidth === ADDR_WIDTH_5LEVEL) {
        if (!ft.fl5lp) return EINVAL;
      } else if (s1.addrWidth !== ADDR_WIDTH_4LEVEL) return EINVAL;
      if ((s1.flags & BigInt(IOMMU_VTD_S1_SRE)) !== 0n && !ft.srs) return EINVAL;
      if ((s1.flags & BigInt(IOMMU_VTD_S1_EAFE)) !== 0n && !ft.eafs) return EINVAL;
      return pasidAttachErrno(domain, devMaxPasids(dev), ctx);
    },

    checkMap(domain, prot) {
      if ((prot & (PROT_READ | PROT_WRITE)) === 0) return EINVAL;
      // ERRATA_772415_SPR17: no read-only mapping on a domain other domains nest on
      if (domain.nestParent && (prot & PROT_WRITE) === 0) return EINVAL;
      return 0;
    },

    setDirtyTracking: () => 0,

    reservedRegions(dev: DeviceSpec): ReservedRegion[] {
      return withDeviceRegions([{ start: IOAPIC_RANGE_START, last: IOAPIC_RANGE_END, type: 'msi' }], dev);
    },
  };
  return model;
}
