/**
 * The `iommufd` fixture's VFIO-compat entries (mock-and-selftest.md §3.1,
 * tests 6–10): the type1 container ioctls on a bare iommufd, with no compat
 * IOAS, through the raw ABI.
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { spawnProc } from '../../actors/api.ts';
import { EINVAL, ENODEV } from '../../uapi/errno.ts';
import { VFIO_API_VERSION, VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../uapi/enums.ts';

function fixture() {
  const sim = new Simulation({});
  const p = spawnProc(sim);
  return { sim, p, fd: p.openIommufd() };
}

describe('iommufd', () => {
  it('simple_ioctls', () => {
    const { fd } = fixture();
    const v = fd.vfioGetApiVersion();
    expect(v.errno).toBe(0);
    expect(v.ret).toBe(VFIO_API_VERSION);
    const x = fd.vfioCheckExtension(VFIO_TYPE1v2_IOMMU);
    expect(x.errno).toBe(0);
    expect(x.ret).toBe(1);
  });

  it('unmap_cmd', () => {
    const { fd } = fixture();
    expect(fd.vfioUnmapDma({ argsz: 1 }).errno).toBe(EINVAL);
    expect(fd.vfioUnmapDma({ flags: 1 << 31 }).errno).toBe(EINVAL);
    expect(fd.vfioUnmapDma({}).errno).toBe(ENODEV);
  });

  it('map_cmd', () => {
    const { fd, p } = fixture();
    const buf = p.mmap({ length: 1 << 16 });
    expect(fd.vfioMapDma({ argsz: 1, vaddr: buf, size: 4096n }).errno).toBe(EINVAL);
    expect(fd.vfioMapDma({ flags: 1 << 31, vaddr: buf, size: 4096n }).errno).toBe(EINVAL);
    expect(fd.vfioMapDma({ flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, vaddr: buf, size: 4096n }).errno).toBe(ENODEV);
  });

  it('info_cmd', () => {
    const { fd } = fixture();
    expect(fd.vfioGetInfo(1).errno).toBe(EINVAL);
    expect(fd.vfioGetInfo(24).errno).toBe(ENODEV);
  });

  it('set_iommu_cmd', () => {
    const { fd } = fixture();
    expect(fd.vfioSetIommu(VFIO_TYPE1v2_IOMMU).errno).toBe(ENODEV);
    expect(fd.vfioSetIommu(VFIO_TYPE1_IOMMU).errno).toBe(ENODEV);
  });
});
