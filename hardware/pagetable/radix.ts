// Generic radix I/O page table over the node pool: map / unmap / walk /
// read-and-clear-dirty / dump / destroy for every format in registry.ts.
//
// IOVAs and physical addresses are JS numbers on the hot path. They are exact
// below 2^53; every format here has an input width of at most 57 bits by
// level count, but the walker only accepts IOVAs < 2^53 (MAX_IOVA). Bigints
// are accepted at the API edge (IoPageTable) and converted with a range check.

import {
  ACC_READ, ACC_UPDATE, ACC_WRITE, ENC, EV, FAULT_ADDRESS_SIZE, FAULT_TRANSLATION, TWO20, TWO32,
  UNMAP_REFUSE, UNMAP_SPLIT, UNMAP_WHOLE, addrFieldHi, addrFieldLo, faultKindName, leafEval,
  type FaultKind, type FormatId, type PageTableFormat,
} from './format.ts';
import { FORMATS } from './registry.ts';
import { walkFault, WalkOut, type TableOptions, type TableState } from './walk_types.ts';
import {
  walkAmdV1, walkAmdV2, walkMock, walkSmmuS1, walkSmmuS2, walkVtdFl, walkVtdSl,
} from './walkers.ts';
import { NODE_WORDS, poolAlloc, poolCreate, poolFree, poolNextGen, poolRestore, poolSnapshot, type PoolState } from './pool.ts';

export const MAX_IOVA = 2 ** 53;
export const EEXIST = 17;
export const EINVAL = 22;
/** largest leaf is 1 GiB (internal level 2); a "leaf" above that is reserved */
const MAX_LEAF_LEVEL = 2;

export type { TableState, TableOptions } from './walk_types.ts';
export { WalkOut } from './walk_types.ts';

export interface MappedRange {
  iova: number;
  last: number;
  pa: number;
  prot: number;
  pageSize: number;
}

export interface DirtyRange {
  iova: number;
  size: number;
}

export function ptCreate(pool: PoolState, format: FormatId, opts: TableOptions = {}): TableState {
  const f = FORMATS[format]!;
  const levels = opts.levels ?? f.defaultLevels;
  if (levels < f.minLevels || levels > f.maxLevels) throw new RangeError(`${f.name}: ${levels} levels not supported`);
  const blocks = (opts.blocks ?? f.defaultBlockLevels) & f.blockLevels & ((1 << Math.min(levels, MAX_LEAF_LEVEL + 1)) - 1);
  return {
    format,
    levels,
    root: poolAlloc(pool),
    tracking: opts.tracking ?? false,
    ha: opts.ha ?? false,
    blocks: blocks | 1,
    partialUnmap: opts.partialUnmap ?? UNMAP_SPLIT,
    limit: Math.min(2 ** f.inputBits(levels), MAX_IOVA),
    gen: poolNextGen(pool),
  };
}

/** Records a software change of `t` (see TableState.gen). */
export function ptTouch(pool: PoolState, t: TableState): void {
  t.gen = poolNextGen(pool);
}

/** Dirty tracking on or off (SSADE / CD.HD / DTE.HAD): the walk's rules change, so it is a modification. */
export function ptSetTracking(pool: PoolState, t: TableState, on: boolean): void {
  t.tracking = on;
  ptTouch(pool, t);
}

/**
 * The hot walk. Returns 0 or a FAULT_* code; details in `out`. With
 * ACC_UPDATE it behaves as hardware and writes A/D (or DBM) state back.
 * Dispatches once on the format to a walker specialised for it
 * (walkers.ts, generated from the format parameters by gen_walkers.ts).
 */
export function ptWalk(pool: PoolState, t: TableState, iova: number, access: number, out: WalkOut): number {
  switch (t.format) {
    case 0: return walkMock(pool, t, iova, access, out);
    case 1: return walkVtdSl(pool, t, iova, access, out);
    case 2: return walkVtdFl(pool, t, iova, access, out);
    case 3: return walkSmmuS1(pool, t, iova, access, out);
    case 4: return walkSmmuS2(pool, t, iova, access, out);
    case 5: return walkAmdV1(pool, t, iova, access, out);
    default: return walkAmdV2(pool, t, iova, access, out);
  }
}

