/**
 * The ioctl table's handlers, by the table entry's name (uapi/dispatch.ts
 * holds the numbers, sizes and struct layouts; this maps each to the file
 * that implements it, like the function pointers of Linux main.c's
 * iommufd_ioctl_ops[]).
 */
import type { IoctlHandler } from './ioctl.ts';
import { destroyIoctl } from './destroy.ts';
import {
  ioasAllocIoctl, ioasAllowIovasIoctl, ioasChangeProcessIoctl, ioasCopyIoctl, ioasIovaRangesIoctl, ioasMapFileIoctl,
  ioasMapIoctl, ioasUnmapIoctl,
} from './ioas.ts';
import { optionIoctl } from './option.ts';
import { vfioIoasIoctl } from './vfio_compat.ts';

export const IOCTL_HANDLERS: Record<string, IoctlHandler | undefined> = {
  IOMMU_DESTROY: destroyIoctl,
  IOMMU_IOAS_ALLOC: ioasAllocIoctl,
  IOMMU_IOAS_ALLOW_IOVAS: ioasAllowIovasIoctl,
  IOMMU_IOAS_COPY: ioasCopyIoctl,
  IOMMU_IOAS_IOVA_RANGES: ioasIovaRangesIoctl,
  IOMMU_IOAS_MAP: ioasMapIoctl,
  IOMMU_IOAS_MAP_FILE: ioasMapFileIoctl,
  IOMMU_IOAS_UNMAP: ioasUnmapIoctl,
  IOMMU_OPTION: optionIoctl,
  IOMMU_VFIO_IOAS: vfioIoasIoctl,
  IOMMU_IOAS_CHANGE_PROCESS: ioasChangeProcessIoctl,
};
