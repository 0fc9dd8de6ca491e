// Shared vocabulary of the page-table formats: protection and access flags,
// fault codes, and the per-format parameters the generic radix walker reads.
//
// Every format is an instance of the same class so that the walker's property
// loads stay monomorphic no matter how many formats one process uses; the
// format-specific leaf rules are selected by a small integer (`style`) in a
// switch instead of a virtual call.

/** iommu_map() prot bits, same values as include/linux/iommu.h */
export const PROT_READ = 1 << 0;
export const PROT_WRITE = 1 << 1;
export const PROT_CACHE = 1 << 2;
export const PROT_NOEXEC = 1 << 3;
export const PROT_PRIV = 1 << 5;

/** access flags for walk() */
export const ACC_READ = 1;
export const ACC_WRITE = 2;
/** behave as hardware: set A/D (or clear AP[2] under DBM) in the descriptor */
export const ACC_UPDATE = 4;
/** privileged (supervisor) request: x86 U/S and LPAE AP[1] are not required */
export const ACC_PRIV = 8;

/** walk() return codes; 0 is success */
export const WALK_OK = 0;
export const FAULT_TRANSLATION = 1;
export const FAULT_PERMISSION = 2;
/** LPAE leaf with AF = 0 while hardware AF update (HA) is off */
export const FAULT_ACCESS = 3;
/** input address beyond the table's input width (or TTB0 region) */
export const FAULT_ADDRESS_SIZE = 4;
/** bad context: CD.V = 0, EPD0, unsupported TG0/T0SZ, ... (nested only) */
export const FAULT_CONFIG = 5;

export type FaultKind = 'translation' | 'permission' | 'access' | 'address_size' | 'config';
const FAULT_NAMES: readonly FaultKind[] = ['translation', 'translation', 'permission', 'access', 'address_size', 'config'];
export function faultKindName(code: number): FaultKind {
  return FAULT_NAMES[code] ?? 'translation';
}

/** Leaf-rule families */
export const STYLE_VTD_SL = 0;
export const STYLE_X86 = 1;
export const STYLE_LPAE_S1 = 2;
export const STYLE_LPAE_S2 = 3;
export const STYLE_AMDV1 = 4;

/** Format ids: index into FORMATS (registry.ts) and the `format` field of TableState */
export const FMT_MOCK = 0;
export const FMT_VTD_SL = 1;
export const FMT_VTD_FL = 2;
export const FMT_SMMU_S1 = 3;
export const FMT_SMMU_S2 = 4;
export const FMT_AMD_V1 = 5;
export const FMT_AMD_V2 = 6;
export type FormatId = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** Partial unmap of a block/superpage leaf */
export const UNMAP_SPLIT = 0; // replace by a next-level table minus the hole (old io-pgtable-arm)
export const UNMAP_WHOLE = 1; // drop the whole leaf, report its size (intel/amd iommu_unmap)
export const UNMAP_REFUSE = 2; // stop and report what was unmapped so far (io-pgtable-arm today)

/** Output of leaf encoders: [lo, hi] halves of one descriptor */
export const ENC = new Uint32Array(2);

export const TWO32 = 4294967296;
export const TWO20 = 1048576;

export interface FormatInit {
  id: FormatId;
  name: string;
  granuleShift: number;
  minLevels: number;
  maxLevels: number;
  defaultLevels: number;
  /** native level numbering: LPAE counts 0 at the top down to 3 at 4 KiB; others count 1 at the leaf up */
  lpaeLevels: boolean;
  validLo: number;
  leafMaskLo: number;
  leafValLo: number;
  pageMaskLo: number;
  pageValLo: number;
  addrHiMask: number;
  style: number;
  /** bit l set: a leaf at internal level l (0 = smallest page) is architecturally allowed */
  blockLevels: number;
  defaultBlockLevels: number;
  /** hardware ever writes A/D state back (false for the mock: dirtiness is injected) */
  hwUpdates: boolean;
  /** writes a leaf descriptor for `pa` at internal level `lvl` into ENC */
  encodeLeaf: (pa: number, prot: number, lvl: number, tracking: boolean) => void;
  /** writes a table descriptor pointing at table address `addr` (a node index << 12, or a GPA) into ENC */
  encodeTable: (addr: number, lvl: number) => void;
  /** R/W the leaf grants to an unprivileged request (writable-clean counts as writable) */
  leafProt: (lo: number, hi: number) => number;
  isDirty: (lo: number, hi: number) => boolean;
  /** lo half after clearing / setting the dirty state (only lo bits are involved in every format) */
  cleanLo: (lo: number, hi: number) => number;
  dirtyLo: (lo: number, hi: number) => number;
}

