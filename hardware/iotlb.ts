// Tagged IOTLB and device ATC (hardware.md §1.3): set-associative, bounded,
// deterministic round-robin replacement, entries in typed arrays.
//
// Key = (tag kind, tag, tag2, PASID, page size, page number). `tag2` is the
// stage-2 tag of combined stage-1+2 entries (SMMU ASID entries carry the
// VMID; VT-d nested entries the parent's DID), so flushing a stage-2 tag can
// drop every entry built on it. An entry covers exactly one leaf of the size
// the walk found (I11); a lookup probes each page size currently present,
// hashing the context (kind, tag, tag2, PASID) once and the page number once
// per size, and scans one set whose page numbers are contiguous words.
//
// IOVAs are JS numbers (< 2^53). No Maps, no randomness: the same operation
// sequence always leaves byte-identical arrays (I15).
//
// In front of the sets sits a direct-mapped copy of recently used entries
// (`l0`), one 16-byte record each (page number, one word for the rest of the
// key, slot and info, output pfn), so a hit reads one cache line and hashes
// nothing but the page number: the set-associative lookup (hash, sizes loop,
// five compares per way over three arrays) cost twice the page-table walk it
// was saving. The key's context (kind, PASID, tag, tag2) is numbered in a
// small table (l0Ctx) so a record compares it in one word, and the last
// context looked up is remembered (l0Cur): a burst's accesses share one. The
// copy holds exactly what a main lookup would return: it is filled from the
// slot a main lookup hit, dropped whenever that slot changes, and consulted
// only for the smallest page size present (the size the main lookup probes
// first). It is derived state: not in snapshots, empty after a restore,
// never changing a result or a counter.

import { TWO32 } from './pagetable/format.ts';

/** tag kinds */
export const TAG_DOMAIN = 0; // VT-d DID, AMD domain id, mock id
export const TAG_ASID = 1; // SMMU stage 1 (tag2 = VMID)
export const TAG_VMID = 2; // SMMU stage 2 only
export const TAG_DEVICE = 3; // ATC: tag = device id
export const NO_TAG2 = 0xffffffff;
export const ANY = -1;

const KW = 5; // key words per entry: pnLo, meta, tag, tag2, pnHi
const K_PNLO = 0;
const K_META = 1;
const K_TAG = 2;
const K_TAG2 = 3;
const K_PNHI = 4;
const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);
const LOWMASK = Int32Array.from({ length: 64 }, (_, i) => (i >= 32 ? -1 : (2 ** i - 1) | 0));
const META_VALID = 0x80000000 | 0;
const L0_W = 4;
const L0_PNLO = 0;
/** pnHi | ctx id << 11 | log2 << 26; 0 = empty (ctx ids start at 1) */
const L0_KEY = 1;
const L0_SLOT = 2;
/** output page base / 4 KiB */
const L0_PFN = 3;
const L0_PNHI_MAX = 1 << 11;
const L0_CTX_MAX = 1 << 15;
const PAGE4K = 4096;

