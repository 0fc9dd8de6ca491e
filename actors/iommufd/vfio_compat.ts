/**
 * VFIO container compatibility (Linux vfio_compat.c): IOMMU_VFIO_IOAS picks
 * the IOAS that the legacy type1 ioctls act on, and every number below the
 * iommufd table (nr < 0x80) is answered here as a VFIO type1 container ioctl.
 *
 * Checked against the kernel source: GET with no compat IOAS set fails
 * ENODEV (get_compat_ioas); the IOAS is only created implicitly when VFIO
 * attaches a group (iommufd_vfio_compat_ioas_create), not by GET.
 *
 * The container ioctls (iommufd_vfio_ioctl):
 * - VFIO_GET_API_VERSION → returns VFIO_API_VERSION (0).
 * - VFIO_CHECK_EXTENSION(type) → returns 1 for TYPE1, TYPE1v2, UNMAP_ALL;
 *   DMA_CC_IOMMU: 1 unless some paging HWPT of the compat IOAS does not
 *   enforce cache coherency (ENODEV without a compat IOAS); NOIOMMU:
 *   CONFIG_VFIO_NOIOMMU is off here → 0; everything else (TYPE1_NESTING,
 *   UPDATE_VADDR, unknown) → 0.
 * - VFIO_SET_IOMMU(type): anything but TYPE1/TYPE1v2 → EINVAL; no compat
 *   IOAS → ENODEV; TYPE1 disables large pages on the IOAS
 *   (iopt_disable_large_pages: EINVAL once a domain has mappings,
 *   EADDRINUSE if areas do not fit PAGE_SIZE alignment).
 * - VFIO_IOMMU_GET_INFO: copy_from_user of minsz = 16 (offsetofend
 *   iova_pgsizes; fault → EFAULT), argsz < 16 → EINVAL, ENODEV; then the
 *   capability chain (DMA_AVAIL first, IOVA_RANGE second), each cap written
 *   only if it fits in argsz, each `next` patched once the next cap's start
 *   is within argsz; cap_offset = sizeof(info) only when the whole chain
 *   fits; argsz is set to the size needed for the whole chain; flags =
 *   PGSIZES | CAPS; min(argsz, sizeof) bytes of the header are written.
 * - VFIO_IOMMU_MAP_DMA: minsz 32, argsz < minsz or flags beyond READ|WRITE
 *   → EINVAL; ENODEV; then iopt_map_user_pages at the fixed iova with
 *   IOMMU_CACHE (+READ/+WRITE) — no flag at all is accepted (prot CACHE).
 * - VFIO_IOMMU_UNMAP_DMA: minsz 24, argsz < minsz or flags beyond
 *   UNMAP_FLAG_ALL → EINVAL; ENODEV; FLAG_ALL needs iova = size = 0 (EINVAL)
 *   and unmaps everything; otherwise, with large pages disabled (TYPE1),
 *   iopt_cut_iova at iova+size-1 and (iova ≠ 0) iova-1 first (an error there
 *   returns without writing back), then iopt_unmap_iova: an empty range is
 *   success with 0 bytes, a cut area (TYPE1v2) ENOENT.  The struct is copied
 *   back (size = bytes unmapped) even when the unmap failed.
 * - anything else (VFIO_IOMMU_DIRTY_PAGES included) → ENOTTY.
 *
 * The raw ABI for the scalar-argument ioctls (VFIO_CHECK_EXTENSION,
 * VFIO_SET_IOMMU): `ioctl(fd, cmd, value)` passes the value itself, not a
 * pointer; here the argument bytes carry it as a little-endian unsigned long
 * (8 bytes; shorter argument bytes are zero-extended, so an empty argument is
 * 0).  Nothing is read from or written to user memory, so they never fault.
 * The ioctl's return value (CHECK_EXTENSION's 0/1) is `ret` of the result.
 */