export class PageTableFormat {
  readonly id: FormatId;
  readonly name: string;
  readonly granuleShift: number;
  readonly minLevels: number;
  readonly maxLevels: number;
  readonly defaultLevels: number;
  readonly lpaeLevels: boolean;
  readonly validLo: number;
  readonly leafMaskLo: number;
  readonly leafValLo: number;
  readonly pageMaskLo: number;
  readonly pageValLo: number;
  readonly addrHiMask: number;
  readonly style: number;
  readonly blockLevels: number;
  readonly defaultBlockLevels: number;
  readonly hwUpdates: boolean;
  readonly encodeLeaf: FormatInit['encodeLeaf'];
  readonly encodeTable: FormatInit['encodeTable'];
  readonly leafProt: FormatInit['leafProt'];
  readonly isDirty: FormatInit['isDirty'];
  readonly cleanLo: FormatInit['cleanLo'];
  readonly dirtyLo: FormatInit['dirtyLo'];
  /** bit position of level l's index in the input address */
  readonly shift: Int32Array;
  /** low-32 mask of the offset inside a leaf at level l (leaves are at most 1 GiB) */
  readonly offMask: Uint32Array;
  /** mask applied to (lo >>> 12) to drop the frame bits inside a level-l leaf */
  readonly frameMask: Uint32Array;
  readonly leafSizes: Float64Array;
  readonly granule: number;

  constructor(i: FormatInit) {
    this.id = i.id;
    this.name = i.name;
    this.granuleShift = i.granuleShift;
    this.minLevels = i.minLevels;
    this.maxLevels = i.maxLevels;
    this.defaultLevels = i.defaultLevels;
    this.lpaeLevels = i.lpaeLevels;
    this.validLo = i.validLo;
    this.leafMaskLo = i.leafMaskLo;
    this.leafValLo = i.leafValLo;
    this.pageMaskLo = i.pageMaskLo;
    this.pageValLo = i.pageValLo;
    this.addrHiMask = i.addrHiMask;
    this.style = i.style;
    this.blockLevels = i.blockLevels;
    this.defaultBlockLevels = i.defaultBlockLevels;
    this.hwUpdates = i.hwUpdates;
    this.encodeLeaf = i.encodeLeaf;
    this.encodeTable = i.encodeTable;
    this.leafProt = i.leafProt;
    this.isDirty = i.isDirty;
    this.cleanLo = i.cleanLo;
    this.dirtyLo = i.dirtyLo;
    this.granule = 2 ** i.granuleShift;
    this.shift = new Int32Array(8);
    this.offMask = new Uint32Array(8);
    this.frameMask = new Uint32Array(8);
    this.leafSizes = new Float64Array(8);
    for (let l = 0; l < 8; l++) {
      const s = i.granuleShift + 9 * l;
      this.shift[l] = s;
      this.offMask[l] = s >= 32 ? 0xffffffff : (2 ** s - 1) >>> 0;
      this.frameMask[l] = 9 * l >= 20 ? 0 : (~(2 ** (9 * l) - 1)) >>> 0;
      this.leafSizes[l] = 2 ** s;
    }
  }

  leafSize(lvl: number): number {
    return 2 ** (this.granuleShift + 9 * lvl);
  }

  inputBits(levels: number): number {
    return this.granuleShift + 9 * levels;
  }

  /** internal level (0 = smallest leaf) -> the level number the hardware spec uses */
  nativeLevel(lvl: number): number {
    return this.lpaeLevels ? 3 - lvl : lvl + 1;
  }
}

/** Frame address (bits 12.. of the descriptor) as a byte address, granule-scaled. */
export function descAddr(f: PageTableFormat, lo: number, hi: number): number {
  return ((lo >>> 12) + (hi & f.addrHiMask) * TWO20) * f.granule;
}

/** Splits `addr` (a byte address, granule-aligned) into address-field halves. */
export function addrFieldLo(addr: number, granuleShift: number): number {
  const frame = addr / 2 ** granuleShift;
  return ((frame % TWO20) * 4096) >>> 0;
}
export function addrFieldHi(addr: number, granuleShift: number): number {
  const frame = addr / 2 ** granuleShift;
  return Math.floor(frame / TWO20) >>> 0;
}

/**
 * Result of evaluating one leaf for one access. Written, never allocated, so
 * the hot walk stays allocation-free.
 */
export const EV = {
  code: 0,
  /** descriptor halves after the hardware update (equal to input when nothing changes) */
  lo: 0,
  hi: 0,
  /** PROT_READ|PROT_WRITE granted for further accesses through this translation */
  prot: 0,
  /** a write through this leaf needs no descriptor update (safe to cache as "write ok") */
  dirtyOk: 0,
};

/**
 * Leaf rules per format family. `path` is the AND of every descriptor's lo
 * half on the walk (x86 checks R/W and U/S at every level). `tracking` is the
 * dirty-tracking enable of the context (VT-d SSADE, SMMU CD.HD, AMD DTE.HAD),
 * `ha` the LPAE hardware access-flag enable.
 */
function finish(code: number, lo: number, hi: number, nlo: number, prot: number, dirtyOk: number, access: number, hwUpdates: boolean): number {
  EV.code = code;
  EV.lo = hwUpdates && (access & ACC_UPDATE) !== 0 && code === 0 ? nlo >>> 0 : lo;
  EV.hi = hi;
  EV.prot = prot;
  EV.dirtyOk = hwUpdates ? dirtyOk : 1;
  return code;
}