export interface IotlbState {
  capacity: number;
  ways: number;
  sets: number;
  /**
   * Key words, set-major and field-major inside a set: field k of way w of
   * set s is at (s * KW + k) * ways + w, so one set's page numbers (the
   * field that almost always decides) are contiguous. Fields: pnLo, meta
   * (valid | kind<<26 | log2<<20 | pasid), tag, tag2, pnHi; int32 bit patterns.
   */
  keys: Int32Array;
  /** output page base address, per slot (slot = set * ways + way) */
  pa: Float64Array;
  /**
   * PROT_READ | PROT_WRITE, plus 4 = writes need no descriptor update (dirty
   * already recorded), plus 8 = the stamp below also holds for
   * non-privileged accesses
   */
  info: Uint8Array;
  /**
   * Per slot, the stale-check stamp: the generation (TableState.gen) of the
   * table the entry was last known to agree with, 0 = unknown (always check).
   * The engine skips the stale re-walk of a hit while the table still has it.
   */
  gen: Float64Array;
  victim: Uint8Array;
  /** live entries per page-size log2, so lookups only probe sizes that exist */
  sizeCount: Int32Array;
  /** page-size log2 values with a non-zero count, ascending */
  sizes: number[];
  hits: number;
  misses: number;
  fills: number;
  evictions: number;
  /**
   * Writes to the arrays above (insert, clear, re-stamp): a snapshot reuses
   * its sparse copy of them while this stays the same (derived state, not
   * snapshotted; engineSnapshot in translate.ts).
   */
  writes: number;
  /**
   * Direct-mapped copies (see the file header), L0_W words each: pnLo,
   * L0_KEY (pnHi, context id, log2), slot << 4 | info, output pfn.
   */
  l0: Int32Array;
  /**
   * The front's contexts: (meta without log2, tag, tag2) triples numbered
   * from 1 in first-copy order, so a record keys its context in one word.
   * l0Ctx[0] = how many; l0Cur = the last context looked up (meta, tag,
   * tag2, id; id 0 = not in the table): a burst's lookups share it.
   */
  l0Ctx: Int32Array;
  l0Cur: Int32Array;
  /** sizes[0], 0 when empty: the only size the front holds (derived) */
  l0L2: number;
  /**
   * Recent front hits against main hits (the front missed), as [`hits` at
   * the window's start, main hits in the window]: front hits are the rest,
   * so a front hit counts nothing but `hits`. Both halve as the window grows.
   * When the front rarely hits (a working set far beyond it), copying into
   * it is all cost, so past the first 64 only every 16th main hit is copied
   * until it earns its keep.
   */
  l0Stats: Float64Array;
}

export const INFO_DIRTY_OK = 4;
/** the stamp (IotlbState.gen) was verified by a non-privileged walk, so it holds for every privilege */
export const INFO_USER_OK = 8;

export function iotlbCreate(capacity = 4096, ways = 8): IotlbState {
  let sets = 1;
  while (sets * ways < capacity) sets *= 2;
  const cap = sets * ways;
  const l0 = l0Arrays(cap);
  // the same field order as a restored IOTLB (translate.ts tlbRestore): one hidden class for both
  return {
    capacity: cap,
    ways,
    sets,
    keys: new Int32Array(cap * KW),
    pa: new Float64Array(cap),
    info: new Uint8Array(cap),
    gen: new Float64Array(cap),
    victim: new Uint8Array(sets),
    sizeCount: new Int32Array(64),
    sizes: [],
    hits: 0,
    misses: 0,
    fills: 0,
    evictions: 0,
    writes: 0,
    ...l0,
  };
}

/**
 * Most records of the direct-mapped front: 128 KiB, about what stays in L2.
 * A front as large as a big IOTLB missed the cache on every lookup and made
 * the IOTLB slower than no front.
 */
const L0_MAX = 4096;

/** Empty direct-mapped front for `capacity` slots: as many records as slots (a power of two), at most L0_MAX. */
export function l0Arrays(capacity: number): { l0: Int32Array; l0Stats: Float64Array; l0Ctx: Int32Array; l0Cur: Int32Array; l0L2: number } {
  let n = 1;
  while (n < capacity && n < L0_MAX) n *= 2;
  return { l0: new Int32Array(n * L0_W), l0Stats: new Float64Array(2), l0Ctx: new Int32Array(1 + 3 * 64), l0Cur: new Int32Array(4), l0L2: 0 };
}

/** l0 record (word offset) of page (pnLo, pnHi) in front context `id`. */
function l0At(l0: Int32Array, id: number, pnLo: number, pnHi: number): number {
  // the page number's own low bits pick the record, so up to l0 size consecutive pages never collide
  return ((pnLo ^ Math.imul(id, 0x9e3779b1) ^ Math.imul(pnHi, 0x85ebca6b)) & ((l0.length >> 2) - 1)) * L0_W;
}

/** Front context id of (m0, tag, tag2), 0 when it has none. */
function l0CtxFind(s: IotlbState, m0: number, tag: number, tag2: number): number {
  const c = s.l0Ctx;
  const n = c[0]!;
  for (let k = 0; k < n; k++) {
    const o = 1 + 3 * k;
    if (c[o] === m0 && c[o + 1] === tag && c[o + 2] === tag2) return k + 1;
  }
  return 0;
}

