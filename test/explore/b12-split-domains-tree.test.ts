/**
 * B12 (spec/bugs.md, "iommufd: Fix missing update of domains_itree after
 * splitting iopt_area"): each iopt_pages keeps the areas that map it into
 * domains (pages->domains_itree).  VFIO type1 UNMAP_DMA of a range inside
 * one area splits it (iopt_cut_iova → iopt_area_split); the halves must
 * replace the area in that tree.  The buggy split left the node of the area
 * that no longer exists, and added neither half.
 */
import { describe, expect, it } from 'vitest';
import { checkInvariants } from '../../actors/invariants.ts';
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_TYPE1_IOMMU } from '../../uapi/enums.ts';
import { MOCK_APERTURE_START, PAGE, closeAll, compatSetup, leftovers, newSim } from '../compat/fixture.ts';

function splitUnderDomain(variant: string | null) {
  const fx = compatSetup({ sim: newSim({ variant }), version: VFIO_TYPE1_IOMMU, device: 'mock' });
  expect(fx.fd.vfioMapDma({ flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, vaddr: fx.buffer, size: 8n * PAGE, iova: MOCK_APERTURE_START }).errno).toBe(0);
  const before = checkInvariants(fx.sim);
  const cut = fx.fd.vfioUnmapDma({ flags: 0, iova: MOCK_APERTURE_START + 2n * PAGE, size: 2n * PAGE });
  return { fx, before, cut };
}

describe('B12: a split area in the pages domains tree', () => {
  it('fixed: the two remaining halves replace the area; everything unmaps and closes clean', () => {
    const { fx, before, cut } = splitUnderDomain(null);
    expect(before).toEqual([]);
    expect(cut.errno).toBe(0);
    expect(cut.out.size).toBe(2n * PAGE);
    expect(checkInvariants(fx.sim)).toEqual([]);
    const pages = Object.values(fx.sim.world.pages.pages);
    expect(pages).toHaveLength(1);
    // three pieces were cut, the middle one unmapped: two areas remain in the tree
    expect(pages[0]!.domainAreas).toHaveLength(2);
    closeAll(fx);
    expect(leftovers(fx.sim)).toEqual([]);
  });

  it('B12: the tree still names the area that was split (and neither half)', () => {
    const { fx, before, cut } = splitUnderDomain('B12');
    expect(before).toEqual([]);
    expect(cut.errno).toBe(0); // user space sees nothing wrong
    const bad = checkInvariants(fx.sim);
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatch(/^iopt_pages \d+: domains tree holds areas \[\d+(,\d+)*\], but the areas filled into domains are \[\d+,\d+\]$/);
  });
});