function evalVtdSl(lo: number, hi: number, access: number, tracking: boolean): number {
  const write = (access & ACC_WRITE) !== 0;
  if (write ? (lo & 2) === 0 : (lo & 1) === 0) return finish(FAULT_PERMISSION, lo, hi, lo, lo & 3, 1, access, true);
  if (!tracking) return finish(0, lo, hi, lo, lo & 3, 1, access, true);
  const nlo = lo | 0x100 | (write ? 0x200 : 0); // A, D
  return finish(0, lo, hi, nlo, lo & 3, (lo & 0x300) === 0x300 ? 1 : 0, access, true);
}

function evalX86(lo: number, hi: number, path: number, access: number): number {
  const write = (access & ACC_WRITE) !== 0;
  const prot = PROT_READ | (path & 2);
  if ((access & ACC_PRIV) === 0 && (path & 4) === 0) return finish(FAULT_PERMISSION, lo, hi, lo, prot, 1, access, true);
  if (write && (path & 2) === 0) return finish(FAULT_PERMISSION, lo, hi, lo, prot, 1, access, true);
  const nlo = lo | 0x20 | (write ? 0x40 : 0); // A, D
  return finish(0, lo, hi, nlo, prot, (lo & 0x60) === 0x60 ? 1 : 0, access, true);
}

function evalLpaeS1(lo: number, hi: number, access: number, tracking: boolean, ha: boolean): number {
  const write = (access & ACC_WRITE) !== 0;
  const ro = (lo & 0x80) !== 0;
  const dbm = (hi & (1 << 19)) !== 0 && tracking;
  const prot = PROT_READ | (!ro || dbm ? PROT_WRITE : 0);
  if ((lo & 0x400) === 0 && !ha) return finish(FAULT_ACCESS, lo, hi, lo, prot, 1, access, true);
  if ((access & ACC_PRIV) === 0 && (lo & 0x40) === 0) return finish(FAULT_PERMISSION, lo, hi, lo, prot, 1, access, true);
  if (write && ro && !dbm) return finish(FAULT_PERMISSION, lo, hi, lo, prot, 1, access, true);
  let nlo = lo | 0x400;
  if (write && ro) nlo &= ~0x80; // writable-clean -> writable-dirty
  return finish(0, lo, hi, nlo, prot, ro || (lo & 0x400) === 0 ? 0 : 1, access, true);
}

function evalLpaeS2(lo: number, hi: number, access: number, tracking: boolean, ha: boolean): number {
  const write = (access & ACC_WRITE) !== 0;
  const w = (lo & 0x80) !== 0;
  const dbm = (hi & (1 << 19)) !== 0 && tracking;
  const prot = (lo & 0x40 ? PROT_READ : 0) | (w || dbm ? PROT_WRITE : 0);
  if ((lo & 0x400) === 0 && !ha) return finish(FAULT_ACCESS, lo, hi, lo, prot, 1, access, true);
  if (write ? !w && !dbm : (lo & 0x40) === 0) return finish(FAULT_PERMISSION, lo, hi, lo, prot, 1, access, true);
  const nlo = lo | 0x400 | (write ? 0x80 : 0); // S2AP[1] set by hardware: now writable-dirty
  return finish(0, lo, hi, nlo, prot, w && (lo & 0x400) !== 0 ? 1 : 0, access, true);
}

function evalAmdV1(lo: number, hi: number, access: number, tracking: boolean, hwUpdates: boolean): number {
  const write = (access & ACC_WRITE) !== 0;
  const prot = ((hi >>> 29) & 1) | ((hi >>> 29) & 2);
  if (write ? (hi & (1 << 30)) === 0 : (hi & (1 << 29)) === 0) return finish(FAULT_PERMISSION, lo, hi, lo, prot, 1, access, hwUpdates);
  if (!tracking) return finish(0, lo, hi, lo, prot, 1, access, hwUpdates);
  const nlo = lo | 0x20 | (write ? 0x40 : 0);
  return finish(0, lo, hi, nlo, prot, (lo & 0x60) === 0x60 ? 1 : 0, access, hwUpdates);
}

/**
 * Leaf rules per format family; results in EV. `path` is the AND of every
 * descriptor's lo half on the walk (x86 checks R/W and U/S at every level).
 * `tracking` is the dirty-tracking enable of the context (VT-d SSADE, SMMU
 * CD.HD, AMD DTE.HAD), `ha` the LPAE hardware access-flag enable.
 */
export function leafEval(
  style: number, hwUpdates: boolean, lo: number, hi: number, path: number, access: number, tracking: boolean, ha: boolean,
): number {
  switch (style) {
    case STYLE_VTD_SL: return evalVtdSl(lo, hi, access, tracking);
    case STYLE_X86: return evalX86(lo, hi, path, access);
    case STYLE_LPAE_S1: return evalLpaeS1(lo, hi, access, tracking, ha);
    case STYLE_LPAE_S2: return evalLpaeS2(lo, hi, access, tracking, ha);
    default: return evalAmdV1(lo, hi, access, tracking, hwUpdates);
  }
}