/**
 * Front context id of (m0, tag, tag2), added when new. Ids never change, so
 * a caller may hold one (iotlbContext); once L0_CTX_MAX contexts exist, new
 * ones get 0 and are served by the sets alone.
 */
function l0CtxIntern(s: IotlbState, m0: number, tag: number, tag2: number): number {
  const id = l0CtxFind(s, m0, tag, tag2);
  if (id !== 0) return id;
  let c = s.l0Ctx;
  const n = c[0]!;
  if (n + 1 >= L0_CTX_MAX) return 0;
  if (1 + 3 * (n + 1) > c.length) {
    const g = new Int32Array(Math.min(1 + 3 * L0_CTX_MAX, c.length * 2));
    g.set(c);
    c = s.l0Ctx = g;
  }
  const o = 1 + 3 * n;
  c[o] = m0;
  c[o + 1] = tag;
  c[o + 2] = tag2;
  c[0] = n + 1;
  return n + 1;
}

/**
 * Forgets the l0 copy of slot `i`, whose key words start at `o` (its key,
 * output or stamp is about to change). The copy can only sit in the record
 * its own key hashes to, so no back pointer is kept: a per-slot array was a
 * cache miss on every eviction of a large IOTLB.
 */
function l0Drop(s: IotlbState, i: number, o: number): void {
  const keys = s.keys;
  const ways = s.ways;
  const m = keys[o + ways]!;
  if ((m & META_VALID) === 0) return;
  const id = l0CtxFind(s, m & ~(63 << 20), keys[o + 2 * ways]!, keys[o + 3 * ways]!);
  if (id === 0) return;
  const r = l0At(s.l0, id, keys[o]!, keys[o + 4 * ways]!);
  const l0 = s.l0;
  if (l0[r + L0_KEY] !== 0 && l0[r + L0_SLOT]! >>> 4 === i) l0[r + L0_KEY] = 0;
}

/** Copies slot `i` (key words at `o`, front context `id`) into its l0 record, when the record can hold it. */
function l0Fill(s: IotlbState, i: number, o: number, id: number, l2: number): void {
  const keys = s.keys;
  const ways = s.ways;
  const pnLo = keys[o]!;
  const pnHi = keys[o + 4 * ways]!;
  const pfn = s.pa[i]! / PAGE4K;
  // records key 11 bits of pnHi and give 4 KiB-aligned outputs below 8 TiB: anything else stays in the sets
  if (id === 0 || l2 < 12 || pnHi >= L0_PNHI_MAX || pfn >= 0x80000000 || pfn !== Math.floor(pfn)) return;
  const r = l0At(s.l0, id, pnLo, pnHi);
  const l0 = s.l0;
  l0[r + L0_PNLO] = pnLo;
  l0[r + L0_KEY] = pnHi | (id << 11) | (l2 << 26);
  l0[r + L0_SLOT] = (i << 4) | s.info[i]!;
  l0[r + L0_PFN] = pfn;
}

/**
 * Lookup result scratch (allocation-free hit path). A hit writes three
 * fields; the rest are read from them on demand, so what a hit costs does
 * not grow with what some caller might want to know.
 */
export class TlbOut {
  index = -1;
  pa = 0;
  /** the slot's IotlbState.info bits: prot, INFO_DIRTY_OK, INFO_USER_OK */
  info = 0;
  /** log2 of the page size */
  l2 = 0;
  get pageSize(): number {
    return POW2[this.l2]!;
  }
  get prot(): number {
    return this.info & 3;
  }
  get dirtyOk(): number {
    return (this.info >>> 2) & 1;
  }
  /** whether the entry's stale-check stamp (IotlbState.gen[index], read only by a stale check) holds for non-privileged accesses */
  get userOk(): number {
    return (this.info >>> 3) & 1;
  }
}

/** Hash of the translation context, computed once per lookup (not per page size). */
function ctxHash(tag: number, tag2: number, m: number): number {
  let h = Math.imul(tag ^ 0x9e3779b9, 0x85ebca6b);
  h ^= Math.imul(tag2 ^ (h >>> 15), 0xc2b2ae35);
  return h ^ Math.imul(m, 0x27d4eb2f);
}

