/**
 * io_pagetable: the IOVA → iopt_pages map of one IOAS (Linux
 * drivers/iommu/iommufd/io_pagetable.c), as plain data plus functions.
 *
 * - Areas are a sorted array of non-overlapping intervals (binary search);
 *   allowed ranges are sorted and disjoint; reserved ranges are sorted by
 *   start and may overlap (several owners can reserve the same IOVA).
 * - Nothing here talks to hardware.  Every change to what an attached
 *   domain maps is returned as a `DomainEffect` for the IOAS actor to send to
 *   the translation actor; `ioptDomainMappings` gives the expected contents.
 * - Check order and errnos follow the kernel, because the first failing
 *   check decides what user space sees.  The ioctl-level checks of uapi §3
 *   (flags, __reserved, `>= ULONG_MAX`, READ|WRITE present, object lookup)
 *   belong to the ioctl handlers and are not repeated here.
 * - A MAP is three kernel lock sections (insert areas with no pages → fill
 *   domains → publish); `ioptMapPagesBegin/Finish` expose that split so the
 *   scheduler can interleave another ioctl in between (UNMAP → EBUSY).
 */
import {
  EADDRINUSE, EBUSY, EDEADLK, EEXIST, EINVAL, EMSGSIZE, ENOENT, ENOSPC, EOPNOTSUPP, EOVERFLOW, EPERM,
} from '../../uapi/errno.ts';
import { PAGE_SIZE } from '../../hardware/physmem.ts';
import type { RlimitMode } from '../mm/accounting.ts';
import {
  ULONG_MAX, getPages, ioptAllocFilePages, ioptAllocUserPages, pagesAddUsers, pagesGet, pagesPfns, pagesPut,
  pagesRemoveUsers, pagesRevoked, pagesRw, pagesSourceAddr, shouldFail, type IoptPages, type PagesEnv,
} from './pages.ts';

export { ULONG_MAX } from './pages.ts';

export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;
export const IOMMU_CACHE = 1 << 2;

export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;

/** THP size: the cap on automatic IOVA alignment (CONFIG_TRANSPARENT_HUGEPAGE=y). */
export const HPAGE_SIZE = 2n * 1024n * 1024n;
/** iopt_unmap_iova_range gives up on accesses that never let go after this many notifications. */
export const UNMAP_MAX_TRIES = 100;

const PAGE = BigInt(PAGE_SIZE);

export type IoptEnv = PagesEnv;

export interface IovaRange {
  start: bigint;
  last: bigint;
}

export interface IoptReserved extends IovaRange {
  /** e.g. `domain:7` (aperture complement), `device:3` (reserved regions), `test` */
  owner: string;
}

export interface IoptArea {
  id: number;
  iova: bigint;
  last: bigint;
  iommuProt: number;
  /** byte offset of iova inside its first page */
  pageOffset: number;
  pagesId: number;
  /** byte offset of iova from the start of the pages object */
  startByte: bigint;
  /** pages_node: page index range inside the pages object */
  firstIndex: number;
  lastIndex: number;
  /** the kernel's `area->pages == NULL` window between insert and publish */
  creating: boolean;
  /** the area counts as one user of its pages span because domains exist */
  filled: boolean;
  numAccesses: number;
  /** HW-queue style pins that forbid unmap (EBUSY) */
  numLocks: number;
  preventAccess: boolean;
}

export interface IoptDomain {
  id: number;
  pgsizeBitmap: bigint;
  apertureStart: bigint;
  apertureEnd: bigint;
}

export interface IoptAccess {
  id: number;
  iovaAlignment: number;
}

export interface IoptAccessPin {
  accessId: number;
  iova: bigint;
  last: bigint;
  write: boolean;
  lock: boolean;
}

export interface IoPagetable {
  areas: IoptArea[];
  allowed: IovaRange[];
  reserved: IoptReserved[];
  domains: IoptDomain[];
  accesses: IoptAccess[];
  accessPins: IoptAccessPin[];
  iovaAlignment: number;
  disableLargePages: boolean;
  nextAreaId: number;
}

/**
 * Domain contents change.  `map`: byte k of [iova, iova+length) is physical
 * address pfns[(pageOffset+k) >> 12] * 4096 + ((pageOffset+k) & 4095).
 */
export type DomainEffect =
  | { op: 'map'; domainId: number; iova: bigint; length: bigint; pageOffset: number; pfns: number[]; prot: number }
  | { op: 'unmap'; domainId: number; iova: bigint; length: bigint };

export type MapEffect = Extract<DomainEffect, { op: 'map' }>;

export interface OpResult {
  errno: number;
  effects: DomainEffect[];
}

export interface MapResult extends OpResult {
  iova: bigint;
}

export function createIopt(): IoPagetable {
  return {
    areas: [], allowed: [], reserved: [], domains: [], accesses: [], accessPins: [],
    iovaAlignment: 1, disableLargePages: false, nextAreaId: 1,
  };
}

/** conv_iommu_prot: 0 when neither READABLE nor WRITEABLE (the ioctl turns that into EINVAL). */
export function convIommuProt(mapFlags: number): number {
  if (!(mapFlags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE))) return 0;
  let prot = IOMMU_CACHE;
  if (mapFlags & IOMMU_IOAS_MAP_READABLE) prot |= IOMMU_READ;
  if (mapFlags & IOMMU_IOAS_MAP_WRITEABLE) prot |= IOMMU_WRITE;
  return prot;
}

// ---------------------------------------------------------------- intervals

function lowestSetBit(v: bigint): bigint {
  return v & -v;
}

function roundupPowOfTwo(v: bigint): bigint {
  let p = 1n;
  while (p < v) p <<= 1n;
  return p;
}

/** Index of the first area whose last >= iova (areas are disjoint, so `last` is sorted too). */
function areaLowerBound(iopt: IoPagetable, iova: bigint): number {
  const a = iopt.areas;
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid].last < iova) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** iopt_area_iter_first: index of the lowest area intersecting [start, last], or -1. */
export function areaIterFirst(iopt: IoPagetable, start: bigint, last: bigint): number {
  const i = areaLowerBound(iopt, start);
  const a = iopt.areas[i];
  return a && a.iova <= last ? i : -1;
}

function reservedIntersects(iopt: IoPagetable, start: bigint, last: bigint): boolean {
  for (const r of iopt.reserved) {
    if (r.start > last) return false;
    if (r.last >= start) return true;
  }
  return false;
}

function allowedIntersects(ranges: readonly IovaRange[], start: bigint, last: bigint): boolean {
  for (const r of ranges) {
    if (r.start > last) return false;
    if (r.last >= start) return true;
  }
  return false;
}

