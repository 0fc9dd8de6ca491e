/**
 * Enumerations of include/uapi/linux/iommufd.h (uapi.md §8), the VFIO cdev
 * flags (§9) and the mock driver / selftest constants
 * (mock-and-selftest.md §1.2, §2.3).  Values are ABI: a handler compares user
 * input against these, never against literals.
 */

// ---------------------------------------------------------------- iommu_hw_info_type
/** NONE and DEFAULT share 0: NONE is what the kernel reports, DEFAULT what user space requests. */
export const IOMMU_HW_INFO_TYPE_NONE = 0;
export const IOMMU_HW_INFO_TYPE_DEFAULT = 0;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2;
export const IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3;
/** Newest kernels (hardware.md §4). */
export const IOMMU_HW_INFO_TYPE_AMD = 4;

// ---------------------------------------------------------------- iommufd_hw_capabilities
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0;
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1;
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2;

// ---------------------------------------------------------------- iommufd_hw_info_flags
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0;
export const IOMMU_HW_INFO_FLAGS_VALID = IOMMU_HW_INFO_FLAG_INPUT_TYPE;

// ---------------------------------------------------------------- iommu_hw_info_vtd_flags
export const IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0;

// ---------------------------------------------------------------- iommu_hwpt_data_type
export const IOMMU_HWPT_DATA_NONE = 0;
export const IOMMU_HWPT_DATA_VTD_S1 = 1;
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2;
/** Newest kernels (hardware.md §4). */
export const IOMMU_HWPT_DATA_AMD_GUEST = 3;

// ---------------------------------------------------------------- iommufd_hwpt_alloc_flags
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3;
/** Flags a paging (pt_id = IOAS) allocation accepts (uapi.md §5.2). */
export const IOMMU_HWPT_ALLOC_PAGING_FLAGS =
  IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
/**
 * Flags a nested allocation accepts in the core.
 * unverified: the newest kernel may also accept IOMMU_HWPT_ALLOC_PASID here (uapi.md §11).
 */
export const IOMMU_HWPT_ALLOC_NESTED_FLAGS = IOMMU_HWPT_FAULT_ID_VALID;

// ---------------------------------------------------------------- iommu_hwpt_vtd_s1_flags
export const IOMMU_VTD_S1_SRE = 1 << 0;
export const IOMMU_VTD_S1_EAFE = 1 << 1;
export const IOMMU_VTD_S1_WPE = 1 << 2;

// ---------------------------------------------------------------- iommu_hwpt_invalidate_data_type
// One numbering space for HWPT and vIOMMU invalidation data.
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0;
export const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1;

// ---------------------------------------------------------------- iommu_hwpt_vtd_s1_invalidate_flags
export const IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0;

// ---------------------------------------------------------------- iommu_viommu_type
export const IOMMU_VIOMMU_TYPE_DEFAULT = 0;
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1;
export const IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = 2;

// ---------------------------------------------------------------- iommu_veventq_type
export const IOMMU_VEVENTQ_TYPE_DEFAULT = 0;
export const IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 = 1;
export const IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV = 2;

// ---------------------------------------------------------------- iommu_hw_queue_type
export const IOMMU_HW_QUEUE_TYPE_DEFAULT = 0;
export const IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV = 1;

// ---------------------------------------------------------------- iommu_veventq_flag
export const IOMMU_VEVENTQ_FLAG_LOST_EVENTS = 1 << 0;
/** vEVENTQ sequence numbers wrap from INT_MAX to 0 (uapi.md §7.2). */
export const IOMMU_VEVENTQ_SEQUENCE_MAX = 0x7fffffff;

// ---------------------------------------------------------------- iommufd_ioas_map_flags
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;
export const IOMMU_IOAS_MAP_FLAGS_VALID =
  IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

// ---------------------------------------------------------------- iommufd_option / iommufd_option_ops
export const IOMMU_OPTION_RLIMIT_MODE = 0;
export const IOMMU_OPTION_HUGE_PAGES = 1;
export const IOMMU_OPTION_OP_SET = 0;
export const IOMMU_OPTION_OP_GET = 1;

// ---------------------------------------------------------------- iommufd_vfio_ioas_op
export const IOMMU_VFIO_IOAS_GET = 0;
export const IOMMU_VFIO_IOAS_SET = 1;
export const IOMMU_VFIO_IOAS_CLEAR = 2;

// ---------------------------------------------------------------- dirty tracking
export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1;
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1;

// ---------------------------------------------------------------- faults (§7.1)
export const IOMMU_PGFAULT_FLAGS_PASID_VALID = 1 << 0;
export const IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1 << 1;
export const IOMMU_PGFAULT_PERM_READ = 1 << 0;
export const IOMMU_PGFAULT_PERM_WRITE = 1 << 1;
export const IOMMU_PGFAULT_PERM_EXEC = 1 << 2;
export const IOMMU_PGFAULT_PERM_PRIV = 1 << 3;
export const IOMMUFD_PAGE_RESP_SUCCESS = 0;
export const IOMMUFD_PAGE_RESP_INVALID = 1;

// ---------------------------------------------------------------- VFIO cdev flags (§9)
/** unverified: newest kernels only (PCI VF token at bind). */
export const VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0;
export const VFIO_DEVICE_ATTACH_PASID = 1 << 0;
export const VFIO_DEVICE_DETACH_PASID = 1 << 0;