/**
 * Set of page (pnLo, pnHi) of size log2 `l2` in context `ch`: the page
 * number's low bits plus a hash of everything else, as hardware indexes by
 * the low bits. Each aligned run of `sets` pages then fills every set once,
 * so a buffer of `capacity` aligned pages, or of `capacity - sets` at any
 * alignment, never conflicts with itself (a hash
 * of the whole page number overflowed about 2% of the sets of a 2048-page
 * buffer in a 4096-entry IOTLB, which then missed on every pass).
 */
function setOf(s: IotlbState, ch: number, l2: number, pnLo: number, pnHi: number): number {
  const mask = s.sets - 1;
  let h = Math.imul(ch ^ (pnLo & ~mask), 0x2c1b3c6d);
  h ^= Math.imul(pnHi + l2, 0x297a2d39) ^ (h >>> 15);
  h ^= h >>> 13;
  return (pnLo + h) & mask;
}

function meta(kind: number, log2: number, pasid: number): number {
  return META_VALID | (kind << 26) | (log2 << 20) | (pasid & 0xfffff);
}

function fillOut(s: IotlbState, i: number, l2: number, lo: number, out: TlbOut): void {
  out.index = i;
  out.l2 = l2;
  out.pa = s.pa[i]! + ((lo & LOWMASK[l2]!) >>> 0);
  out.info = s.info[i]!;
}

/** Re-stamps slot `i` (see IotlbState.gen) after the engine verified it against the current table. */
export function iotlbStamp(s: IotlbState, i: number, gen: number, userOk: number): void {
  l0Drop(s, i, slotOff(s, i));
  s.writes++;
  s.gen[i] = gen;
  s.info[i] = (s.info[i]! & ~INFO_USER_OK) | (userOk ? INFO_USER_OK : 0);
}

/**
 * The number of context (kind, tag, tag2, PASID) in this IOTLB, for
 * iotlbLookupIn: a caller translating many addresses in one context
 * resolves it once. Stable for the IOTLB's lifetime (derived state, like
 * the front: a restored IOTLB numbers its contexts afresh).
 */
export function iotlbContext(s: IotlbState, kind: number, tag: number, tag2: number, pasid: number): number {
  const m0 = meta(kind, 0, pasid);
  tag |= 0;
  tag2 |= 0;
  const cur = s.l0Cur;
  if (cur[0] === m0 && cur[1] === tag && cur[2] === tag2) return cur[3]!;
  const id = l0CtxIntern(s, m0, tag, tag2);
  cur[0] = m0;
  cur[1] = tag;
  cur[2] = tag2;
  cur[3] = id;
  return id;
}

/** Finds the entry translating `iova`; fills `out` and returns its index, or -1. */
export function iotlbLookup(
  s: IotlbState, kind: number, tag: number, tag2: number, pasid: number, iova: number, out: TlbOut,
): number {
  const id = iotlbContext(s, kind, tag, tag2, pasid);
  if (id !== 0) return iotlbLookupIn(s, id, iova, out);
  const hi = iova < 4294967296 ? 0 : (iova / TWO32) | 0;
  return lookupSets(s, 0, tag | 0, tag2 | 0, meta(kind, 0, pasid), hi, iova | 0, out);
}

/**
 * The front alone (iotlbLookup in context `id`, iotlbContext, not 0): the
 * slot index, or -1 when the front does not hold `iova` (the sets may). It
 * calls nothing, so a loop using it is free of calls and V8 keeps the
 * loop's arrays in registers. Literals instead of the module's constants:
 * each module-level const read is a context load and a TDZ check here.
 */
