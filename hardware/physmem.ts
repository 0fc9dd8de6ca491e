/**
 * Physical memory as page frames.
 *
 * State is plain data so it can be msgpack-snapshotted inside an actor
 * context: records keyed by pfn rather than Maps, and frame contents only
 * materialised once written (an untouched frame reads as zeros, like a
 * freshly cleared page).
 *
 * Frame contents are a plain array indexed by pfn, grown densely (holes are
 * `undefined`, which msgpack writes as one nil byte each): the DMA engine
 * looks a frame up per page, and V8 turns a pfn-keyed object written in
 * random order into a hash table, which cost more than the 64-byte copy.
 *
 * Allocation is lowest-free-pfn so two runs with the same inputs hand out the
 * same frames: `nextFresh` is the high-water mark and `freeList` (ascending)
 * holds frames freed below it.
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

export interface PhysMem {
  totalPages: number;
  nextFresh: number;
  freeList: number[];
  /** pfn → reference count (mappings, memfd page cache, pins). Absent ⇒ free. */
  refs: Record<number, number>;
  /** pfn → FOLL_PIN count; a subset of refs, kept apart so pins are observable. */
  pins: Record<number, number>;
  /** pfn → contents, only for frames ever written since allocation (frameSlot grows it). */
  data: (Uint8Array | undefined)[];
  inUse: number;
}

export function createPhysMem(opts: { totalPages: number }): PhysMem {
  return { totalPages: opts.totalPages, nextFresh: 0, freeList: [], refs: {}, pins: {}, data: [], inUse: 0 };
}

export function framesFree(pm: PhysMem): number {
  return pm.totalPages - pm.inUse;
}

export function framesInUse(pm: PhysMem): number {
  return pm.inUse;
}

/** Lowest free pfn with one reference, or -1 when memory is exhausted. */
export function allocFrame(pm: PhysMem): number {
  let pfn: number;
  if (pm.freeList.length > 0) pfn = pm.freeList.shift()!;
  else if (pm.nextFresh < pm.totalPages) pfn = pm.nextFresh++;
  else return -1;
  pm.refs[pfn] = 1;
  pm.inUse++;
  return pfn;
}

export function frameGet(pm: PhysMem, pfn: number): void {
  if (pm.refs[pfn] === undefined) throw new Error(`frameGet of free pfn ${pfn}`);
  pm.refs[pfn]++;
}

/** Drops one reference; the frame returns to the free list at zero. */
export function freeFrame(pm: PhysMem, pfn: number): void {
  const r = pm.refs[pfn];
  if (r === undefined) throw new Error(`freeFrame of free pfn ${pfn}`);
  if (r > 1) {
    pm.refs[pfn] = r - 1;
    return;
  }
  if (pm.pins[pfn]) throw new Error(`freeFrame drops last reference of pinned pfn ${pfn}`);
  delete pm.refs[pfn];
  if (pfn < pm.data.length) pm.data[pfn] = undefined;
  pm.inUse--;
  insertSorted(pm.freeList, pfn);
}

export function frameRefs(pm: PhysMem, pfn: number): number {
  return pm.refs[pfn] ?? 0;
}

export function framePins(pm: PhysMem, pfn: number): number {
  return pm.pins[pfn] ?? 0;
}

/** A pin also holds a reference so munmap/truncate cannot free a frame under DMA. */
export function framePin(pm: PhysMem, pfn: number): void {
  frameGet(pm, pfn);
  pm.pins[pfn] = (pm.pins[pfn] ?? 0) + 1;
}

export function frameUnpin(pm: PhysMem, pfn: number): void {
  const p = pm.pins[pfn];
  if (!p) throw new Error(`frameUnpin of unpinned pfn ${pfn}`);
  if (p === 1) delete pm.pins[pfn];
  else pm.pins[pfn] = p - 1;
  freeFrame(pm, pfn);
}

export function totalPins(pm: PhysMem): number {
  let n = 0;
  for (const k in pm.pins) n += pm.pins[k as unknown as number];
  return n;
}

export function readPhys(pm: PhysMem, pa: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  readPhysInto(pm, pa, out, 0, len);
  return out;
}

/**
 * Copies `len` bytes at `pa` into `dst` at `dstOff` (no allocation); frames
 * never written read as zeros.
 */
export function readPhysInto(pm: PhysMem, pa: number, dst: Uint8Array, dstOff: number, len: number): void {
  let done = 0;
  while (done < len) {
    const cur = pa + done;
    const pfn = Math.floor(cur / PAGE_SIZE);
    const off = cur - pfn * PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - off, len - done);
    const page = pm.data[pfn];
    if (page) dst.set(off === 0 && n === PAGE_SIZE ? page : page.subarray(off, off + n), dstOff + done);
    else dst.fill(0, dstOff + done, dstOff + done + n);
    done += n;
  }
}

export function writePhys(pm: PhysMem, pa: number, data: Uint8Array): void {
  let done = 0;
  const len = data.length;
  while (done < len) {
    const cur = pa + done;
    const pfn = Math.floor(cur / PAGE_SIZE);
    const off = cur - pfn * PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - off, len - done);
    const page = frameData(pm, pfn);
    page.set(done === 0 && n === len ? data : data.subarray(done, done + n), off);
    done += n;
  }
}

/**
 * Zero-copy access to one frame's contents for writing: the frame's own
 * PAGE_SIZE bytes, allocated (zeroed) on first use exactly as writePhys
 * would. Writes through it are writes to physical memory.
 */
export function frameData(pm: PhysMem, pfn: number): Uint8Array {
  const page = pm.data[pfn];
  if (page) return page;
  return setFrame(pm, pfn, new Uint8Array(PAGE_SIZE));
}

/**
 * Stores a frame's contents, first growing the array up to `pfn` one
 * element at a time: a store far past the end would make V8 switch the
 * array to dictionary elements.
 */
function setFrame(pm: PhysMem, pfn: number, page: Uint8Array): Uint8Array {
  const d = pm.data;
  while (d.length < pfn) d.push(undefined);
  d[pfn] = page;
  return page;
}

/**
 * Zero-copy read access to one frame: its bytes, or undefined when it was
 * never written (it reads as zeros). Never allocates; do not write through it.
 */
export function frameDataIfPresent(pm: PhysMem, pfn: number): Uint8Array | undefined {
  return pm.data[pfn];
}

/** Copies one frame's contents into another (fork of a private page). */
export function copyFrame(pm: PhysMem, dst: number, src: number): void {
  const page = pm.data[src];
  if (page) setFrame(pm, dst, page.slice());
  else if (dst < pm.data.length) pm.data[dst] = undefined;
}

function insertSorted(a: number[], v: number): void {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  a.splice(lo, 0, v);
}