import { EFAULT, EINVAL, ENODEV, ENOTTY, EOPNOTSUPP } from '../../uapi/errno.ts';
import { checkUpfront } from '../../uapi/checks.ts';
import { encode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import {
  IOMMU_OPTION_OP_SET, IOMMU_VFIO_IOAS_CLEAR, IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_SET, VFIO_API_VERSION,
  VFIO_DMA_CC_IOMMU, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL, VFIO_NOIOMMU_IOMMU,
  VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL,
} from '../../uapi/enums.ts';
import {
  VFIO_CHECK_EXTENSION, VFIO_GET_API_VERSION, VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA, VFIO_SET_IOMMU,
} from '../../uapi/ioctl.ts';
import type { Call, Ictx, IoctlHandler, OpRet, Step } from './ioctl.ts';
import { allocIoas, type IoasData } from './ioas.ts';
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE, ioptIovaRanges, type IoPagetable } from './io_pagetable.ts';
import type { HwptPagingData } from './hw_pagetable.ts';
import { PAGE_SIZE } from '../../hardware/physmem.ts';

/** The compat IOAS if it is set and still live (iommufd_lock_obj succeeds). */
export function compatIoas(x: Ictx): number {
  const id = x.d.vfioIoas;
  const e = id ? x.d.table.entries[id] : undefined;
  return e && e.state === 'live' && e.users > 0 ? id : 0;
}

/** iommufd_vfio_compat_ioas_create: what VFIO calls when a group joins the container. */
export function compatIoasCreate(x: Ictx): number {
  if (compatIoas(x)) return 0;
  const id = allocIoas(x);
  if (id < 0) return -id;
  x.d.vfioIoas = id;
  return 0;
}

export const vfioIoasIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    switch (cmd.op) {
      case IOMMU_VFIO_IOAS_GET: {
        const id = compatIoas(x);
        if (!id) return ENODEV;
        encode(S.iommu_vfio_ioas, { ioas_id: id }, call.kbuf);
        return 0;
      }
      case IOMMU_VFIO_IOAS_SET: {
        const got = x.get(call, cmd.ioas_id, 'ioas');
        if (typeof got === 'number') return got;
        x.d.vfioIoas = cmd.ioas_id;
        return 0;
      }
      case IOMMU_VFIO_IOAS_CLEAR:
        x.d.vfioIoas = 0;
        return 0;
      default:
        return EOPNOTSUPP;
    }
  },
};

// ---------------------------------------------------------------- VFIO type1 container ioctls

/** include/uapi/linux/vfio.h values not in uapi/enums.ts. */
export const VFIO_TYPE1_NESTING_IOMMU = 6;
export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;
/** struct vfio_info_cap_header: id u16, version u16, next u32. */
export const VFIO_CAP_HEADER_SIZE = 8;
/** struct vfio_iommu_type1_info_cap_iova_range: header, nr_iovas u32, reserved u32, then {start, end} u64 pairs. */
export const VFIO_CAP_IOVA_RANGE_SIZE = 16;
export const VFIO_IOVA_RANGE_SIZE = 16;
/** struct vfio_iommu_type1_info_dma_avail: header, avail u32 (sizeof 12). */
export const VFIO_CAP_DMA_AVAIL_SIZE = 12;
const U32_MAX = 0xffffffff;
const U64 = (1n << 64n) - 1n;

const INFO_MINSZ = 16;
const MAP_MINSZ = S.vfio_iommu_type1_dma_map.size;
const UNMAP_MINSZ = S.vfio_iommu_type1_dma_unmap.size;

/** The scalar argument of CHECK_EXTENSION / SET_IOMMU: little-endian, up to 8 bytes, zero-extended. */
export function compatScalar(arg: Uint8Array): bigint {
  let v = 0n;
  for (let i = Math.min(8, arg.length) - 1; i >= 0; i--) v = (v << 8n) | BigInt(arg[i]!);
  return v;
}

