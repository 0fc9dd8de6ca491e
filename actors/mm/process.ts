/**
 * A simulated process address space (mm): vmas, a lazily-faulted page table
 * for anonymous memory, credentials and RLIMIT_MEMLOCK.
 *
 * Anonymous pages live in `pt` (vpn → pfn, one frame reference each); memfd
 * vmas resolve through the memfd's own page cache, so a shared file page is
 * one frame however many processes map it and truncation is seen at once.
 * Virtual addresses are bigint (user_va is a u64 in the uAPI); vpn fits a JS
 * number exactly (< 2^52).
 */
import { EFAULT, EINVAL, EBADF, ENOMEM } from '../../uapi/errno.ts';
import {
  PAGE_SHIFT, PAGE_SIZE, allocFrame, copyFrame, frameGet, framePin, framePins, frameUnpin, freeFrame,
  readPhys, writePhys,
} from '../../hardware/physmem.ts';
import { memfdGet, memfdPage, memfdRelease } from './memfd.ts';
import { cptAfterExit, cptExit, cptInstall, cptMakeWritable, cptProtect, cptZap, type MmCpuPt, type MmNotifierEntry } from './cpu-mm.ts';
import type { MmWorld } from './world.ts';

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;

/** Linux capability numbers, for callers that speak in capset bits. */
export const CAP_IPC_LOCK = 14;
export const CAP_SYS_RESOURCE = 24;

/** mmap_min_addr on most distributions: the lowest address mmap hands out. */
export const MMAP_MIN_ADDR = 0x10000n;
/** x86-64 4-level TASK_SIZE: user addresses stay below it. */
export const TASK_SIZE = 0x7ffffffff000n;
/** Linux default RLIMIT_MEMLOCK since 5.16. */
export const DEFAULT_RLIMIT_MEMLOCK = 8 * 1024 * 1024;

const PAGE = BigInt(PAGE_SIZE);
const SHIFT = BigInt(PAGE_SHIFT);
/** The default hugetlb page size on x86-64 (MAP_HUGETLB without a MAP_HUGE_* size). */
export const HPAGE_SIZE = 2n * 1024n * 1024n;
const HPAGE_PAGES = Number(HPAGE_SIZE / PAGE);

export type VmaKind = 'anon' | 'memfd';

export interface Vma {
  start: bigint;
  length: bigint;
  prot: number;
  kind: VmaKind;
  /** memfd id when kind === 'memfd', else 0. */
  memfd: number;
  /** byte offset into the memfd of `start`. */
  offset: bigint;
  shared: boolean;
  /** MAP_HUGETLB: backed by 2 MiB huge pages, faulted and freed a whole huge page at a time. Absent otherwise. */
  huge?: true;
}

export interface Mm {
  pid: number;
  uid: number;
  caps: { ipcLock: boolean; sysResource: boolean };
  /** bytes; Infinity for RLIM_INFINITY. */
  rlimitMemlock: number;
  vmas: Vma[];
  pt: Record<number, number>;
  /** VmLck, pages: charged by per-process (mode 1) iommufd accounting. */
  lockedVm: number;
  /** VmPin, pages: every long-term pin, whatever the accounting mode. */
  pinnedVm: number;
  /** After exit the address space is gone but the struct (and its counters) stays, like mmgrab. */
  exited: boolean;
  /** The x86-64 CPU page table in frames, once a secondary MMU needs it (cpu-mm.ts). */
  cpt?: MmCpuPt;
  /** MMU notifiers of secondary MMUs (SVA domains) bound to this address space. */
  notifiers?: MmNotifierEntry[];
}

export interface CreateMmOpts {
  pid: number;
  uid?: number;
  ipcLock?: boolean;
  sysResource?: boolean;
  rlimitMemlock?: number;
}

export function createMm(world: MmWorld, o: CreateMmOpts): Mm {
  if (world.mms[o.pid]) throw new Error(`pid ${o.pid} already exists`);
  const mm: Mm = {
    pid: o.pid,
    uid: o.uid ?? 0,
    caps: { ipcLock: o.ipcLock ?? false, sysResource: o.sysResource ?? false },
    rlimitMemlock: o.rlimitMemlock ?? DEFAULT_RLIMIT_MEMLOCK,
    vmas: [],
    pt: {},
    lockedVm: 0,
    pinnedVm: 0,
    exited: false,
  };
  world.mms[o.pid] = mm;
  return mm;
}

