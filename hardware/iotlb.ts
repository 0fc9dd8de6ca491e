// Tagged IOTLB and device ATC (hardware.md §1.3): set-associative, bounded,
// deterministic round-robin replacement, entries in typed arrays.
//
// Key = (tag kind, tag, tag2, PASID, page size, page number). `tag2` is the
// stage-2 tag of combined stage-1+2 entries (SMMU ASID entries carry the
// VMID; VT-d nested entries the parent's DID), so flushing a stage-2 tag can
// drop every entry built on it. An entry covers exactly one leaf of the size
// the walk found (I11); a lookup probes each page size currently present.
//
// IOVAs are JS numbers (< 2^53). No Maps, no randomness: the same operation
// sequence always leaves byte-identical arrays (I15).

import { TWO32 } from './pagetable/format.ts';

/** tag kinds */
export const TAG_DOMAIN = 0; // VT-d DID, AMD domain id, mock id
export const TAG_ASID = 1; // SMMU stage 1 (tag2 = VMID)
export const TAG_VMID = 2; // SMMU stage 2 only
export const TAG_DEVICE = 3; // ATC: tag = device id
export const NO_TAG2 = 0xffffffff;
export const ANY = -1;

const KW = 5; // key words: tag, tag2, meta, pnLo, pnHi
const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);
const LOWMASK = Uint32Array.from({ length: 64 }, (_, i) => (i >= 32 ? 0xffffffff : 2 ** i - 1));
const META_VALID = 0x80000000;

export interface IotlbState {
  capacity: number;
  ways: number;
  sets: number;
  /** KW words per entry: tag, tag2, meta (valid | kind<<26 | log2<<20 | pasid), pnLo, pnHi */
  keys: Uint32Array;
  /** output page base address */
  pa: Float64Array;
  /** PROT_READ | PROT_WRITE, plus 4 = writes need no descriptor update (dirty already recorded) */
  info: Uint8Array;
  victim: Uint8Array;
  /** live entries per page-size log2, so lookups only probe sizes that exist */
  sizeCount: Int32Array;
  /** page-size log2 values with a non-zero count, ascending */
  sizes: number[];
  hits: number;
  misses: number;
  fills: number;
  evictions: number;
}

export const INFO_DIRTY_OK = 4;

export function iotlbCreate(capacity = 4096, ways = 8): IotlbState {
  let sets = 1;
  while (sets * ways < capacity) sets *= 2;
  const cap = sets * ways;
  return {
    capacity: cap,
    ways,
    sets,
    keys: new Uint32Array(cap * KW),
    pa: new Float64Array(cap),
    info: new Uint8Array(cap),
    victim: new Uint8Array(sets),
    sizeCount: new Int32Array(64),
    sizes: [],
    hits: 0,
    misses: 0,
    fills: 0,
    evictions: 0,
  };
}

/** Lookup result scratch (allocation-free hit path). */
export class TlbOut {
  index = -1;
  pa = 0;
  pageSize = 0;
  prot = 0;
  dirtyOk = 0;
}