function insertSortedByStart<T extends { start: bigint }>(list: T[], item: T): void {
  let i = list.length;
  while (i > 0 && list[i - 1].start > item.start) i--;
  list.splice(i, 0, item);
}

/** interval_tree_span_iter semantics: overlapping or adjacent intervals merge into one used span. */
function mergedSpans(sorted: readonly IovaRange[]): IovaRange[] {
  const out: IovaRange[] = [];
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev && (prev.last === ULONG_MAX || r.start <= prev.last + 1n)) {
      if (r.last > prev.last) prev.last = r.last;
    } else out.push({ start: r.start, last: r.last });
  }
  return out;
}

// ---------------------------------------------------------------- IOVA_RANGES / ALLOW_IOVAS / reserve

/** IOMMU_IOAS_IOVA_RANGES body: holes of the reserved ranges over [0, ULONG_MAX]; allowed ranges are ignored. */
export function ioptIovaRanges(iopt: IoPagetable): { ranges: IovaRange[]; iovaAlignment: number } {
  const ranges: IovaRange[] = [];
  let cur = 0n;
  let done = false;
  for (const u of mergedSpans(iopt.reserved)) {
    if (u.start > cur) ranges.push({ start: cur, last: u.start - 1n });
    if (u.last === ULONG_MAX) {
      done = true;
      break;
    }
    if (u.last + 1n > cur) cur = u.last + 1n;
  }
  if (!done) ranges.push({ start: cur, last: ULONG_MAX });
  return { ranges, iovaAlignment: iopt.iovaAlignment };
}

/**
 * IOVA_RANGES copy-out: the first `capacity` ranges go to the user array,
 * the struct gets `total` and the alignment written back, and only then is
 * EMSGSIZE reported when the array was too small.
 */
export function ioptIovaRangesFill(
  iopt: IoPagetable, capacity: number,
): { errno: number; total: number; copied: IovaRange[]; iovaAlignment: number } {
  const { ranges, iovaAlignment } = ioptIovaRanges(iopt);
  const copied = ranges.slice(0, Math.min(capacity, ranges.length));
  return { errno: ranges.length > capacity ? EMSGSIZE : 0, total: ranges.length, copied, iovaAlignment };
}

/**
 * IOMMU_IOAS_ALLOW_IOVAS: per entry in order start >= last → EINVAL, overlap
 * with an earlier entry → EINVAL; then the whole set is swapped in unless a
 * new range hits a reserved one (EADDRINUSE, old set kept).  Existing areas
 * are deliberately not checked.
 */
export function ioptAllowIovas(iopt: IoPagetable, env: IoptEnv, ranges: readonly IovaRange[]): number {
  const next: IovaRange[] = [];
  for (const r of ranges) {
    if (r.start >= r.last) return EINVAL;
    if (allowedIntersects(next, r.start, r.last)) return EINVAL;
    const e = shouldFail(env, 'iopt_allowed_alloc');
    if (e) return e;
    insertSortedByStart(next, { start: r.start, last: r.last });
  }
  for (const r of next) if (reservedIntersects(iopt, r.start, r.last)) return EADDRINUSE;
  iopt.allowed = next;
  return 0;
}

/** iopt_reserve_iova: collision with an area or an allowed range → EADDRINUSE. */
export function ioptReserve(iopt: IoPagetable, env: IoptEnv, owner: string, start: bigint, last: bigint): number {
  if (areaIterFirst(iopt, start, last) >= 0 || allowedIntersects(iopt.allowed, start, last)) return EADDRINUSE;
  const e = shouldFail(env, 'iopt_reserved_alloc');
  if (e) return e;
  insertSortedByStart(iopt.reserved, { start, last, owner });
  return 0;
}

export function ioptRemoveReserved(iopt: IoPagetable, owner: string): void {
  iopt.reserved = iopt.reserved.filter((r) => r.owner !== owner);
}

// ---------------------------------------------------------------- IOVA allocation

/** __alloc_iova_check_range: ALIGN_UP without wrapping, keep the page offset bits, demand a fit. */
function checkRange(start: bigint, last: bigint, length: bigint, align: bigint, pageOffset: bigint): bigint {
  const up = start + align - 1n;
  if (up > ULONG_MAX) return -1n;
  const aligned = (up & ~(align - 1n)) | pageOffset;
  if (aligned >= last || last - aligned < length - 1n) return -1n;
  return aligned;
}

/** Candidate windows: allowed spans (merged) or the default, clipped to [PAGE_SIZE, ULONG_MAX - PAGE_SIZE]. */
function allocWindows(iopt: IoPagetable): IovaRange[] {
  const lo = PAGE;
  const hi = ULONG_MAX - PAGE;
  if (iopt.allowed.length === 0) return [{ start: lo, last: hi }];
  const out: IovaRange[] = [];
  for (const s of mergedSpans(iopt.allowed)) {
    if (s.last < lo || s.start > hi) continue;
    out.push({ start: s.start < lo ? lo : s.start, last: s.last > hi ? hi : s.last });
  }
  return out;
}

/** First hole of (reserved ∪ areas) inside [start, last] that fits, or -1. */
function firstFitInWindow(
  iopt: IoPagetable, start: bigint, last: bigint, length: bigint, align: bigint, po: bigint,
): bigint {
  const res = iopt.reserved;
  const areas = iopt.areas;
  let ri = 0;
  let ai = areaLowerBound(iopt, start);
  let cur = start;
  for (;;) {
    while (ri < res.length && res[ri].last < cur) ri++;
    const r = ri < res.length ? res[ri] : undefined;
    const a = ai < areas.length ? areas[ai] : undefined;
    const useArea = a !== undefined && (r === undefined || a.iova < r.start);
    const nStart = useArea ? a!.iova : r?.start;
    const nLast = useArea ? a!.last : r?.last;
    if (nStart === undefined || nLast === undefined || nStart > last) break;
    if (nStart > cur) {
      const c = checkRange(cur, nStart - 1n, length, align, po);
      if (c >= 0n) return c;
    }
    if (nLast >= last) return -1n;
    if (nLast + 1n > cur) cur = nLast + 1n;
    if (useArea) ai++;
    else ri++;
  }
  return checkRange(cur, last, length, align, po);
}

/**
 * iopt_alloc_iova.  Alignment A = roundup_pow_of_two(length), reduced to the
 * lowest set bit of the source address when it is non-zero, capped at
 * HPAGE_SIZE; the page offset of the source is kept in the low bits.
 * IOVA 0 and the last page are never handed out.
 */