function u32At(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

/** copy_to_user into the user's bytes: what is reachable is written, the rest faults. */
function putUser(out: Uint8Array, off: number, bytes: Uint8Array): number {
  const n = Math.max(0, Math.min(bytes.length, out.length - off));
  if (n > 0) out.set(bytes.subarray(0, n), off);
  return n === bytes.length ? 0 : EFAULT;
}

/** The user's bytes after the call: the context replies with them. */
function userOut(call: Call): Uint8Array {
  return (call.s.compatArg ??= call.arg.slice()) as Uint8Array;
}

/** get_compat_ioas: the compat IOAS with a short-term reference, or ENODEV. */
function getCompatIoas(x: Ictx, call: Call): number {
  const id = compatIoas(x);
  if (!id) return -ENODEV;
  const e = x.get(call, id, 'ioas');
  return typeof e === 'number' ? -ENODEV : id;
}

/** The IOAS's io_pagetable, read under its locks (the context's delivery holds them here). */
function ioptOf(x: Ictx, id: number): IoPagetable {
  const a = x.c.peek(x.d.table.entries[id]!.actor) as { context?: { data: IoasData } } | undefined;
  if (!a?.context) throw new Error(`vfio_compat: IOAS ${id} has no live actor`);
  return a.context.data.iopt;
}

function checkExtension(x: Ictx, call: Call, type: bigint): Step {
  switch (type) {
    case BigInt(VFIO_TYPE1_IOMMU):
    case BigInt(VFIO_TYPE1v2_IOMMU):
    case BigInt(VFIO_UNMAP_ALL):
      call.s.ret = 1;
      return 0;
    case BigInt(VFIO_NOIOMMU_IOMMU):
      // IS_ENABLED(CONFIG_VFIO_NOIOMMU): the simulated kernel is built without it.
      call.s.ret = 0;
      return 0;
    case BigInt(VFIO_DMA_CC_IOMMU): {
      const id = getCompatIoas(x, call);
      if (id < 0) return -id;
      // iommufd_vfio_cc_iommu: every paging HWPT on the IOAS must enforce cache coherency.
      let rc = 1;
      for (const k of Object.keys(x.d.table.entries)) {
        const e = x.d.table.entries[Number(k)]!;
        if (e.type !== 'hwpt_paging' || e.state !== 'live') continue;
        const h = (x.c.peek(e.actor) as { context?: { data: HwptPagingData } } | undefined)?.context?.data;
        if (h && h.ioas === id && !h.params.enforceCacheCoherency) rc = 0;
      }
      call.s.ret = rc;
      return 0;
    }
    default:
      // VFIO_TYPE1_NESTING_IOMMU (obsolete), VFIO_UPDATE_VADDR (unsupported) and unknown types.
      call.s.ret = 0;
      return 0;
  }
}

function setIommu(x: Ictx, call: Call, type: bigint): Step {
  if (type !== BigInt(VFIO_TYPE1_IOMMU) && type !== BigInt(VFIO_TYPE1v2_IOMMU)) return EINVAL;
  // VFIO fails the set_iommu if there is no group.
  const id = getCompatIoas(x, call);
  if (id < 0) return -id;
  if (type !== BigInt(VFIO_TYPE1_IOMMU)) return 0;
  // TYPE1 can unmap inside a mapping: emulated by never using large IOPTEs.
  call.s.stage = 'set_iommu';
  x.send(call, id, 'huge_pages', { op: IOMMU_OPTION_OP_SET, val: 0n });
  return 'wait';
}

/** iommufd_get_pagesizes: the domains' common page sizes, sub-page sizes folded into PAGE_SIZE, at least iova_alignment. */
function pageSizes(iopt: IoPagetable): bigint {
  const PAGE = BigInt(PAGE_SIZE);
  let bm = U64;
  for (const d of iopt.domains) bm &= d.pgsizeBitmap;
  if (bm & (PAGE - 1n)) {
    bm &= ~(PAGE - 1n) & U64;
    bm |= PAGE;
  }
  const align = BigInt(iopt.iovaAlignment);
  return bm > align ? bm : align;
}

function capHeader(id: number, version: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, id, true);
  dv.setUint16(2, version, true);
  return b;
}

/** A capability writer: writes into the user's bytes at `off` when `avail` allows; returns its size or -errno. */
type FillCap = (iopt: IoPagetable, out: Uint8Array, off: number, avail: number) => number;