function hash(tag: number, tag2: number, meta: number, pnLo: number, pnHi: number): number {
  let h = Math.imul(pnLo ^ 0x9e3779b9, 0x85ebca6b);
  h ^= Math.imul(pnHi + tag, 0xc2b2ae35);
  h ^= Math.imul(meta ^ tag2, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

function meta(kind: number, log2: number, pasid: number): number {
  return (META_VALID | (kind << 26) | (log2 << 20) | (pasid & 0xfffff)) >>> 0;
}

/** Finds the entry translating `iova`; fills `out` and returns its index, or -1. */
export function iotlbLookup(
  s: IotlbState, kind: number, tag: number, tag2: number, pasid: number, iova: number, out: TlbOut,
): number {
  const hi = (iova / TWO32) >>> 0;
  const lo = iova >>> 0;
  const sizes = s.sizes;
  const keys = s.keys;
  for (let k = 0; k < sizes.length; k++) {
    const l2 = sizes[k]!;
    const pnLo = ((lo >>> l2) | (hi << (32 - l2))) >>> 0;
    const pnHi = hi >>> l2;
    const m = meta(kind, l2, pasid);
    const base = (hash(tag, tag2, m, pnLo, pnHi) & (s.sets - 1)) * s.ways;
    for (let w = 0; w < s.ways; w++) {
      const i = base + w;
      const o = i * KW;
      if (keys[o + 3] === pnLo && keys[o + 2] === m && keys[o] === tag && keys[o + 1] === tag2 && keys[o + 4] === pnHi) {
        const info = s.info[i]!;
        out.index = i;
        out.pageSize = POW2[l2]!;
        out.pa = s.pa[i]! + ((lo & LOWMASK[l2]!) >>> 0);
        out.prot = info & 3;
        out.dirtyOk = (info >>> 2) & 1;
        s.hits++;
        return i;
      }
    }
  }
  s.misses++;
  out.index = -1;
  return -1;
}

function dropSize(s: IotlbState, l2: number): void {
  if (--s.sizeCount[l2]! === 0) s.sizes = s.sizes.filter((x) => x !== l2);
}

function addSize(s: IotlbState, l2: number): void {
  if (s.sizeCount[l2]!++ === 0) s.sizes = [...s.sizes, l2].sort((a, b) => a - b);
}

function clearEntry(s: IotlbState, i: number): void {
  const o = i * KW;
  dropSize(s, (s.keys[o + 2]! >>> 20) & 63);
  s.keys.fill(0, o, o + KW);
  s.pa[i] = 0;
  s.info[i] = 0;
}

/** Caches one leaf translation. `pageSize` must be a power of two ≤ 1 GiB; `iova` any address inside it. */
export function iotlbInsert(
  s: IotlbState, kind: number, tag: number, tag2: number, pasid: number, iova: number, pageSize: number,
  pageBasePa: number, prot: number, dirtyOk: number,
): number {
  const l2 = Math.log2(pageSize) | 0;
  const hi = (iova / TWO32) >>> 0;
  const lo = iova >>> 0;
  const pnLo = ((lo >>> l2) | (hi << (32 - l2))) >>> 0;
  const pnHi = hi >>> l2;
  const m = meta(kind, l2, pasid);
  const base = (hash(tag, tag2, m, pnLo, pnHi) & (s.sets - 1)) * s.ways;
  const keys = s.keys;
  let slot = -1;
  for (let w = 0; w < s.ways; w++) {
    const o = (base + w) * KW;
    if (keys[o + 3] === pnLo && keys[o + 2] === m && keys[o] === tag && keys[o + 1] === tag2 && keys[o + 4] === pnHi) {
      slot = base + w; // refresh in place
      break;
    }
  }
  if (slot < 0) {
    for (let w = 0; w < s.ways; w++) {
      if ((keys[(base + w) * KW + 2]! & META_VALID) === 0) {
        slot = base + w;
        break;
      }
    }
  }
  if (slot < 0) {
    const set = base / s.ways;
    const v = s.victim[set]!;
    s.victim[set] = (v + 1) % s.ways;
    slot = base + v;
    clearEntry(s, slot);
    s.evictions++;
  }
  const o = slot * KW;
  if ((keys[o + 2]! & META_VALID) === 0) addSize(s, l2);
  keys[o] = tag;
  keys[o + 1] = tag2;
  keys[o + 2] = m;
  keys[o + 3] = pnLo;
  keys[o + 4] = pnHi;
  s.pa[slot] = pageBasePa;
  s.info[slot] = (prot & 3) | (dirtyOk ? INFO_DIRTY_OK : 0);
  s.fills++;
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
  const o = i * KW;
  const m = s.keys[o + 2]!;
  const l2 = (m >>> 20) & 63;
  return {
    kind: (m >>> 26) & 3,
    tag: s.keys[o]!,
    tag2: s.keys[o + 1]!,
    pasid: m & 0xfffff,
    iova: (s.keys[o + 4]! * TWO32 + s.keys[o + 3]!) * 2 ** l2,
    pageSize: 2 ** l2,
    pa: s.pa[i]!,
    prot: s.info[i]! & 3,
    dirtyOk: (s.info[i]! & INFO_DIRTY_OK) !== 0,
  };
}

/** Every valid entry, in slot order (inspect helper, I2/I11 audits). */
export function iotlbEntries(s: IotlbState): IotlbEntry[] {
  const r: IotlbEntry[] = [];
  for (let i = 0; i < s.capacity; i++) if (s.keys[i * KW + 2]! & META_VALID) r.push(entryAt(s, i));
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
  for (let i = 0; i < s.capacity; i++) {
    const o = i * KW;
    const m = keys[o + 2]!;
    if ((m & META_VALID) === 0) continue;
    if (f.kind !== undefined && ((m >>> 26) & 3) !== f.kind) continue;
    if (f.tag !== undefined && keys[o] !== f.tag >>> 0) continue;
    if (f.tag2 !== undefined && keys[o + 1] !== f.tag2 >>> 0) continue;
    if (f.pasid !== undefined && f.pasid !== ANY && (m & 0xfffff) !== f.pasid) continue;
    if (f.iova !== undefined) {
      const size = 2 ** ((m >>> 20) & 63);
      const start = (keys[o + 4]! * TWO32 + keys[o + 3]!) * size;
      if (start >= end || start + size <= f.iova) continue;
    }
    clearEntry(s, i);
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
): number {
  return iotlbInsert(s, TAG_DEVICE, device, NO_TAG2, pasid, iova, pageSize, pa, prot, dirtyOk);
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
