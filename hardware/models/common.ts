/**
 * Helpers every driver model shares: the kernel's driver-data copy helpers
 * (include/linux/iommu.h), bit-field arithmetic on 64-bit registers, the
 * core's reserved-region rules, and the generic PASID attach rules.
 */
import { decode, type AnyLayout, type Decoded } from '../../uapi/layout.ts';
import { E2BIG, EFAULT, EINVAL, ENOMEM } from '../../uapi/errno.ts';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HW_CAP_PCI_PASID_EXEC, IOMMU_HW_CAP_PCI_PASID_PRIV,
} from '../../uapi/enums.ts';
import type { DeviceSpec, ReservedRegion } from '../topology.ts';
import { isPci } from '../topology.ts';
import type { AnyDomain, AttachContext, DirtyHint, FlushOp, HwInfoResult, InvalidateRequest, InvalidateResult } from './types.ts';

export const SZ_4K = 1n << 12n;
export const SZ_2M = 1n << 21n;
export const SZ_1G = 1n << 30n;
export const U64_MAX = (1n << 64n) - 1n;

export const bit = (n: number): bigint => 1n << BigInt(n);
/** GENMASK_ULL(hi, lo) */
export const genmask = (hi: number, lo: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
/** FIELD_GET(GENMASK_ULL(hi, lo), v) as a number (fields here are at most 32 bits wide). */
export const fieldGet = (v: bigint, hi: number, lo: number): number => Number((v & genmask(hi, lo)) >> BigInt(lo));
/** FIELD_PREP(GENMASK_ULL(hi, lo), x) */
export const fieldPrep = (hi: number, lo: number, x: number | bigint): bigint => (BigInt(x) << BigInt(lo)) & genmask(hi, lo);
export const has = (v: bigint, n: number): boolean => (v & bit(n)) !== 0n;

export function ilog2(n: number): number {
  return n <= 0 ? 0 : Math.floor(Math.log2(n));
}

/**
 * copy_struct_from_user(dst, ksize, src, usize): a shorter user struct is
 * zero-extended, a longer one is fine only if its tail is all zero (E2BIG).
 */
export function copyStructFromUser(ksize: number, src: Uint8Array): { errno: number; bytes: Uint8Array } {
  const out = new Uint8Array(ksize);
  out.set(src.subarray(0, Math.min(ksize, src.length)));
  for (let i = ksize; i < src.length; i++) if (src[i] !== 0) return { errno: E2BIG, bytes: out };
  return { errno: 0, bytes: out };
}

/**
 * __iommu_copy_struct_from_user: no user-data descriptor (`user` null) →
 * WARN and EINVAL; data type mismatch → EINVAL; user length below `minLen`
 * (offsetofend of the first version's last member) or above the kernel
 * struct → EINVAL; otherwise copy_struct_from_user.
 *
 * The NULL check comes first since 30a3f2f3e4bd ("iommu: Fix two issues in
 * iommu_copy_struct_from_user()"); before it the type was compared first,
 * dereferencing a NULL descriptor (`variant` 'B20').  Every check is EINVAL,
 * so the order shows only for a NULL descriptor: WARN + EINVAL, or the oops.
 */
export function iommuCopyStructFromUser<L extends AnyLayout>(
  layout: L, expectedType: number, userType: number, user: Uint8Array | null, minLen: number, variant: string | null = null,
): { errno: number; value?: Decoded<L>; bytes?: Uint8Array; warn?: string } {
  if (user === null) {
    if (variant === 'B20') throw new Error('__iommu_copy_struct_from_user: NULL pointer dereference reading src_data->type');
    return { errno: EINVAL, warn: '__iommu_copy_struct_from_user: WARN_ON(!src_data)' };
  }
  if (userType !== expectedType) return { errno: EINVAL };
  if (user.length < minLen || user.length > layout.size) return { errno: EINVAL };
  const c = copyStructFromUser(layout.size, user);
  if (c.errno !== 0) return { errno: c.errno };
  return { errno: 0, value: decode(layout, c.bytes), bytes: c.bytes };
}

/**
 * copy_from_user out of an invalidation array: `len` bytes at `offset` from
 * data_uptr, or EFAULT.  A request built from bytes in hand reads nothing
 * past them.
 */
export function copyFromUserArray(req: InvalidateRequest, offset: number, len: number): Uint8Array | number {
  if (req.copy) return req.copy(offset, len);
  const b = req.entries;
  if (!b || offset + len > b.length) return EFAULT;
  return b.subarray(offset, offset + len);
}

/**
 * copy_struct_from_user on user memory: a longer user struct has its tail
 * checked first (check_zeroed_user: a fault there is EFAULT, a non-zero byte
 * E2BIG), then the head is copied (EFAULT) and zero-extended.
 */
function copyStructFromUserArrayAt(req: InvalidateRequest, ksize: number, offset: number, usize: number): { errno: number; bytes: Uint8Array } {
  const out = new Uint8Array(ksize);
  if (usize > ksize) {
    const tail = copyFromUserArray(req, offset + ksize, usize - ksize);
    if (typeof tail === 'number') return { errno: tail, bytes: out };
    if (tail.some((b) => b !== 0)) return { errno: E2BIG, bytes: out };
  }
  const head = copyFromUserArray(req, offset, Math.min(ksize, usize));
  if (typeof head === 'number') return { errno: head, bytes: out };
  out.set(head);
  return { errno: 0, bytes: out };
}

/**
 * __iommu_copy_struct_from_user_array: entry `index` alone, read from user
 * memory only after the index, type and length checks, so an entry that
 * does not read fails EFAULT without the ones before it being re-read.
 */
export function iommuCopyStructFromUserArray<L extends AnyLayout>(
  layout: L, req: InvalidateRequest, expectedType: number, index: number, minLen: number,
): { errno: number; value?: Decoded<L> } {
  if (index >= req.entryNum || req.entryNum === 0) return { errno: EINVAL };
  if (req.dataType !== expectedType) return { errno: EINVAL };
  if (req.entryLen < minLen || req.entryLen > layout.size) return { errno: EINVAL };
  const c = copyStructFromUserArrayAt(req, layout.size, index * req.entryLen, req.entryLen);
  if (c.errno !== 0) return { errno: c.errno };
  return { errno: 0, value: decode(layout, c.bytes) };
}

/**
 * iommu_copy_struct_from_full_user_array: type mismatch or entry_num 0 →
 * EINVAL before anything is read; an array of kernel-sized entries is copied
 * in one go (any unreadable byte → EFAULT), then every entry goes through
 * copy_struct_from_user, so a shorter entry is zero-extended and a longer one
 * with a non-zero tail fails the whole call E2BIG before anything runs.
 */
export function iommuCopyStructFromFullUserArray<L extends AnyLayout>(
  layout: L, req: InvalidateRequest, expectedType: number,
): { errno: number; values: Decoded<L>[] } {
  if (req.dataType !== expectedType) return { errno: EINVAL, values: [] };
  if (req.entryNum === 0) return { errno: EINVAL, values: [] };
  if (req.entryLen === layout.size) {
    const all = copyFromUserArray(req, 0, req.entryNum * req.entryLen);
    if (typeof all === 'number') return { errno: all, values: [] };
  }
  const values: Decoded<L>[] = [];
  for (let i = 0; i < req.entryNum; i++) {
    const c = copyStructFromUserArrayAt(req, layout.size, i * req.entryLen, req.entryLen);
    if (c.errno !== 0) return { errno: c.errno, values: [] };
    values.push(decode(layout, c.bytes));
  }
  return { errno: 0, values };
}

/**
 * The vIOMMU drivers' kcalloc of the command copy.  On failure they return
 * before writing array->entry_num, so the core reports the caller's own
 * entry_num back with ENOMEM.  kcalloc(0) is ZERO_SIZE_PTR and never fails.
 */
export function invalAllocFail(req: InvalidateRequest): InvalidateResult | null {
  if (req.entryNum === 0 || !req.alloc || req.alloc()) return null;
  return { errno: ENOMEM, processed: req.entryNum, flushes: [] };
}

/** The result shape of a refused invalidation that processed nothing. */
export function invalFail(errno: number): { errno: number; processed: number; flushes: FlushOp[] } {
  return { errno, processed: 0, flushes: [] };
}

/**
 * The core's half of IOMMU_GET_HW_INFO: DIRTY_TRACKING from capable(), and
 * the PCI PASID capability bits and log2(max_pasids) only when the device
 * has PASID enabled (iommufd_get_hw_info).
 */
export function hwInfoResult(
  type: number, data: Uint8Array, dev: DeviceSpec, maxPasids: number, dirtyCapable: boolean,
): HwInfoResult {
  let capabilities = dirtyCapable ? IOMMU_HW_CAP_DIRTY_TRACKING : 0;
  let maxPasidLog2 = 0;
  if (maxPasids > 0) {
    maxPasidLog2 = ilog2(maxPasids);
    if (isPci(dev)) {
      if (dev.pasidExec) capabilities |= IOMMU_HW_CAP_PCI_PASID_EXEC;
      if (dev.pasidPriv) capabilities |= IOMMU_HW_CAP_PCI_PASID_PRIV;
    }
  }
  return { errno: 0, type, data, maxPasidLog2, capabilities };
}

export function hwInfoFail(errno: number): HwInfoResult {
  return { errno, type: 0, data: new Uint8Array(0), maxPasidLog2: 0, capabilities: 0 };
}

/**
 * The PASID rules every driver inherits from the IOMMU core
 * (iommu_attach_device_pasid) and iommufd (uapi.md §5.3): the PASID must be
 * below the device's max_pasids, and a HWPT must have been allocated with
 * IOMMU_HWPT_ALLOC_PASID to sit on a PASID.
 */
export function pasidAttachErrno(domain: AnyDomain, devMaxPasids: number, ctx: AttachContext | undefined): number {
  const pasid = ctx?.pasid ?? 0;
  if (pasid === 0) return 0;
  if (pasid >= devMaxPasids) return EINVAL;
  if (!domain.pasidCapable) return EINVAL;
  return 0;
}

export const DIRTY_HW = (enableBit: DirtyHint['enableBit']): DirtyHint => ({
  hwUpdates: true, granularity: 'leaf', clearNeedsFlush: true, readWhileDisabled: 'ok', enableBit,
});

/** The driver's regions, then the device's own (RMRR/IVMD/IORT RMR) from the topology. */
export function withDeviceRegions(driver: ReservedRegion[], dev: DeviceSpec): ReservedRegion[] {
  return [...driver, ...dev.reservedRegions.map((r) => ({ ...r }))];
}

/**
 * What iommufd does with a device's reserved regions when it joins an IOAS
 * (iopt_table_enforce_dev_resv_regions): DIRECT_RELAXABLE is skipped, every
 * other region is reserved, SW_MSI also names the software MSI window; a
 * device offering both hardware and software MSI regions, or two SW_MSI
 * windows, is a driver bug the kernel refuses with EINVAL.
 */
export function ioasReservedRegions(regions: readonly ReservedRegion[]): {
  errno: number; reserve: ReservedRegion[]; swMsiStart: bigint | null;
} {
  const reserve: ReservedRegion[] = [];
  let swMsiStart: bigint | null = null;
  let hw = 0;
  let sw = 0;
  for (const r of regions) {
    if (r.type === 'direct-relaxable') continue;
    if (r.type === 'msi') hw++;
    if (r.type === 'sw-msi') {
      swMsiStart = r.start;
      sw++;
    }
    reserve.push({ ...r });
  }
  if ((sw > 0 && hw > 0) || sw > 1) return { errno: EINVAL, reserve: [], swMsiStart: null };
  return { errno: 0, reserve, swMsiStart };
}

/** Bytes of a little-endian u64 array (how the register-holding hw_info structs are built in tests and models). */
export function u64le(values: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setBigUint64(i * 8, BigInt.asUintN(64, v), true));
  return out;
}
