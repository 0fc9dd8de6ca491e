/**
 * iopt_pages: the backing object behind one or more iopt_areas (Linux
 * drivers/iommu/iommufd/pages.c).
 *
 * A pages object is a run of PAGE_SIZE pages taken either from one process's
 * address space (user VA, pinned by GUP on that mm) or from a memfd at a file
 * offset.  It is pinned and accounted ONCE per page, however many areas,
 * domains and access pins use it: `users[i]` counts the users of page i
 * (each domain-filled area covering it, each access pin covering it), the
 * page is pinned and charged on 0→1 and released on 1→0.
 *
 * All pages objects of an iommufd live in one `PagesTable` (by id), because
 * COPY shares them between IOASes; areas hold a `kref` each.
 *
 * A dma-buf pages object (IOPT_ADDRESS_DMABUF) is an attachment to the
 * buffer: its frames are the exporter's, there is no GUP and no locked-memory
 * accounting.  While used they are pinned all the same (dma_buf_pin keeps the
 * exporter from moving them), so "pinned iff used" holds for every kind.
 * Once the exporter revokes it (`revoked`, the kernel's phys.len == 0) the
 * object maps nothing ever again: its areas stay, empty.
 */
import { EFAULT, EINVAL, ENODEV, ENOMEM, EOVERFLOW } from '../../uapi/errno.ts';
import { PAGE_SHIFT, PAGE_SIZE, framePin, readPhys, writePhys } from '../../hardware/physmem.ts';
import type { MmWorld } from '../mm/world.ts';
import { userStruct } from '../mm/world.ts';
import { accountModeFor, chargePinned, unchargePinned, type AccountMode, type RlimitMode } from '../mm/accounting.ts';
import { pinUserPages, readUser, unpinUserPages, writeUser, type Mm } from '../mm/process.ts';
import { memfdGet, memfdPin, memfdRead, memfdRelease, memfdWrite } from '../mm/memfd.ts';
import { dmabufAttach, dmabufDetach, getDmabuf } from '../mm/dmabuf.ts';

export const ULONG_MAX = 0xffffffffffffffffn;
/** SIZE_MAX on a 64-bit kernel. */
export const SIZE_MAX = ULONG_MAX;
const PAGE = BigInt(PAGE_SIZE);
const SHIFT = BigInt(PAGE_SHIFT);

/**
 * Kernel fail_nth stand-in.  Called at every allocation/failure point with a
 * stable name; `true` fails the point with ENOMEM, a number fails it with
 * that errno, `false`/0 lets it pass.
 */
export type Failpoint = (ctx: unknown, name: string) => boolean | number;

export interface PagesEnv {
  world: MmWorld;
  pagesTable: PagesTable;
  failpoint?: Failpoint;
  failCtx?: unknown;
  /** The bug variant the model runs (spec/bugs.md), for the few that live in the io_pagetable. */
  variant?: string;
}

export function shouldFail(env: PagesEnv, name: string): number {
  if (!env.failpoint) return 0;
  const r = env.failpoint(env.failCtx, name);
  if (r === true) return ENOMEM;
  return typeof r === 'number' ? r : 0;
}

export type PagesKind = 'user' | 'file' | 'dmabuf';

export interface IoptPages {
  id: number;
  kref: number;
  kind: PagesKind;
  /** source mm: GUP target for user pages, accounting target for both kinds. */
  pid: number;
  uid: number;
  /** user pages: page-aligned start VA. */
  uptr: bigint;
  /** file pages: memfd id (dma-buf pages: dma-buf id) and page-aligned offset into it. */
  memfd: number;
  start: bigint;
  length: bigint;
  npages: number;
  writable: boolean;
  accountMode: AccountMode;
  npinned: number;
  /** page index → pfn, present iff users[i] > 0. */
  pfns: Record<number, number>;
  users: Record<number, number>;
  /** dma-buf pages only: the exporter revoked the attachment (it never comes back). */
  revoked?: boolean;
  /**
   * pages->domains_itree: the areas of these pages that are filled into
   * domains (ids, ascending), which decides what a domain still needs
   * when one of them goes.  Kept by the io_pagetable's fill and unfill.
   */
  domainAreas: number[];
}

export interface PagesTable {
  pages: Record<number, IoptPages>;
  nextId: number;
}

export function createPagesTable(): PagesTable {
  return { pages: {}, nextId: 1 };
}

export function getPages(env: PagesEnv, id: number): IoptPages {
  const p = env.pagesTable.pages[id];
  if (!p) throw new Error(`iopt_pages ${id} does not exist`);
  return p;
}

function callerMm(env: PagesEnv, pid: number): Mm {
  const mm = env.world.mms[pid];
  if (!mm) throw new Error(`no process ${pid}`);
  return mm;
}

