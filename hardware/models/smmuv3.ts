/**
 * ARM SMMUv3 (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c and
 * arm-smmu-v3-iommufd.c; hardware.md §3).  Nesting is vIOMMU-based: the
 * nested domain is a user vSTE validated by arm_smmu_validate_vste, and
 * stage-1 invalidations are raw commands converted by
 * arm_vsmmu_convert_user_cmd.  The ID registers are the source of every
 * feature the model claims.
 */
import { EBUSY, EINVAL, EIO, ENOENT, EOPNOTSUPP } from '../../uapi/errno.ts';
import {
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3, IOMMU_HW_INFO_TYPE_DEFAULT, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_FAULT_ID_VALID, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
} from '../../uapi/enums.ts';
import { iommu_hw_info_arm_smmuv3, iommu_hwpt_arm_smmuv3, iommu_viommu_arm_smmuv3_invalidate } from '../../uapi/structs.ts';
import { pack } from '../../uapi/layout.ts';
import { FMT_SMMU_S1, FMT_SMMU_S2 } from '../pagetable/format.ts';
import type { DeviceSpec, IommuSpec, ReservedRegion } from '../topology.ts';
import { deviceRid } from '../topology.ts';
import {
  DIRTY_HW, SZ_1G, SZ_2M, SZ_4K, fieldGet, fieldPrep, genmask, has, hwInfoFail, hwInfoResult, invalAllocFail, invalFail,
  iommuCopyStructFromFullUserArray, iommuCopyStructFromUser, pasidAttachErrno, withDeviceRegions,
} from './common.ts';
import type {
  AnyDomain, AttachContext, DomainParams, FlushOp, InvalidateContext, InvalidateRequest, InvalidateResult,
  IommuModel, ModelCaps, NestedDomainParams, ViommuParams,
} from './types.ts';

// ---------------------------------------------------------------- ID registers (hardware.md §3.7)
export const IDR0_S2P = 0;
export const IDR0_S1P = 1;
export const IDR0_TTF = [3, 2] as const;
export const IDR0_COHACC = 4;
export const IDR0_HTTU = [7, 6] as const;
export const IDR0_HYP = 9;
export const IDR0_ATS = 10;
export const IDR0_ASID16 = 12;
export const IDR0_MSI = 13;
export const IDR0_SEV = 14;
export const IDR0_PRI = 16;
export const IDR0_VMID16 = 18;
export const IDR0_CD2L = 19;
export const IDR0_STALL_MODEL = [25, 24] as const;
export const IDR0_ST_LVL = [28, 27] as const;
export const IDR1_SIDSIZE = [5, 0] as const;
export const IDR1_SSIDSIZE = [10, 6] as const;
export const IDR1_PRIQS = [15, 11] as const;
export const IDR1_EVTQS = [20, 16] as const;
export const IDR1_CMDQS = [25, 21] as const;
export const IDR3_FWB = 8;
export const IDR3_RIL = 10;
export const IDR5_OAS = [2, 0] as const;
export const IDR5_GRAN4K = 4;
export const IDR5_GRAN16K = 5;
export const IDR5_GRAN64K = 6;
export const IDR5_STALL_MAX = [31, 16] as const;

const IDR0_TTF_AARCH64 = 2;
const IDR0_HTTU_ACCESS_DIRTY = 2;
const IDR0_STALL_MODEL_STALL = 0;
const IDR0_STALL_MODEL_NONE = 1;
const OAS_BITS = [32, 36, 40, 42, 44, 48, 52];
/** SMMU_IIDR of an Arm Ltd implementation (implementer 0x43b) */
const IIDR_ARM = 0x43b;
/** SMMU_AIDR: SMMUv3.2 */
const AIDR_V3_2 = 0x2;