export function iotlbFrontLookup(s: IotlbState, id: number, iova: number, out: TlbOut): number {
  const l2 = s.l0L2;
  // the front holds 4 KiB .. 2 GiB pages only (l0Fill); l0L2 is 0 while the IOTLB is empty
  if (l2 < 12 || l2 >= 32) return -1;
  const hi = iova < 4294967296 ? 0 : (iova / 4294967296) | 0;
  const lo = iova | 0;
  const pnLo = (lo >>> l2) | (hi << (32 - l2));
  const pnHi = hi >>> l2;
  const l0 = s.l0;
  const r = ((pnLo ^ Math.imul(id, 0x9e3779b1) ^ Math.imul(pnHi, 0x85ebca6b)) & ((l0.length >> 2) - 1)) << 2; // l0At
  // an empty record's key word is 0, never a key: l2 >= 12 here
  if (l0[r] !== pnLo || l0[r + 1] !== (pnHi | (id << 11) | (l2 << 26))) return -1;
  const si = l0[r + 2]!;
  const i = si >>> 4;
  out.index = i;
  out.l2 = l2;
  out.pa = l0[r + 3]! * 4096 + ((lo & ((1 << l2) - 1)) >>> 0);
  out.info = si & 15;
  s.hits++;
  return i;
}

/**
 * iotlbLookup in context `id` (iotlbContext, not 0): the front, small
 * enough for V8 to inline into the caller's loop; the sets are a call away.
 */
export function iotlbLookupIn(s: IotlbState, id: number, iova: number, out: TlbOut): number {
  const h = iotlbFrontLookup(s, id, iova, out);
  if (h >= 0) return h;
  const c = s.l0Ctx;
  const o = 3 * id - 2;
  return lookupSets(s, id, c[o + 1]!, c[o + 2]!, c[o]!, iova < 4294967296 ? 0 : (iova / 4294967296) | 0, iova | 0, out);
}

/** The set-associative lookup behind the front; `id`: front context (0 = none). */
function lookupSets(s: IotlbState, id: number, tag: number, tag2: number, m0: number, hi: number, lo: number, out: TlbOut): number {
  const sizes = s.sizes;
  const keys = s.keys;
  const ways = s.ways;
  const ch = ctxHash(tag, tag2, m0);
  for (let k = 0; k < sizes.length; k++) {
    const l2 = sizes[k]!;
    const pnLo = l2 >= 32 ? hi >>> (l2 - 32) : (lo >>> l2) | (l2 === 0 ? 0 : hi << (32 - l2));
    const pnHi = l2 >= 32 ? 0 : hi >>> l2;
    const m = m0 | (l2 << 20);
    const first = setOf(s, ch, l2, pnLo, pnHi) * ways;
    const b = first * KW;
    for (let w = 0; w < ways; w++) {
      const o = b + w;
      if (keys[o] === pnLo && keys[o + ways] === m && keys[o + 2 * ways] === tag && keys[o + 3 * ways] === tag2 && keys[o + 4 * ways] === pnHi) {
        const i = first + w;
        fillOut(s, i, l2, lo, out);
        if (k === 0) {
          const st = s.l0Stats;
          const missed = ++st[1]!;
          let front = s.hits - st[0]! - missed + 1;
          if (missed >= 1 << 16) {
            front = Math.floor(front / 2);
            st[1] = missed >> 1;
            st[0] = s.hits + 1 - front - st[1]!;
          }
          if (front * 4 + 64 >= missed || (missed & 15) === 0) l0Fill(s, i, o, id, l2);
        }
        s.hits++;
        return i;
      }
    }
  }
  s.misses++;
  out.index = -1;
  return -1;
}

/** Key-word offset of field 0 of slot `i`. */
function slotOff(s: IotlbState, i: number): number {
  const w = i % s.ways;
  return (i - w) * KW + w;
}

function dropSize(s: IotlbState, l2: number): void {
  if (--s.sizeCount[l2]! === 0) {
    s.sizes = s.sizes.filter((x) => x !== l2);
    s.l0L2 = s.sizes.length ? s.sizes[0]! : 0;
  }
}

function addSize(s: IotlbState, l2: number): void {
  if (s.sizeCount[l2]!++ === 0) {
    s.sizes = [...s.sizes, l2].sort((a, b) => a - b);
    s.l0L2 = s.sizes[0]!;
  }
}

/** Empties slot `i`, whose key words start at `o` (slotOff). */
function clearEntry(s: IotlbState, i: number, o: number): void {
  const ways = s.ways;
  l0Drop(s, i, o);
  s.writes++;
  dropSize(s, (s.keys[o + ways]! >>> 20) & 63);
  for (let k = 0; k < KW; k++) s.keys[o + k * ways] = 0;
  s.pa[i] = 0;
  s.info[i] = 0;
  s.gen[i] = 0;
}