export function ioptAllocIova(iopt: IoPagetable, addr: bigint, length: bigint): { iova: bigint } | { errno: number } {
  if (length === 0n || length >= ULONG_MAX / 2n) return { errno: EOVERFLOW };
  let align = roundupPowOfTwo(length);
  if (addr !== 0n) {
    const low = lowestSetBit(addr);
    if (low < align) align = low;
  }
  if (align >= HPAGE_SIZE) align = HPAGE_SIZE;
  if (align < BigInt(iopt.iovaAlignment)) return { errno: EINVAL };
  const po = addr % PAGE;
  for (const w of allocWindows(iopt)) {
    const s = checkRange(w.start, w.last, length, align, po);
    if (s < 0n) continue;
    const iova = firstFitInWindow(iopt, s, w.last, length, align, po);
    if (iova >= 0n) return { iova };
  }
  return { errno: ENOSPC };
}

/** iopt_check_iova for FIXED_IOVA: alignment EINVAL, wrap EOVERFLOW, reserved EINVAL, area EEXIST. */
function checkFixedIova(iopt: IoPagetable, iova: bigint, length: bigint): number {
  if (iova & BigInt(iopt.iovaAlignment - 1)) return EINVAL;
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return EOVERFLOW;
  if (reservedIntersects(iopt, iova, last)) return EINVAL;
  if (areaIterFirst(iopt, iova, last) >= 0) return EEXIST;
  return 0;
}

// ---------------------------------------------------------------- areas and domains

function pagesOf(env: IoptEnv, area: IoptArea): IoptPages {
  return getPages(env, area.pagesId);
}

function areaLength(a: IoptArea): bigint {
  return a.last - a.iova + 1n;
}

function mapEffect(env: IoptEnv, area: IoptArea, domainId: number): MapEffect {
  return {
    op: 'map', domainId, iova: area.iova, length: areaLength(area), pageOffset: area.pageOffset,
    pfns: pagesPfns(pagesOf(env, area), area.firstIndex, area.lastIndex), prot: area.iommuProt,
  };
}

function unmapEffect(area: IoptArea, domainId: number): DomainEffect {
  return { op: 'unmap', domainId, iova: area.iova, length: areaLength(area) };
}

/**
 * iopt_area_fill_domains for a new area: pin once, then map into every
 * domain.  With no domain nothing is pinned (lazy).  On failure the effects
 * list is left as it was and nothing stays pinned.
 */
function fillAreaDomains(iopt: IoPagetable, env: IoptEnv, area: IoptArea, effects: DomainEffect[]): number {
  if (iopt.domains.length === 0) return 0;
  const pages = pagesOf(env, area);
  // iopt_dmabuf_track_all_domains: a revoke-tracking record per domain, revoked or not.
  if (pages.kind === 'dmabuf') {
    for (let k = 0; k < iopt.domains.length; k++) {
      const t = shouldFail(env, 'iopt_dmabuf_track');
      if (t) return t;
    }
  }
  // A revoked dma-buf maps nothing (iopt_area_fill_domains skips the pfn reader).
  if (pagesRevoked(pages)) return 0;
  const e = pagesAddUsers(env, pages, area.firstIndex, area.lastIndex);
  if (e) return e;
  const mark = effects.length;
  for (const d of iopt.domains) {
    const f = shouldFail(env, 'iopt_domain_map');
    if (f) {
      effects.length = mark;
      pagesRemoveUsers(env, pages, area.firstIndex, area.lastIndex);
      return f;
    }
    effects.push(mapEffect(env, area, d.id));
  }
  areaFilled(env, area);
  return 0;
}

function unfillAreaDomains(iopt: IoPagetable, env: IoptEnv, area: IoptArea, effects: DomainEffect[]): void {
  for (const d of iopt.domains) effects.push(unmapEffect(area, d.id));
  if (area.filled) {
    pagesRemoveUsers(env, pagesOf(env, area), area.firstIndex, area.lastIndex);
    areaUnfilled(env, area);
  }
}

/** The area became a domain user of its pages: iopt_area_fill_domain(s) inserts it into pages->domains_itree. */
export function areaFilled(env: IoptEnv, area: IoptArea): void {
  area.filled = true;
  const ids = (pagesOf(env, area).domainAreas ??= []);
  let i = ids.length;
  while (i > 0 && ids[i - 1]! > area.id) i--;
  ids.splice(i, 0, area.id);
}

/** The area left its pages' domain users (iopt_area_unfill_domain(s)). */
export function areaUnfilled(env: IoptEnv, area: IoptArea): void {
  area.filled = false;
  const ids = (pagesOf(env, area).domainAreas ??= []);
  const i = ids.indexOf(area.id);
  if (i >= 0) ids.splice(i, 1);
}

function removeAreaAt(iopt: IoPagetable, env: IoptEnv, index: number): IoptArea {
  const [area] = iopt.areas.splice(index, 1);
  pagesPut(env, pagesOf(env, area));
  return area;
}

function areaIndexById(iopt: IoPagetable, id: number, hintIova: bigint): number {
  const i = areaLowerBound(iopt, hintIova);
  return iopt.areas[i]?.id === id ? i : iopt.areas.findIndex((a) => a.id === id);
}

// ---------------------------------------------------------------- MAP / MAP_FILE / COPY

/** One slice of a pages object to become one area (struct iopt_pages_list). */
export interface PagesListElm {
  pagesId: number;
  startByte: bigint;
  length: bigint;
}

/** Areas inserted but not yet published, and the page references they will take over. */
export interface PendingMap {
  iova: bigint;
  areaIds: number[];
  list: PagesListElm[];
}

export function ioptFreePagesList(env: IoptEnv, list: readonly PagesListElm[]): void {
  for (const elm of list) pagesPut(env, getPages(env, elm.pagesId));
}

/** iopt_insert_area: EPERM for write over read-only pages, page offset alignment EINVAL. */
function insertArea(
  iopt: IoPagetable, env: IoptEnv, elm: PagesListElm, iova: bigint, prot: number,
): IoptArea | { errno: number } {
  const pages = getPages(env, elm.pagesId);
  if (prot & IOMMU_WRITE && !pages.writable) return { errno: EPERM };
  const pageOffset = Number(elm.startByte % PAGE);
  if (pageOffset & (iopt.iovaAlignment - 1)) return { errno: EINVAL };
  const last = iova + elm.length - 1n;
  const lastByte = elm.startByte + elm.length - 1n;
  if (last > ULONG_MAX || lastByte > ULONG_MAX) return { errno: EOVERFLOW };
  const lastIndex = Number(lastByte / PAGE);
  if (lastIndex >= pages.npages) return { errno: EOVERFLOW };
  const area: IoptArea = {
    id: iopt.nextAreaId++, iova, last, iommuProt: prot, pageOffset, pagesId: elm.pagesId, startByte: elm.startByte,
    firstIndex: Number(elm.startByte / PAGE), lastIndex, creating: true, filled: false, numAccesses: 0, numLocks: 0,
    preventAccess: false,
  };
  iopt.areas.splice(areaLowerBound(iopt, iova), 0, area);
  return area;
}