function newPages(env: PagesEnv, fields: Omit<IoptPages, 'id' | 'kref' | 'npinned' | 'pfns' | 'users' | 'revoked' | 'domainAreas'>): IoptPages {
  const id = env.pagesTable.nextId++;
  const p: IoptPages = { id, kref: 1, npinned: 0, pfns: {}, users: {}, ...fields, domainAreas: [] };
  env.pagesTable.pages[id] = p;
  return p;
}

/** iopt_alloc_pages' shared checks; returns the npages for a span starting `startByte` into page 0. */
function allocChecks(env: PagesEnv, startByte: bigint, length: bigint): number | { errno: number } {
  if (length > SIZE_MAX - PAGE || length === 0n) return { errno: EINVAL };
  const e = shouldFail(env, 'iopt_alloc_pages');
  if (e) return { errno: e };
  return Number((length + startByte + PAGE - 1n) / PAGE);
}

export interface AllocUserPagesOpts {
  /** the calling process: the pages pin from its mm and charge its accounts. */
  pid: number;
  uptr: bigint;
  length: bigint;
  writable: boolean;
  rlimitMode?: RlimitMode;
}

/** iopt_alloc_user_pages: EOVERFLOW if uptr+length wraps, EINVAL for 0 / absurd length. */
export function ioptAllocUserPages(
  env: PagesEnv, o: AllocUserPagesOpts,
): { pages: IoptPages; startByte: bigint } | { errno: number } {
  if (o.uptr + o.length > ULONG_MAX) return { errno: EOVERFLOW };
  const uptrDown = o.uptr & ~(PAGE - 1n);
  const startByte = o.uptr - uptrDown;
  const n = allocChecks(env, startByte, o.length);
  if (typeof n !== 'number') return n;
  const mm = callerMm(env, o.pid);
  const pages = newPages(env, {
    kind: 'user', pid: mm.pid, uid: mm.uid, uptr: uptrDown, memfd: 0, start: 0n, length: o.length, npages: n,
    writable: o.writable, accountMode: accountModeFor(o.rlimitMode ?? 0, mm),
  });
  return { pages, startByte };
}

export interface AllocFilePagesOpts {
  pid: number;
  memfd: number;
  start: bigint;
  length: bigint;
  writable: boolean;
  rlimitMode?: RlimitMode;
}

/** iopt_alloc_file_pages: the pages hold a reference on the file. */
export function ioptAllocFilePages(
  env: PagesEnv, o: AllocFilePagesOpts,
): { pages: IoptPages; startByte: bigint } | { errno: number } {
  if (o.length !== 0n && o.start + o.length - 1n > ULONG_MAX) return { errno: EOVERFLOW };
  const startDown = o.start & ~(PAGE - 1n);
  const startByte = o.start - startDown;
  const n = allocChecks(env, startByte, o.length);
  if (typeof n !== 'number') return n;
  const mm = callerMm(env, o.pid);
  memfdGet(env.world, o.memfd);
  const pages = newPages(env, {
    kind: 'file', pid: mm.pid, uid: mm.uid, uptr: 0n, memfd: o.memfd, start: startDown, length: o.length, npages: n,
    writable: o.writable, accountMode: accountModeFor(o.rlimitMode ?? 0, mm),
  });
  return { pages, startByte };
}

export interface AllocDmabufPagesOpts {
  pid: number;
  dmabuf: number;
  start: bigint;
  length: bigint;
  writable: boolean;
}

/**
 * iopt_alloc_dmabuf_pages: the range must lie inside the buffer (EINVAL),
 * then the attachment; a revoked buffer refuses it (the exporter's map
 * callback, ENODEV).  `length` is non-zero and start + length does not wrap
 * (iopt_map_file_pages checked).
 */
export function ioptAllocDmabufPages(
  env: PagesEnv, o: AllocDmabufPagesOpts,
): { pages: IoptPages; startByte: bigint } | { errno: number } {
  const buf = getDmabuf(env.world, o.dmabuf);
  if (!buf) return { errno: EINVAL };
  if (buf.size <= o.start + o.length - 1n) return { errno: EINVAL };
  const startDown = o.start & ~(PAGE - 1n);
  const startByte = o.start - startDown;
  const n = allocChecks(env, startByte, o.length);
  if (typeof n !== 'number') return n;
  // dma_buf_dynamic_attach allocates the attachment before the exporter is asked for the memory.
  const ae = shouldFail(env, 'dma_buf_attach');
  if (ae) return { errno: ae };
  if (buf.revoked) return { errno: ENODEV };
  const mm = callerMm(env, o.pid);
  const pages = newPages(env, {
    kind: 'dmabuf', pid: mm.pid, uid: mm.uid, uptr: 0n, memfd: o.dmabuf, start: startDown, length: o.length, npages: n,
    writable: o.writable, accountMode: 'none',
  });
  dmabufAttach(env.world, o.dmabuf, pages.id);
  return { pages, startByte };
}

