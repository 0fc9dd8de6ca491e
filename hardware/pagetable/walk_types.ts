// Types shared by the radix table code and the generated walkers
// (walkers.ts), kept apart so the two modules do not import each other.

import type { FormatId, PageTableFormat } from './format.ts';

/** Plain-data description of one table; everything else lives in the pool. */
export interface TableState {
  format: FormatId;
  levels: number;
  root: number;
  /** hardware dirty update enabled: VT-d SSADE, SMMU CD.HD (DBM at map), AMD DTE.HAD */
  tracking: boolean;
  /** LPAE hardware access-flag update (CD.HA) */
  ha: boolean;
  /** bit l: leaves allowed at internal level l when mapping */
  blocks: number;
  partialUnmap: number;
  /** 2^inputBits, first IOVA beyond the table */
  limit: number;
  /**
   * Modification generation: a fresh value of the pool's `genSeq` on
   * creation and on every software change of the descriptors or of the
   * controls the walk reads (map, unmap, dirty clear/mark, tracking). Never
   * changed by the walk's own A/D updates, which only ever widen what the
   * table allows. Unique across the pool's tables, so a cached translation
   * stamped with it is known to be current while the value is unchanged.
   */
  gen: number;
}

export interface TableOptions {
  levels?: number;
  tracking?: boolean;
  ha?: boolean;
  blocks?: number;
  partialUnmap?: number;
}

/** Scratch result of a walk; one per caller, reused for every walk. */
export class WalkOut {
  pa = 0;
  pageSize = 0;
  /** internal level of the leaf or of the faulting entry (0 = smallest page) */
  lvl = 0;
  /** the same level in the hardware spec's numbering */
  level = 0;
  prot = 0;
  dirtyOk = 0;
  fault = 0;
  /** nested walks: 1 or 2 = stage that faulted; 0 for single-stage */
  stage = 0;
  /** nested walks: the address whose lookup faulted (IOVA for stage 1, IPA/GPA for stage 2) */
  faultAddr = 0;
  /** nested walks: descriptor reads from physical memory */
  memReads = 0;
}

export function walkFault(out: WalkOut, code: number, lvl: number, f: PageTableFormat): number {
  out.fault = code;
  out.lvl = lvl;
  out.level = f.nativeLevel(lvl);
  out.pa = -1;
  out.pageSize = 0;
  out.prot = 0;
  return code;
}

