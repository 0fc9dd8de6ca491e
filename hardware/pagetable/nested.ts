// Two-stage (nested) walks: stage-1 tables live in guest memory and every
// stage-1 table pointer (CD, TTB0 / FLPTR, each intermediate table) is a GPA
// that is translated by the stage-2 (host) table before the descriptor is
// read from physical memory (hardware.md §1.4, invariant I7).
//
// Stage-1 descriptor reads go through PhysMemPort.read64 (BigInt), so a cold
// nested walk is much slower than a host walk; the IOTLB absorbs that.

import {
  ACC_READ, ACC_UPDATE, ACC_WRITE, EV, FAULT_CONFIG, FAULT_TRANSLATION, FMT_SMMU_S1, FMT_VTD_FL, TWO20, TWO32,
  addrFieldHi, addrFieldLo, leafEval, type FormatId, type PageTableFormat,
} from './format.ts';
import { FORMATS } from './registry.ts';
import { NODE_WORDS, type PoolState } from './pool.ts';
import { ptWalk, WalkOut, type TableState } from './radix.ts';
import { BLOCK_FRAMES } from '../physmem.ts';

/** Minimal physical-memory interface (the full one is hardware/physmem.ts). */
export interface PhysMemPort {
  readPhys(pa: number, len: number): Uint8Array;
  writePhys(pa: number, data: Uint8Array): void;
  read64(pa: number): bigint;
  write64(pa: number, v: bigint): void;
  /**
   * Optional zero-copy access for the DMA engine to the block of
   * PORT_BLOCK_FRAMES 4 KiB frames holding frame `pfn` (pa >> 12), frame k
   * of the block at byte (k << 12): with `write`, the block's own bytes,
   * allocated zeroed on first use (writes through it are writes to memory);
   * without, the bytes or null when the whole block reads as zeros (then it
   * must not allocate). Ports without it are used through readPhys/writePhys.
   */
  frameBlock?(pfn: number, write: boolean): Uint8Array | null;
}

/** Frame size of PhysMemPort.frameBlock. */
export const PORT_FRAME_SIZE = 4096;
/** Frames per PhysMemPort.frameBlock block: hardware/physmem.ts's BLOCK_FRAMES. */
export const PORT_BLOCK_FRAMES = BLOCK_FRAMES;
export const PORT_BLOCK_BYTES = PORT_BLOCK_FRAMES * PORT_FRAME_SIZE;

/** A decoded stage-1 context: which format, where its root is (a GPA), and its controls. */
export interface Stage1Config {
  format: FormatId;
  root: number;
  levels: number;
  /** first IOVA beyond the stage-1 input range */
  limit: number;
  /** hardware dirty update (SMMU CD.HD); x86 formats always update A/D */
  tracking: boolean;
  /** hardware access-flag update (SMMU CD.HA) */
  ha: boolean;
}

const M32 = 0xffffffffn;
const s2scratch = new WalkOut();

function stage2Fault(out: WalkOut, s2: WalkOut, gpa: number): number {
  out.fault = s2.fault;
  out.lvl = s2.lvl;
  out.level = s2.level;
  out.stage = 2;
  out.faultAddr = gpa;
  out.pa = -1;
  out.prot = 0;
  return s2.fault;
}

function stage1Fault(out: WalkOut, code: number, lvl: number, f: PageTableFormat, iova: number): number {
  out.fault = code;
  out.lvl = lvl;
  out.level = f.nativeLevel(lvl);
  out.stage = 1;
  out.faultAddr = iova;
  out.pa = -1;
  out.prot = 0;
  return code;
}

/**
 * Walks `iova` through a guest stage-1 table and the host stage-2 table.
 * Fault codes as ptWalk; `out.stage` says which stage faulted. With
 * ACC_UPDATE, stage-1 A/D updates are written back into guest memory through
 * a stage-2 *write* (which needs S2 write permission and may set S2 dirty).
 */
