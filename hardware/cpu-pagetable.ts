/**
 * An x86-64 4-level CPU page table kept in simulated physical frames: the
 * MMU's (and an SVA IOMMU's) source of truth for a process's address space.
 * Bit layout as in hardware.md §2.3 (the VT-d first-level / AMD v2 format,
 * which is the CPU's): P 0, R/W 1, U/S 2, A 5, D 6 (leaf), PS 7 (2 MiB at
 * the PD level, 1 GiB at the PDPT level), address 51:12.  Bit 9 (AVL) is
 * the kernel's own: "this PTE holds its own frame reference".
 *
 * Entries are little-endian 64-bit words read and written through the
 * frames' bytes, so anything that walks the table (the SVA translation
 * path) reads exactly what the kernel wrote.  Pure functions over PhysMem;
 * levels count 4 (PML4) .. 1 (PT).
 */
import { PAGE_SIZE, allocFrame, frameData, frameDataIfPresent, type PhysMem } from './physmem.ts';
import { FAULT_PERMISSION, FAULT_TRANSLATION } from './pagetable/format.ts';

export const PTE_P = 1 << 0;
export const PTE_RW = 1 << 1;
export const PTE_US = 1 << 2;
export const PTE_A = 1 << 5;
export const PTE_D = 1 << 6;
export const PTE_PS = 1 << 7;
/** Software bit (AVL): the entry holds a frame reference of its own (file pages). */
export const PTE_SW_REF = 1 << 9;

export const CPT_LEVELS = 4;
/** User addresses: the lower canonical half of a 48-bit address space. */
export const CPT_VA_LIMIT = 2 ** 47;
const TABLE_FLAGS = PTE_P | PTE_RW | PTE_US | PTE_A;
const TWO32 = 4294967296;

/** Bytes covered by one entry at `level` (1: 4 KiB, 2: 2 MiB, 3: 1 GiB, 4: 512 GiB). */
export function levelSize(level: number): number {
  return 2 ** (12 + 9 * (level - 1));
}

function indexAt(va: number, level: number): number {
  return Math.floor(va / levelSize(level)) % 512;
}

/** The 64-bit entry `idx` of table frame `pfn` as (lo, hi) words. */
export function readEntry(pm: PhysMem, pfn: number, idx: number): { lo: number; hi: number } {
  const page = frameDataIfPresent(pm, pfn);
  if (!page) return { lo: 0, hi: 0 };
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  return { lo: dv.getUint32(idx * 8, true), hi: dv.getUint32(idx * 8 + 4, true) };
}

export function writeEntry(pm: PhysMem, pfn: number, idx: number, lo: number, hi: number): void {
  const page = frameData(pm, pfn);
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  dv.setUint32(idx * 8, lo >>> 0, true);
  dv.setUint32(idx * 8 + 4, hi >>> 0, true);
}

/** Frame number an entry points at (address bits 51:12). */
export function entryPfn(lo: number, hi: number): number {
  return (lo >>> 12) + (hi & 0xfffff) * 2 ** 20;
}

export function makeEntry(pfn: number, flags: number): { lo: number; hi: number } {
  return { lo: (((pfn % 2 ** 20) * PAGE_SIZE) | (flags & 0xfff)) >>> 0, hi: Math.floor(pfn / 2 ** 20) & 0xfffff };
}

/** A fresh, zeroed PML4; -1 when memory is exhausted. */
export function cptCreate(pm: PhysMem): number {
  return allocFrame(pm);
}

/**
 * Installs a leaf for `va` at `level` (1: 4 KiB PTE, 2: 2 MiB PDE with PS,
 * 3: 1 GiB PDPTE with PS), allocating missing tables with `alloc` (which
 * returns a fresh frame or -1).  Returns the table frames it allocated, or
 * null when a table could not be allocated or a larger leaf is in the way.
 */
export function cptMap(
  pm: PhysMem, root: number, va: number, pfn: number, flags: number, level = 1, alloc: () => number = () => allocFrame(pm),
): number[] | null {
  const fresh: number[] = [];
  let table = root;
  for (let l = CPT_LEVELS; l > level; l--) {
    const idx = indexAt(va, l);
    const e = readEntry(pm, table, idx);
    if (e.lo & PTE_P) {
      if (l <= 3 && e.lo & PTE_PS) return null;
      table = entryPfn(e.lo, e.hi);
      continue;
    }
    const t = alloc();
    if (t < 0) return null;
    fresh.push(t);
    const ne = makeEntry(t, TABLE_FLAGS);
    writeEntry(pm, table, idx, ne.lo, ne.hi);
    table = t;
  }
  const le = makeEntry(pfn, flags | (level > 1 ? PTE_PS : 0));
  writeEntry(pm, table, indexAt(va, level), le.lo, le.hi);
  return fresh;
}