// ---------------------------------------------------------------- VFIO type1 container (compat path, §9.4)
// unverified: not in the spec; values from include/uapi/linux/vfio.h as remembered.
export const VFIO_API_VERSION = 0;
export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_SPAPR_TCE_IOMMU = 2;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_DMA_CC_IOMMU = 4;
export const VFIO_UNMAP_ALL = 9;
export const VFIO_UPDATE_VADDR = 10;
export const VFIO_NOIOMMU_IOMMU = 8;
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2;
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2;

// ---------------------------------------------------------------- mock driver (mock-and-selftest.md §1.2)
export const MOCK_APERTURE_START = 1 << 24;
export const MOCK_APERTURE_LAST = 0x7fffffff;
export const MOCK_PAGE_SIZE = 2048;
export const MOCK_HUGE_PAGE_SIZE = 512 * MOCK_PAGE_SIZE;
export const MOCK_IOMMUPT_DEFAULT = 0;
export const MOCK_IOMMUPT_HUGE = 1;
/** Present in some trees; the reference mock rejects unknown page-table types (EOPNOTSUPP). */
export const MOCK_IOMMUPT_AMDV1 = 2;
export const MOCK_FLAGS_ACCESS_WRITE = 1 << 0;
export const MOCK_FLAGS_ACCESS_SYZ = 1 << 16;
export const MOCK_ACCESS_RW_WRITE = 1 << 0;
export const MOCK_ACCESS_RW_SLOW_PATH = 1 << 2;
export const MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES = 1 << 0;
export const MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0;
/** [older only]: the bit is invalid on current kernels (device creation fails EINVAL). */
export const MOCK_FLAGS_DEVICE_HUGE_IOVA = 1 << 1;
export const MOCK_FLAGS_DEVICE_PASID = 1 << 2;
export const MOCK_FLAGS_DEVICE_VALID = MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_PASID;
export const MOCK_NESTED_DOMAIN_IOTLB_ID_MAX = 3;
export const MOCK_NESTED_DOMAIN_IOTLB_NUM = 4;
export const MOCK_DEV_CACHE_ID_MAX = 3;
export const MOCK_DEV_CACHE_NUM = 4;
export const IOMMU_TEST_PASID_RESERVED = 1024;
export const MOCK_PASID_WIDTH = 20;
export const IOMMU_HW_INFO_TYPE_SELFTEST = 0xfeedbeef;
export const IOMMU_HW_INFO_SELFTEST_REGVAL = 0xdeadbeef;
export const IOMMU_HWPT_DATA_SELFTEST = 0xdead;
export const IOMMU_TEST_IOTLB_DEFAULT = 0xbadbeef;
export const IOMMU_TEST_DEV_CACHE_DEFAULT = 0xbaddad;
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST = 0xdeadbeef;
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID = 0xdadbeef;
export const IOMMU_TEST_INVALIDATE_FLAG_ALL = 1 << 0;
export const IOMMU_VIOMMU_TYPE_SELFTEST = 0xdeadbeef;
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST = 0xdeadbeef;
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID = 0xdadbeef;
export const IOMMU_VEVENTQ_TYPE_SELFTEST = 0xbeefbeef;
export const IOMMU_HW_QUEUE_TYPE_SELFTEST = 0xdeadbeef;
export const IOMMU_TEST_HW_QUEUE_MAX = 2;
/** Global default of SET_TEMP_MEMORY_LIMIT (bytes). */
export const MOCK_TEMP_MEMORY_LIMIT_DEFAULT = 65536;

// ---------------------------------------------------------------- IOMMU_TEST_CMD ops (mock-and-selftest.md §2.3)
export const IOMMU_TEST_OP_ADD_RESERVED = 1;
export const IOMMU_TEST_OP_MOCK_DOMAIN = 2;
export const IOMMU_TEST_OP_MD_CHECK_MAP = 3;
export const IOMMU_TEST_OP_MD_CHECK_REFS = 4;
export const IOMMU_TEST_OP_CREATE_ACCESS = 5;
export const IOMMU_TEST_OP_DESTROY_ACCESS_PAGES = 6;
export const IOMMU_TEST_OP_ACCESS_PAGES = 7;
export const IOMMU_TEST_OP_ACCESS_RW = 8;
export const IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT = 9;
export const IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE = 10;
export const IOMMU_TEST_OP_ACCESS_REPLACE_IOAS = 11;
export const IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS = 12;
export const IOMMU_TEST_OP_DIRTY = 13;
export const IOMMU_TEST_OP_MD_CHECK_IOTLB = 14;
export const IOMMU_TEST_OP_TRIGGER_IOPF = 15;
export const IOMMU_TEST_OP_DEV_CHECK_CACHE = 16;
export const IOMMU_TEST_OP_TRIGGER_VEVENT = 17;
export const IOMMU_TEST_OP_PASID_ATTACH = 18;
export const IOMMU_TEST_OP_PASID_REPLACE = 19;
export const IOMMU_TEST_OP_PASID_DETACH = 20;
export const IOMMU_TEST_OP_PASID_CHECK_HWPT = 21;
export const IOMMU_TEST_OP_DMABUF_GET = 22;
export const IOMMU_TEST_OP_DMABUF_REVOKE = 23;
/** [proposed] upstream, not in mainline. */
export const IOMMU_TEST_OP_MD_CHECK_DMABUF = 24;