function abortAreas(iopt: IoPagetable, ids: readonly number[], hint: bigint): void {
  for (const id of ids) {
    const i = areaIndexById(iopt, id, hint);
    if (i >= 0) iopt.areas.splice(i, 1);
  }
}

/**
 * iopt_alloc_area_pages: allocate the areas, check length/IOVA under the
 * lock and insert them unpublished.  Consumes `list` on failure.
 */
/*
 * The failure exits below are module functions, not closures: under tsx,
 * esbuild's keepNames gives every named closure a defineProperty call when
 * it is created, which costs more than the work on these hot paths.
 */
function mapBeginFail(env: IoptEnv, list: PagesListElm[], errno: number): { errno: number } {
  ioptFreePagesList(env, list);
  return { errno };
}

export function ioptMapPagesBegin(
  iopt: IoPagetable, env: IoptEnv, list: PagesListElm[], length: bigint, iova: bigint, prot: number, allocIova: boolean,
): { errno: 0; pending: PendingMap } | { errno: number } {
  for (let k = 0; k < list.length; k++) {
    const e = shouldFail(env, 'iopt_area_alloc');
    if (e) return mapBeginFail(env, list, e);
  }
  if (length === 0n || length & BigInt(iopt.iovaAlignment - 1)) return mapBeginFail(env, list, EINVAL);
  let dst = iova;
  if (allocIova) {
    const first = list[0];
    const r = ioptAllocIova(iopt, pagesSourceAddr(getPages(env, first.pagesId), first.startByte), length);
    if ('errno' in r) return mapBeginFail(env, list, r.errno);
    dst = r.iova;
  } else {
    const e = checkFixedIova(iopt, dst, length);
    if (e) return mapBeginFail(env, list, e);
  }
  const areaIds: number[] = [];
  let cur = dst;
  for (const elm of list) {
    const a = insertArea(iopt, env, elm, cur, prot);
    if ('errno' in a) {
      abortAreas(iopt, areaIds, dst);
      return mapBeginFail(env, list, a.errno);
    }
    areaIds.push(a.id);
    cur += elm.length;
  }
  return { errno: 0, pending: { iova: dst, areaIds, list } };
}

/**
 * iopt_fill_domains_pages + publish: fill every domain attached now, then
 * give the areas their pages.  Consumes the pending map either way.
 */
export function ioptMapPagesFinish(iopt: IoPagetable, env: IoptEnv, pending: PendingMap): MapResult {
  const effects: DomainEffect[] = [];
  const idx = pending.areaIds.map((id) => areaIndexById(iopt, id, pending.iova));
  if (idx.some((i) => i < 0)) {
    // The IOAS was torn down under the in-flight MAP; only the references are left to drop.
    ioptFreePagesList(env, pending.list);
    return { errno: ENOENT, iova: 0n, effects: [] };
  }
  const areas = idx.map((i) => iopt.areas[i]);
  for (let k = 0; k < areas.length; k++) {
    const e = fillAreaDomains(iopt, env, areas[k], effects);
    if (e) {
      for (let j = 0; j < k; j++) unfillAreaDomains(iopt, env, areas[j], []);
      abortAreas(iopt, pending.areaIds, pending.iova);
      ioptFreePagesList(env, pending.list);
      return { errno: e, iova: 0n, effects: [] };
    }
  }
  for (const a of areas) a.creating = false;
  return { errno: 0, iova: pending.iova, effects };
}

export function ioptMapPagesAbort(iopt: IoPagetable, env: IoptEnv, pending: PendingMap): void {
  abortAreas(iopt, pending.areaIds, pending.iova);
  ioptFreePagesList(env, pending.list);
}

/** iopt_map_pages: one-shot begin + finish. */
export function ioptMapPages(
  iopt: IoPagetable, env: IoptEnv, list: PagesListElm[], length: bigint, iova: bigint, prot: number, allocIova: boolean,
): MapResult {
  const b = ioptMapPagesBegin(iopt, env, list, length, iova, prot, allocIova);
  if (!('pending' in b)) return { errno: b.errno, iova: 0n, effects: [] };
  return ioptMapPagesFinish(iopt, env, b.pending);
}

export interface MapUserOpts {
  pid: number;
  uptr: bigint;
  length: bigint;
  /** input for FIXED_IOVA, ignored otherwise */
  iova?: bigint;
  /** IOMMU_READ/WRITE/CACHE bits (see convIommuProt) */
  prot: number;
  fixed: boolean;
  rlimitMode?: RlimitMode;
}

/** Builds the one-element pages list of a MAP (iopt_alloc_user_pages). */
export function ioptPrepareUserPages(env: IoptEnv, o: MapUserOpts): { list: PagesListElm[] } | { errno: number } {
  const r = ioptAllocUserPages(env, {
    pid: o.pid, uptr: o.uptr, length: o.length, writable: (o.prot & IOMMU_WRITE) !== 0, rlimitMode: o.rlimitMode,
  });
  if ('errno' in r) return r;
  return { list: [{ pagesId: r.pages.id, startByte: r.startByte, length: o.length }] };
}

/** iopt_map_user_pages. */
export function ioptMapUserPages(iopt: IoPagetable, env: IoptEnv, o: MapUserOpts): MapResult {
  const p = ioptPrepareUserPages(env, o);
  if ('errno' in p) return { errno: p.errno, iova: 0n, effects: [] };
  return ioptMapPages(iopt, env, p.list, o.length, o.iova ?? 0n, o.prot, !o.fixed);
}

export interface MapFileOpts {
  pid: number;
  memfd: number;
  start: bigint;
  length: bigint;
  iova?: bigint;
  prot: number;
  fixed: boolean;
  rlimitMode?: RlimitMode;
  /** false when the fd was not opened for writing: WRITEABLE maps then fail EPERM */
  fileWritable?: boolean;
}

export function ioptPrepareFilePages(env: IoptEnv, o: MapFileOpts): { list: PagesListElm[] } | { errno: number } {
  const writable = (o.prot & IOMMU_WRITE) !== 0;
  if (writable && o.fileWritable === false) return { errno: EPERM };
  const r = ioptAllocFilePages(env, {
    pid: o.pid, memfd: o.memfd, start: o.start, length: o.length, writable, rlimitMode: o.rlimitMode,
  });
  if ('errno' in r) return r;
  return { list: [{ pagesId: r.pages.id, startByte: r.startByte, length: o.length }] };
}