/** iopt_dmabuf_revoked: nothing of it may be mapped any more. */
export function pagesRevoked(p: IoptPages): boolean {
  return p.revoked === true;
}

/** The address the auto-IOVA allocator keeps alignment from: uptr or file offset of `startByte`. */
export function pagesSourceAddr(p: IoptPages, startByte: bigint): bigint {
  return (p.kind === 'user' ? p.uptr : p.start) + startByte;
}

export function pagesGet(p: IoptPages): void {
  p.kref++;
}

export function pagesPut(env: PagesEnv, p: IoptPages): void {
  if (--p.kref > 0) return;
  if (p.npinned !== 0) throw new Error(`iopt_pages ${p.id} freed with ${p.npinned} pages pinned`);
  if (p.kind === 'file') memfdRelease(env.world, p.memfd);
  else if (p.kind === 'dmabuf') dmabufDetach(env.world, p.memfd, p.id);
  delete env.pagesTable.pages[p.id];
}

/** Maximal runs of indices in [first, last] whose page is not pinned yet. */
function unpinnedRuns(p: IoptPages, first: number, last: number): Array<[number, number]> {
  if (p.npinned === 0) return [[first, last]];
  const runs: Array<[number, number]> = [];
  let runStart = -1;
  for (let i = first; i <= last; i++) {
    if (p.users[i]) {
      if (runStart >= 0) runs.push([runStart, i - 1]);
      runStart = -1;
    } else if (runStart < 0) runStart = i;
  }
  if (runStart >= 0) runs.push([runStart, last]);
  return runs;
}

function pinRun(env: PagesEnv, p: IoptPages, first: number, n: number): { pfns: number[] } | { errno: number } {
  const e = shouldFail(env, 'iopt_pages_pin');
  if (e) return { errno: e };
  if (p.kind === 'file') return memfdPin(env.world, p.memfd, Number(p.start >> SHIFT) + first, n);
  if (p.kind === 'dmabuf') return dmabufPinRun(env, p, first, n);
  const mm = env.world.mms[p.pid];
  // The source mm may have exited (fork_gone): its address space is gone, GUP fails.
  if (!mm || mm.exited) return { errno: EFAULT };
  return pinUserPages(env.world, mm, p.uptr + (BigInt(first) << SHIFT), n, { write: p.writable });
}

function dmabufPinRun(env: PagesEnv, p: IoptPages, first: number, n: number): { pfns: number[] } | { errno: number } {
  const buf = getDmabuf(env.world, p.memfd);
  if (!buf || p.revoked) throw new Error(`iopt_pages ${p.id}: dma-buf pages used after revoke`);
  const base = Number(p.start >> SHIFT) + first;
  const pfns = buf.pfns.slice(base, base + n);
  for (const pfn of pfns) framePin(env.world.pm, pfn);
  return { pfns };
}

function sourceAccounts(env: PagesEnv, p: IoptPages) {
  return { user: userStruct(env.world, p.uid), mm: env.world.mms[p.pid] };
}

/**
 * Adds one user to every page of [first, last], pinning and charging the
 * pages that had none.  All-or-nothing: on error nothing changed.
 * GUP runs first and the charge after it, as pfn_reader does, so a bad VA
 * wins over RLIMIT_MEMLOCK.
 */
export function pagesAddUsers(env: PagesEnv, p: IoptPages, first: number, last: number): number {
  const runs = unpinnedRuns(p, first, last);
  const got: Array<[number, number[]]> = [];
  const undo = () => { for (const [, pfns] of got) unpinUserPages(env.world, pfns); };
  let fresh = 0;
  for (const [a, b] of runs) {
    const r = pinRun(env, p, a, b - a + 1);
    if ('errno' in r) {
      undo();
      return r.errno;
    }
    got.push([a, r.pfns]);
    fresh += r.pfns.length;
  }
  if (fresh > 0 && p.kind !== 'dmabuf') {
    const { user, mm } = sourceAccounts(env, p);
    const e = shouldFail(env, 'iopt_pages_account') || chargePinned(p.accountMode, user, mm, fresh);
    if (e) {
      undo();
      return e;
    }
  }
  for (const [a, pfns] of got) for (let k = 0; k < pfns.length; k++) p.pfns[a + k] = pfns[k];
  for (let i = first; i <= last; i++) p.users[i] = (p.users[i] ?? 0) + 1;
  p.npinned += fresh;
  return 0;
}