/**
 * Caches one leaf translation. `pageSize` must be a power of two ≤ 1 GiB; `iova` any address inside it.
 * `gen`/`userOk`: the stale-check stamp (IotlbState.gen); 0 = unknown.
 */
export function iotlbInsert(
  s: IotlbState, kind: number, tag: number, tag2: number, pasid: number, iova: number, pageSize: number,
  pageBasePa: number, prot: number, dirtyOk: number, gen = 0, userOk = 0,
): number {
  const l2 = pageSize < 4294967296 ? 31 - Math.clz32(pageSize) : Math.log2(pageSize) | 0;
  const hi = iova < 4294967296 ? 0 : (iova / TWO32) | 0;
  const lo = iova | 0;
  tag |= 0;
  tag2 |= 0;
  const pnLo = l2 >= 32 ? hi >>> (l2 - 32) : (lo >>> l2) | (l2 === 0 ? 0 : hi << (32 - l2));
  const pnHi = l2 >= 32 ? 0 : hi >>> l2;
  const m0 = meta(kind, 0, pasid);
  const m = m0 | (l2 << 20);
  const keys = s.keys;
  const ways = s.ways;
  const setIdx = setOf(s, ctxHash(tag, tag2, m0), l2, pnLo, pnHi);
  const first = setIdx * ways;
  const b = first * KW;
  // one pass: the slot with this key (refresh in place), else the first free way
  let slot = -1;
  let free = -1;
  for (let w = 0; w < ways; w++) {
    const o = b + w;
    const mk = keys[o + ways]!;
    if (keys[o] === pnLo && mk === m && keys[o + 2 * ways] === tag && keys[o + 3 * ways] === tag2 && keys[o + 4 * ways] === pnHi) {
      slot = first + w;
      break;
    }
    if (free < 0 && (mk & META_VALID) === 0) free = w;
  }
  if (slot < 0 && free >= 0) slot = first + free;
  if (slot < 0) {
    const set = setIdx;
    const v = s.victim[set]!;
    s.victim[set] = v + 1 === ways ? 0 : v + 1;
    slot = first + v;
    s.evictions++;
  }
  const o = b + (slot - first);
  s.writes++;
  // every field is overwritten below, so an evicted entry is not cleared first; a refresh or an
  // eviction changes what the slot gives, so its front copy goes (a free slot has none)
  const old = keys[o + ways]!;
  if ((old & META_VALID) !== 0) {
    l0Drop(s, slot, o);
    const oldL2 = (old >>> 20) & 63;
    if (oldL2 !== l2) {
      dropSize(s, oldL2);
      addSize(s, l2);
    }
  } else addSize(s, l2);
  keys[o] = pnLo;
  keys[o + ways] = m;
  keys[o + 2 * ways] = tag;
  keys[o + 3 * ways] = tag2;
  keys[o + 4 * ways] = pnHi;
  s.pa[slot] = pageBasePa;
  s.info[slot] = (prot & 3) | (dirtyOk ? INFO_DIRTY_OK : 0) | (userOk ? INFO_USER_OK : 0);
  s.gen[slot] = gen;
  s.fills++;
  // no copy into the front yet: the first hit makes it (most fills of a streaming workload are never hit)
  return slot;
}

export interface IotlbEntry {
  kind: number;
  tag: number;
  tag2: number;
  pasid: number;
  iova: number;
  pageSize: number;
  pa: number;
  prot: number;
  dirtyOk: boolean;
}

function entryAt(s: IotlbState, i: number): IotlbEntry {
  const o = slotOff(s, i);
  const ways = s.ways;
  const m = s.keys[o + K_META * ways]!;
  const l2 = (m >>> 20) & 63;
  return {
    kind: (m >>> 26) & 3,
    tag: s.keys[o + K_TAG * ways]! >>> 0,
    tag2: s.keys[o + K_TAG2 * ways]! >>> 0,
    pasid: m & 0xfffff,
    iova: ((s.keys[o + K_PNHI * ways]! >>> 0) * TWO32 + (s.keys[o + K_PNLO * ways]! >>> 0)) * 2 ** l2,
    pageSize: 2 ** l2,
    pa: s.pa[i]!,
    prot: s.info[i]! & 3,
    dirtyOk: (s.info[i]! & INFO_DIRTY_OK) !== 0,
  };
}