/**
 * Reference walk, generic over the format parameters (one loop, per-level
 * format lookups). Same results and side effects as ptWalk; kept as the
 * oracle the specialised walkers are tested against.
 */
export function ptWalkGeneric(pool: PoolState, t: TableState, iova: number, access: number, out: WalkOut): number {
  const f = FORMATS[t.format]!;
  if (!(iova < t.limit && iova >= 0)) return walkFault(out, FAULT_ADDRESS_SIZE, t.levels - 1, f);
  const words = pool.words;
  const shift = f.shift;
  const hi = (iova / TWO32) >>> 0;
  const lo = iova >>> 0;
  // Format fields in locals: the loop then touches only the words array.
  const validLo = f.validLo;
  const leafMaskLo = f.leafMaskLo;
  const leafValLo = f.leafValLo;
  const addrHiMask = f.addrHiMask;
  let node = t.root;
  let path = -1;
  let lvl = t.levels - 1;
  let e = 0;
  let dlo = 0;
  let dhi = 0;
  for (;;) {
    const s = shift[lvl]!;
    const idx = s >= 32 ? (hi >>> (s - 32)) & 511 : ((lo >>> s) | (hi << (32 - s))) & 511;
    // node indices stay below 2^21 (8 GiB of tables), so this is int32 arithmetic
    e = (node << 10) | (idx << 1);
    dlo = words[e]!;
    dhi = words[e + 1]!;
    if ((dlo & validLo) === 0) return walkFault(out, FAULT_TRANSLATION, lvl, f);
    path &= dlo;
    if (lvl === 0) {
      if ((dlo & f.pageMaskLo) !== f.pageValLo) return walkFault(out, FAULT_TRANSLATION, lvl, f);
      break;
    }
    if ((dlo & leafMaskLo) === leafValLo) {
      if (lvl > MAX_LEAF_LEVEL) return walkFault(out, FAULT_TRANSLATION, lvl, f);
      break;
    }
    node = (dlo >>> 12) | ((dhi & addrHiMask) << 20);
    lvl--;
  }
  const code = leafEval(f.style, f.hwUpdates, dlo, dhi, path, access, t.tracking, t.ha);
  if (code !== 0) return walkFault(out, code, lvl, f);
  if (EV.lo !== dlo) words[e] = EV.lo;
  const frame = ((dlo >>> 12) & f.frameMask[lvl]!) + (dhi & f.addrHiMask) * TWO20;
  out.pa = frame * f.granule + ((lo & f.offMask[lvl]!) >>> 0);
  out.pageSize = f.leafSizes[lvl]!;
  out.lvl = lvl;
  out.level = f.nativeLevel(lvl);
  out.prot = EV.prot;
  out.dirtyOk = EV.dirtyOk;
  out.fault = 0;
  return 0;
}

/** Leaf descriptor halves covering `iova` (for bit-layout checks and the DIRTY test op). */
export function ptLeafEntry(pool: PoolState, t: TableState, iova: number): { word: number; lvl: number } | null {
  const f = FORMATS[t.format]!;
  if (!(iova < t.limit && iova >= 0)) return null;
  let node = t.root;
  for (let lvl = t.levels - 1; lvl >= 0; lvl--) {
    const es = f.leafSize(lvl);
    const idx = Math.floor(iova / es) % 512;
    const e = node * NODE_WORDS + idx * 2;
    const lo = pool.words[e]!;
    if ((lo & f.validLo) === 0) return null;
    if (lvl === 0 || (lo & f.leafMaskLo) === f.leafValLo) return { word: e, lvl };
    node = (lo >>> 12) + (pool.words[e + 1]! & f.addrHiMask) * TWO20;
  }
  return null;
}