// ---------------------------------------------------------------- STE (hardware.md §3.1, §3.2)
export const STRTAB_STE_0_V = 1n;
export const STRTAB_STE_0_CFG = genmask(3, 1);
export const STRTAB_STE_0_CFG_ABORT = 0;
export const STRTAB_STE_0_CFG_BYPASS = 4;
export const STRTAB_STE_0_CFG_S1_TRANS = 5;
export const STRTAB_STE_0_CFG_NESTED = 7;
/** V, Config, S1Fmt, S1ContextPtr, S1CDMax */
export const STRTAB_STE_0_NESTING_ALLOWED = 0xf80fffffffffffffn;
/** S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS */
export const STRTAB_STE_1_NESTING_ALLOWED = 0x380000ffn;
export const STRTAB_STE_1_EATS = genmask(29, 28);
export const STRTAB_STE_1_EATS_ABT = 0;
export const STRTAB_STE_1_EATS_TRANS = 1;

// ---------------------------------------------------------------- commands (hardware.md §3.5)
export const CMDQ_OP_CFGI_CD = 0x05;
export const CMDQ_OP_CFGI_CD_ALL = 0x06;
export const CMDQ_OP_TLBI_NH_ALL = 0x10;
export const CMDQ_OP_TLBI_NH_ASID = 0x11;
export const CMDQ_OP_TLBI_NH_VA = 0x12;
export const CMDQ_OP_TLBI_NH_VAA = 0x13;
export const CMDQ_OP_TLBI_NSNH_ALL = 0x30;
export const CMDQ_OP_ATC_INV = 0x40;
/** BITS_PER_LONG on a 64-bit host: each batch the driver issues ends with a CMD_SYNC */
export const CMDQ_BATCH_ENTRIES = 64;
/** ATC_INV Size field value meaning "invalidate everything" */
export const ATC_INV_SIZE_ALL = 52;

/** MSI_IOVA_BASE / MSI_IOVA_LENGTH: the software MSI window arm_smmu_get_resv_regions reports */
export const MSI_IOVA_BASE = 0x8000000n;
export const MSI_IOVA_LENGTH = 0x100000n;

export interface SmmuRegisters {
  idr: number[];
  iidr: number;
  aidr: number;
}

export function smmuRegisters(spec: IommuSpec): SmmuRegisters {
  const c = spec.caps ?? {};
  const nesting = c.nesting ?? true;
  const s1 = c.firstStage ?? true;
  // turning nesting off drops S2P unless stage 2 was asked for explicitly
  const s2 = c.secondStage ?? nesting;
  const pasidBits = c.pasidBits ?? 20;
  const u = (hi: number, lo: number, v: number) => Number(fieldPrep(hi, lo, v));
  let idr0 = u(...IDR0_TTF, IDR0_TTF_AARCH64) | (1 << IDR0_HYP) | (1 << IDR0_ASID16) | (1 << IDR0_MSI) |
    (1 << IDR0_SEV) | (1 << IDR0_VMID16) | (1 << IDR0_CD2L) | u(...IDR0_ST_LVL, 1) |
    u(...IDR0_STALL_MODEL, c.stall ? IDR0_STALL_MODEL_STALL : IDR0_STALL_MODEL_NONE);
  if (s2) idr0 |= 1 << IDR0_S2P;
  if (s1) idr0 |= 1 << IDR0_S1P;
  if (c.coherent ?? true) idr0 |= 1 << IDR0_COHACC;
  if (c.dirtyTracking ?? true) idr0 |= u(...IDR0_HTTU, IDR0_HTTU_ACCESS_DIRTY);
  if (c.ats ?? true) idr0 |= 1 << IDR0_ATS;
  if (c.pri ?? true) idr0 |= 1 << IDR0_PRI;
  const idr1 = u(...IDR1_SIDSIZE, 16) | u(...IDR1_SSIDSIZE, pasidBits) | u(...IDR1_PRIQS, 8) |
    u(...IDR1_EVTQS, 8) | u(...IDR1_CMDQS, 8);
  let idr3 = 0;
  if (c.rangeInvalidation ?? true) idr3 |= 1 << IDR3_RIL;
  if (c.s2fwb ?? false) idr3 |= 1 << IDR3_FWB;
  const idr5 = u(...IDR5_OAS, 5) | (1 << IDR5_GRAN4K) | (1 << IDR5_GRAN16K) | (1 << IDR5_GRAN64K) |
    u(...IDR5_STALL_MAX, c.stall ? 32 : 0);
  return { idr: [idr0 >>> 0, idr1 >>> 0, 0, idr3 >>> 0, 0, idr5 >>> 0], iidr: IIDR_ARM, aidr: AIDR_V3_2 };
}