function pageAlignUp(v: bigint): bigint {
  return (v + PAGE - 1n) & ~(PAGE - 1n);
}

/** Index of the vma containing va, or -1. */
export function findVmaIndex(mm: Mm, va: bigint): number {
  const v = mm.vmas;
  let lo = 0;
  let hi = v.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = v[mid];
    if (va < m.start) hi = mid - 1;
    else if (va >= m.start + m.length) lo = mid + 1;
    else return mid;
  }
  return -1;
}

export function findVma(mm: Mm, va: bigint): Vma | undefined {
  const i = findVmaIndex(mm, va);
  return i < 0 ? undefined : mm.vmas[i];
}

/** True when [va, va+len) is covered without holes by vmas whose prot includes `need`. */
export function rangeAccessible(mm: Mm, va: bigint, len: bigint, need: number): boolean {
  if (mm.exited) return false;
  if (len === 0n) return true;
  const end = va + len;
  let i = findVmaIndex(mm, va);
  if (i < 0) return false;
  let cur = va;
  while (cur < end) {
    const v = mm.vmas[i];
    if (!v || v.start > cur || (v.prot & need) !== need) return false;
    cur = v.start + v.length;
    i++;
  }
  return true;
}

export interface MmapOpts {
  addr?: bigint;
  length: bigint | number;
  prot: number;
  kind?: VmaKind;
  memfd?: number;
  offset?: bigint | number;
  shared?: boolean;
  /** MAP_HUGETLB (anonymous only): length rounds up to HPAGE_SIZE, a fixed address must be aligned to it. */
  huge?: boolean;
  /** MAP_POPULATE: fault every page in now (as the kernel, a failure leaves the mapping in place). */
  populate?: boolean;
}

/**
 * With `addr`, behaves as MAP_FIXED (replaces what was there); otherwise
 * the lowest gap at or above MMAP_MIN_ADDR, so address choice is a function
 * of the mapping history only.
 */
export function mmap(world: MmWorld, mm: Mm, o: MmapOpts): { addr: bigint } | { errno: number } {
  const kind = o.kind ?? 'anon';
  const rawLen = BigInt(o.length);
  if (rawLen <= 0n) return { errno: EINVAL };
  // Only anonymous hugetlb (no hugetlbfs files here).
  if (o.huge && kind !== 'anon') return { errno: EINVAL };
  const align = o.huge ? HPAGE_SIZE : PAGE;
  const length = (rawLen + align - 1n) & ~(align - 1n);
  const offset = BigInt(o.offset ?? 0);
  if (offset % PAGE !== 0n) return { errno: EINVAL };
  if (kind === 'memfd' && (o.memfd === undefined || !world.memfds[o.memfd])) return { errno: EBADF };
  let addr: bigint;
  if (o.addr !== undefined) {
    if (o.addr % align !== 0n || o.addr + length > TASK_SIZE) return { errno: EINVAL };
    addr = o.addr;
    munmap(world, mm, addr, length);
  } else {
    const a = findGap(mm, length, align);
    if (a < 0n) return { errno: ENOMEM };
    addr = a;
  }
  if (kind === 'memfd') memfdGet(world, o.memfd!);
  const vma: Vma = {
    start: addr, length, prot: o.prot, kind, memfd: kind === 'memfd' ? o.memfd! : 0, offset,
    shared: o.shared ?? kind === 'memfd',
  };
  if (o.huge) vma.huge = true;
  insertVma(mm, vma);
  if (o.populate) populate(world, mm, vma);
  return { addr };
}

/** MAP_POPULATE: fault in every page; the first failure just stops it. */
function populate(world: MmWorld, mm: Mm, vma: Vma): void {
  for (let va = vma.start; va < vma.start + vma.length; va += vma.huge ? HPAGE_SIZE : PAGE) {
    if (faultPage(world, mm, vma, va, true) < 0) return;
  }
}

/** The lowest gap at or above MMAP_MIN_ADDR that fits `length` at an `align` boundary. */
function findGap(mm: Mm, length: bigint, align: bigint): bigint {
  const up = (v: bigint) => (v + align - 1n) & ~(align - 1n);
  let cand = up(MMAP_MIN_ADDR);
  for (const v of mm.vmas) {
    if (v.start + v.length <= cand) continue;
    if (v.start >= cand && v.start - cand >= length) break;
    cand = up(v.start + v.length);
  }
  return cand + length <= TASK_SIZE ? cand : -1n;
}

