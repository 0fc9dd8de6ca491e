// The selftest mock's paging domain (mock-and-selftest.md §1.2, §1.6, §4):
// the newest mock uses a generic page table with the AMDv1 layout and a
// 2 KiB granule (MOCK_PAGE_SIZE); the HUGE type adds 1 MiB leaves
// (MOCK_HUGE_PAGE_SIZE = 512 * 2048) one level up.
//
// Modelling choice: leaf address fields hold the 2 KiB frame number in bits
// 51:12 (so bit 11 stays free for the next-level field); table pointers are
// 4 KiB table pages like every other format. The mock never sets A/D itself:
// dirtiness is injected by the DIRTY test op (IoPageTable.markDirty).

import { FMT_MOCK, PageTableFormat, STYLE_AMDV1 } from './format.ts';
import { AMD_PTE_NL_SHIFT, AMD_PTE_PR, amdv1Encoders } from './amd.ts';

export const MOCK_PAGE_SIZE = 2048;
export const MOCK_HUGE_PAGE_SIZE = 512 * 2048;
export const MOCK_APERTURE_START = 1 << 24;
export const MOCK_APERTURE_LAST = 2 ** 31 - 1;
/** block-level masks for the two page-table types the selftests use */
export const MOCK_IOMMUPT_DEFAULT_BLOCKS = 0b01;
export const MOCK_IOMMUPT_HUGE_BLOCKS = 0b11;

export const MOCK = new PageTableFormat({
  id: FMT_MOCK,
  name: 'mock',
  granuleShift: 11,
  minLevels: 2,
  maxLevels: 5,
  defaultLevels: 3, // 38-bit input covers the mock aperture and the HUGE type's wide one
  lpaeLevels: false,
  validLo: AMD_PTE_PR,
  leafMaskLo: 7 << AMD_PTE_NL_SHIFT,
  leafValLo: 0,
  pageMaskLo: 0,
  pageValLo: 0,
  addrHiMask: 0xfffff,
  style: STYLE_AMDV1,
  blockLevels: MOCK_IOMMUPT_HUGE_BLOCKS,
  defaultBlockLevels: MOCK_IOMMUPT_DEFAULT_BLOCKS,
  hwUpdates: false,
  ...amdv1Encoders(11, false),
});