function isLeafAt(f: PageTableFormat, lo: number, lvl: number): boolean {
  return lvl === 0 || (lo & f.leafMaskLo) === f.leafValLo;
}

function childOf(f: PageTableFormat, lo: number, hi: number): number {
  return (lo >>> 12) + (hi & f.addrHiMask) * TWO20;
}

function leafBase(f: PageTableFormat, lo: number, hi: number, lvl: number): number {
  return (((lo >>> 12) & f.frameMask[lvl]!) + (hi & f.addrHiMask) * TWO20) * f.granule;
}

/** Visits every valid leaf overlapping [start, end) in IOVA order. */
function forEachLeaf(
  pool: PoolState, f: PageTableFormat, node: number, lvl: number, base: number, start: number, end: number,
  cb: (e: number, lvl: number, iova: number) => void,
): void {
  const es = f.leafSizes[lvl]!;
  const i0 = Math.max(0, Math.floor((start - base) / es));
  const i1 = Math.min(512, Math.ceil((end - base) / es));
  for (let i = i0; i < i1; i++) {
    const e = node * NODE_WORDS + i * 2;
    const lo = pool.words[e]!;
    if ((lo & f.validLo) === 0) continue;
    const eb = base + i * es;
    if (isLeafAt(f, lo, lvl)) cb(e, lvl, eb);
    else forEachLeaf(pool, f, childOf(f, lo, pool.words[e + 1]!), lvl - 1, eb, start, end, cb);
  }
}

export function ptRangeEmpty(pool: PoolState, t: TableState, iova: number, size: number): boolean {
  let empty = true;
  forEachLeaf(pool, FORMATS[t.format]!, t.root, t.levels - 1, 0, iova, iova + size, () => { empty = false; });
  return empty;
}

function checkRange(t: TableState, f: PageTableFormat, iova: number, size: number): boolean {
  const g = f.granule;
  return Number.isSafeInteger(iova) && Number.isSafeInteger(size) && iova >= 0 && size > 0 &&
    iova % g === 0 && size % g === 0 && iova + size <= t.limit;
}

/** Descends from the root to the node at `lvl` covering `iova`, creating tables. */
function nodeFor(pool: PoolState, t: TableState, f: PageTableFormat, iova: number, lvl: number): number {
  let node = t.root;
  for (let l = t.levels - 1; l > lvl; l--) {
    const idx = Math.floor(iova / f.leafSizes[l]!) % 512;
    const e = node * NODE_WORDS + idx * 2;
    const lo = pool.words[e]!;
    if ((lo & f.validLo) !== 0) {
      if (isLeafAt(f, lo, l)) throw new Error(`${f.name}: map over an existing leaf (range was checked empty)`);
      node = childOf(f, lo, pool.words[e + 1]!);
      continue;
    }
    const child = poolAlloc(pool);
    f.encodeTable(child * 4096, l);
    pool.words[e] = ENC[0]!;
    pool.words[e + 1] = ENC[1]!;
    pool.used[node]!++;
    node = child;
  }
  return node;
}

function pickLevel(t: TableState, f: PageTableFormat, iova: number, pa: number, size: number): number {
  for (let l = MAX_LEAF_LEVEL; l > 0; l--) {
    if ((t.blocks & (1 << l)) === 0) continue;
    const ls = f.leafSizes[l]!;
    if (size >= ls && iova % ls === 0 && pa % ls === 0) return l;
  }
  return 0;
}

