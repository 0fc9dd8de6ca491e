/**
 * What every physical-IOMMU driver model offers the iommufd core and the
 * translation actor.  A model is a bundle of pure functions closed over one
 * IommuSpec (plain data); everything it returns is plain data too, so the
 * actors can keep it in snapshotable state and rebuild the model on restore.
 *
 * The functions mirror the driver ops the iommufd core calls: hw_info,
 * domain_alloc_paging_flags, domain_alloc_nested / viommu alloc_domain_nested,
 * cache_invalidate_user / viommu cache_invalidate, attach_dev / set_dev_pasid
 * (their refusal paths), get_resv_regions, capable().
 */
import type { DeviceSpec, IommuKind, IommuSpec, ReservedRegion } from '../topology.ts';
import type { FormatId } from '../pagetable/format.ts';

/** Name of a page-table format in hardware/pagetable (PageTableFormat.name). */
export type FormatName = 'mock' | 'vtd-sl' | 'vtd-fl' | 'smmuv3-s1' | 'smmuv3-s2' | 'amd-v1' | 'amd-v2';

export type Errno = { errno: number };
export const ok = 0;

/**
 * How a domain reports dirty pages (the page-table format implements the
 * bits; this says how the driver drives them).
 */
export interface DirtyHint {
  /** Hardware sets D itself on writes while tracking is on; false = the mock (dirtiness injected by the DIRTY test op). */
  hwUpdates: boolean;
  /** A dirty leaf reports its whole size, whatever the bitmap page size. */
  granularity: 'leaf';
  /** Clearing D must be followed by an IOTLB flush before the next interval is trusted (iommufd gathers it). */
  clearNeedsFlush: boolean;
  /** read_and_clear_dirty with a bitmap while tracking is off: the mock fails EINVAL, real drivers just report nothing. */
  readWhileDisabled: 'einval' | 'ok';
  /** Where the driver keeps the enable: VT-d PASID-entry SSADE, SMMU CD.HD (DBM at map time), AMD DTE.HAD, mock flag. */
  enableBit: 'ssade' | 'cd.hd' | 'dte.had' | 'mock';
}

/** A paging (kernel-owned) domain as the driver allocated it. */
export interface DomainParams {
  type: 'paging';
  /** IOMMU instance the domain was allocated for. */
  iommu: string;
  kind: IommuKind;
  format: FormatName;
  formatId: FormatId;
  levels: number;
  /** Bits of IOVA the table translates (levels * 9 + granule shift, or the driver's narrower geometry). */
  iovaBits: number;
  pgsizeBitmap: bigint;
  apertureStart: bigint;
  apertureEnd: bigint;
  nestParent: boolean;
  /** Allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING: the domain has dirty ops. */
  dirtyTracking: boolean;
  /** Allocated with IOMMU_HWPT_ALLOC_PASID: may be attached to a PASID. */
  pasidCapable: boolean;
  /** The driver implements enforce_cache_coherency for this domain (and it would succeed). */
  enforceCacheCoherency: boolean;
  dirty: DirtyHint | null;
  /** Mock only: iommu_hwpt_selftest.pagetable_type of a typed paging allocation. */
  mockPagetableType?: number;
}

/** Stage-1 configuration a nested domain carries (driver-specific, decoded). */
export type NestedConfig =
  | { kind: 'mock'; iotlb: number[] }
  | { kind: 'vtd'; flags: bigint; pgtblAddr: bigint; addrWidth: number }
  | {
    kind: 'smmuv3';
    ste0: bigint;
    ste1: bigint;
    /** STE.Config after validation: V = 0 and abort both install an abort STE. */
    config: 'abort' | 'bypass' | 's1';
    /** ATS for the device only with Config = S1 translate and EATS = 1 (arm_smmu_validate_vste). */
    enableAts: boolean;
  }
  | {
    kind: 'amd';
    dte: bigint[];
    /** guest domain id (gDTE word 1 bits 15:0): the vIOMMU maps it to a host domain id */
    gdomId: number;
    /** 0 = 4-level, 1 = 5-level guest table */
    guestPagingMode: number;
    gcr3Root: bigint;
    glx: number;
    gv: boolean;
  };

export interface NestedDomainParams {
  type: 'nested';
  iommu: string;
  kind: IommuKind;
  dataType: number;
  /** The stage-2 parent (its DomainParams, copied: a parent never changes after allocation). */
  parent: DomainParams;
  /** Set when allocated through a vIOMMU (the preferred form). */
  viommu: string | null;
  pasidCapable: boolean;
  config: NestedConfig;
}