export function walkNested(
  pool: PoolState, s2: TableState, s1: Stage1Config, mem: PhysMemPort, iova: number, access: number, out: WalkOut,
): number {
  const f = FORMATS[s1.format]!;
  const o2 = s2scratch;
  out.memReads = 0;
  if (!(iova >= 0 && iova < s1.limit)) return stage1Fault(out, FAULT_TRANSLATION, s1.levels - 1, f, iova);
  const hi = (iova / TWO32) >>> 0;
  const lo = iova >>> 0;
  const upd = access & ACC_UPDATE;
  let table = s1.root;
  let path = -1;
  let lvl = s1.levels - 1;
  let dlo = 0;
  let dhi = 0;
  let descGpa = 0;
  for (;;) {
    const s = f.shift[lvl]!;
    const idx = s >= 32 ? (hi >>> (s - 32)) & 511 : ((lo >>> s) | (hi << (32 - s))) & 511;
    descGpa = table + idx * 8;
    if (ptWalk(pool, s2, descGpa, ACC_READ | upd, o2) !== 0) return stage2Fault(out, o2, descGpa);
    const v = mem.read64(o2.pa);
    out.memReads++;
    dlo = Number(v & M32);
    dhi = Number((v >> 32n) & M32);
    if ((dlo & f.validLo) === 0) return stage1Fault(out, FAULT_TRANSLATION, lvl, f, iova);
    path &= dlo;
    if (lvl === 0) {
      if ((dlo & f.pageMaskLo) !== f.pageValLo) return stage1Fault(out, FAULT_TRANSLATION, lvl, f, iova);
      break;
    }
    if ((dlo & f.leafMaskLo) === f.leafValLo) {
      if (lvl > 2) return stage1Fault(out, FAULT_TRANSLATION, lvl, f, iova);
      break;
    }
    table = ((dlo >>> 12) + (dhi & f.addrHiMask) * TWO20) * 4096;
    lvl--;
  }
  const code = leafEval(f.style, f.hwUpdates, dlo, dhi, path, access, s1.tracking, s1.ha);
  if (code !== 0) return stage1Fault(out, code, lvl, f, iova);
  const s1prot = EV.prot;
  const s1dirtyOk = EV.dirtyOk;
  const newLo = EV.lo;
  if (newLo !== dlo) {
    if (ptWalk(pool, s2, descGpa, ACC_WRITE | ACC_UPDATE, o2) !== 0) return stage2Fault(out, o2, descGpa);
    mem.write64(o2.pa, (BigInt(dhi) << 32n) | BigInt(newLo));
  }
  const frame = ((dlo >>> 12) & f.frameMask[lvl]!) + (dhi & f.addrHiMask) * TWO20;
  const s1size = f.leafSizes[lvl]!;
  const gpa = frame * 4096 + ((lo & f.offMask[lvl]!) >>> 0);
  const s1lvl = lvl;
  if (ptWalk(pool, s2, gpa, access, o2) !== 0) return stage2Fault(out, o2, gpa);
  out.pa = o2.pa;
  out.pageSize = Math.min(s1size, o2.pageSize);
  out.prot = s1prot & o2.prot;
  out.dirtyOk = s1dirtyOk & o2.dirtyOk;
  out.lvl = s1lvl;
  out.level = f.nativeLevel(s1lvl);
  out.fault = 0;
  out.stage = 0;
  out.faultAddr = gpa;
  return 0;
}

// ---- SMMUv3: context descriptor in guest memory (hardware.md §3.3) ----

export const CTXDESC_CD_0_TCR_T0SZ_MASK = 0x3f;
export const CTXDESC_CD_0_TCR_EPD0 = 1 << 14;
export const CTXDESC_CD_0_V = 1 << 31;
/** hi-half bits of CD word 0 */
export const CTXDESC_CD_0_HI_AA64 = 1 << 9; // bit 41
export const CTXDESC_CD_0_HI_HD = 1 << 10; // bit 42
export const CTXDESC_CD_0_HI_HA = 1 << 11; // bit 43
export const CTXDESC_CD_DWORDS = 8;

export interface SmmuCd {
  valid: boolean;
  t0sz: number;
  tg0: number;
  epd0: boolean;
  aa64: boolean;
  hd: boolean;
  ha: boolean;
  asid: number;
  ttb0: number;
}

/** Decodes CD words 0 and 1 (as bigints, the form they have in guest memory). */
export function decodeCd(w0: bigint, w1: bigint): SmmuCd {
  const lo = Number(w0 & M32);
  const hi = Number((w0 >> 32n) & M32);
  return {
    valid: (lo & CTXDESC_CD_0_V) !== 0,
    t0sz: lo & CTXDESC_CD_0_TCR_T0SZ_MASK,
    tg0: (lo >>> 6) & 3,
    epd0: (lo & CTXDESC_CD_0_TCR_EPD0) !== 0,
    aa64: (hi & CTXDESC_CD_0_HI_AA64) !== 0,
    hd: (hi & CTXDESC_CD_0_HI_HD) !== 0,
    ha: (hi & CTXDESC_CD_0_HI_HA) !== 0,
    asid: hi >>> 16,
    ttb0: Number(w1 & 0x000ffffffffffff0n),
  };
}

