// ARM SMMUv3 I/O page tables: AArch64 VMSA LPAE descriptors, 4 KiB granule
// (hardware.md §3.4). Bits 1:0: 0bx0 invalid, 0b01 block (levels 1, 2),
// 0b11 table (levels 0..2) or page (level 3). Stage 1: AttrIndx 4:2, AP[1] 6
// (unprivileged), AP[2] 7 (read-only), SH 9:8, AF 10, nG 11. Stage 2: MemAttr
// 5:2, S2AP 7:6 (bit 6 read, bit 7 write). Address 47:12, DBM 51, XN 54:53.
//
// Dirty state under HTTU (CD.HD): a writable leaf is mapped with DBM = 1;
// stage 1 is writable-dirty when AP[2] = 0 and writable-clean when AP[2] = 1
// (read_and_clear_dirty sets AP[2]; the first write clears it). Like
// io-pgtable-arm with IO_PGTABLE_QUIRK_ARM_HD, a fresh writable mapping starts
// writable-dirty, which is why iommufd clears dirty state when enabling
// tracking. Stage 2 mirrors it with S2AP[1] as "dirty".

import {
  ENC, FMT_SMMU_S1, FMT_SMMU_S2, PageTableFormat, PROT_CACHE, PROT_NOEXEC, PROT_PRIV, PROT_READ, PROT_WRITE,
  STYLE_LPAE_S1, STYLE_LPAE_S2, addrFieldHi, addrFieldLo,
} from './format.ts';

export const ARM_LPAE_PTE_TYPE_BLOCK = 1;
export const ARM_LPAE_PTE_TYPE_TABLE = 3;
export const ARM_LPAE_PTE_TYPE_PAGE = 3;
export const ARM_LPAE_PTE_ATTRINDX_SHIFT = 2;
export const ARM_LPAE_MAIR_ATTR_IDX_CACHE = 1;
export const ARM_LPAE_PTE_AP_UNPRIV = 1 << 6;
export const ARM_LPAE_PTE_AP_RDONLY = 1 << 7;
export const ARM_LPAE_PTE_HAP_READ = 1 << 6;
export const ARM_LPAE_PTE_HAP_WRITE = 1 << 7;
export const ARM_LPAE_PTE_SH_IS = 3 << 8;
export const ARM_LPAE_PTE_AF = 1 << 10;
export const ARM_LPAE_PTE_NG = 1 << 11;
export const ARM_LPAE_PTE_MEMATTR_OIWB = 0xf << 2;
export const ARM_LPAE_PTE_MEMATTR_NC = 0x5 << 2;
/** hi-half bits */
export const ARM_LPAE_PTE_HI_DBM = 1 << 19; // bit 51
export const ARM_LPAE_PTE_HI_XN = 3 << 21; // bits 54:53

function lpaeType(lvl: number): number {
  return lvl === 0 ? ARM_LPAE_PTE_TYPE_PAGE : ARM_LPAE_PTE_TYPE_BLOCK;
}

function encodeTable(addr: number, _lvl: number): void {
  ENC[0] = (addrFieldLo(addr, 12) | ARM_LPAE_PTE_TYPE_TABLE) >>> 0;
  ENC[1] = addrFieldHi(addr, 12) & 0xffff;
}

const lpaeCommon = {
  granuleShift: 12,
  minLevels: 2,
  maxLevels: 4,
  defaultLevels: 4,
  lpaeLevels: true,
  validLo: 1,
  leafMaskLo: 3,
  leafValLo: ARM_LPAE_PTE_TYPE_BLOCK,
  pageMaskLo: 3,
  pageValLo: ARM_LPAE_PTE_TYPE_PAGE,
  addrHiMask: 0xffff,
  blockLevels: 0b111,
  defaultBlockLevels: 0b111,
  hwUpdates: true,
  encodeTable,
} as const;