export type AnyDomain = DomainParams | NestedDomainParams;

export interface ViommuParams {
  iommu: string;
  kind: IommuKind;
  type: number;
  parent: DomainParams;
  /** Whether IOMMU_HWPT_INVALIDATE on this vIOMMU reaches a driver op (else the core fails EOPNOTSUPP). */
  hasCacheInvalidate: boolean;
  /** mock: the mmap region the selftest vIOMMU exports (2 host pages) and the echoed in_data */
  mock?: { inData: number; mmapLength: number };
}

/**
 * What an accepted invalidation entry asks the translation actor to drop.
 * Addresses are bigints (guest IOVAs may exceed 2^53); sizes in bytes.
 */
export type FlushOp =
  /** VT-d: every cached translation of the nested domain (its DID, all PASIDs) and the devices' ATCs */
  | { scope: 'domain'; leaf: boolean }
  /** VT-d: [iova, iova + size) of the nested domain; leaf = paging-structure caches may stay */
  | { scope: 'range'; iova: bigint; size: bigint; leaf: boolean }
  /** SMMUv3 TLBI_NH_ALL (also TLBI_NSNH_ALL, rewritten): every stage-1 entry of the VMID */
  | { scope: 'vmid'; vmid: number }
  /** SMMUv3 TLBI_NH_ASID */
  | { scope: 'asid'; vmid: number; asid: number }
  /** SMMUv3 TLBI_NH_VA (asid set) / TLBI_NH_VAA (asid null = any); size 1 = "whatever covers iova" */
  | { scope: 'va'; vmid: number; asid: number | null; iova: bigint; size: bigint; leaf: boolean }
  /** SMMUv3 CMD_ATC_INV on the physical device (vSID already translated) */
  | { scope: 'atc'; device: string; sid: number; ssid: number | null; global: boolean; iova: bigint; size: bigint }
  /** SMMUv3 CFGI_CD (ssid set) / CFGI_CD_ALL (ssid null): cached CDs of the stream */
  | { scope: 'cd'; device: string; sid: number; ssid: number | null; leaf: boolean }
  /** mock nested HWPT: IOTLB slot `index`, or all 4 */
  | { scope: 'mock-iotlb'; all: boolean; index: number }
  /** mock vIOMMU: per-device cache slot `index`, or all 4 */
  | { scope: 'mock-dev-cache'; device: string; all: boolean; index: number };

/**
 * One invalidation array as IOMMU_HWPT_INVALIDATE hands it to a driver
 * (struct iommu_user_data_array): the core copies nothing, each driver reads
 * the user memory itself, entry by entry or all at once, so how far a fault
 * gets depends on the driver.
 */
export interface InvalidateRequest {
  dataType: number;
  entryLen: number;
  entryNum: number;
  /** copy_from_user(data_uptr + offset, len): the bytes, or EFAULT where the user memory does not read */
  copy?: (offset: number, len: number) => Uint8Array | number;
  /** The array's bytes when the caller already holds them (model tests); bytes past the end do not read. */
  entries?: Uint8Array;
  /** A driver's kcalloc of its own copy of the array (a fail_nth point): false = ENOMEM. */
  alloc?: () => boolean;
}

export interface InvalidateResult {
  errno: number;
  /** entry_num written back: entries the driver reports as handled */
  processed: number;
  /** what really reached the hardware, in order (may be fewer than `processed`: SMMUv3 batches) */
  flushes: FlushOp[];
}

/** What an invalidation needs to know beyond the bytes: the vIOMMU's devices and tags. */
export interface InvalidateContext {
  /** vIOMMU virt_id → the physical device holding that vDEVICE */
  vdevs?: Readonly<Record<string, DeviceSpec>>;
  /** SMMUv3 vIOMMU: the VMID it inherited from its parent */
  vmid?: number;
}

export interface HwInfoResult {
  errno: number;
  /** out_data_type */
  type: number;
  /** the driver's data bytes (copied out min(user len, data.length)) */
  data: Uint8Array;
  /** out_max_pasid_log2 */
  maxPasidLog2: number;
  /** out_capabilities (IOMMU_HW_CAP_*) */
  capabilities: number;
}

/** Runtime facts canAttach needs that live in the actors, not in the domain parameters. */
export interface AttachContext {
  /** IOMMU_NO_PASID (0) for the RID attach */
  pasid?: number;
  /** the target domain is already in enforce-cache-coherency mode */
  enforcingCoherency?: boolean;
  /** the device has a vDEVICE on the nested domain's vIOMMU */
  hasVdevice?: boolean;
  /** SMMUv3: host-side SSIDs in use on the master (arm_smmu_ssids_in_use) */
  ssidsInUse?: boolean;
  /** PASIDs currently attached on the device (AMD nested attach refuses them) */
  pasidsAttached?: number;
}