/** arm_smmu_device_hw_probe's feature bits, from the raw registers. */
export function smmuFeatures(r: SmmuRegisters) {
  const i0 = BigInt(r.idr[0]!);
  const i1 = BigInt(r.idr[1]!);
  const i3 = BigInt(r.idr[3]!);
  const i5 = BigInt(r.idr[5]!);
  const s1 = has(i0, IDR0_S1P);
  const s2 = has(i0, IDR0_S2P);
  const coherent = has(i0, IDR0_COHACC);
  const hd = fieldGet(i0, ...IDR0_HTTU) === IDR0_HTTU_ACCESS_DIRTY;
  const ssidBits = fieldGet(i1, ...IDR1_SSIDSIZE);
  return {
    s1, s2,
    // unverified: NESTING derived as S1 && S2 (the driver sets it in hw_probe)
    nesting: s1 && s2,
    coherent,
    hd,
    /** arm_smmu_dbm_capable: HD and coherent table walks */
    dbm: hd && coherent,
    ats: has(i0, IDR0_ATS),
    pri: has(i0, IDR0_PRI),
    asidBits: has(i0, IDR0_ASID16) ? 16 : 8,
    vmidBits: has(i0, IDR0_VMID16) ? 16 : 8,
    ssidBits,
    rangeInv: has(i3, IDR3_RIL),
    s2fwb: has(i3, IDR3_FWB),
    oas: OAS_BITS[fieldGet(i5, ...IDR5_OAS)] ?? 48,
    gran4k: has(i5, IDR5_GRAN4K),
  };
}

