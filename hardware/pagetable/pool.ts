// Pooled radix-node memory for every I/O page table of one translation actor.
//
// A node is one 4 KiB table page: 512 descriptors of 64 bits, each kept as two
// Uint32 halves (lo at 2*i, hi at 2*i+1) so the hot walk never touches BigInt.
// Nodes live in one growable Uint32Array; node 0 is reserved so that 0 can mean
// "no node". A table descriptor's address field holds the node index (the pool
// is the host-physical space of kernel-owned tables), which keeps the real bit
// layout while making the pointer chase a single multiply.
//
// Snapshots are little-endian byte images; the engine refuses to run on a
// big-endian host rather than produce non-portable journals.

export const NODE_ENTRIES = 512;
export const NODE_WORDS = 1024;
/** node indices stay below this, so a table pointer's address hi half is always zero */
export const MAX_NODES = 1 << 20;
const SNAP_MAGIC = 0x4c4f4f50; // 'POOL'
const SNAP_VERSION = 1;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('iommufd-sim hardware pool requires a little-endian host');
}

export interface PoolState {
  /** descriptor words, NODE_WORDS per node; replaced (not resized) on growth */
  words: Uint32Array;
  /** valid-entry count per node, so emptiness checks are O(1) */
  used: Uint16Array;
  /** stack of free node indices */
  free: Uint32Array;
  freeTop: number;
  /** high-water mark: nodes [1, top) have been handed out at least once */
  top: number;
  /** nodes currently allocated */
  live: number;
  /**
   * Last table generation handed out (TableState.gen); not part of the pool
   * byte image (engineSnapshot stores it beside the image).
   */
  genSeq: number;
  /**
   * The walkers' memory of the last level-1 table each format's walk
   * reached (walkers.ts): LAST_TABLE_WORDS per format id. Int32: the fast
   * walk compares them as small integers (generations past 2^31 are never
   * remembered). Derived state, not in the byte image: a restored pool
   * starts with none (generation 0 is never handed out).
   */
  lastTable: Int32Array;
}

/** lastTable words per format: table generation, key, node, x86 path bits */
export const LAST_TABLE_WORDS = 4;
const LAST_TABLE_FORMATS = 8;

export function poolCreate(initialNodes = 64): PoolState {
  const cap = Math.max(2, initialNodes | 0);
  return {
    words: new Uint32Array(cap * NODE_WORDS),
    used: new Uint16Array(cap),
    free: new Uint32Array(cap),
    freeTop: 0,
    top: 1,
    live: 0,
    genSeq: 0,
    lastTable: new Int32Array(LAST_TABLE_WORDS * LAST_TABLE_FORMATS),
  };
}

/** A fresh table generation (see TableState.gen). */
export function poolNextGen(p: PoolState): number {
  return ++p.genSeq;
}

export function poolCapacity(p: PoolState): number {
  return p.used.length;
}

function grow(p: PoolState): void {
  const cap = p.used.length * 2;
  const words = new Uint32Array(cap * NODE_WORDS);
  words.set(p.words);
  const used = new Uint16Array(cap);
  used.set(p.used);
  const free = new Uint32Array(cap);
  free.set(p.free);
  p.words = words;
  p.used = used;
  p.free = free;
}

/** Returns a zeroed node. Callers must re-read `p.words` afterwards (growth). */
export function poolAlloc(p: PoolState): number {
  p.live++;
  if (p.freeTop > 0) return p.free[--p.freeTop]!;
  if (p.top >= p.used.length) grow(p);
  // The walkers compute word offsets as (node << 10) in int32, and take a
  // table pointer's node index from the descriptor's lo half alone (bits
  // 31:12): both hold while node indices stay below 2^20.
  if (p.top >= MAX_NODES) throw new RangeError('page-table pool exhausted (2^20 nodes = 4 GiB of tables)');
  return p.top++;
}

/** Zeroes on free so that alloc stays O(1) and snapshots stay canonical. */
export function poolFree(p: PoolState, node: number): void {
  if (node <= 0 || node >= p.top) throw new RangeError(`poolFree: bad node ${node}`);
  p.words.fill(0, node * NODE_WORDS, (node + 1) * NODE_WORDS);
  p.used[node] = 0;
  p.free[p.freeTop++] = node;
  p.live--;
}

/** Byte image: header, used counts, free stack, node words (only up to `top`). */
export function poolSnapshot(p: PoolState): Uint8Array {
  const top = p.top;
  const headerWords = 6;
  const usedBytes = (top * 2 + 3) & ~3;
  const total = headerWords * 4 + usedBytes + p.freeTop * 4 + top * NODE_WORDS * 4;
  const out = new Uint8Array(total);
  const hdr = new Uint32Array(out.buffer, 0, headerWords);
  hdr[0] = SNAP_MAGIC;
  hdr[1] = SNAP_VERSION;
  hdr[2] = top;
  hdr[3] = p.freeTop;
  hdr[4] = p.live;
  hdr[5] = p.used.length;
  let off = headerWords * 4;
  out.set(new Uint8Array(p.used.buffer, 0, top * 2), off);
  off += usedBytes;
  out.set(new Uint8Array(p.free.buffer, 0, p.freeTop * 4), off);
  off += p.freeTop * 4;
  out.set(new Uint8Array(p.words.buffer, 0, top * NODE_WORDS * 4), off);
  return out;
}

export function poolRestore(bytes: Uint8Array): PoolState {
  // Copy first: the input may be an unaligned view into a journal buffer.
  const buf = bytes.slice();
  const hdr = new Uint32Array(buf.buffer, 0, 6);
  if (hdr[0] !== SNAP_MAGIC || hdr[1] !== SNAP_VERSION) throw new Error('poolRestore: not a pool snapshot');
  const top = hdr[2]!;
  const freeTop = hdr[3]!;
  const cap = Math.max(hdr[5]!, top, 2);
  const p: PoolState = {
    words: new Uint32Array(cap * NODE_WORDS),
    used: new Uint16Array(cap),
    free: new Uint32Array(cap),
    freeTop,
    top,
    live: hdr[4]!,
    genSeq: 0,
    lastTable: new Int32Array(LAST_TABLE_WORDS * LAST_TABLE_FORMATS),
  };
  let off = 24;
  p.used.set(new Uint16Array(buf.buffer, off, top));
  off += (top * 2 + 3) & ~3;
  p.free.set(new Uint32Array(buf.buffer, off, freeTop));
  off += freeTop * 4;
  p.words.set(new Uint32Array(buf.buffer, off, top * NODE_WORDS));
  return p;
}
