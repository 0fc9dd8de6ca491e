// x86-64 paging-structure format shared by the VT-d first-level table (§2.3)
// and the AMD-Vi v2 table (§4.4): P 0, R/W 1, U/S 2, A 5, D 6 (leaf), PS 7,
// address 51:12. Permissions are the AND over every level (the walker passes
// that AND in `path`). XD (bit 63) is not modelled, as the spec says.

import {
  ENC, FMT_VTD_FL, PROT_WRITE, PROT_READ, STYLE_X86, addrFieldHi, addrFieldLo, type FormatInit,
} from './format.ts';

export const X86_PTE_P = 1 << 0;
export const X86_PTE_RW = 1 << 1;
export const X86_PTE_US = 1 << 2;
export const X86_PTE_A = 1 << 5;
export const X86_PTE_D = 1 << 6;
export const X86_PTE_PS = 1 << 7;

export const x86Init: FormatInit = {
  id: FMT_VTD_FL,
  name: 'vtd-fl',
  granuleShift: 12,
  minLevels: 4,
  maxLevels: 5,
  defaultLevels: 4,
  lpaeLevels: false,
  validLo: X86_PTE_P,
  leafMaskLo: X86_PTE_PS,
  leafValLo: X86_PTE_PS,
  pageMaskLo: 0,
  pageValLo: 0,
  addrHiMask: 0xfffff,
  style: STYLE_X86,
  blockLevels: 0b111,
  defaultBlockLevels: 0b111,
  hwUpdates: true,
  encodeLeaf(pa: number, prot: number, lvl: number, _tracking: boolean): void {
    // The driver pre-sets A (DMA_FL_PTE_ACCESS) so hardware only ever writes D.
    ENC[0] = (addrFieldLo(pa, 12) | X86_PTE_P | X86_PTE_US | X86_PTE_A |
      (prot & PROT_WRITE ? X86_PTE_RW : 0) | (lvl > 0 ? X86_PTE_PS : 0)) >>> 0;
    ENC[1] = addrFieldHi(pa, 12);
  },
  encodeTable(addr: number, _lvl: number): void {
    ENC[0] = (addrFieldLo(addr, 12) | X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_A) >>> 0;
    ENC[1] = addrFieldHi(addr, 12);
  },
  leafProt: (lo: number, _hi: number) => PROT_READ | (lo & X86_PTE_RW ? PROT_WRITE : 0),
  isDirty: (lo: number, _hi: number) => (lo & X86_PTE_D) !== 0,
  cleanLo: (lo: number, _hi: number) => (lo & ~X86_PTE_D) >>> 0,
  dirtyLo: (lo: number, _hi: number) => (lo | X86_PTE_D) >>> 0,
};
