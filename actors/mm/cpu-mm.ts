/**
 * The mm's CPU page table and its MMU notifiers.
 *
 * Once something needs the MMU's view of an address space (an SVA bind),
 * the mm gets real x86-64 4-level tables in physical frames
 * (hardware/cpu-pagetable.ts), kept in step with `mm.pt` and the memfd page
 * caches: a PTE is installed when a page is faulted in, cleared by munmap,
 * rewritten by mprotect, and the tables are freed at exit.  Secondary MMUs
 * (an SVA IOMMU domain) register an MMU notifier on the mm; every PTE
 * change calls their `invalidate` after the entries changed and before any
 * frame is freed (the kernel's arch_invalidate_secondary_tlbs from the TLB
 * flush), and exit calls `release` before the address space is torn down
 * (__mmu_notifier_release from exit_mmap).
 *
 * Everything is plain data on the mm (`mm.cpt`, `mm.notifiers`); the
 * notifier behaviours are registered by kind.  Processes that never get a
 * CPU table behave exactly as before (no frame is allocated for tables).
 */
import type { Mm, Vma } from './process.ts';
import type { MmWorld } from './world.ts';
import { allocFrame, frameGet, freeFrame, PAGE_SIZE } from '../../hardware/physmem.ts';
import {
  CPT_LEVELS, PTE_A, PTE_D, PTE_P, PTE_RW, PTE_SW_REF, PTE_US, cptCreate, cptLeaf, cptMap, entryPfn, levelSize, readEntry, writeEntry,
} from '../../hardware/cpu-pagetable.ts';

/** PROT_* values (kept local: this file only imports types from process.ts). */
const PROT_NONE = 0;
const PROT_WRITE = 2;

export interface MmCpuPt {
  /** PML4 frame (CR3). */
  cr3: number;
  /** Every lower-level table frame, in allocation order. */
  tables: number[];
}

export interface MmNotifierEntry {
  kind: string;
  id: number;
}

export type MmuEvent = 'unmap' | 'protect' | 'exit';

export interface MmuNotifierOps {
  /** PTEs of [start, end) changed (cleared or downgraded); flush secondary TLBs before frames can be reused. */
  invalidate(world: MmWorld, mm: Mm, id: number, start: number, end: number, event: MmuEvent): void;
  /** The address space is about to be torn down (exit_mmap); the notifier is then off the list. */
  release(world: MmWorld, mm: Mm, id: number): void;
}

const notifierOps: Record<string, MmuNotifierOps> = {};
const exitHooks: ((world: MmWorld, mm: Mm) => void)[] = [];

export function registerMmuNotifierOps(kind: string, ops: MmuNotifierOps): void {
  notifierOps[kind] = ops;
}

/** Called once the address space is gone (after its tables are freed): mm_pasid_drop and the like. */
export function registerMmExitHook(fn: (world: MmWorld, mm: Mm) => void): void {
  if (!exitHooks.includes(fn)) exitHooks.push(fn);
}

export function mmuNotifierRegister(mm: Mm, kind: string, id: number): void {
  const list = (mm.notifiers ??= []);
  if (!list.some((n) => n.kind === kind && n.id === id)) list.push({ kind, id });
}

export function mmuNotifierUnregister(mm: Mm, kind: string, id: number): void {
  if (!mm.notifiers) return;
  mm.notifiers = mm.notifiers.filter((n) => !(n.kind === kind && n.id === id));
}

function notifyInvalidate(world: MmWorld, mm: Mm, start: number, end: number, event: MmuEvent): void {
  for (const n of [...(mm.notifiers ?? [])]) notifierOps[n.kind]?.invalidate(world, mm, n.id, start, end, event);
}

function vmaAt(mm: Mm, va: bigint): Vma | undefined {
  const v = mm.vmas;
  let lo = 0;
  let hi = v.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = v[mid]!;
    if (va < m.start) hi = mid - 1;
    else if (va >= m.start + m.length) lo = mid + 1;
    else return m;
  }
  return undefined;
}

/** Leaf flags for a page of `vma` (write access decides R/W: clean pages stay read-only until written). */
function leafFlags(vma: Vma, writable: boolean): number {
  return PTE_P | PTE_US | PTE_A | (writable && vma.prot & PROT_WRITE ? PTE_RW : 0);
}

function allocTable(world: MmWorld, cpt: MmCpuPt): () => number {
  return () => {
    const f = allocFrame(world.pm);
    if (f >= 0) cpt.tables.push(f);
    return f;
  };
}

/**
 * Give the mm a CPU page table (idempotent): a PML4 plus a PTE for every
 * anonymous page already faulted in.  0, or ENOMEM.
 */
export function cptEnable(world: MmWorld, mm: Mm): number {
  if (mm.cpt) return 0;
  const cr3 = cptCreate(world.pm);
  if (cr3 < 0) return 12; // ENOMEM
  const cpt: MmCpuPt = { cr3, tables: [] };
  mm.cpt = cpt;
  const vpns = Object.keys(mm.pt).map(Number).sort((a, b) => a - b);
  for (const vpn of vpns) {
    const va = BigInt(vpn) * BigInt(PAGE_SIZE);
    const vma = vmaAt(mm, va);
    if (!vma || vma.prot === PROT_NONE) continue;
    cptMap(world.pm, cpt.cr3, vpn * PAGE_SIZE, mm.pt[vpn]!, leafFlags(vma, true), 1, allocTable(world, cpt));
  }
  return 0;
}