export interface ModelCaps {
  hwInfoType: number;
  /** IOMMU_HWPT_DATA_* this driver's nested allocator takes; null = no nesting */
  nestedDataType: number | null;
  /** IOMMU_HWPT_INVALIDATE_DATA_* accepted on a nested HWPT; null = no HWPT invalidation op */
  hwptInvalidateDataType: number | null;
  /** IOMMU_VIOMMU_TYPE_* the driver can allocate */
  viommuTypes: number[];
  /** invalidation data type accepted on a vIOMMU; null = no cache_invalidate op */
  viommuInvalidateDataType: number | null;
  nesting: boolean;
  dirtyTracking: boolean;
  /** the IOMMU's max_pasids (iommu_device.max_pasids) */
  maxPasids: number;
  pri: boolean;
  ats: boolean;
  /** IOMMU_CAP_ENFORCE_CACHE_COHERENCY for a coherent device */
  enforceCacheCoherency: boolean;
  /** geometry of a flags-0 paging domain */
  defaultDomain: { format: FormatName; pgsizeBitmap: bigint; apertureStart: bigint; apertureEnd: bigint };
}

export interface IommuModel {
  readonly kind: IommuKind;
  readonly spec: IommuSpec;
  readonly caps: ModelCaps;
  /** Raw capability registers as the hardware exposes them (names as in the spec). */
  readonly registers: Readonly<Record<string, bigint>>;

  /** IOMMU_GET_HW_INFO for `dev`; `requestedType` 0 = DEFAULT. */
  hwInfo(dev: DeviceSpec, requestedType?: number): HwInfoResult;
  /** device_iommu_capable(dev, IOMMU_CAP_DIRTY_TRACKING) */
  dirtyCapable(dev: DeviceSpec): boolean;
  /** device_iommu_capable(dev, IOMMU_CAP_ENFORCE_CACHE_COHERENCY) */
  enforceCoherencyCapable(dev: DeviceSpec): boolean;
  /** dev->iommu->max_pasids: min(device PASIDs, IOMMU max_pasids), 0 when either lacks PASID */
  devMaxPasids(dev: DeviceSpec): number;

  /**
   * domain_alloc_paging_flags.  `flags` are the HWPT alloc flags minus
   * FAULT_ID_VALID (the core strips it); `data` is the optional typed
   * paging data (only the mock accepts any).
   */
  allocPaging(flags: number, dev: DeviceSpec, data?: { type: number; bytes: Uint8Array }): Errno | { domain: DomainParams };
  /**
   * domain_alloc_nested (viommu = null: legacy HWPT-parent form) or the
   * vIOMMU's alloc_domain_nested.  `data` is the user buffer (data_len bytes).
   */
  allocNested(
    parent: DomainParams, dataType: number, data: Uint8Array, dev: DeviceSpec, flags?: number, viommu?: ViommuParams | null,
  ): Errno | { domain: NestedDomainParams };
  /** IOMMU_VIOMMU_ALLOC's driver half (type known, parent a NEST_PARENT paging HWPT). */
  allocViommu(type: number, parent: DomainParams, dev: DeviceSpec, data?: { type: number; bytes: Uint8Array }): Errno | { viommu: ViommuParams };

  /** cache_invalidate_user on a nested HWPT. */
  invalidateHwpt(domain: NestedDomainParams, req: InvalidateRequest, ctx?: InvalidateContext): InvalidateResult;
  /** cache_invalidate on a vIOMMU. */
  invalidateViommu(viommu: ViommuParams, req: InvalidateRequest, ctx?: InvalidateContext): InvalidateResult;

  /** The driver's refusals on attach / set_dev_pasid / replace (0 = accepted). */
  canAttach(domain: AnyDomain, dev: DeviceSpec, ctx?: AttachContext): number;
  /** A map the driver refuses (VT-d: read-only on a nest parent, ERRATA_772415_SPR17). 0 = fine. */
  checkMap(domain: DomainParams, prot: number): number;
  /** set_dirty_tracking's driver refusal (the core already checked the domain has dirty ops). */
  setDirtyTracking(domain: DomainParams, enable: boolean): number;
  /** iommu_get_resv_regions(dev): the driver's regions followed by the device's own. */
  reservedRegions(dev: DeviceSpec): ReservedRegion[];
}