function insertVma(mm: Mm, vma: Vma): void {
  let lo = 0;
  let hi = mm.vmas.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (mm.vmas[mid].start < vma.start) lo = mid + 1;
    else hi = mid;
  }
  mm.vmas.splice(lo, 0, vma);
}

function sliceVma(v: Vma, start: bigint, end: bigint): Vma {
  return { ...v, start, length: end - start, offset: v.kind === 'memfd' ? v.offset + (start - v.start) : v.offset };
}

/**
 * Cuts every vma at `start` and `end` so that the range is made of whole
 * vmas; returns the index range [first, lastExclusive) of those inside.
 */
function splitAround(world: MmWorld, mm: Mm, start: bigint, end: bigint): [number, number] {
  const out: Vma[] = [];
  let first = -1;
  let last = -1;
  for (const v of mm.vmas) {
    const vEnd = v.start + v.length;
    if (vEnd <= start || v.start >= end) {
      out.push(v);
      continue;
    }
    if (v.start < start) {
      out.push(sliceVma(v, v.start, start));
      if (v.kind === 'memfd') memfdGet(world, v.memfd);
    }
    if (first < 0) first = out.length;
    out.push(sliceVma(v, v.start > start ? v.start : start, vEnd < end ? vEnd : end));
    last = out.length;
    if (vEnd > end) {
      out.push(sliceVma(v, end, vEnd));
      if (v.kind === 'memfd') memfdGet(world, v.memfd);
    }
  }
  mm.vmas = out;
  return first < 0 ? [0, 0] : [first, last];
}

export function munmap(world: MmWorld, mm: Mm, addr: bigint, length: bigint | number): number {
  const len = BigInt(length);
  if (addr % PAGE !== 0n || len <= 0n) return EINVAL;
  let end = addr + pageAlignUp(len);
  // A hugetlb vma is only ever cut at huge page boundaries: the start must be one, the end rounds up.
  if (mm.vmas.some((v) => v.huge && v.start < end && v.start + v.length > addr)) {
    if (addr % HPAGE_SIZE !== 0n) return EINVAL;
    end = (end + HPAGE_SIZE - 1n) & ~(HPAGE_SIZE - 1n);
  }
  // PTEs cleared and secondary TLBs flushed before any frame of the range is freed.
  if (mm.cpt) cptZap(world, mm, addr, end);
  const [a, b] = splitAround(world, mm, addr, end);
  const gone = mm.vmas.splice(a, b - a);
  for (const v of gone) dropVma(world, mm, v);
  return 0;
}

function dropVma(world: MmWorld, mm: Mm, v: Vma): void {
  if (v.kind === 'memfd') {
    memfdRelease(world, v.memfd);
    return;
  }
  const first = Number(v.start >> SHIFT);
  const n = Number(v.length >> SHIFT);
  if (n > 4 * Object.keys(mm.pt).length) {
    for (const k of Object.keys(mm.pt)) {
      const vpn = Number(k);
      if (vpn >= first && vpn < first + n) dropPte(world, mm, vpn);
    }
    return;
  }
  for (let vpn = first; vpn < first + n; vpn++) dropPte(world, mm, vpn);
}

function dropPte(world: MmWorld, mm: Mm, vpn: number): void {
  const pfn = mm.pt[vpn];
  if (pfn === undefined) return;
  delete mm.pt[vpn];
  freeFrame(world.pm, pfn);
}

/** Linux mprotect: every byte of the range must be mapped, else ENOMEM. */
export function mprotect(world: MmWorld, mm: Mm, addr: bigint, length: bigint | number, prot: number): number {
  const len = BigInt(length);
  if (addr % PAGE !== 0n) return EINVAL;
  if (len === 0n) return 0;
  const end = addr + pageAlignUp(len);
  if (!rangeAccessible(mm, addr, end - addr, PROT_NONE)) return ENOMEM;
  const [a, b] = splitAround(world, mm, addr, end);
  for (let i = a; i < b; i++) mm.vmas[i].prot = prot;
  if (mm.cpt) cptProtect(world, mm, addr, end, prot);
  return 0;
}

