/**
 * Physical memory as page frames.
 *
 * State is plain data so it can be msgpack-snapshotted inside an actor
 * context: records keyed by pfn rather than Maps, and contents only
 * materialised once written (an untouched frame reads as zeros, like a
 * freshly cleared page).
 *
 * Contents live in blocks of BLOCK_FRAMES consecutive frames, one
 * Uint8Array each, frames at offsets: the DMA engine finds a page's bytes
 * with one lookup in a short dense array and no per-frame object (a frame
 * per Uint8Array cost two dependent cache misses, the frame's object and
 * then its bytes, before the copy could start), and an access running over
 * several frames of a block is one copy. A block holds at most 64 KiB, so
 * a snapshot carries little beyond the frames really written.
 *
 * Allocation is lowest-free-pfn so two runs with the same inputs hand out the
 * same frames: `nextFresh` is the high-water mark and `freeList` (ascending)
 * holds frames freed below it.
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** frames per content block, log2 */
export const BLOCK_SHIFT = 4;
export const BLOCK_FRAMES = 1 << BLOCK_SHIFT;
export const BLOCK_BYTES = BLOCK_FRAMES * PAGE_SIZE;

export interface PhysMem {
  totalPages: number;
  nextFresh: number;
  freeList: number[];
  /** pfn → reference count (mappings, memfd page cache, pins). Absent ⇒ free. */
  refs: Record<number, number>;
  /** pfn → FOLL_PIN count; a subset of refs, kept apart so pins are observable. */
  pins: Record<number, number>;
  /**
   * pfn >> BLOCK_SHIFT → the contents of those BLOCK_FRAMES frames, only
   * for blocks with a frame written since allocation. A dense array (holes
   * are `undefined`, one msgpack value each): V8 turns an object keyed by
   * numbers written in random order into a hash table.
   */
  blocks: (Uint8Array | undefined)[];
  inUse: number;
}