/** Every valid entry, in slot order (inspect helper, I2/I11 audits). */
export function iotlbEntries(s: IotlbState): IotlbEntry[] {
  const r: IotlbEntry[] = [];
  for (let i = 0; i < s.capacity; i++) if (s.keys[slotOff(s, i) + K_META * s.ways]! & META_VALID) r.push(entryAt(s, i));
  return r;
}

export interface InvalidateFilter {
  kind?: number;
  tag?: number;
  /** stage-2 tag of combined entries */
  tag2?: number;
  pasid?: number;
  /** range [iova, iova + size); entries overlapping it are dropped even if larger */
  iova?: number;
  size?: number;
}

/** Drops every entry matching all given fields; returns how many. */
export function iotlbInvalidate(s: IotlbState, f: InvalidateFilter = {}): number {
  const keys = s.keys;
  const end = f.iova !== undefined ? f.iova + (f.size ?? 1) : 0;
  let n = 0;
  const ways = s.ways;
  for (let i = 0; i < s.capacity; i++) {
    const o = slotOff(s, i);
    const m = keys[o + K_META * ways]!;
    if ((m & META_VALID) === 0) continue;
    if (f.kind !== undefined && ((m >>> 26) & 3) !== f.kind) continue;
    if (f.tag !== undefined && keys[o + K_TAG * ways] !== (f.tag | 0)) continue;
    if (f.tag2 !== undefined && keys[o + K_TAG2 * ways] !== (f.tag2 | 0)) continue;
    if (f.pasid !== undefined && f.pasid !== ANY && (m & 0xfffff) !== f.pasid) continue;
    if (f.iova !== undefined) {
      const size = 2 ** ((m >>> 20) & 63);
      const start = ((keys[o + K_PNHI * ways]! >>> 0) * TWO32 + (keys[o + K_PNLO * ways]! >>> 0)) * size;
      if (start >= end || start + size <= f.iova) continue;
    }
    clearEntry(s, i, o);
    n++;
  }
  return n;
}

export function iotlbInvalidateAll(s: IotlbState): number {
  return iotlbInvalidate(s);
}
export function iotlbInvalidateTag(s: IotlbState, kind: number, tag: number): number {
  return iotlbInvalidate(s, { kind, tag });
}
export function iotlbInvalidateTag2(s: IotlbState, tag2: number): number {
  return iotlbInvalidate(s, { tag2 });
}
export function iotlbInvalidateRange(s: IotlbState, kind: number, tag: number, iova: number, size: number, pasid = ANY): number {
  return iotlbInvalidate(s, { kind, tag, iova, size, pasid });
}
export function iotlbInvalidatePasid(s: IotlbState, kind: number, tag: number, pasid: number): number {
  return iotlbInvalidate(s, { kind, tag, pasid });
}

// The ATC is the same structure keyed by (TAG_DEVICE, device id, PASID).
export const atcCreate = (capacity = 512, ways = 4): IotlbState => iotlbCreate(capacity, ways);
export function atcLookup(s: IotlbState, device: number, pasid: number, iova: number, out: TlbOut): number {
  return iotlbLookup(s, TAG_DEVICE, device, NO_TAG2, pasid, iova, out);
}
export function atcInsert(
  s: IotlbState, device: number, pasid: number, iova: number, pageSize: number, pa: number, prot: number, dirtyOk: number,
  gen = 0, userOk = 0,
): number {
  return iotlbInsert(s, TAG_DEVICE, device, NO_TAG2, pasid, iova, pageSize, pa, prot, dirtyOk, gen, userOk);
}
/** ATC invalidation by device, optionally PASID (ANY = all) and range. */
export function atcInvalidate(s: IotlbState, device: number, pasid = ANY, iova?: number, size?: number): number {
  const f: InvalidateFilter = { kind: TAG_DEVICE, tag: device, pasid };
  if (iova !== undefined) {
    f.iova = iova;
    f.size = size ?? 1;
  }
  return iotlbInvalidate(s, f);
}