/** iopt_map_file_pages. */
export function ioptMapFilePages(iopt: IoPagetable, env: IoptEnv, o: MapFileOpts): MapResult {
  const p = ioptPrepareFilePages(env, o);
  if ('errno' in p) return { errno: p.errno, iova: 0n, effects: [] };
  return ioptMapPages(iopt, env, p.list, o.length, o.iova ?? 0n, o.prot, !o.fixed);
}

interface ContigStep {
  area: IoptArea;
  index: number;
  /** first IOVA of this step (iter.cur_iova) */
  cur: bigint;
  /** last IOVA of this step: min(range last, area last) */
  last: bigint;
}

/**
 * iopt_for_each_contig_area: areas covering [iova, last] back to back,
 * stopping at a gap or an unpublished area.  `done` ⇔ fully covered.
 */
function contigAreas(iopt: IoPagetable, iova: bigint, last: bigint): { steps: ContigStep[]; done: boolean } {
  const steps: ContigStep[] = [];
  let i = areaIterFirst(iopt, iova, iova);
  let cur = iova;
  while (i >= 0) {
    const area = iopt.areas[i];
    if (area.creating || area.iova > cur) break;
    const stepLast = last < area.last ? last : area.last;
    steps.push({ area, index: i, cur, last: stepLast });
    if (last <= area.last) return { steps, done: true };
    cur = area.last + 1n;
    i = i + 1 < iopt.areas.length ? i + 1 : -1;
  }
  return { steps, done: false };
}

function startByteAt(area: IoptArea, iova: bigint): bigint {
  return area.startByte + (iova - area.iova);
}

/**
 * iopt_get_pages (COPY source side): EINVAL for 0 length, EOVERFLOW on wrap,
 * ENOENT unless the range is contiguously covered by published areas.  The
 * returned list holds a reference on each pages object.
 */
export function ioptGetPages(
  iopt: IoPagetable, env: IoptEnv, iova: bigint, length: bigint,
): { list: PagesListElm[] } | { errno: number } {
  if (length === 0n) return { errno: EINVAL };
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return { errno: EOVERFLOW };
  const { steps, done } = contigAreas(iopt, iova, last);
  const list: PagesListElm[] = [];
  for (const s of steps) {
    const e = shouldFail(env, 'iopt_pages_list_alloc');
    if (e) {
      ioptFreePagesList(env, list);
      return { errno: e };
    }
    pagesGet(pagesOf(env, s.area));
    list.push({ pagesId: s.area.pagesId, startByte: startByteAt(s.area, s.cur), length: s.last - s.cur + 1n });
  }
  if (!done) {
    ioptFreePagesList(env, list);
    return { errno: ENOENT };
  }
  return { list };
}

export interface CopyOpts {
  srcIova: bigint;
  length: bigint;
  dstIova?: bigint;
  prot: number;
  fixed: boolean;
}

/** IOAS_COPY below the ioctl checks: share the source slices into dst; no re-pin. */
export function ioptCopy(src: IoPagetable, dst: IoPagetable, env: IoptEnv, o: CopyOpts): MapResult {
  const g = ioptGetPages(src, env, o.srcIova, o.length);
  if ('errno' in g) return { errno: g.errno, iova: 0n, effects: [] };
  return ioptMapPages(dst, env, g.list, o.length, o.dstIova ?? 0n, o.prot, !o.fixed);
}

// ---------------------------------------------------------------- UNMAP

/** What the caller must tell every access of this IOAS before calling ioptUnmap again with `resume`. */
export interface AccessUnmapNotice {
  accessIds: number[];
  iova: bigint;
  length: bigint;
}

export interface UnmapResume {
  start: bigint;
  last: bigint;
  unmapped: bigint;
  tries: number;
  all: boolean;
  /** VFIO compat: a range with no area unmaps 0 bytes successfully instead of ENOENT. */
  emptyOk?: boolean;
}

export interface UnmapResult extends OpResult {
  /**
   * 'notify': an area in the range has access pins.  Deliver `notice` to
   * the accesses (they unpin), then call `ioptUnmapResume(resume)`.
   */
  status: 'done' | 'notify';
  /** bytes removed so far; write back to user space only when errno === 0 and status 'done' */
  unmapped: bigint;
  notice?: AccessUnmapNotice;
  resume?: UnmapResume;
}

export interface UnmapOpts {
  /** Synchronous access notification (iommufd_access_notify_unmap); without it the result says 'notify'. */
  notify?: (notice: AccessUnmapNotice) => void;
  /** VFIO type1 semantics: nothing in the range is success with 0 bytes (the IOAS ioctl says ENOENT). */
  emptyOk?: boolean;
}

/**
 * iopt_unmap_iova_range.  Walks intersecting areas in ascending IOVA; not
 * atomic: areas removed before a failing one stay removed (their unmap
 * effects are returned with the errno).
 */
function unmapDone(st: UnmapResume, effects: DomainEffect[], errno: number): UnmapResult {
  if (st.all && errno === ENOENT) errno = 0;
  return { errno, status: 'done', unmapped: st.unmapped, effects };
}

function unmapFail(errno: number): UnmapResult {
  return { errno, status: 'done', unmapped: 0n, effects: [] };
}

function unmapRange(iopt: IoPagetable, env: IoptEnv, st: UnmapResume, o: UnmapOpts): UnmapResult {
  const effects: DomainEffect[] = [];
  if (st.tries > UNMAP_MAX_TRIES) return unmapDone(st, effects, EDEADLK);
  for (;;) {
    const i = areaIterFirst(iopt, st.start, st.last);
    if (i < 0) break;
    const area = iopt.areas[i];
    if (area.creating) return unmapDone(st, effects, EBUSY);
    if (area.numLocks) return unmapDone(st, effects, EBUSY);
    if (area.iova < st.start || area.last > st.last) return unmapDone(st, effects, ENOENT);
    if (area.numAccesses) {
      st.start = area.iova;
      area.preventAccess = true;
      const notice = { accessIds: iopt.accesses.map((a) => a.id), iova: area.iova, length: areaLength(area) };
      st.tries++;
      if (!o.notify) return { errno: 0, status: 'notify', unmapped: st.unmapped, effects, notice, resume: { ...st } };
      o.notify(notice);
      if (st.tries > UNMAP_MAX_TRIES) return unmapDone(st, effects, EDEADLK);
      continue;
    }
    unfillAreaDomains(iopt, env, area, effects);
    removeAreaAt(iopt, env, i);
    st.unmapped += areaLength(area);
  }
  return unmapDone(st, effects, st.unmapped || st.emptyOk ? 0 : ENOENT);
}