const fillCapDmaAvail: FillCap = (_iopt, out, off, avail) => {
  const cap = capHeader(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, VFIO_CAP_DMA_AVAIL_SIZE);
  // iommufd's limit is the memory cgroup's; VFIO would say U16_MAX, iommufd says U32_MAX.
  new DataView(cap.buffer).setUint32(8, U32_MAX, true);
  if (avail >= cap.length && putUser(out, off, cap)) return -EFAULT;
  return cap.length;
};

const fillCapIova: FillCap = (iopt, out, off, avail) => {
  const holes = ioptIovaRanges(iopt).ranges;
  for (let i = 0; i < holes.length; i++) {
    if (avail < VFIO_CAP_IOVA_RANGE_SIZE + VFIO_IOVA_RANGE_SIZE * (i + 1)) continue;
    const r = new Uint8Array(VFIO_IOVA_RANGE_SIZE);
    const dv = new DataView(r.buffer);
    dv.setBigUint64(0, holes[i]!.start, true);
    dv.setBigUint64(8, holes[i]!.last, true);
    if (putUser(out, off + VFIO_CAP_IOVA_RANGE_SIZE + i * VFIO_IOVA_RANGE_SIZE, r)) return -EFAULT;
  }
  const size = VFIO_CAP_IOVA_RANGE_SIZE + VFIO_IOVA_RANGE_SIZE * holes.length;
  if (avail >= size) {
    const cap = capHeader(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1, VFIO_CAP_IOVA_RANGE_SIZE);
    new DataView(cap.buffer).setUint32(8, holes.length, true);
    if (putUser(out, off, cap)) return -EFAULT;
  }
  return size;
};

const FILL_CAPS: readonly FillCap[] = [fillCapDmaAvail, fillCapIova];

function getInfo(x: Ictx, call: Call): Step {
  if (call.arg.length < INFO_MINSZ) return EFAULT;
  const argsz = u32At(call.arg, 0);
  if (argsz < INFO_MINSZ) return EINVAL;
  const minsz = Math.min(argsz, S.vfio_iommu_type1_info.size);
  const id = getCompatIoas(x, call);
  if (id < 0) return -id;
  const iopt = ioptOf(x, id);
  const out = userOut(call);
  let flags = VFIO_IOMMU_INFO_PGSIZES;
  const pgsizes = pageSizes(iopt);
  let total = S.vfio_iommu_type1_info.size;
  let lastCap = -1;
  for (const fill of FILL_CAPS) {
    const size = argsz > total ? fill(iopt, out, total, argsz - total) : fill(iopt, out, total, 0);
    if (size < 0) return -size;
    const aligned = (size + 7) & ~7;
    if (lastCap >= 0 && argsz >= total) {
      const next = new Uint8Array(4);
      new DataView(next.buffer).setUint32(0, total, true);
      if (putUser(out, lastCap + 4, next)) return EFAULT;
    }
    lastCap = total;
    total += aligned;
  }
  const capOffset = argsz >= total ? S.vfio_iommu_type1_info.size : 0;
  flags |= VFIO_IOMMU_INFO_CAPS;
  const info = new Uint8Array(S.vfio_iommu_type1_info.size);
  encode(S.vfio_iommu_type1_info, { argsz: total, flags, iova_pgsizes: pgsizes, cap_offset: capOffset, pad: 0 }, info);
  return putUser(out, 0, info.subarray(0, minsz));
}