/** Frame behind the page at va (va inside vma); -1 not present, -errno on failure. */
function faultPage(world: MmWorld, mm: Mm, vma: Vma, va: bigint, alloc: boolean): number {
  if (vma.kind === 'memfd') {
    const f = world.memfds[vma.memfd];
    if (!f) return -EFAULT;
    const pgoff = Number((vma.offset + (va - vma.start)) >> SHIFT);
    const pfn = memfdPage(world, f, pgoff, alloc);
    if (alloc && pfn >= 0 && mm.cpt) cptInstall(world, mm, vma, va, pfn);
    // Touching a memfd mapping past EOF is SIGBUS; GUP and uaccess report it as EFAULT.
    return pfn === -EINVAL ? -EFAULT : pfn;
  }
  const vpn = Number(va >> SHIFT);
  const have = mm.pt[vpn];
  if (have !== undefined) {
    if (alloc && mm.cpt) cptInstall(world, mm, vma, va, have);
    return have;
  }
  if (!alloc) return -1;
  if (vma.huge) return faultHugePage(world, mm, vma, va);
  const pfn = allocFrame(world.pm);
  if (pfn < 0) return -ENOMEM;
  mm.pt[vpn] = pfn;
  if (mm.cpt) cptInstall(world, mm, vma, va, pfn);
  return pfn;
}

/**
 * hugetlb_fault: the whole huge page around va comes in at once (its 512
 * frames, in order, so fresh memory makes them physically contiguous); one
 * missing frame and none of it is there.
 */
function faultHugePage(world: MmWorld, mm: Mm, vma: Vma, va: bigint): number {
  const head = va & ~(HPAGE_SIZE - 1n);
  const first = Number(head >> SHIFT);
  const pfns: number[] = [];
  for (let i = 0; i < HPAGE_PAGES; i++) {
    const pfn = allocFrame(world.pm);
    if (pfn < 0) {
      for (const p of pfns) freeFrame(world.pm, p);
      return -ENOMEM;
    }
    pfns.push(pfn);
  }
  for (let i = 0; i < HPAGE_PAGES; i++) {
    mm.pt[first + i] = pfns[i]!;
    if (mm.cpt) cptInstall(world, mm, vma, head + (BigInt(i) << SHIFT), pfns[i]!);
  }
  return mm.pt[Number(va >> SHIFT)]!;
}

/** Is va inside a hugetlb mapping (a compound page, which MD_CHECK_REFS skips)? */
export function inHugePage(mm: Mm, va: bigint): boolean {
  return findVma(mm, va)?.huge === true;
}

/**
 * handle_mm_fault for a secondary MMU's page request: fault the page at va
 * in (a write also makes its PTE writable).  The caller has checked the
 * vma and its permissions; 0 or an errno.
 */
export function handleMmFault(world: MmWorld, mm: Mm, va: bigint, write: boolean): number {
  if (mm.exited) return EFAULT;
  const vma = findVma(mm, va);
  if (!vma) return EFAULT;
  const pfn = faultPage(world, mm, vma, va & ~(PAGE - 1n), true);
  if (pfn < 0) return -pfn;
  if (write) cptMakeWritable(world, mm, va);
  return 0;
}

/** The frame currently backing va without faulting it in; -1 if none. */
export function lookupPfn(world: MmWorld, mm: Mm, va: bigint): number {
  const vma = findVma(mm, va);
  if (!vma) return -1;
  const pfn = faultPage(world, mm, vma, va & ~(PAGE - 1n), false);
  return pfn < 0 ? -1 : pfn;
}

export function readUser(world: MmWorld, mm: Mm, va: bigint, len: number): { data: Uint8Array } | { errno: number } {
  if (!rangeAccessible(mm, va, BigInt(len), PROT_READ)) return { errno: EFAULT };
  const out = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const cur = va + BigInt(done);
    const off = Number(cur % PAGE);
    const n = Math.min(PAGE_SIZE - off, len - done);
    const pfn = faultPage(world, mm, findVma(mm, cur)!, cur - BigInt(off), false);
    if (pfn < -1) return { errno: EFAULT };
    if (pfn >= 0) out.set(readPhys(world.pm, pfn * PAGE_SIZE + off, n), done);
    done += n;
  }
  return { data: out };
}

export function writeUser(world: MmWorld, mm: Mm, va: bigint, data: Uint8Array): number {
  if (!rangeAccessible(mm, va, BigInt(data.length), PROT_WRITE)) return EFAULT;
  let done = 0;
  while (done < data.length) {
    const cur = va + BigInt(done);
    const off = Number(cur % PAGE);
    const n = Math.min(PAGE_SIZE - off, data.length - done);
    const pfn = faultPage(world, mm, findVma(mm, cur)!, cur - BigInt(off), true);
    if (pfn < 0) return EFAULT;
    writePhys(world.pm, pfn * PAGE_SIZE + off, data.subarray(done, done + n));
    done += n;
  }
  return 0;
}

