/**
 * ioctl request numbers: the asm-generic `_IOC` encoding (x86, arm64) and every
 * request the simulator answers on /dev/iommu and on a VFIO cdev fd.
 *
 * iommufd encodes no size or direction in its requests (`_IO` only): the size
 * travels in the struct's leading u32, which is what makes the structs
 * extensible.  A request carrying size/direction bits is a *different* request
 * and fails ENOTTY (uapi.md §10.1).
 */

export const _IOC_NRBITS = 8;
export const _IOC_TYPEBITS = 8;
export const _IOC_SIZEBITS = 14;
export const _IOC_DIRBITS = 2;

export const _IOC_NRSHIFT = 0;
export const _IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS;
export const _IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS;
export const _IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS;

export const _IOC_NONE = 0;
export const _IOC_WRITE = 1;
export const _IOC_READ = 2;

const mask = (bits: number): number => (1 << bits) - 1;

/** Unsigned 32-bit request value, as the kernel's `unsigned int cmd` sees it. */
export function _IOC(dir: number, type: number, nr: number, size: number): number {
  return (
    (((dir & mask(_IOC_DIRBITS)) << _IOC_DIRSHIFT) |
      ((type & mask(_IOC_TYPEBITS)) << _IOC_TYPESHIFT) |
      ((nr & mask(_IOC_NRBITS)) << _IOC_NRSHIFT) |
      ((size & mask(_IOC_SIZEBITS)) << _IOC_SIZESHIFT)) >>>
    0
  );
}

export const _IO = (type: number, nr: number): number => _IOC(_IOC_NONE, type, nr, 0);
export const _IOR = (type: number, nr: number, size: number): number => _IOC(_IOC_READ, type, nr, size);
export const _IOW = (type: number, nr: number, size: number): number => _IOC(_IOC_WRITE, type, nr, size);
export const _IOWR = (type: number, nr: number, size: number): number =>
  _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);

export const _IOC_NR = (cmd: number): number => (cmd >>> _IOC_NRSHIFT) & mask(_IOC_NRBITS);
export const _IOC_TYPE = (cmd: number): number => (cmd >>> _IOC_TYPESHIFT) & mask(_IOC_TYPEBITS);
export const _IOC_SIZE = (cmd: number): number => (cmd >>> _IOC_SIZESHIFT) & mask(_IOC_SIZEBITS);
export const _IOC_DIR = (cmd: number): number => (cmd >>> _IOC_DIRSHIFT) & mask(_IOC_DIRBITS);

/** `';'`: shared by iommufd and VFIO, which is why the two number spaces interleave. */
export const IOMMUFD_TYPE = 0x3b;
export const VFIO_TYPE = 0x3b;
export const IOMMUFD_CMD_BASE = 0x80;
export const VFIO_BASE = 100;

// enum iommufd's IOMMUFD_CMD_* (include/uapi/linux/iommufd.h)
export const IOMMUFD_CMD_DESTROY = 0x80;
export const IOMMUFD_CMD_IOAS_ALLOC = 0x81;
export const IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82;
export const IOMMUFD_CMD_IOAS_COPY = 0x83;
export const IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84;
export const IOMMUFD_CMD_IOAS_MAP = 0x85;
export const IOMMUFD_CMD_IOAS_UNMAP = 0x86;
export const IOMMUFD_CMD_OPTION = 0x87;
export const IOMMUFD_CMD_VFIO_IOAS = 0x88;
export const IOMMUFD_CMD_HWPT_ALLOC = 0x89;
export const IOMMUFD_CMD_GET_HW_INFO = 0x8a;
export const IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING = 0x8b;
export const IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP = 0x8c;
export const IOMMUFD_CMD_HWPT_INVALIDATE = 0x8d;
export const IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e;
export const IOMMUFD_CMD_IOAS_MAP_FILE = 0x8f;
export const IOMMUFD_CMD_VIOMMU_ALLOC = 0x90;
export const IOMMUFD_CMD_VDEVICE_ALLOC = 0x91;
export const IOMMUFD_CMD_IOAS_CHANGE_PROCESS = 0x92;
export const IOMMUFD_CMD_VEVENTQ_ALLOC = 0x93;
export const IOMMUFD_CMD_HW_QUEUE_ALLOC = 0x94;
/** Selftest command: `IOMMUFD_CMD_BASE + 32`, only on CONFIG_IOMMUFD_TEST kernels. */
export const IOMMUFD_CMD_TEST = 0xa0;