function mapDma(x: Ictx, call: Call): Step {
  if (call.arg.length < MAP_MINSZ) return EFAULT;
  const m = S.vfio_iommu_type1_dma_map;
  const cmd = decodeFixed(m, call.arg);
  if (cmd.argsz < MAP_MINSZ || cmd.flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) return EINVAL;
  let prot = IOMMU_CACHE;
  if (cmd.flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
  if (cmd.flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
  const id = getCompatIoas(x, call);
  if (id < 0) return -id;
  call.s.stage = 'map';
  x.send(call, id, 'map', { pid: call.pid, uptr: cmd.vaddr, length: cmd.size, iova: cmd.iova, prot, fixed: true, rlimitMode: x.d.rlimitMode });
  return 'wait';
}

function decodeFixed<L extends typeof S.vfio_iommu_type1_dma_map | typeof S.vfio_iommu_type1_dma_unmap>(l: L, arg: Uint8Array): any {
  const b = new Uint8Array(l.size);
  b.set(arg.subarray(0, l.size));
  const dv = new DataView(b.buffer);
  const o: Record<string, number | bigint> = {};
  for (const f of l.fields) o[f.name] = f.type === 'u64' ? dv.getBigUint64(f.offset, true) : dv.getUint32(f.offset, true);
  return o;
}

function unmapDma(x: Ictx, call: Call): Step {
  if (call.arg.length < UNMAP_MINSZ) return EFAULT;
  const cmd = decodeFixed(S.vfio_iommu_type1_dma_unmap, call.arg) as { argsz: number; flags: number; iova: bigint; size: bigint };
  // VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP is obsolete here (EINVAL like any unknown flag).
  if (cmd.argsz < UNMAP_MINSZ || cmd.flags & ~VFIO_DMA_UNMAP_FLAG_ALL) return EINVAL;
  const id = getCompatIoas(x, call);
  if (id < 0) return -id;
  call.s.cmd = cmd;
  call.s.ioas = id;
  if (cmd.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
    if (cmd.iova !== 0n || cmd.size !== 0n) return EINVAL;
    call.s.stage = 'unmap';
    x.send(call, id, 'unmap', { iova: 0n, length: 0n, all: true });
    return 'wait';
  }
  if (ioptOf(x, id).disableLargePages) {
    // Cut at the last byte and (unless iova is 0) just before the first, so the range is whole areas.
    const iovas = [(cmd.iova + cmd.size - 1n) & U64, ...(cmd.iova ? [(cmd.iova - 1n) & U64] : [])];
    call.s.stage = 'cut';
    x.send(call, id, 'cut_iova', { iovas });
    return 'wait';
  }
  return sendUnmap(x, call);
}

function sendUnmap(x: Ictx, call: Call): Step {
  const cmd = call.s.cmd as { iova: bigint; size: bigint };
  call.s.stage = 'unmap';
  // B14 (spec/bugs.md): the compat path passed the native unmap's ENOENT for an empty range through.
  const emptyOk = x.c.world.config.variant !== 'B14';
  x.send(call, call.s.ioas as number, 'unmap', { iova: cmd.iova, length: cmd.size, all: false, emptyOk });
  return 'wait';
}

/** The unmap result goes back even when the unmap failed (size = what was removed before the failure). */
function unmapDone(call: Call, ret: OpRet): Step {
  const cmd = call.s.cmd as { argsz: number; flags: number; iova: bigint };
  const b = new Uint8Array(UNMAP_MINSZ);
  encode(S.vfio_iommu_type1_dma_unmap, { argsz: cmd.argsz, flags: cmd.flags, iova: cmd.iova, size: (ret.out?.unmapped as bigint | undefined) ?? 0n }, b);
  const fault = putUser(userOut(call), 0, b);
  return fault || ret.errno;
}

export const vfioCompatIoctl: IoctlHandler = {
  start(x, call) {
    switch (call.cmd >>> 0) {
      case VFIO_GET_API_VERSION:
        call.s.ret = VFIO_API_VERSION;
        return 0;
      case VFIO_CHECK_EXTENSION:
        return checkExtension(x, call, compatScalar(call.arg));
      case VFIO_SET_IOMMU:
        return setIommu(x, call, compatScalar(call.arg));
      case VFIO_IOMMU_GET_INFO:
        return getInfo(x, call);
      case VFIO_IOMMU_MAP_DMA:
        return mapDma(x, call);
      case VFIO_IOMMU_UNMAP_DMA:
        return unmapDma(x, call);
      default:
        // -ENOIOCTLCMD, which the syscall turns into ENOTTY.
        return ENOTTY;
    }
  },
  resume(x, call, ret) {
    switch (call.s.stage) {
      case 'set_iommu':
      case 'map':
        return ret.errno;
      case 'cut':
        if (ret.errno) return ret.errno;
        return sendUnmap(x, call);
      case 'unmap':
        return unmapDone(call, ret);
      default:
        throw new Error(`vfio_compat: answer in unknown stage ${String(call.s.stage)}`);
    }
  },
};
