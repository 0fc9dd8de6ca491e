// Intel VT-d I/O page tables (hardware.md §2.2, §2.3).
//
// Second level: R 0, W 1, PS 7 (DMA_PTE_LARGE_PAGE), A 8 and D 9
// (DMA_SL_PTE_DIRTY_BIT) written only under SSADE, SNP 11, address 12..HAW-1.
// An entry is present when R or W is set: there is no separate present bit.
// First level: x86-64 format, see x86.ts.

import {
  ENC, FMT_VTD_SL, PageTableFormat, PROT_READ, PROT_WRITE, STYLE_VTD_SL, addrFieldHi, addrFieldLo,
} from './format.ts';
import { x86Init } from './x86.ts';

export const DMA_PTE_READ = 1 << 0;
export const DMA_PTE_WRITE = 1 << 1;
export const DMA_PTE_LARGE_PAGE = 1 << 7;
export const DMA_SL_PTE_ACCESS = 1 << 8;
export const DMA_SL_PTE_DIRTY = 1 << 9;
export const DMA_PTE_SNP = 1 << 11;

export const VTD_SL = new PageTableFormat({
  id: FMT_VTD_SL,
  name: 'vtd-sl',
  granuleShift: 12,
  minLevels: 3,
  maxLevels: 5,
  defaultLevels: 4,
  lpaeLevels: false,
  validLo: DMA_PTE_READ | DMA_PTE_WRITE,
  leafMaskLo: DMA_PTE_LARGE_PAGE,
  leafValLo: DMA_PTE_LARGE_PAGE,
  pageMaskLo: 0,
  pageValLo: 0,
  addrHiMask: 0xfffff,
  style: STYLE_VTD_SL,
  blockLevels: 0b111,
  defaultBlockLevels: 0b111,
  hwUpdates: true,
  encodeLeaf(pa: number, prot: number, lvl: number, _tracking: boolean): void {
    ENC[0] = (addrFieldLo(pa, 12) | (prot & PROT_READ ? DMA_PTE_READ : 0) |
      (prot & PROT_WRITE ? DMA_PTE_WRITE : 0) | (lvl > 0 ? DMA_PTE_LARGE_PAGE : 0)) >>> 0;
    ENC[1] = addrFieldHi(pa, 12);
  },
  encodeTable(addr: number, _lvl: number): void {
    ENC[0] = (addrFieldLo(addr, 12) | DMA_PTE_READ | DMA_PTE_WRITE) >>> 0;
    ENC[1] = addrFieldHi(addr, 12);
  },
  leafProt: (lo: number, _hi: number) => lo & 3,
  isDirty: (lo: number, _hi: number) => (lo & DMA_SL_PTE_DIRTY) !== 0,
  cleanLo: (lo: number, _hi: number) => (lo & ~DMA_SL_PTE_DIRTY) >>> 0,
  dirtyLo: (lo: number, _hi: number) => (lo | DMA_SL_PTE_DIRTY) >>> 0,
});

export const VTD_FL = new PageTableFormat(x86Init);