/**
 * pin_user_pages_remote with FOLL_LONGTERM: all-or-nothing.  A page outside
 * any vma, a non-readable vma, or a write pin of a non-writable vma is
 * EFAULT (GUP's check_vma_flags); the iommufd-level EPERM for writable maps
 * of read-only memory comes from the iopt_pages writable bit, not from here.
 */
export function pinUserPages(
  world: MmWorld, mm: Mm, va: bigint, npages: number, o: { write: boolean },
): { pfns: number[] } | { errno: number } {
  const start = va & ~(PAGE - 1n);
  const need = o.write ? PROT_WRITE : PROT_READ;
  if (!rangeAccessible(mm, start, BigInt(npages) << SHIFT, need)) return { errno: EFAULT };
  if (npages > world.pm.totalPages) return { errno: ENOMEM };
  const pfns: number[] = [];
  let vi = findVmaIndex(mm, start);
  for (let i = 0; i < npages; i++) {
    const cur = start + (BigInt(i) << SHIFT);
    while (mm.vmas[vi].start + mm.vmas[vi].length <= cur) vi++;
    const pfn = faultPage(world, mm, mm.vmas[vi], cur, true);
    if (pfn < 0) {
      unpinUserPages(world, pfns);
      return { errno: -pfn };
    }
    framePin(world.pm, pfn);
    pfns.push(pfn);
  }
  return { pfns };
}

export function unpinUserPages(world: MmWorld, pfns: readonly number[]): void {
  for (const pfn of pfns) frameUnpin(world.pm, pfn);
}

/** Pin count of the page behind va (what the selftest MD_CHECK_REFS looks at). */
export function pagePinCount(world: MmWorld, mm: Mm, va: bigint): number {
  const pfn = lookupPfn(world, mm, va);
  return pfn < 0 ? 0 : framePins(world.pm, pfn);
}

/**
 * fork(): shared vmas share frames; private anonymous pages are copied
 * eagerly (an exact stand-in for COW as long as nobody compares pfns of
 * private pages across the fork).  Shared anonymous memory is one shmem
 * object in the kernel, so a page either side touches later must be the
 * same page: the parent faults every page of such a vma in first.
 */
export function forkMm(world: MmWorld, parent: Mm, childPid: number): Mm | { errno: number } {
  for (const v of parent.vmas) {
    if (v.kind !== 'anon' || !v.shared) continue;
    for (let va = v.start; va < v.start + v.length; va += PAGE) {
      const pfn = faultPage(world, parent, v, va, true);
      if (pfn < 0) return { errno: -pfn };
    }
  }
  const child = createMm(world, {
    pid: childPid, uid: parent.uid, ipcLock: parent.caps.ipcLock, sysResource: parent.caps.sysResource,
    rlimitMemlock: parent.rlimitMemlock,
  });
  for (const v of parent.vmas) {
    child.vmas.push({ ...v });
    if (v.kind === 'memfd') memfdGet(world, v.memfd);
  }
  for (const k of Object.keys(parent.pt)) {
    const vpn = Number(k);
    const src = parent.pt[vpn];
    const vma = findVma(parent, BigInt(vpn) << SHIFT);
    if (vma && vma.shared) {
      frameGet(world.pm, src);
      child.pt[vpn] = src;
      continue;
    }
    const dst = allocFrame(world.pm);
    if (dst < 0) {
      exitMm(world, child);
      delete world.mms[childPid];
      return { errno: ENOMEM };
    }
    copyFrame(world.pm, dst, src);
    child.pt[vpn] = dst;
  }
  return child;
}

/** The address space goes away; pinned frames survive through their pin references. */
export function exitMm(world: MmWorld, mm: Mm): void {
  // exit_mmap: secondary MMUs are released before the tables and pages go.
  if (mm.cpt || mm.notifiers?.length) cptExit(world, mm);
  for (const v of mm.vmas) if (v.kind === 'memfd') memfdRelease(world, v.memfd);
  for (const k of Object.keys(mm.pt)) freeFrame(world.pm, mm.pt[Number(k)]);
  mm.vmas = [];
  mm.pt = {};
  mm.exited = true;
  cptAfterExit(world, mm);
}