export function createPhysMem(opts: { totalPages: number }): PhysMem {
  return { totalPages: opts.totalPages, nextFresh: 0, freeList: [], refs: {}, pins: {}, blocks: [], inUse: 0 };
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
  clearFrame(pm, pfn);
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

/** The block holding frame `pfn`, or undefined when none of its frames was written. */
export function blockIfPresent(pm: PhysMem, pfn: number): Uint8Array | undefined {
  return pm.blocks[pfn >> BLOCK_SHIFT];
}

/** The block holding frame `pfn`, allocated (zeroed) on first use: writes through it are writes to memory. */
export function blockFor(pm: PhysMem, pfn: number): Uint8Array {
  const b = pfn >> BLOCK_SHIFT;
  const blk = pm.blocks[b];
  if (blk) return blk;
  const d = pm.blocks;
  // grow one element at a time: a store far past the end would make V8 switch the array to dictionary elements
  while (d.length < b) d.push(undefined);
  return (d[b] = new Uint8Array(BLOCK_BYTES));
}

/** Byte offset of frame `pfn` inside its block. */
export function blockOffset(pfn: number): number {
  return (pfn & (BLOCK_FRAMES - 1)) << PAGE_SHIFT;
}

/** A freed frame reads as zeros again; a block none of whose frames is allocated is dropped. */
function clearFrame(pm: PhysMem, pfn: number): void {
  const blk = pm.blocks[pfn >> BLOCK_SHIFT];
  if (!blk) return;
  const first = pfn & ~(BLOCK_FRAMES - 1);
  for (let f = first; f < first + BLOCK_FRAMES; f++) {
    if (pm.refs[f] !== undefined) {
      const o = blockOffset(pfn);
      blk.fill(0, o, o + PAGE_SIZE);
      return;
    }
  }
  pm.blocks[pfn >> BLOCK_SHIFT] = undefined;
}

export function readPhys(pm: PhysMem, pa: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  readPhysInto(pm, pa, out, 0, len);
  return out;
}

/**
 * Copies `len` bytes at `pa` into `dst` at `dstOff` (no allocation); frames
 * never written read as zeros. One copy per block.
 */
export function readPhysInto(pm: PhysMem, pa: number, dst: Uint8Array, dstOff: number, len: number): void {
  let done = 0;
  while (done < len) {
    const cur = pa + done;
    const pfn = Math.floor(cur / PAGE_SIZE);
    const off = blockOffset(pfn) + (cur - pfn * PAGE_SIZE);
    const n = Math.min(BLOCK_BYTES - off, len - done);
    const blk = pm.blocks[pfn >> BLOCK_SHIFT];
    if (blk) dst.set(blk.subarray(off, off + n), dstOff + done);
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
    const off = blockOffset(pfn) + (cur - pfn * PAGE_SIZE);
    const n = Math.min(BLOCK_BYTES - off, len - done);
    blockFor(pm, pfn).set(done === 0 && n === len ? data : data.subarray(done, done + n), off);
    done += n;
  }
}

/**
 * Zero-copy access to one frame's contents for writing: a view of its
 * PAGE_SIZE bytes in its block (allocated zeroed on first use, as writePhys
 * would). Writes through it are writes to physical memory.
 */
export function frameData(pm: PhysMem, pfn: number): Uint8Array {
  const o = blockOffset(pfn);
  return blockFor(pm, pfn).subarray(o, o + PAGE_SIZE);
}

/**
 * Zero-copy read access to one frame: a view of its bytes, or undefined
 * when its block was never written (it reads as zeros). Never allocates
 * memory; do not write through it.
 */
export function frameDataIfPresent(pm: PhysMem, pfn: number): Uint8Array | undefined {
  const blk = pm.blocks[pfn >> BLOCK_SHIFT];
  if (!blk) return undefined;
  const o = blockOffset(pfn);
  return blk.subarray(o, o + PAGE_SIZE);
}

/** Copies one frame's contents into another (fork of a private page). */
export function copyFrame(pm: PhysMem, dst: number, src: number): void {
  const from = pm.blocks[src >> BLOCK_SHIFT];
  const so = blockOffset(src);
  if (from) blockFor(pm, dst).set(from.subarray(so, so + PAGE_SIZE), blockOffset(dst));
  else {
    const to = pm.blocks[dst >> BLOCK_SHIFT];
    if (to) to.fill(0, blockOffset(dst), blockOffset(dst) + PAGE_SIZE);
  }
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

// ---- journal image ----

/**
 * PhysMem as a journal snapshot stores it: the frames with a non-zero byte,
 * one entry each, instead of whole blocks.  A block is stored whole once any
 * of its frames is written, which made snapshots of DMA-heavy runs carry
 * mostly zeros; a journal snapshot scans the written blocks instead.
 */
export interface PhysMemImage extends Omit<PhysMem, 'blocks'> {
  /** [pfn, its PAGE_SIZE bytes], ascending pfn. */
  frames: [number, Uint8Array][];
}

export function isPhysMemImage(x: PhysMem | PhysMemImage): x is PhysMemImage {
  return 'frames' in x;
}

/** The frames are views into live blocks: encode the image before the next write. */
export function physMemImage(pm: PhysMem): PhysMemImage {
  const { blocks, ...rest } = pm;
  const frames: [number, Uint8Array][] = [];
  for (let b = 0; b < blocks.length; b++) {
    const blk = blocks[b];
    if (!blk) continue;
    const words = new Uint32Array(blk.buffer, blk.byteOffset, BLOCK_BYTES >> 2);
    for (let f = 0; f < BLOCK_FRAMES; f++) {
      const w0 = f * (PAGE_SIZE >> 2);
      let w = w0;
      const end = w0 + (PAGE_SIZE >> 2);
      while (w < end && words[w] === 0) w++;
      if (w < end) frames.push([(b << BLOCK_SHIFT) + f, blk.subarray(f * PAGE_SIZE, (f + 1) * PAGE_SIZE)]);
    }
  }
  return { ...rest, frames };
}

export function physMemFromImage(img: PhysMemImage): PhysMem {
  // the live key order, so a restored PhysMem encodes like the original
  const pm: PhysMem = { totalPages: img.totalPages, nextFresh: img.nextFresh, freeList: img.freeList, refs: img.refs, pins: img.pins, blocks: [], inUse: img.inUse };
  const frames = img.frames;
  for (const [pfn, bytes] of frames) blockFor(pm, pfn).set(bytes, blockOffset(pfn));
  return pm;
}