export const SMMU_S1 = new PageTableFormat({
  ...lpaeCommon,
  id: FMT_SMMU_S1,
  name: 'smmuv3-s1',
  style: STYLE_LPAE_S1,
  encodeLeaf(pa: number, prot: number, lvl: number, tracking: boolean): void {
    const ro = (prot & PROT_WRITE) === 0;
    ENC[0] = (addrFieldLo(pa, 12) | lpaeType(lvl) | ARM_LPAE_PTE_NG | ARM_LPAE_PTE_AF | ARM_LPAE_PTE_SH_IS |
      (prot & PROT_CACHE ? ARM_LPAE_MAIR_ATTR_IDX_CACHE << ARM_LPAE_PTE_ATTRINDX_SHIFT : 0) |
      (prot & PROT_PRIV ? 0 : ARM_LPAE_PTE_AP_UNPRIV) | (ro ? ARM_LPAE_PTE_AP_RDONLY : 0)) >>> 0;
    ENC[1] = ((addrFieldHi(pa, 12) & 0xffff) | (!ro && tracking ? ARM_LPAE_PTE_HI_DBM : 0) |
      (prot & PROT_NOEXEC ? ARM_LPAE_PTE_HI_XN : 0)) >>> 0;
  },
  leafProt: (lo: number, hi: number) =>
    PROT_READ | ((lo & ARM_LPAE_PTE_AP_RDONLY) === 0 || (hi & ARM_LPAE_PTE_HI_DBM) !== 0 ? PROT_WRITE : 0),
  isDirty: (lo: number, hi: number) => (hi & ARM_LPAE_PTE_HI_DBM) !== 0 && (lo & ARM_LPAE_PTE_AP_RDONLY) === 0,
  cleanLo: (lo: number, hi: number) => (hi & ARM_LPAE_PTE_HI_DBM ? (lo | ARM_LPAE_PTE_AP_RDONLY) >>> 0 : lo),
  dirtyLo: (lo: number, hi: number) => (hi & ARM_LPAE_PTE_HI_DBM ? (lo & ~ARM_LPAE_PTE_AP_RDONLY) >>> 0 : lo),
});

export const SMMU_S2 = new PageTableFormat({
  ...lpaeCommon,
  id: FMT_SMMU_S2,
  name: 'smmuv3-s2',
  style: STYLE_LPAE_S2,
  encodeLeaf(pa: number, prot: number, lvl: number, tracking: boolean): void {
    const w = (prot & PROT_WRITE) !== 0;
    ENC[0] = (addrFieldLo(pa, 12) | lpaeType(lvl) | ARM_LPAE_PTE_AF | ARM_LPAE_PTE_SH_IS |
      (prot & PROT_CACHE ? ARM_LPAE_PTE_MEMATTR_OIWB : ARM_LPAE_PTE_MEMATTR_NC) |
      (prot & PROT_READ ? ARM_LPAE_PTE_HAP_READ : 0) | (w ? ARM_LPAE_PTE_HAP_WRITE : 0)) >>> 0;
    ENC[1] = ((addrFieldHi(pa, 12) & 0xffff) | (w && tracking ? ARM_LPAE_PTE_HI_DBM : 0) |
      (prot & PROT_NOEXEC ? ARM_LPAE_PTE_HI_XN : 0)) >>> 0;
  },
  leafProt: (lo: number, hi: number) =>
    (lo & ARM_LPAE_PTE_HAP_READ ? PROT_READ : 0) |
    ((lo & ARM_LPAE_PTE_HAP_WRITE) !== 0 || (hi & ARM_LPAE_PTE_HI_DBM) !== 0 ? PROT_WRITE : 0),
  isDirty: (lo: number, hi: number) => (hi & ARM_LPAE_PTE_HI_DBM) !== 0 && (lo & ARM_LPAE_PTE_HAP_WRITE) !== 0,
  cleanLo: (lo: number, hi: number) => (hi & ARM_LPAE_PTE_HI_DBM ? (lo & ~ARM_LPAE_PTE_HAP_WRITE) >>> 0 : lo),
  dirtyLo: (lo: number, hi: number) => (hi & ARM_LPAE_PTE_HI_DBM ? (lo | ARM_LPAE_PTE_HAP_WRITE) >>> 0 : lo),
});