/** iommu_map(): 0, -EINVAL for bad arguments, -EEXIST when any page is already mapped (nothing changes). */
export function ptMap(pool: PoolState, t: TableState, iova: number, pa: number, size: number, prot: number): number {
  const f = FORMATS[t.format]!;
  if (!checkRange(t, f, iova, size) || !Number.isSafeInteger(pa) || pa < 0 || pa % f.granule !== 0) return -EINVAL;
  if (pa + size > 2 ** (f.addrHiMask === 0xffff ? 48 : 52)) return -EINVAL;
  if ((prot & 3) === 0) return -EINVAL;
  if (!ptRangeEmpty(pool, t, iova, size)) return -EEXIST;
  ptTouch(pool, t);
  while (size > 0) {
    const lvl = pickLevel(t, f, iova, pa, size);
    const ls = f.leafSizes[lvl]!;
    const node = nodeFor(pool, t, f, iova, lvl);
    const idx = Math.floor(iova / ls) % 512;
    const count = Math.min(512 - idx, Math.floor(size / ls));
    const words = pool.words;
    let e = node * NODE_WORDS + idx * 2;
    for (let k = 0; k < count; k++, e += 2) {
      f.encodeLeaf(pa + k * ls, prot, lvl, t.tracking);
      words[e] = ENC[0]!;
      words[e + 1] = ENC[1]!;
    }
    pool.used[node]! += count;
    iova += count * ls;
    pa += count * ls;
    size -= count * ls;
  }
  return 0;
}

/** Replaces the block leaf at word `e` (level `lvl`) by a table of equivalent next-level leaves. */
function splitLeaf(pool: PoolState, f: PageTableFormat, e: number, lvl: number): number {
  const lo = pool.words[e]!;
  const hi = pool.words[e + 1]!;
  const base = leafBase(f, lo, hi, lvl);
  const child = poolAlloc(pool);
  const words = pool.words;
  const cl = lvl - 1;
  const cs = f.leafSizes[cl]!;
  const addrLoMask = 0xfffff000;
  const attrLo = (lo & ~addrLoMask & ~f.leafMaskLo) | (cl === 0 ? f.pageValLo : f.leafValLo);
  const attrHi = hi & ~f.addrHiMask;
  for (let k = 0; k < 512; k++) {
    const pa = base + k * cs;
    const ce = child * NODE_WORDS + k * 2;
    words[ce] = (attrLo | addrFieldLo(pa, f.granuleShift)) >>> 0;
    words[ce + 1] = (attrHi | addrFieldHi(pa, f.granuleShift)) >>> 0;
  }
  pool.used[child] = 512;
  f.encodeTable(child * 4096, lvl);
  words[e] = ENC[0]!;
  words[e + 1] = ENC[1]!;
  return child;
}

let unmapRefused = false;

function unmapNode(
  pool: PoolState, t: TableState, f: PageTableFormat, node: number, lvl: number, base: number, start: number, end: number,
): number {
  const es = f.leafSizes[lvl]!;
  const i0 = Math.max(0, Math.floor((start - base) / es));
  const i1 = Math.min(512, Math.ceil((end - base) / es));
  let n = 0;
  for (let i = i0; i < i1; i++) {
    const e = node * NODE_WORDS + i * 2;
    const lo = pool.words[e]!;
    if ((lo & f.validLo) === 0) continue;
    const eb = base + i * es;
    let child: number;
    if (isLeafAt(f, lo, lvl)) {
      const whole = start <= eb && eb + es <= end;
      if (!whole && t.partialUnmap === UNMAP_REFUSE) {
        unmapRefused = true;
        return n;
      }
      if (whole || t.partialUnmap === UNMAP_WHOLE) {
        pool.words[e] = 0;
        pool.words[e + 1] = 0;
        pool.used[node]!--;
        n += es;
        continue;
      }
      child = splitLeaf(pool, f, e, lvl);
    } else {
      child = childOf(f, lo, pool.words[e + 1]!);
    }
    n += unmapNode(pool, t, f, child, lvl - 1, eb, start, end);
    if (pool.used[child] === 0) {
      poolFree(pool, child);
      pool.words[e] = 0;
      pool.words[e + 1] = 0;
      pool.used[node]!--;
    }
    if (unmapRefused) return n;
  }
  return n;
}