export const IOMMU_DESTROY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY);
export const IOMMU_IOAS_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC);
export const IOMMU_IOAS_ALLOW_IOVAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOW_IOVAS);
export const IOMMU_IOAS_COPY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_COPY);
export const IOMMU_IOAS_IOVA_RANGES = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES);
export const IOMMU_IOAS_MAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP);
export const IOMMU_IOAS_UNMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP);
export const IOMMU_OPTION = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION);
export const IOMMU_VFIO_IOAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VFIO_IOAS);
export const IOMMU_HWPT_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC);
export const IOMMU_GET_HW_INFO = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO);
export const IOMMU_HWPT_SET_DIRTY_TRACKING = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING);
export const IOMMU_HWPT_GET_DIRTY_BITMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP);
export const IOMMU_HWPT_INVALIDATE = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_INVALIDATE);
export const IOMMU_FAULT_QUEUE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_FAULT_QUEUE_ALLOC);
export const IOMMU_IOAS_MAP_FILE = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP_FILE);
export const IOMMU_VIOMMU_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VIOMMU_ALLOC);
export const IOMMU_VDEVICE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VDEVICE_ALLOC);
export const IOMMU_IOAS_CHANGE_PROCESS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_CHANGE_PROCESS);
export const IOMMU_VEVENTQ_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VEVENTQ_ALLOC);
export const IOMMU_HW_QUEUE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HW_QUEUE_ALLOC);
export const IOMMU_TEST_CMD = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_TEST);

// VFIO cdev (include/uapi/linux/vfio.h): VFIO_BASE + 18..20.
export const VFIO_DEVICE_BIND_IOMMUFD = _IO(VFIO_TYPE, VFIO_BASE + 18);
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 19);
export const VFIO_DEVICE_DETACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 20);

// VFIO type1 container ioctls the iommufd answers for nr < 0x80 (vfio_compat.c, uapi.md §9.4).
export const VFIO_GET_API_VERSION = _IO(VFIO_TYPE, VFIO_BASE + 0);
export const VFIO_CHECK_EXTENSION = _IO(VFIO_TYPE, VFIO_BASE + 1);
export const VFIO_SET_IOMMU = _IO(VFIO_TYPE, VFIO_BASE + 2);
export const VFIO_IOMMU_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12);
export const VFIO_IOMMU_MAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 13);
export const VFIO_IOMMU_UNMAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 14);

export const IOMMUFD_IOCTLS: Readonly<Record<string, number>> = {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_UNMAP,
  IOMMU_OPTION,
  IOMMU_VFIO_IOAS,
  IOMMU_HWPT_ALLOC,
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_SET_DIRTY_TRACKING,
  IOMMU_HWPT_GET_DIRTY_BITMAP,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_FAULT_QUEUE_ALLOC,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_VIOMMU_ALLOC,
  IOMMU_VDEVICE_ALLOC,
  IOMMU_IOAS_CHANGE_PROCESS,
  IOMMU_VEVENTQ_ALLOC,
  IOMMU_HW_QUEUE_ALLOC,
  IOMMU_TEST_CMD,
};

export const VFIO_CDEV_IOCTLS: Readonly<Record<string, number>> = {
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
};

/**
 * unverified: vfio_compat.c may also recognise VFIO_IOMMU_DIRTY_PAGES (and
 * answer "not supported"); the spec lists only these six.
 */
export const VFIO_COMPAT_IOCTLS: Readonly<Record<string, number>> = {
  VFIO_GET_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_SET_IOMMU,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
};

const ALL_IOCTLS: Readonly<Record<string, number>> = {
  ...IOMMUFD_IOCTLS,
  ...VFIO_CDEV_IOCTLS,
  ...VFIO_COMPAT_IOCTLS,
};

const NAME_BY_CMD: ReadonlyMap<number, string> = new Map(
  Object.entries(ALL_IOCTLS).map(([name, cmd]) => [cmd, name]),
);

/** Kernel macro name of a request value, or undefined for one Linux does not define here. */
export function ioctlName(cmd: number): string | undefined {
  return NAME_BY_CMD.get(cmd >>> 0);
}

export function ioctlFromName(name: string): number | undefined {
  return Object.hasOwn(ALL_IOCTLS, name) ? ALL_IOCTLS[name] : undefined;
}

export function isVfioCompatCmd(cmd: number): boolean {
  const name = NAME_BY_CMD.get(cmd >>> 0);
  return name !== undefined && Object.hasOwn(VFIO_COMPAT_IOCTLS, name);
}