/** A page of `vma` at `va` is now backed by `pfn`: make the PTE present (called from the fault path). */
export function cptInstall(world: MmWorld, mm: Mm, vma: Vma, va: bigint, pfn: number): void {
  const cpt = mm.cpt;
  if (!cpt || vma.prot === PROT_NONE) return;
  const v = Number(va - (va % BigInt(PAGE_SIZE)));
  const leaf = cptLeaf(world.pm, cpt.cr3, v);
  if (leaf && leaf.lo & PTE_P) return;
  // A file page's PTE holds its own reference (an anonymous page's is mm.pt's).
  const own = vma.kind === 'memfd';
  if (leaf && (leaf.lo || leaf.hi)) {
    // A PROT_NONE-cleared entry coming back: same frame, present again.
    writeEntry(world.pm, leaf.table, leaf.idx, (leaf.lo | PTE_P) >>> 0, leaf.hi);
    return;
  }
  const fresh = cptMap(world.pm, cpt.cr3, v, pfn, leafFlags(vma, true) | (own ? PTE_SW_REF : 0), 1, allocTable(world, cpt));
  if (fresh && own) frameGet(world.pm, pfn);
}

/** handle_mm_fault's write half on a present read-only PTE of a writable vma: make it writable and dirty. */
export function cptMakeWritable(world: MmWorld, mm: Mm, va: bigint): void {
  const cpt = mm.cpt;
  if (!cpt) return;
  const vma = vmaAt(mm, va);
  if (!vma || !(vma.prot & PROT_WRITE)) return;
  const leaf = cptLeaf(world.pm, cpt.cr3, Number(va - (va % BigInt(PAGE_SIZE))));
  if (!leaf || !(leaf.lo & PTE_P)) return;
  writeEntry(world.pm, leaf.table, leaf.idx, (leaf.lo | PTE_RW | PTE_D | PTE_A) >>> 0, leaf.hi);
}

/** Visit every non-zero leaf entry overlapping [start, end) (tables that exist only). */
function forLeaves(world: MmWorld, cpt: MmCpuPt, start: number, end: number, fn: (table: number, idx: number, lo: number, hi: number) => void): void {
  const rec = (table: number, level: number, base: number) => {
    const size = levelSize(level);
    const first = Math.max(0, Math.floor((start - base) / size));
    const last = Math.min(511, Math.floor((end - 1 - base) / size));
    for (let i = first; i <= last; i++) {
      const e = readEntry(world.pm, table, i);
      if (!e.lo && !e.hi) continue;
      if (level === 1 || (level <= 3 && e.lo & 0x80)) fn(table, i, e.lo, e.hi);
      else if (e.lo & PTE_P) rec(entryPfn(e.lo, e.hi), level - 1, base + i * size);
    }
  };
  if (end > start) rec(cpt.cr3, CPT_LEVELS, 0);
}

/**
 * munmap / MAP_FIXED replacement of [start, end): clear the PTEs, tell the
 * secondary MMUs (their flush completes here), and only then drop the
 * references the PTEs held.  The caller frees the anonymous frames after.
 */
export function cptZap(world: MmWorld, mm: Mm, start: bigint, end: bigint): void {
  const cpt = mm.cpt;
  if (!cpt) return;
  const s = Number(start);
  const e = Number(end);
  const refs: number[] = [];
  forLeaves(world, cpt, s, e, (table, idx, lo, hi) => {
    if (lo & PTE_SW_REF) refs.push(entryPfn(lo, hi));
    writeEntry(world.pm, table, idx, 0, 0);
  });
  notifyInvalidate(world, mm, s, e, 'unmap');
  for (const pfn of refs) freeFrame(world.pm, pfn);
}

/** mprotect of [start, end) to `prot`: PROT_NONE makes entries not present; dropping write clears R/W. */
export function cptProtect(world: MmWorld, mm: Mm, start: bigint, end: bigint, prot: number): void {
  const cpt = mm.cpt;
  if (!cpt) return;
  const s = Number(start);
  const e = Number(end);
  forLeaves(world, cpt, s, e, (table, idx, lo, hi) => {
    let n = lo;
    if (prot === PROT_NONE) n &= ~PTE_P;
    else {
      n |= PTE_P;
      // Adding write leaves R/W clear: the first write faults and handle_mm_fault sets it.
      if (!(prot & PROT_WRITE)) n &= ~PTE_RW;
    }
    if (n >>> 0 !== lo) writeEntry(world.pm, table, idx, n >>> 0, hi);
  });
  notifyInvalidate(world, mm, s, e, 'protect');
}

/**
 * exit_mmap: release every notifier first (a secondary MMU must stop using
 * the tables before they go), then clear all PTEs (no one is notified any
 * more), drop the PTEs' own references and free the table frames.
 */
export function cptExit(world: MmWorld, mm: Mm): void {
  const list = mm.notifiers ?? [];
  mm.notifiers = [];
  for (const n of list) notifierOps[n.kind]?.release(world, mm, n.id);
  const cpt = mm.cpt;
  if (cpt) {
    forLeaves(world, cpt, 0, 2 ** 48, (table, idx, lo, hi) => {
      if (lo & PTE_SW_REF) freeFrame(world.pm, entryPfn(lo, hi));
      writeEntry(world.pm, table, idx, 0, 0);
    });
    for (const t of cpt.tables) freeFrame(world.pm, t);
    freeFrame(world.pm, cpt.cr3);
    delete mm.cpt;
  }
}

/** After the address space is gone (exitMm's end). */
export function cptAfterExit(world: MmWorld, mm: Mm): void {
  for (const h of exitHooks) h(world, mm);
}

/** Is `pfn` one of the mm's live page-table frames (the walker's KASAN check)? */
export function cptIsTable(mm: Mm | undefined, pfn: number): boolean {
  const cpt = mm?.cpt;
  return cpt !== undefined && (pfn === cpt.cr3 || cpt.tables.includes(pfn));
}