/** iopt_unmap_iova: 0 length EINVAL, wrap EOVERFLOW, nothing removed ENOENT. */
export function ioptUnmap(iopt: IoPagetable, env: IoptEnv, iova: bigint, length: bigint, o: UnmapOpts = {}): UnmapResult {
  if (length === 0n) return unmapFail(EINVAL);
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return unmapFail(EOVERFLOW);
  return unmapRange(iopt, env, { start: iova, last, unmapped: 0n, tries: 0, all: false, ...(o.emptyOk ? { emptyOk: true } : {}) }, o);
}

/** iopt_unmap_all: an empty IOAS succeeds with 0 bytes. */
export function ioptUnmapAll(iopt: IoPagetable, env: IoptEnv, o: UnmapOpts = {}): UnmapResult {
  return unmapRange(iopt, env, { start: 0n, last: ULONG_MAX, unmapped: 0n, tries: 0, all: true }, o);
}

export function ioptUnmapResume(iopt: IoPagetable, env: IoptEnv, resume: UnmapResume, o: UnmapOpts = {}): UnmapResult {
  return unmapRange(iopt, env, { ...resume }, o);
}

// ---------------------------------------------------------------- iopt_cut_iova (VFIO type1)

/**
 * iopt_area_split: cut `area` so that `iova` is the last byte of the left
 * piece.  A cut at either end is a no-op; an area still being mapped or being
 * unmapped is EBUSY; a cut that does not fall on iova_alignment (in IOVA and
 * in the pages) is EINVAL; two area allocations (fail_nth); an area with
 * access pins, or one filled into domains while large pages are allowed
 * (its IOPTEs may be huge), cannot be split (EINVAL).  Nothing in the
 * domains changes: both pieces keep the same pages, pins and IOPTEs.
 */
function areaSplit(iopt: IoPagetable, env: IoptEnv, index: number, iova: bigint): number {
  const area = iopt.areas[index];
  if (iova === area.iova || iova === area.last) return 0;
  if (area.creating || area.preventAccess) return EBUSY;
  // Keeping a dma-buf's per-area revoke tracking right across a split is not done by the kernel either.
  if (pagesOf(env, area).kind === 'dmabuf') return EOPNOTSUPP;
  const align = BigInt(iopt.iovaAlignment) - 1n;
  const newStart = iova + 1n;
  if (newStart & align || startByteAt(area, newStart) & align) return EINVAL;
  const e = shouldFail(env, 'iopt_area_alloc') || shouldFail(env, 'iopt_area_alloc');
  if (e) return e;
  if (area.numAccesses) return EINVAL;
  if (area.filled && !iopt.disableLargePages) return EINVAL;
  const pages = pagesOf(env, area);
  const rhsStartByte = startByteAt(area, newStart);
  const lhs: IoptArea = { ...area, id: iopt.nextAreaId++, last: iova, lastIndex: Number(startByteAt(area, iova) / PAGE) };
  const rhs: IoptArea = {
    ...area, id: iopt.nextAreaId++, iova: newStart, startByte: rhsStartByte, pageOffset: Number(rhsStartByte % PAGE),
    firstIndex: Number(rhsStartByte / PAGE),
  };
  // A page shared by both pieces (cut inside a page) is used by each filled piece.
  if (area.filled && lhs.lastIndex === rhs.firstIndex) {
    const ue = pagesAddUsers(env, pages, rhs.firstIndex, rhs.firstIndex);
    if (ue) return ue;
  }
  pagesGet(pages);
  iopt.areas.splice(index, 1, lhs, rhs);
  if (area.filled && env.variant !== 'B12') {
    // The halves replace the area in the pages' domains tree.  B12
    // (spec/bugs.md, "Fix missing update of domains_itree after splitting
    // iopt_area"): the tree kept the node of the area that is gone.
    areaUnfilled(env, area);
    areaFilled(env, lhs);
    areaFilled(env, rhs);
  }
  return 0;
}

/**
 * iopt_cut_iova: make each of `iovas` the last byte of an area (if an area
 * covers it), so that a later unmap of a sub-range removes whole areas.
 * Stops at the first failing split; earlier splits stay.
 */
export function ioptCutIova(iopt: IoPagetable, env: IoptEnv, iovas: readonly bigint[]): number {
  for (const iova of iovas) {
    const i = areaIterFirst(iopt, iova, iova);
    if (i < 0) continue;
    const e = areaSplit(iopt, env, i, iova);
    if (e) return e;
  }
  return 0;
}

// ---------------------------------------------------------------- alignment, domains, accesses

function domainMinPage(d: IoptDomain): number {
  return Number(lowestSetBit(d.pgsizeBitmap));
}

/** iopt_check_iova_alignment: every area (iova, length, page offset) and access must conform. */
function checkIovaAlignment(iopt: IoPagetable, align: number): number {
  const mask = BigInt(align - 1);
  for (const a of iopt.areas) {
    if (a.iova & mask || areaLength(a) & mask || BigInt(a.pageOffset) & mask) return EADDRINUSE;
  }
  for (const acc of iopt.accesses) if (acc.iovaAlignment > align) return EADDRINUSE;
  return 0;
}

/** iopt_calculate_iova_alignment. */
function calculateIovaAlignment(iopt: IoPagetable): number {
  let align = iopt.disableLargePages ? PAGE_SIZE : 1;
  for (const d of iopt.domains) align = Math.max(align, domainMinPage(d));
  for (const a of iopt.accesses) align = Math.max(align, a.iovaAlignment);
  if (align > iopt.iovaAlignment) {
    const e = checkIovaAlignment(iopt, align);
    if (e) return e;
  }
  iopt.iovaAlignment = align;
  return 0;
}

export function domainOwner(domainId: number): string {
  return `domain:${domainId}`;
}

/**
 * iopt_table_add_domain: alignment > PAGE_SIZE EINVAL, growth over
 * unaligned areas EADDRINUSE, aperture complement reserved (EADDRINUSE on
 * collision), then every published area pinned (first domain only) and
 * mapped.  On failure nothing changed and no effect is returned.
 */
export function ioptAddDomain(iopt: IoPagetable, env: IoptEnv, d: IoptDomain): OpResult {
  const fail = (errno: number): OpResult => ({ errno, effects: [] });
  if (iopt.domains.some((x) => x.id === d.id)) return fail(EEXIST);
  const align = Math.max(domainMinPage(d), iopt.iovaAlignment);
  if (align > PAGE_SIZE) return fail(EINVAL);
  if (align !== iopt.iovaAlignment) {
    const e = checkIovaAlignment(iopt, align);
    if (e) return fail(e);
  }
  const owner = domainOwner(d.id);
  const undoReserved = (errno: number) => {
    ioptRemoveReserved(iopt, owner);
    return fail(errno);
  };
  if (d.apertureStart !== 0n) {
    const e = ioptReserve(iopt, env, owner, 0n, d.apertureStart - 1n);
    if (e) return undoReserved(e);
  }
  if (d.apertureEnd !== ULONG_MAX) {
    const e = ioptReserve(iopt, env, owner, d.apertureEnd + 1n, ULONG_MAX);
    if (e) return undoReserved(e);
  }
  const e = shouldFail(env, 'iopt_domain_xa_reserve');
  if (e) return undoReserved(e);
  const effects: DomainEffect[] = [];
  const fe = fillDomain(iopt, env, d, effects);
  if (fe) return undoReserved(fe);
  iopt.iovaAlignment = align;
  iopt.domains.push({ ...d });
  return { errno: 0, effects };
}

