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
import { vfioCompatIoctl, vfioIoasIoctl } from './vfio_compat.ts';
import { getHwInfoIoctl, vfioAttachRequest, vfioBindRequest, vfioDetachRequest, vfioUnbindRequest } from './device.ts';
import { faultAllocIoctl, veventqAllocIoctl } from './eventq.ts';
import { mmapGoneRequest, vdeviceAllocIoctl, veventqGoneRequest, viommuAllocIoctl } from './viommu.ts';
import { hwQueueAllocIoctl } from './hw_queue.ts';
import { accessReleaseRequest, accessUnmappedRequest, selftestUnbindRequest, testCmdIoctl } from './selftest.ts';
import { hwptAllocIoctl, hwptGetDirtyIoctl, hwptInvalidateIoctl, hwptSetDirtyIoctl } from './hw_pagetable.ts';

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
  // Every nr below the table: the VFIO type1 container ioctls (vfio_compat.ts).
  VFIO_COMPAT: vfioCompatIoctl,
  IOMMU_IOAS_CHANGE_PROCESS: ioasChangeProcessIoctl,
  IOMMU_HWPT_ALLOC: hwptAllocIoctl,
  IOMMU_GET_HW_INFO: getHwInfoIoctl,
  IOMMU_HWPT_INVALIDATE: hwptInvalidateIoctl,
  IOMMU_HWPT_SET_DIRTY_TRACKING: hwptSetDirtyIoctl,
  IOMMU_HWPT_GET_DIRTY_BITMAP: hwptGetDirtyIoctl,
  IOMMU_FAULT_QUEUE_ALLOC: faultAllocIoctl,
  IOMMU_VIOMMU_ALLOC: viommuAllocIoctl,
  IOMMU_VDEVICE_ALLOC: vdeviceAllocIoctl,
  IOMMU_VEVENTQ_ALLOC: veventqAllocIoctl,
  IOMMU_HW_QUEUE_ALLOC: hwQueueAllocIoctl,
  'request:veventq.gone': veventqGoneRequest,
  'request:mmap.gone': mmapGoneRequest,
  IOMMU_TEST_CMD: testCmdIoctl,
  'request:selftest.unbind': selftestUnbindRequest,
  'request:access.release': accessReleaseRequest,
  'request:access.unmapped': accessUnmappedRequest,
  // Requests from other kernel actors (not ioctls on /dev/iommu).
  'request:vfio.bind': vfioBindRequest,
  'request:vfio.attach': vfioAttachRequest,
  'request:vfio.detach': vfioDetachRequest,
  'request:vfio.unbind': vfioUnbindRequest,
};