/**
 * iommu_unmap(): bytes unmapped. Holes are skipped. A block only partly
 * inside the range is split, dropped whole, or stops the unmap, per
 * `t.partialUnmap`. Tables left empty are freed.
 */
export function ptUnmap(pool: PoolState, t: TableState, iova: number, size: number): number {
  const f = FORMATS[t.format]!;
  if (!checkRange(t, f, iova, size)) return 0;
  ptTouch(pool, t);
  unmapRefused = false;
  return unmapNode(pool, t, f, t.root, t.levels - 1, 0, iova, iova + size);
}

/** Dirty leaves overlapping the range, whole-leaf granular; cleared unless noClear. */
export function ptReadAndClearDirty(pool: PoolState, t: TableState, iova: number, size: number, noClear: boolean): DirtyRange[] {
  const f = FORMATS[t.format]!;
  const outList: DirtyRange[] = [];
  if (!noClear) ptTouch(pool, t);
  forEachLeaf(pool, f, t.root, t.levels - 1, 0, iova, iova + size, (e, lvl, eb) => {
    const lo = pool.words[e]!;
    const hi = pool.words[e + 1]!;
    if (!f.isDirty(lo, hi)) return;
    outList.push({ iova: eb, size: f.leafSizes[lvl]! });
    if (!noClear) pool.words[e] = f.cleanLo(lo, hi);
  });
  return outList;
}

/** Sets the dirty state of the leaf covering `iova` (mock DIRTY test op); false when unmapped. */
export function ptMarkDirty(pool: PoolState, t: TableState, iova: number): boolean {
  const f = FORMATS[t.format]!;
  const r = ptLeafEntry(pool, t, iova);
  if (!r) return false;
  ptTouch(pool, t);
  pool.words[r.word] = f.dirtyLo(pool.words[r.word]!, pool.words[r.word + 1]!);
  return true;
}

/** Mapped ranges in IOVA order, adjacent leaves merged when pa, prot and page size continue. */
export function ptDump(pool: PoolState, t: TableState): MappedRange[] {
  const f = FORMATS[t.format]!;
  const outList: MappedRange[] = [];
  forEachLeaf(pool, f, t.root, t.levels - 1, 0, 0, t.limit, (e, lvl, eb) => {
    const lo = pool.words[e]!;
    const hi = pool.words[e + 1]!;
    const ps = f.leafSizes[lvl]!;
    const pa = leafBase(f, lo, hi, lvl);
    const prot = f.leafProt(lo, hi);
    const prev = outList[outList.length - 1];
    if (prev && prev.last + 1 === eb && prev.pa + (prev.last + 1 - prev.iova) === pa && prev.prot === prot && prev.pageSize === ps) {
      prev.last = eb + ps - 1;
    } else {
      outList.push({ iova: eb, last: eb + ps - 1, pa, prot, pageSize: ps });
    }
  });
  return outList;
}

function freeTree(pool: PoolState, f: PageTableFormat, node: number, lvl: number): void {
  if (lvl > 0) {
    for (let i = 0; i < 512; i++) {
      const e = node * NODE_WORDS + i * 2;
      const lo = pool.words[e]!;
      if ((lo & f.validLo) !== 0 && !isLeafAt(f, lo, lvl)) freeTree(pool, f, childOf(f, lo, pool.words[e + 1]!), lvl - 1);
    }
  }
  poolFree(pool, node);
}

/** Frees every node of the table, root included. */
export function ptDestroy(pool: PoolState, t: TableState): void {
  if (t.root === 0) return;
  ptTouch(pool, t);
  freeTree(pool, FORMATS[t.format]!, t.root, t.levels - 1);
  t.root = 0;
}

/** Nodes reachable from the root (for leak checks). */
export function ptNodeCount(pool: PoolState, t: TableState): number {
  const f = FORMATS[t.format]!;
  const count = (node: number, lvl: number): number => {
    let n = 1;
    if (lvl === 0) return n;
    for (let i = 0; i < 512; i++) {
      const e = node * NODE_WORDS + i * 2;
      const lo = pool.words[e]!;
      if ((lo & f.validLo) !== 0 && !isLeafAt(f, lo, lvl)) n += count(childOf(f, lo, pool.words[e + 1]!), lvl - 1);
    }
    return n;
  };
  return t.root ? count(t.root, t.levels - 1) : 0;
}