/** Builds CD words 0/1 for a 4 KiB-granule AArch64 stage-1 context. */
export function encodeCd(cd: { t0sz: number; ttb0: number; asid: number; hd?: boolean; ha?: boolean; valid?: boolean; epd0?: boolean }): [bigint, bigint] {
  let w0 = BigInt(cd.t0sz & 0x3f) | (cd.valid === false ? 0n : 1n << 31n) | (1n << 41n) | (BigInt(cd.asid & 0xffff) << 48n);
  if (cd.epd0) w0 |= 1n << 14n;
  if (cd.hd) w0 |= 1n << 42n;
  if (cd.ha) w0 |= 1n << 43n;
  return [w0, BigInt(cd.ttb0) & 0x000ffffffffffff0n];
}

export interface SmmuCdResult {
  code: number;
  cd: SmmuCd | null;
  s1: Stage1Config | null;
}

/**
 * Fetches CD[ssid] from the guest CD table at `cdTable` (STE.S1ContextPtr, a
 * GPA) through stage 2 and turns it into a Stage1Config. Stage-2 faults on the
 * fetch fill `out` with stage = 2; bad CD content is FAULT_CONFIG at stage 1.
 */
export function smmuFetchCd(
  pool: PoolState, s2: TableState, mem: PhysMemPort, cdTable: number, s1cdmax: number, ssid: number, out: WalkOut,
): SmmuCdResult {
  const f = FORMATS[FMT_SMMU_S1]!;
  if (ssid >= 2 ** s1cdmax && ssid !== 0) return { code: stage1Fault(out, FAULT_CONFIG, 3, f, 0), cd: null, s1: null };
  const words: bigint[] = [];
  for (let w = 0; w < 2; w++) {
    const gpa = cdTable + ssid * CTXDESC_CD_DWORDS * 8 + w * 8;
    if (ptWalk(pool, s2, gpa, ACC_READ, s2scratch) !== 0) return { code: stage2Fault(out, s2scratch, gpa), cd: null, s1: null };
    words.push(mem.read64(s2scratch.pa));
  }
  const cd = decodeCd(words[0]!, words[1]!);
  const ia = 64 - cd.t0sz;
  const levels = Math.ceil((ia - 12) / 9);
  if (!cd.valid || cd.epd0 || !cd.aa64 || cd.tg0 !== 0 || levels < 2 || levels > 4) {
    return { code: stage1Fault(out, FAULT_CONFIG, 3, f, 0), cd, s1: null };
  }
  return {
    code: 0,
    cd,
    s1: { format: FMT_SMMU_S1, root: cd.ttb0 - (cd.ttb0 % 4096), levels, limit: 2 ** ia, tracking: cd.hd, ha: cd.ha },
  };
}

// ---- VT-d: first-level table pointer from the PASID entry (hardware.md §2.1) ----

/** Stage-1 config from a nested PASID entry's FLPTR (masked to 4 KiB) and FLPM (0 = 4-level, 1 = 5-level). */
export function vtdStage1(flptr: number, flpm: number): Stage1Config {
  const levels = flpm === 1 ? 5 : 4;
  return {
    format: FMT_VTD_FL,
    root: flptr - (flptr % 4096),
    levels,
    limit: Math.min(2 ** (12 + 9 * levels), 2 ** 53),
    tracking: true,
    ha: true,
  };
}

/**
 * Copies a pool-built table into guest memory: node n goes to GPA
 * `gpaOfNode(n)` and every table descriptor is re-pointed at the child's GPA,
 * so tests (and a modelled guest driver) can build stage-1 tables with the
 * same encoders the host uses. Returns the root's GPA.
 */
export function materializeGuestTable(
  pool: PoolState, t: TableState, gpaOfNode: (node: number) => number,
  write64: (gpa: number, v: bigint) => void,
): number {
  const f = FORMATS[t.format]!;
  const copy = (node: number, lvl: number): number => {
    const gpa = gpaOfNode(node);
    for (let i = 0; i < 512; i++) {
      const e = node * NODE_WORDS + i * 2;
      let lo = pool.words[e]!;
      let hi = pool.words[e + 1]!;
      if ((lo & f.validLo) === 0) continue;
      if (lvl > 0 && (lo & f.leafMaskLo) !== f.leafValLo) {
        const childGpa = copy((lo >>> 12) + (hi & f.addrHiMask) * TWO20, lvl - 1);
        lo = ((lo & 0xfff) | addrFieldLo(childGpa, 12)) >>> 0;
        hi = ((hi & ~f.addrHiMask) | addrFieldHi(childGpa, 12)) >>> 0;
      }
      write64(gpa + i * 8, (BigInt(hi) << 32n) | BigInt(lo));
    }
    return gpa;
  };
  return copy(t.root, t.levels - 1);
}