export function smmuv3Model(spec: IommuSpec): IommuModel {
  const regs = smmuRegisters(spec);
  const ft = smmuFeatures(regs);
  const maxPasids = ft.ssidBits > 0 ? 2 ** ft.ssidBits : 0;
  /** VA_BITS (48) for stage 1; stage 2's input is the output size */
  const ias = { s1: 48, s2: Math.min(ft.oas, 48) };

  function domain(stage: 's1' | 's2', flags: number): DomainParams {
    const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
    return {
      type: 'paging', iommu: spec.id, kind: 'smmuv3',
      format: stage === 's1' ? 'smmuv3-s1' : 'smmuv3-s2', formatId: stage === 's1' ? FMT_SMMU_S1 : FMT_SMMU_S2,
      levels: 4,
      iovaBits: ias[stage],
      // io-pgtable-arm restricts the SMMU's sizes to the 4 KiB granule on a 4 KiB host
      pgsizeBitmap: SZ_4K | SZ_2M | SZ_1G,
      apertureStart: 0n,
      apertureEnd: (1n << BigInt(ias[stage])) - 1n,
      nestParent: (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0,
      dirtyTracking: dirty,
      pasidCapable: (flags & IOMMU_HWPT_ALLOC_PASID) !== 0,
      enforceCacheCoherency: true,
      dirty: dirty ? DIRTY_HW('cd.hd') : null,
    };
  }

  const caps: ModelCaps = {
    hwInfoType: IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
    nestedDataType: ft.nesting ? IOMMU_HWPT_DATA_ARM_SMMUV3 : null,
    hwptInvalidateDataType: null,
    viommuTypes: ft.nesting ? [IOMMU_VIOMMU_TYPE_ARM_SMMUV3] : [],
    viommuInvalidateDataType: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
    nesting: ft.nesting,
    dirtyTracking: ft.dbm,
    maxPasids,
    pri: ft.pri,
    ats: ft.ats,
    enforceCacheCoherency: true,
    defaultDomain: (() => {
      const d = domain(ft.s1 ? 's1' : 's2', 0);
      return { format: d.format, pgsizeBitmap: d.pgsizeBitmap, apertureStart: d.apertureStart, apertureEnd: d.apertureEnd };
    })(),
  };

  const devMaxPasids = (dev: DeviceSpec) => (dev.pasid > 0 && maxPasids > 0 ? Math.min(dev.pasid, maxPasids) : 0);
  /** the master's single StreamID (iommufd supports PCI devices with one SID) */
  const streamId = (dev: DeviceSpec) => dev.sid ?? deviceRid(dev) ?? 0;
  /** arm_smmu_master_canwbs: the IORT says the master is fully coherent (CANWBS) */
  const canwbs = (dev: DeviceSpec) => dev.cacheCoherent;

  /** arm_vsmmu_convert_user_cmd's model: the flush a command means, or EIO */
  function convert(cmd0: bigint, cmd1: bigint, ctx: InvalidateContext | undefined): { errno: number; flush?: FlushOp } {
    const op = Number(cmd0 & 0xffn);
    const vmid = ctx?.vmid ?? 0;
    const asid = fieldGet(cmd0, 63, 48);
    switch (op) {
      case CMDQ_OP_TLBI_NSNH_ALL:
      case CMDQ_OP_TLBI_NH_ALL:
        return { errno: 0, flush: { scope: 'vmid', vmid } };
      case CMDQ_OP_TLBI_NH_ASID:
        return { errno: 0, flush: { scope: 'asid', vmid, asid } };
      case CMDQ_OP_TLBI_NH_VA:
      case CMDQ_OP_TLBI_NH_VAA: {
        const iova = cmd1 & genmask(63, 12);
        const tg = fieldGet(cmd1, 11, 10);
        let size = 1n;
        if (tg !== 0 && ft.rangeInv) {
          const num = BigInt(fieldGet(cmd0, 16, 12));
          const scale = BigInt(fieldGet(cmd0, 24, 20));
          const granule = 1n << BigInt(12 + 2 * (tg - 1));
          size = ((num + 1n) << scale) * granule;
        }
        return {
          errno: 0,
          flush: { scope: 'va', vmid, asid: op === CMDQ_OP_TLBI_NH_VA ? asid : null, iova, size, leaf: (cmd1 & 1n) !== 0n },
        };
      }
      case CMDQ_OP_ATC_INV:
      case CMDQ_OP_CFGI_CD:
      case CMDQ_OP_CFGI_CD_ALL: {
        const vsid = fieldGet(cmd0, 63, 32);
        const dev = ctx?.vdevs?.[String(vsid)];
        if (!dev) return { errno: EIO };
        const sid = streamId(dev);
        const ssid = fieldGet(cmd0, 31, 12);
        if (op === CMDQ_OP_CFGI_CD_ALL) return { errno: 0, flush: { scope: 'cd', device: dev.id, sid, ssid: null, leaf: false } };
        if (op === CMDQ_OP_CFGI_CD) return { errno: 0, flush: { scope: 'cd', device: dev.id, sid, ssid, leaf: (cmd1 & 1n) !== 0n } };
        const span = fieldGet(cmd1, 5, 0);
        const everything = span >= ATC_INV_SIZE_ALL;
        const size = everything ? 1n << 64n : 4096n << BigInt(span);
        const iova = everything ? 0n : (cmd1 & genmask(63, 12)) & ~(size - 1n);
        const ssv = (cmd0 & (1n << 11n)) !== 0n;
        return {
          errno: 0,
          flush: { scope: 'atc', device: dev.id, sid, ssid: ssv ? ssid : null, global: (cmd0 & (1n << 9n)) !== 0n, iova, size },
        };
      }
      default:
        return { errno: EIO };
    }
  }

  const model: IommuModel = {
    kind: 'smmuv3',
    spec,
    caps,
    registers: {
      idr0: BigInt(regs.idr[0]!), idr1: BigInt(regs.idr[1]!), idr2: BigInt(regs.idr[2]!), idr3: BigInt(regs.idr[3]!),
      idr4: BigInt(regs.idr[4]!), idr5: BigInt(regs.idr[5]!), iidr: BigInt(regs.iidr), aidr: BigInt(regs.aidr),
    },

    hwInfo(dev, requestedType = IOMMU_HW_INFO_TYPE_DEFAULT) {
      // another type would go to an implementation's hw_info (Tegra241 CMDQV), which this model has not
      if (requestedType !== IOMMU_HW_INFO_TYPE_DEFAULT && requestedType !== IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
        return hwInfoFail(EOPNOTSUPP);
      }
      const data = pack(iommu_hw_info_arm_smmuv3, { flags: 0, idr: regs.idr, iidr: regs.iidr, aidr: regs.aidr });
      return hwInfoResult(IOMMU_HW_INFO_TYPE_ARM_SMMUV3, data, dev, devMaxPasids(dev), ft.dbm);
    },
    dirtyCapable: () => ft.dbm,
    enforceCoherencyCapable: canwbs,
    devMaxPasids,

    allocPaging(flags, _dev, data) {
      const f = flags & ~IOMMU_HWPT_FAULT_ID_VALID;
      if ((f & ~(IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID | IOMMU_HWPT_ALLOC_NEST_PARENT)) !== 0) {
        return { errno: EOPNOTSUPP };
      }
      if (data && data.type !== IOMMU_HWPT_DATA_NONE) return { errno: EOPNOTSUPP };
      // arm_smmu_domain_alloc_paging_flags picks the stage from the exact flag combination
      switch (f) {
        case 0:
        case IOMMU_HWPT_ALLOC_PASID:
          return { domain: domain(ft.s1 ? 's1' : 's2', f) };
        case IOMMU_HWPT_ALLOC_NEST_PARENT:
          return ft.nesting ? { domain: domain('s2', f) } : { errno: EOPNOTSUPP };
        case IOMMU_HWPT_ALLOC_DIRTY_TRACKING:
        case IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID:
          // HTTU dirty bits exist for stage-1 tables only (IO_PGTABLE_QUIRK_ARM_HD)
          return ft.dbm && ft.s1 ? { domain: domain('s1', f) } : { errno: EOPNOTSUPP };
        default:
          // NEST_PARENT with DIRTY_TRACKING or PASID
          return { errno: EOPNOTSUPP };
      }
    },

    allocNested(parent, dataType, data, _dev, flags = 0, viommu = null) {
      // the driver only nests through its vIOMMU; the HWPT-parent form has no op
      if (!viommu) return { errno: EOPNOTSUPP };
      if ((flags & ~IOMMU_HWPT_FAULT_ID_VALID) !== 0) return { errno: EOPNOTSUPP };
      const c = iommuCopyStructFromUser(iommu_hwpt_arm_smmuv3, IOMMU_HWPT_DATA_ARM_SMMUV3, dataType, data, iommu_hwpt_arm_smmuv3.size);
      if (c.errno !== 0 || !c.value) return { errno: c.errno };
      let [ste0, ste1] = c.value.ste as [bigint, bigint];
      // arm_smmu_validate_vste
      let config: 'abort' | 'bypass' | 's1' = 'abort';
      let enableAts = false;
      if ((ste0 & STRTAB_STE_0_V) === 0n) {
        ste0 = 0n;
        ste1 = 0n;
      } else {
        // EIO is reserved for invalid STE data
        if ((ste0 & ~STRTAB_STE_0_NESTING_ALLOWED) !== 0n || (ste1 & ~STRTAB_STE_1_NESTING_ALLOWED) !== 0n) return { errno: EIO };
        const cfg = fieldGet(ste0, 3, 1);
        if (cfg !== STRTAB_STE_0_CFG_ABORT && cfg !== STRTAB_STE_0_CFG_BYPASS && cfg !== STRTAB_STE_0_CFG_S1_TRANS) {
          return { errno: EIO };
        }
        const eats = fieldGet(ste1, 29, 28);
        ste1 &= ~STRTAB_STE_1_EATS;
        if (eats !== STRTAB_STE_1_EATS_ABT && eats !== STRTAB_STE_1_EATS_TRANS) return { errno: EIO };
        config = cfg === STRTAB_STE_0_CFG_S1_TRANS ? 's1' : cfg === STRTAB_STE_0_CFG_BYPASS ? 'bypass' : 'abort';
        if (config === 's1') enableAts = eats === STRTAB_STE_1_EATS_TRANS;
      }
      const d: NestedDomainParams = {
        type: 'nested', iommu: spec.id, kind: 'smmuv3', dataType, parent: { ...parent }, viommu: viommu.iommu,
        pasidCapable: false, config: { kind: 'smmuv3', ste0, ste1, config, enableAts },
      };
      return { domain: d };
    },

    allocViommu(type, parent, dev) {
      if (type !== IOMMU_VIOMMU_TYPE_ARM_SMMUV3) return { errno: EOPNOTSUPP };
      if (!ft.nesting) return { errno: EOPNOTSUPP };
      // Newest kernels (VMID per vSMMU, "allow sharing domain across SMMUs"): the S2 parent may come from
      // another SMMUv3 instance; it must be an SMMUv3 stage-2 domain, the device on this instance.
      if (parent.kind !== 'smmuv3' || parent.format !== 'smmuv3-s2' || dev.iommu !== spec.id) return { errno: EINVAL };
      // the VM must not be able to make DMA non-coherent behind VFIO's back
      if (!canwbs(dev) && !ft.s2fwb) return { errno: EOPNOTSUPP };
      return { viommu: { iommu: spec.id, kind: 'smmuv3', type, parent: { ...parent }, hasCacheInvalidate: true } };
    },

    invalidateHwpt: () => invalFail(EOPNOTSUPP),

    invalidateViommu(_viommu: ViommuParams, req: InvalidateRequest, ctx?: InvalidateContext): InvalidateResult {
      const nomem = invalAllocFail(req);
      if (nomem) return nomem;
      // arm_vsmmu_cache_invalidate has no zero-length probe: the full-array copy refuses entry_num 0 (EINVAL)
      const all = iommuCopyStructFromFullUserArray(iommu_viommu_arm_smmuv3_invalidate, req, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3);
      if (all.errno !== 0) return invalFail(all.errno);
      // Converted in order, issued every CMDQ_BATCH_ENTRIES - 1 commands (plus the sync); on a bad
      // command entry_num counts every converted command, though the open batch is never issued.
      const flushes: FlushOp[] = [];
      let batch: FlushOp[] = [];
      for (const [i, e] of all.values.entries()) {
        const r = convert(e.cmd[0]!, e.cmd[1]!, ctx);
        if (r.errno !== 0 || !r.flush) return { errno: r.errno, processed: i, flushes };
        batch.push(r.flush);
        if (batch.length === CMDQ_BATCH_ENTRIES - 1 || i === all.values.length - 1) {
          flushes.push(...batch);
          batch = [];
        }
      }
      return { errno: 0, processed: all.values.length, flushes };
    },

    canAttach(domain: AnyDomain, dev: DeviceSpec, ctx?: AttachContext) {
      if (domain.kind !== 'smmuv3' || domain.iommu !== dev.iommu) return EINVAL;
      if (domain.type === 'nested') {
        // arm_smmu_attach_dev_nested
        if (ctx?.ssidsInUse) return EBUSY;
        if (domain.config.kind === 'smmuv3' && domain.config.config === 's1' && !ctx?.hasVdevice) return ENOENT;
        if (ctx?.enforcingCoherency && !canwbs(dev)) return EINVAL;
        // unverified: the nested ops have no set_dev_pasid, so the core refuses a PASID
        if ((ctx?.pasid ?? 0) !== 0) return EOPNOTSUPP;
        return 0;
      }
      if (ctx?.enforcingCoherency && !canwbs(dev)) return EINVAL;
      // unverified: a PASID needs a CD table, i.e. a stage-1 domain
      if ((ctx?.pasid ?? 0) !== 0 && domain.format !== 'smmuv3-s1') return EINVAL;
      return pasidAttachErrno(domain, devMaxPasids(dev), ctx);
    },

    checkMap: () => 0,
    setDirtyTracking: () => 0,

    reservedRegions(dev: DeviceSpec): ReservedRegion[] {
      return withDeviceRegions(
        [{ start: MSI_IOVA_BASE, last: MSI_IOVA_BASE + MSI_IOVA_LENGTH - 1n, type: 'sw-msi' }], dev,
      );
    },
  };
  return model;
}
