// AMD-Vi I/O page tables (hardware.md §4.3, §4.4).
//
// v1 (host): PR bit 0, A bit 5, D bit 6 (IOMMU_PTE_HD_BIT), next level 11:9
// (0 = leaf of this level's size; a PDE carries the level of the table it
// points to), address 51:12, FC 60, IR 61, IW 62. Non-default sizes through
// next-level 7 are not generated; a walker meeting NL = 7 treats it as a table
// pointer and will fault, which is good enough for kernel-built tables.
// v2: x86-64 layout, shared with the VT-d first-level table.

import {
  ENC, FMT_AMD_V1, FMT_AMD_V2, PageTableFormat, PROT_READ, PROT_WRITE, STYLE_AMDV1, addrFieldHi, addrFieldLo,
} from './format.ts';
import { x86Init } from './x86.ts';

export const AMD_PTE_PR = 1 << 0;
export const AMD_PTE_A = 1 << 5;
export const AMD_PTE_HD = 1 << 6;
export const AMD_PTE_NL_SHIFT = 9;
/** hi-half bits (descriptor bits 59..62) */
export const AMD_PTE_HI_U = 1 << 27;
export const AMD_PTE_HI_FC = 1 << 28;
export const AMD_PTE_HI_IR = 1 << 29;
export const AMD_PTE_HI_IW = 1 << 30;

function amdProtHi(prot: number): number {
  return (prot & PROT_READ ? AMD_PTE_HI_IR : 0) | (prot & PROT_WRITE ? AMD_PTE_HI_IW : 0);
}

/** AMDv1-layout leaf/table encoders, parameterised by granule (the mock uses 2 KiB). */
export function amdv1Encoders(granuleShift: number, forceCoherent: boolean) {
  return {
    encodeLeaf(pa: number, prot: number, _lvl: number, _tracking: boolean): void {
      ENC[0] = (addrFieldLo(pa, granuleShift) | AMD_PTE_PR) >>> 0;
      ENC[1] = (addrFieldHi(pa, granuleShift) | amdProtHi(prot) | (forceCoherent ? AMD_PTE_HI_FC : 0)) >>> 0;
    },
    encodeTable(addr: number, lvl: number): void {
      // PM_LEVEL_PDE: PR | IR | IW | NL = level of the child table (1-based)
      ENC[0] = (addrFieldLo(addr, 12) | AMD_PTE_PR | (lvl << AMD_PTE_NL_SHIFT)) >>> 0;
      ENC[1] = (addrFieldHi(addr, 12) | AMD_PTE_HI_IR | AMD_PTE_HI_IW) >>> 0;
    },
    leafProt: (_lo: number, hi: number) => ((hi >>> 29) & 1) | ((hi >>> 29) & 2),
    isDirty: (lo: number, _hi: number) => (lo & AMD_PTE_HD) !== 0,
    cleanLo: (lo: number, _hi: number) => (lo & ~AMD_PTE_HD) >>> 0,
    dirtyLo: (lo: number, _hi: number) => (lo | AMD_PTE_HD) >>> 0,
  };
}

export const AMD_V1 = new PageTableFormat({
  id: FMT_AMD_V1,
  name: 'amd-v1',
  granuleShift: 12,
  minLevels: 1,
  maxLevels: 5, // 6 would need 64-bit IOVAs; the hot path keeps IOVAs as doubles (< 2^53)
  defaultLevels: 4,
  lpaeLevels: false,
  validLo: AMD_PTE_PR,
  leafMaskLo: 7 << AMD_PTE_NL_SHIFT,
  leafValLo: 0,
  pageMaskLo: 0,
  pageValLo: 0,
  addrHiMask: 0xfffff,
  style: STYLE_AMDV1,
  blockLevels: 0b111,
  defaultBlockLevels: 0b111,
  hwUpdates: true,
  ...amdv1Encoders(12, true),
});

export const AMD_V2 = new PageTableFormat({ ...x86Init, id: FMT_AMD_V2, name: 'amd-v2' });
