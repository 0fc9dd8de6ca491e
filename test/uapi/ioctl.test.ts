import { describe, expect, it } from 'vitest';
import * as io from '../../uapi/ioctl.ts';

const IOMMUFD: Array<[string, number]> = [
  ['IOMMU_DESTROY', 0x3b80], ['IOMMU_IOAS_ALLOC', 0x3b81], ['IOMMU_IOAS_ALLOW_IOVAS', 0x3b82],
  ['IOMMU_IOAS_COPY', 0x3b83], ['IOMMU_IOAS_IOVA_RANGES', 0x3b84], ['IOMMU_IOAS_MAP', 0x3b85],
  ['IOMMU_IOAS_UNMAP', 0x3b86], ['IOMMU_OPTION', 0x3b87], ['IOMMU_VFIO_IOAS', 0x3b88],
  ['IOMMU_HWPT_ALLOC', 0x3b89], ['IOMMU_GET_HW_INFO', 0x3b8a], ['IOMMU_HWPT_SET_DIRTY_TRACKING', 0x3b8b],
  ['IOMMU_HWPT_GET_DIRTY_BITMAP', 0x3b8c], ['IOMMU_HWPT_INVALIDATE', 0x3b8d], ['IOMMU_FAULT_QUEUE_ALLOC', 0x3b8e],
  ['IOMMU_IOAS_MAP_FILE', 0x3b8f], ['IOMMU_VIOMMU_ALLOC', 0x3b90], ['IOMMU_VDEVICE_ALLOC', 0x3b91],
  ['IOMMU_IOAS_CHANGE_PROCESS', 0x3b92], ['IOMMU_VEVENTQ_ALLOC', 0x3b93], ['IOMMU_HW_QUEUE_ALLOC', 0x3b94],
  ['IOMMU_TEST_CMD', 0x3ba0],
];
const VFIO: Array<[string, number]> = [
  ['VFIO_DEVICE_BIND_IOMMUFD', 0x3b76], ['VFIO_DEVICE_ATTACH_IOMMUFD_PT', 0x3b77],
  ['VFIO_DEVICE_DETACH_IOMMUFD_PT', 0x3b78], ['VFIO_GET_API_VERSION', 0x3b64],
  ['VFIO_CHECK_EXTENSION', 0x3b65], ['VFIO_SET_IOMMU', 0x3b66], ['VFIO_IOMMU_GET_INFO', 0x3b70],
  ['VFIO_IOMMU_MAP_DMA', 0x3b71], ['VFIO_IOMMU_UNMAP_DMA', 0x3b72],
];

describe('ioctl numbers', () => {
  it.each([...IOMMUFD, ...VFIO])('%s = %s', (name, value) => {
    expect((io as unknown as Record<string, number>)[name]).toBe(value);
    expect(io.ioctlName(value)).toBe(name);
    expect(io.ioctlFromName(name)).toBe(value);
  });

  it('unknown names and numbers', () => {
    expect(io.ioctlName(0x3b95)).toBeUndefined();
    expect(io.ioctlFromName('toString')).toBeUndefined();
  });

  it('compat numbers are recognised as such', () => {
    expect(io.isVfioCompatCmd(0x3b71)).toBe(true);
    expect(io.isVfioCompatCmd(io.IOMMU_IOAS_MAP)).toBe(false);
    expect(io.isVfioCompatCmd(0x3b73)).toBe(false);
  });
});

describe('_IOC encoding (asm-generic)', () => {
  it('_IO has no direction or size bits', () => {
    expect(io._IO(0x3b, 0x85)).toBe(0x3b85);
    expect(io._IOC_DIR(io._IO(0x3b, 0x85))).toBe(io._IOC_NONE);
  });

  it('_IOWR sets both direction bits and the size, unsigned', () => {
    const cmd = io._IOWR(0x3b, 0x85, 40);
    expect(cmd).toBe(0xc0283b85);
    expect(io._IOC_NR(cmd)).toBe(0x85);
    expect(io._IOC_TYPE(cmd)).toBe(0x3b);
    expect(io._IOC_SIZE(cmd)).toBe(40);
    expect(io._IOC_DIR(cmd)).toBe(io._IOC_READ | io._IOC_WRITE);
  });

  it('_IOR/_IOW direction values', () => {
    expect(io._IOC_DIR(io._IOR(1, 2, 3))).toBe(io._IOC_READ);
    expect(io._IOC_DIR(io._IOW(1, 2, 3))).toBe(io._IOC_WRITE);
    expect(io._IOW(0x3b, 0x80, 8)).toBe(0x40083b80);
  });
});