export function pagesRemoveUsers(env: PagesEnv, p: IoptPages, first: number, last: number): void {
  const release: number[] = [];
  for (let i = first; i <= last; i++) {
    const u = p.users[i];
    if (!u) throw new Error(`iopt_pages ${p.id} page ${i} has no user to remove`);
    if (u > 1) {
      p.users[i] = u - 1;
      continue;
    }
    delete p.users[i];
    release.push(p.pfns[i]);
    delete p.pfns[i];
  }
  if (release.length === 0) return;
  unpinUserPages(env.world, release);
  p.npinned -= release.length;
  if (p.kind === 'dmabuf') return;
  const { user, mm } = sourceAccounts(env, p);
  unchargePinned(p.accountMode, user, mm, release.length);
}

/** pfns of [first, last]; every page must be pinned. */
export function pagesPfns(p: IoptPages, first: number, last: number): number[] {
  const out = new Array<number>(last - first + 1);
  for (let i = first; i <= last; i++) {
    const pfn = p.pfns[i];
    if (pfn === undefined) throw new Error(`iopt_pages ${p.id} page ${i} not pinned`);
    out[i - first] = pfn;
  }
  return out;
}

/**
 * iopt_pages_rw_access: pinned pages are touched through their frames, the
 * rest through the source mm (copy_{to,from}_user) or the file.
 */
export function pagesRw(env: PagesEnv, p: IoptPages, startByte: bigint, buf: Uint8Array, write: boolean): number {
  // iopt_pages_rw_access: a dma-buf has no struct pages to kmap.
  if (p.kind === 'dmabuf') return EINVAL;
  let done = 0;
  while (done < buf.length) {
    const byte = startByte + BigInt(done);
    const idx = Number(byte >> SHIFT);
    const off = Number(byte % PAGE);
    const n = Math.min(PAGE_SIZE - off, buf.length - done);
    const chunk = buf.subarray(done, done + n);
    const e = rwChunk(env, p, idx, off, chunk, write);
    if (e) return e;
    done += n;
  }
  return 0;
}

function rwChunk(env: PagesEnv, p: IoptPages, idx: number, off: number, chunk: Uint8Array, write: boolean): number {
  const pfn = p.pfns[idx];
  if (pfn !== undefined) {
    if (write) writePhys(env.world.pm, pfn * PAGE_SIZE + off, chunk);
    else chunk.set(readPhys(env.world.pm, pfn * PAGE_SIZE + off, chunk.length));
    return 0;
  }
  if (p.kind === 'file') {
    const at = p.start + (BigInt(idx) << SHIFT) + BigInt(off);
    if (write) return memfdWrite(env.world, p.memfd, at, chunk) ? EFAULT : 0;
    const r = memfdRead(env.world, p.memfd, at, chunk.length);
    if ('errno' in r) return EFAULT;
    chunk.set(r.data);
    return 0;
  }
  const mm = env.world.mms[p.pid];
  if (!mm || mm.exited) return EFAULT;
  const va = p.uptr + (BigInt(idx) << SHIFT) + BigInt(off);
  if (write) return writeUser(env.world, mm, va, chunk);
  const r = readUser(env.world, mm, va, chunk.length);
  if ('errno' in r) return r.errno;
  chunk.set(r.data);
  return 0;
}

/**
 * IOMMU_IOAS_CHANGE_PROCESS core: re-charge every listed pages object to
 * `newPid`, all-or-nothing.  Only file-backed pages can move (user-VA pages
 * are tied to their mm) → EINVAL before anything changes.
 */
export function pagesChangeProcess(env: PagesEnv, pagesIds: readonly number[], newPid: number): number {
  const ids = [...new Set(pagesIds)].sort((a, b) => a - b);
  const list = ids.map((id) => getPages(env, id));
  if (list.some((p) => p.kind !== 'file')) return EINVAL;
  const newMm = callerMm(env, newPid);
  const newUser = userStruct(env.world, newMm.uid);
  const moved: IoptPages[] = [];
  for (const p of list) {
    if (p.pid === newPid) continue;
    const e = shouldFail(env, 'iopt_pages_account') || chargePinned(p.accountMode, newUser, newMm, p.npinned);
    if (e) {
      for (const q of moved) unchargePinned(q.accountMode, newUser, newMm, q.npinned);
      return e;
    }
    moved.push(p);
  }
  for (const p of moved) {
    const { user, mm } = sourceAccounts(env, p);
    unchargePinned(p.accountMode, user, mm, p.npinned);
    p.pid = newPid;
    p.uid = newMm.uid;
  }
  return 0;
}