/** iopt_fill_domain: the first domain makes each area a pages user (pins); later ones reuse the pins. */
function fillDomain(iopt: IoPagetable, env: IoptEnv, d: IoptDomain, effects: DomainEffect[]): number {
  const first = iopt.domains.length === 0;
  const done: IoptArea[] = [];
  const undo = (errno: number) => {
    for (const a of done) {
      pagesRemoveUsers(env, pagesOf(env, a), a.firstIndex, a.lastIndex);
      areaUnfilled(env, a);
    }
    effects.length = 0;
    return errno;
  };
  for (const area of iopt.areas) {
    if (area.creating) continue;
    const kind = pagesOf(env, area).kind;
    // iopt_dmabuf_track_domain comes first, for a revoked dma-buf too.
    const te = kind === 'dmabuf' ? shouldFail(env, 'iopt_dmabuf_track') : 0;
    if (te) return undo(te);
    if (kind === 'dmabuf' && pagesRevoked(pagesOf(env, area))) continue;
    if (first) {
      const pe = pagesAddUsers(env, pagesOf(env, area), area.firstIndex, area.lastIndex);
      if (pe) return undo(pe);
      areaFilled(env, area);
      done.push(area);
    }
    const me = shouldFail(env, 'iopt_domain_map');
    if (me) {
      if (first) {
        pagesRemoveUsers(env, pagesOf(env, area), area.firstIndex, area.lastIndex);
        areaUnfilled(env, area);
        done.pop();
      }
      return undo(me);
    }
    effects.push(mapEffect(env, area, d.id));
  }
  return 0;
}

/** iopt_table_remove_domain: unmap every area from it, unpin when it was the last, drop its reserved ranges. */
export function ioptRemoveDomain(iopt: IoPagetable, env: IoptEnv, domainId: number): OpResult {
  const idx = iopt.domains.findIndex((d) => d.id === domainId);
  if (idx < 0) return { errno: ENOENT, effects: [] };
  iopt.domains.splice(idx, 1);
  const last = iopt.domains.length === 0;
  const effects: DomainEffect[] = [];
  for (const area of iopt.areas) {
    if (area.creating) continue;
    effects.push(unmapEffect(area, domainId));
    if (last && area.filled) {
      pagesRemoveUsers(env, pagesOf(env, area), area.firstIndex, area.lastIndex);
      areaUnfilled(env, area);
    }
  }
  ioptRemoveReserved(iopt, domainOwner(domainId));
  calculateIovaAlignment(iopt);
  return { errno: 0, effects };
}

/** IOMMU_OPTION_HUGE_PAGES SET: disabling needs no domain-with-mappings (EINVAL) and aligned areas (EADDRINUSE). */
export function ioptSetHugePages(iopt: IoPagetable, enable: boolean): number {
  if (enable) {
    iopt.disableLargePages = false;
    calculateIovaAlignment(iopt);
    return 0;
  }
  if (iopt.disableLargePages) return 0;
  if (iopt.domains.length > 0 && iopt.areas.length > 0) return EINVAL;
  iopt.disableLargePages = true;
  const e = calculateIovaAlignment(iopt);
  if (e) iopt.disableLargePages = false;
  return e;
}

export function ioptGetHugePages(iopt: IoPagetable): boolean {
  return !iopt.disableLargePages;
}

/** iopt_add_access: the access's alignment joins iova_alignment (EADDRINUSE if areas do not conform). */
export function ioptAddAccess(iopt: IoPagetable, env: IoptEnv, accessId: number, iovaAlignment: number): number {
  if (iopt.accesses.some((a) => a.id === accessId)) return EEXIST;
  const e = shouldFail(env, 'iopt_access_alloc');
  if (e) return e;
  iopt.accesses.push({ id: accessId, iovaAlignment });
  const ae = calculateIovaAlignment(iopt);
  if (ae) iopt.accesses.pop();
  return ae;
}

/** The access must have dropped its pins first (its unmap callback / destroy path does that). */
export function ioptRemoveAccess(iopt: IoPagetable, accessId: number): number {
  const i = iopt.accesses.findIndex((a) => a.id === accessId);
  if (i < 0) return ENOENT;
  if (iopt.accessPins.some((p) => p.accessId === accessId)) return EBUSY;
  iopt.accesses.splice(i, 1);
  calculateIovaAlignment(iopt);
  return 0;
}

function contigAligned(step: ContigStep, firstIova: bigint, isFirst: boolean, done: boolean): boolean {
  const startOffset = isFirst ? firstIova % PAGE : 0n;
  if (startByteAt(step.area, step.cur) % PAGE !== startOffset) return false;
  if (!done && startByteAt(step.area, step.area.last) % PAGE !== PAGE - 1n) return false;
  return true;
}

function indexRange(step: ContigStep): [number, number] {
  return [Number(startByteAt(step.area, step.cur) / PAGE), Number(startByteAt(step.area, step.last) / PAGE)];
}

/**
 * iommufd_access_pin_pages: pins every page under [iova, iova+length) for an
 * in-kernel access and returns their pfns.  prevent_access or unaligned
 * pieces EINVAL, prot mismatch EPERM, not fully covered ENOENT.  `lock` is
 * the HW-queue flavour that makes the areas refuse UNMAP with EBUSY.
 */