/** number | bigint IOVA from the API edge -> exact number, or a RangeError. */
export function toAddr(x: number | bigint): number {
  if (typeof x === 'bigint') {
    if (x < 0n || x >= BigInt(MAX_IOVA)) throw new RangeError(`address ${x} outside the simulator's 53-bit range`);
    return Number(x);
  }
  if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`address ${x} is not a safe non-negative integer`);
  return x;
}

export interface WalkResult {
  ok: boolean;
  pa: number;
  pageSize: number;
  prot: number;
  level: number;
  fault?: { kind: FaultKind; level: number };
}

/** Convenience wrapper for tests, tools and the inspect helper; the engine uses the pt* functions. */
export class IoPageTable {
  readonly out = new WalkOut();
  constructor(public pool: PoolState, public readonly state: TableState) {}

  static create(format: FormatId, opts: TableOptions = {}, pool: PoolState = poolCreate()): IoPageTable {
    return new IoPageTable(pool, ptCreate(pool, format, opts));
  }
  get format(): PageTableFormat {
    return FORMATS[this.state.format]!;
  }
  map(iova: number | bigint, pa: number | bigint, size: number | bigint, prot: number): number {
    return ptMap(this.pool, this.state, toAddr(iova), toAddr(pa), toAddr(size), prot);
  }
  unmap(iova: number | bigint, size: number | bigint): number {
    return ptUnmap(this.pool, this.state, toAddr(iova), toAddr(size));
  }
  /** Pure probe unless `access` includes ACC_UPDATE. */
  walk(iova: number | bigint, access: number = ACC_READ): WalkResult {
    const c = ptWalk(this.pool, this.state, toAddr(iova), access, this.out);
    const o = this.out;
    if (c !== 0) return { ok: false, pa: -1, pageSize: 0, prot: 0, level: o.level, fault: { kind: faultKindName(c), level: o.level } };
    return { ok: true, pa: o.pa, pageSize: o.pageSize, prot: o.prot, level: o.level };
  }
  /** Hardware-style write access: sets dirty state when tracking is on. */
  write(iova: number | bigint): WalkResult {
    return this.walk(iova, ACC_WRITE | ACC_UPDATE);
  }
  readAndClearDirty(iova: number | bigint, size: number | bigint, noClear = false): DirtyRange[] {
    return ptReadAndClearDirty(this.pool, this.state, toAddr(iova), toAddr(size), noClear);
  }
  markDirty(iova: number | bigint): boolean {
    return ptMarkDirty(this.pool, this.state, toAddr(iova));
  }
  setTracking(on: boolean): void {
    ptSetTracking(this.pool, this.state, on);
  }
  dump(): MappedRange[] {
    return ptDump(this.pool, this.state);
  }
  /** 64-bit descriptor of the leaf covering iova (bit-layout checks). */
  leafDescriptor(iova: number | bigint): { desc: bigint; level: number } | null {
    const r = ptLeafEntry(this.pool, this.state, toAddr(iova));
    if (!r) return null;
    const desc = (BigInt(this.pool.words[r.word + 1]!) << 32n) | BigInt(this.pool.words[r.word]!);
    return { desc, level: this.format.nativeLevel(r.lvl) };
  }
  /** Whole-pool image: tables sharing the pool are captured together. */
  snapshot(): Uint8Array {
    return poolSnapshot(this.pool);
  }
  restore(bytes: Uint8Array): void {
    this.pool = poolRestore(bytes);
  }
  destroy(): void {
    ptDestroy(this.pool, this.state);
  }
}

export { ACC_READ, ACC_WRITE, ACC_UPDATE };