/** Where the leaf for `va` is: its table frame, index, level and raw entry; null when no table reaches it. */
export function cptLeaf(pm: PhysMem, root: number, va: number): { table: number; idx: number; level: number; lo: number; hi: number } | null {
  let table = root;
  for (let l = CPT_LEVELS; l >= 1; l--) {
    const idx = indexAt(va, l);
    const e = readEntry(pm, table, idx);
    const leaf = l === 1 || (l <= 3 && (e.lo & PTE_PS) !== 0);
    if (leaf) return { table, idx, level: l, lo: e.lo, hi: e.hi };
    if (!(e.lo & PTE_P)) return null;
    table = entryPfn(e.lo, e.hi);
  }
  return null;
}

/** Every non-zero leaf entry (present or a kept not-present PROT_NONE entry) with its VA, ascending. */
export function cptLeaves(pm: PhysMem, root: number): { va: number; level: number; lo: number; hi: number }[] {
  const out: { va: number; level: number; lo: number; hi: number }[] = [];
  const rec = (table: number, level: number, base: number) => {
    for (let i = 0; i < 512; i++) {
      const e = readEntry(pm, table, i);
      if (!e.lo && !e.hi) continue;
      const va = base + i * levelSize(level);
      if (level === 1 || (level <= 3 && e.lo & PTE_PS)) out.push({ va, level, lo: e.lo, hi: e.hi });
      else if (e.lo & PTE_P) rec(entryPfn(e.lo, e.hi), level - 1, va);
    }
  };
  if (frameDataIfPresent(pm, root)) rec(root, CPT_LEVELS, 0);
  return out;
}

/** Result of a hardware walk (scratch object reused by callers that want to). */
export interface CptWalkOut {
  /** 0 ok, FAULT_TRANSLATION (not present / non-canonical), FAULT_PERMISSION */
  code: number;
  pa: number;
  pageSize: number;
  level: number;
  /** effective R/W over the path (AND of every level) */
  writable: boolean;
  /** leaf D already set (a write needs no descriptor update) */
  dirty: boolean;
  /** a table frame the walk read that `isTable` refused (a freed page-table page) */
  badTable: number;
}

/**
 * The MMU / SVA IOMMU walk of a user access: 4 levels from `root`, R/W and
 * U/S ANDed over the path, PS leaves at levels 2 and 3.  With `update`
 * a successful walk sets A in every entry it used and D in the leaf on a
 * write, as hardware does.  `isTable` vets every table frame before it is
 * read (KASAN for page-table pages); a refused one ends the walk with
 * `badTable` set and a translation fault.
 */
export function cptWalk(
  pm: PhysMem, root: number, va: number, write: boolean, update: boolean, isTable?: (pfn: number) => boolean,
): CptWalkOut {
  const out: CptWalkOut = { code: FAULT_TRANSLATION, pa: -1, pageSize: 0, level: CPT_LEVELS, writable: false, dirty: false, badTable: -1 };
  if (!(va >= 0 && va < CPT_VA_LIMIT)) return out;
  let table = root;
  let rw = true;
  let us = true;
  const path: { table: number; idx: number; lo: number; hi: number }[] = [];
  for (let l = CPT_LEVELS; l >= 1; l--) {
    if (isTable && !isTable(table)) {
      out.badTable = table;
      out.level = l;
      return out;
    }
    const idx = indexAt(va, l);
    const e = readEntry(pm, table, idx);
    out.level = l;
    if (!(e.lo & PTE_P)) return out;
    rw &&= (e.lo & PTE_RW) !== 0;
    us &&= (e.lo & PTE_US) !== 0;
    path.push({ table, idx, lo: e.lo, hi: e.hi });
    if (l === 1 || (l <= 3 && (e.lo & PTE_PS) !== 0)) {
      const size = levelSize(l);
      if (!us || (write && !rw)) {
        out.code = FAULT_PERMISSION;
        return out;
      }
      const base = entryPfn(e.lo, e.hi) * PAGE_SIZE;
      out.code = 0;
      out.pageSize = size;
      out.pa = base - (base % size) + (va % size);
      out.writable = rw;
      out.dirty = (e.lo & PTE_D) !== 0;
      if (update) {
        for (let k = 0; k < path.length; k++) {
          const p = path[k]!;
          const leaf = k === path.length - 1;
          const lo = (p.lo | PTE_A | (leaf && write ? PTE_D : 0)) >>> 0;
          if (lo !== p.lo) writeEntry(pm, p.table, p.idx, lo, p.hi);
        }
        if (write) out.dirty = true;
      }
      return out;
    }
    table = entryPfn(e.lo, e.hi);
  }
  return out;
}

/** Hex of a 64-bit entry (inspect). */
export function entryHex(lo: number, hi: number): string {
  return `0x${(hi * TWO32 + lo).toString(16)}`;
}