export function ioptAccessPin(
  iopt: IoPagetable, env: IoptEnv, accessId: number, iova: bigint, length: bigint, o: { write: boolean; lock?: boolean },
): { errno: number; pfns: number[] } {
  if (!iopt.accesses.some((a) => a.id === accessId)) return { errno: ENOENT, pfns: [] };
  if (length === 0n) return { errno: EINVAL, pfns: [] };
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return { errno: EOVERFLOW, pfns: [] };
  const { steps, done } = contigAreas(iopt, iova, last);
  const pinned: ContigStep[] = [];
  const pfns: number[] = [];
  const undo = (errno: number) => {
    for (const s of pinned) dropAccessStep(env, s, o.lock ?? false);
    return { errno, pfns: [] };
  };
  for (let k = 0; k < steps.length; k++) {
    const s = steps[k];
    const stepDone = done && k === steps.length - 1;
    if (s.area.preventAccess || !contigAligned(s, iova, k === 0, stepDone)) return undo(EINVAL);
    if (!(s.area.iommuProt & (o.write ? IOMMU_WRITE : IOMMU_READ))) return undo(EPERM);
    const [a, b] = indexRange(s);
    const pages = pagesOf(env, s.area);
    // iopt_area_add_access: a dma-buf has no struct pages to hand out.
    if (pages.kind === 'dmabuf') return undo(EINVAL);
    // iopt_area_add_access: the iopt_pages_access record (kzalloc), then the pins.
    const e = shouldFail(env, 'iopt_pages_access_alloc') || pagesAddUsers(env, pages, a, b);
    if (e) return undo(e);
    s.area.numAccesses++;
    if (o.lock) s.area.numLocks++;
    pinned.push(s);
    for (const pfn of pagesPfns(pages, a, b)) pfns.push(pfn);
  }
  if (!done) return undo(ENOENT);
  iopt.accessPins.push({ accessId, iova, last, write: o.write, lock: o.lock ?? false });
  return { errno: 0, pfns };
}

function dropAccessStep(env: IoptEnv, s: ContigStep, lock: boolean): void {
  const [a, b] = indexRange(s);
  pagesRemoveUsers(env, pagesOf(env, s.area), a, b);
  s.area.numAccesses--;
  if (lock) s.area.numLocks--;
}

/** iommufd_access_unpin_pages: must match an earlier pin of this access exactly (the kernel WARNs otherwise). */
export function ioptAccessUnpin(iopt: IoPagetable, env: IoptEnv, accessId: number, iova: bigint, length: bigint): number {
  if (length === 0n) return EINVAL;
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return EOVERFLOW;
  const pi = iopt.accessPins.findIndex((p) => p.accessId === accessId && p.iova === iova && p.last === last);
  if (pi < 0) return EINVAL;
  const [pin] = iopt.accessPins.splice(pi, 1);
  const { steps } = contigAreas(iopt, iova, last);
  for (const s of steps) dropAccessStep(env, s, pin.lock);
  return 0;
}

/** Pins of one access overlapping [iova, last] — what its unmap callback has to drop. */
export function ioptAccessPinsIn(iopt: IoPagetable, accessId: number, iova: bigint, last: bigint): IoptAccessPin[] {
  return iopt.accessPins.filter((p) => p.accessId === accessId && p.iova <= last && p.last >= iova);
}

/**
 * iommufd_access_rw: copy between `buf` and the memory under the IOVA
 * range.  Read of a write-only area / write of a read-only area EPERM.
 */
export function ioptAccessRw(iopt: IoPagetable, env: IoptEnv, iova: bigint, buf: Uint8Array, write: boolean): number {
  if (buf.length === 0) return EINVAL;
  const last = iova + BigInt(buf.length) - 1n;
  if (last > ULONG_MAX) return EOVERFLOW;
  const { steps, done } = contigAreas(iopt, iova, last);
  let off = 0;
  for (const s of steps) {
    if (s.area.preventAccess) return EINVAL;
    if (!(s.area.iommuProt & (write ? IOMMU_WRITE : IOMMU_READ))) return EPERM;
    const n = Number(s.last - s.cur + 1n);
    const e = pagesRw(env, pagesOf(env, s.area), startByteAt(s.area, s.cur), buf.subarray(off, off + n), write);
    if (e) return e;
    off += n;
  }
  return done ? 0 : ENOENT;
}

// ---------------------------------------------------------------- teardown and inspection

/**
 * Close-time teardown of one IOAS: drop all access pins, detach all domains,
 * unmap every area and forget reserved/allowed ranges.  Afterwards nothing
 * this IOAS held is pinned or charged.
 */
export function ioptDestroy(iopt: IoPagetable, env: IoptEnv): { effects: DomainEffect[]; unmapped: bigint } {
  const effects: DomainEffect[] = [];
  for (const pin of [...iopt.accessPins]) ioptAccessUnpin(iopt, env, pin.accessId, pin.iova, pin.last - pin.iova + 1n);
  iopt.accesses = [];
  for (const d of [...iopt.domains]) effects.push(...ioptRemoveDomain(iopt, env, d.id).effects);
  let unmapped = 0n;
  while (iopt.areas.length > 0) {
    const area = iopt.areas[iopt.areas.length - 1];
    if (area.creating) {
      // An in-flight MAP still owns its page references; its abort/finish will find no area.
      iopt.areas.pop();
      continue;
    }
    unfillAreaDomains(iopt, env, area, effects);
    removeAreaAt(iopt, env, iopt.areas.length - 1);
    unmapped += areaLength(area);
  }
  iopt.reserved = [];
  iopt.allowed = [];
  iopt.iovaAlignment = iopt.disableLargePages ? PAGE_SIZE : 1;
  return { effects, unmapped };
}

/** What domain `domainId` must map right now, area by area (for "hardware ⊆ IOAS" checks). */
export function ioptDomainMappings(iopt: IoPagetable, env: IoptEnv, domainId: number): MapEffect[] {
  if (!iopt.domains.some((d) => d.id === domainId)) return [];
  const out: MapEffect[] = [];
  for (const area of iopt.areas) if (!area.creating && area.filled) out.push(mapEffect(env, area, domainId));
  return out;
}

/** Physical address the IOAS says `iova` should translate to in a domain, or -1 (unmapped / not pinned). */
export function ioptIovaToPhys(iopt: IoPagetable, env: IoptEnv, iova: bigint): number {
  const i = areaIterFirst(iopt, iova, iova);
  if (i < 0) return -1;
  const area = iopt.areas[i];
  if (area.creating) return -1;
  const byte = startByteAt(area, iova);
  const pfn = pagesOf(env, area).pfns[Number(byte / PAGE)];
  return pfn === undefined ? -1 : pfn * PAGE_SIZE + Number(byte % PAGE);
}

/** Applies a list of effects to a flat model of domain contents (iova page → pa) — for tests and invariants. */
export function applyEffectsToFlat(flat: Record<string, Record<string, number>>, effects: readonly DomainEffect[]): void {
  for (const e of effects) {
    const dom = (flat[e.domainId] ??= {});
    if (e.op === 'unmap') {
      for (let k = 0n; k < e.length; k += PAGE) delete dom[(e.iova + k).toString()];
      continue;
    }
    for (let k = 0n; k < e.length; k += PAGE) {
      const byte = BigInt(e.pageOffset) + k;
      dom[(e.iova + k).toString()] = e.pfns[Number(byte / PAGE)] * PAGE_SIZE + Number(byte % PAGE);
    }
  }
}
