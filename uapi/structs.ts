/**
 * Every struct that crosses the user/kernel boundary, with the offsets of
 * uapi.md §3, §7, §8, §9 and mock-and-selftest.md §1.3, §2.2.  Names are the
 * kernel's (struct names and member names verbatim) so a reader can put this
 * file next to include/uapi/linux/iommufd.h and compare line by line.
 */
import { array, embed, s32, struct, u16, u32, u64, u8, bytes, type AnyLayout } from './layout.ts';

// ---------------------------------------------------------------- §3 iommufd ioctl structs

export const iommu_destroy = struct('iommu_destroy', 8, [u32('size', 0), u32('id', 4)]);

export const iommu_ioas_alloc = struct('iommu_ioas_alloc', 12, [
  u32('size', 0),
  u32('flags', 4),
  u32('out_ioas_id', 8),
]);

/** One element of the user arrays of IOVA_RANGES / ALLOW_IOVAS; `last` is inclusive. */
export const iommu_iova_range = struct('iommu_iova_range', 16, [u64('start', 0), u64('last', 8)]);

export const iommu_ioas_iova_ranges = struct('iommu_ioas_iova_ranges', 32, [
  u32('size', 0),
  u32('ioas_id', 4),
  u32('num_iovas', 8),
  u32('__reserved', 12),
  u64('allowed_iovas', 16),
  u64('out_iova_alignment', 24),
]);

export const iommu_ioas_allow_iovas = struct('iommu_ioas_allow_iovas', 24, [
  u32('size', 0),
  u32('ioas_id', 4),
  u32('num_iovas', 8),
  u32('__reserved', 12),
  u64('allowed_iovas', 16),
]);

export const iommu_ioas_map = struct('iommu_ioas_map', 40, [
  u32('size', 0),
  u32('flags', 4),
  u32('ioas_id', 8),
  u32('__reserved', 12),
  u64('user_va', 16),
  u64('length', 24),
  u64('iova', 32),
]);

export const iommu_ioas_map_file = struct('iommu_ioas_map_file', 40, [
  u32('size', 0),
  u32('flags', 4),
  u32('ioas_id', 8),
  s32('fd', 12),
  u64('start', 16),
  u64('length', 24),
  u64('iova', 32),
]);

export const iommu_ioas_copy = struct('iommu_ioas_copy', 40, [
  u32('size', 0),
  u32('flags', 4),
  u32('dst_ioas_id', 8),
  u32('src_ioas_id', 12),
  u64('length', 16),
  u64('dst_iova', 24),
  u64('src_iova', 32),
]);

export const iommu_ioas_unmap = struct('iommu_ioas_unmap', 24, [
  u32('size', 0),
  u32('ioas_id', 4),
  u64('iova', 8),
  u64('length', 16),
]);

export const iommu_option = struct('iommu_option', 24, [
  u32('size', 0),
  u32('option_id', 4),
  u16('op', 8),
  u16('__reserved', 10),
  u32('object_id', 12),
  u64('val64', 16),
]);

export const iommu_vfio_ioas = struct('iommu_vfio_ioas', 12, [
  u32('size', 0),
  u32('ioas_id', 4),
  u16('op', 8),
  u16('__reserved', 10),
]);

export const iommu_hwpt_alloc = struct('iommu_hwpt_alloc', 48, [
  u32('size', 0),
  u32('flags', 4),
  u32('dev_id', 8),
  u32('pt_id', 12),
  u32('out_hwpt_id', 16),
  u32('__reserved', 20),
  u32('data_type', 24),
  u32('data_len', 28),
  u64('data_uptr', 32),
  u32('fault_id', 40),
  u32('__reserved2', 44),
]);

export const iommu_hw_info = struct('iommu_hw_info', 40, [
  u32('size', 0),
  u32('flags', 4),
  u32('dev_id', 8),
  u32('data_len', 12),
  u64('data_uptr', 16),
  // C: union { __u32 in_data_type; __u32 out_data_type; }
  u32('out_data_type', 24, ['in_data_type']),
  u8('out_max_pasid_log2', 28),
  array('__reserved', 29, 'u8', 3),
  u64('out_capabilities', 32),
]);

export const iommu_hwpt_set_dirty_tracking = struct('iommu_hwpt_set_dirty_tracking', 16, [
  u32('size', 0),
  u32('flags', 4),
  u32('hwpt_id', 8),
  u32('__reserved', 12),
]);

export const iommu_hwpt_get_dirty_bitmap = struct('iommu_hwpt_get_dirty_bitmap', 48, [
  u32('size', 0),
  u32('hwpt_id', 4),
  u32('flags', 8),
  u32('__reserved', 12),
  u64('iova', 16),
  u64('length', 24),
  u64('page_size', 32),
  u64('data', 40),
]);

export const iommu_hwpt_invalidate = struct('iommu_hwpt_invalidate', 32, [
  u32('size', 0),
  u32('hwpt_id', 4),
  u64('data_uptr', 8),
  u32('data_type', 16),
  u32('entry_len', 20),
  u32('entry_num', 24),
  u32('__reserved', 28),
]);

export const iommu_fault_alloc = struct('iommu_fault_alloc', 16, [
  u32('size', 0),
  u32('flags', 4),
  u32('out_fault_id', 8),
  u32('out_fault_fd', 12),
]);

export const iommu_viommu_alloc = struct('iommu_viommu_alloc', 40, [
  u32('size', 0),
  u32('flags', 4),
  u32('type', 8),
  u32('dev_id', 12),
  u32('hwpt_id', 16),
  u32('out_viommu_id', 20),
  u32('data_len', 24),
  u32('__reserved', 28),
  u64('data_uptr', 32),
]);

export const iommu_vdevice_alloc = struct('iommu_vdevice_alloc', 24, [
  u32('size', 0),
  u32('viommu_id', 4),
  u32('dev_id', 8),
  u32('out_vdevice_id', 12),
  u64('virt_id', 16),
]);

export const iommu_ioas_change_process = struct('iommu_ioas_change_process', 8, [
  u32('size', 0),
  u32('__reserved', 4),
]);

export const iommu_veventq_alloc = struct('iommu_veventq_alloc', 32, [
  u32('size', 0),
  u32('flags', 4),
  u32('viommu_id', 8),
  u32('type', 12),
  u32('veventq_depth', 16),
  u32('out_veventq_id', 20),
  u32('out_veventq_fd', 24),
  u32('__reserved', 28),
]);

export const iommu_hw_queue_alloc = struct('iommu_hw_queue_alloc', 40, [
  u32('size', 0),
  u32('flags', 4),
  u32('viommu_id', 8),
  u32('type', 12),
  u32('index', 16),
  u32('out_hw_queue_id', 20),
  u64('nesting_parent_iova', 24),
  u64('length', 32),
]);

// ---------------------------------------------------------------- §7 event records (read/written on event fds)

export const iommu_hwpt_pgfault = struct('iommu_hwpt_pgfault', 40, [
  u32('flags', 0),
  u32('dev_id', 4),
  u32('pasid', 8),
  u32('grpid', 12),
  u32('perm', 16),
  u32('__reserved', 20),
  u64('addr', 24),
  u32('length', 32),
  u32('cookie', 36),
]);

export const iommu_hwpt_page_response = struct('iommu_hwpt_page_response', 8, [
  u32('cookie', 0),
  u32('code', 4),
]);

export const iommufd_vevent_header = struct('iommufd_vevent_header', 8, [
  u32('flags', 0),
  u32('sequence', 4),
]);

// ---------------------------------------------------------------- §8 driver data (behind data_uptr)

export const iommu_hwpt_vtd_s1 = struct('iommu_hwpt_vtd_s1', 24, [
  u64('flags', 0),
  u64('pgtbl_addr', 8),
  u32('addr_width', 16),
  u32('__reserved', 20),
]);

export const iommu_hwpt_arm_smmuv3 = struct('iommu_hwpt_arm_smmuv3', 16, [array('ste', 0, 'u64', 2)]);

/** hardware.md §4 (newest kernels, AMD-Vi nesting). */
export const iommu_hwpt_amd_guest = struct('iommu_hwpt_amd_guest', 32, [array('dte', 0, 'u64', 4)]);

export const iommu_hw_info_vtd = struct('iommu_hw_info_vtd', 24, [
  u32('flags', 0),
  u32('__reserved', 4),
  u64('cap_reg', 8),
  u64('ecap_reg', 16),
]);

export const iommu_hw_info_arm_smmuv3 = struct('iommu_hw_info_arm_smmuv3', 40, [
  u32('flags', 0),
  u32('__reserved', 4),
  array('idr', 8, 'u32', 6),
  u32('iidr', 32),
  u32('aidr', 36),
]);

export const iommu_hw_info_tegra241_cmdqv = struct('iommu_hw_info_tegra241_cmdqv', 8, [
  u32('flags', 0),
  u8('version', 4),
  u8('log2vcmdqs', 5),
  u8('log2vsids', 6),
  u8('__reserved', 7),
]);

/** hardware.md §4 (newest kernels). */
export const iommu_hw_info_amd = struct('iommu_hw_info_amd', 16, [u64('efr', 0), u64('efr2', 8)]);

export const iommu_hwpt_vtd_s1_invalidate = struct('iommu_hwpt_vtd_s1_invalidate', 24, [
  u64('addr', 0),
  u64('npages', 8),
  u32('flags', 16),
  u32('__reserved', 20),
]);

export const iommu_viommu_arm_smmuv3_invalidate = struct('iommu_viommu_arm_smmuv3_invalidate', 16, [
  array('cmd', 0, 'u64', 2),
]);

export const iommu_viommu_tegra241_cmdqv = struct('iommu_viommu_tegra241_cmdqv', 16, [
  u64('out_vintf_mmap_offset', 0),
  u64('out_vintf_mmap_length', 8),
]);

export const iommu_vevent_arm_smmuv3 = struct('iommu_vevent_arm_smmuv3', 32, [array('evt', 0, 'u64', 4)]);

export const iommu_vevent_tegra241_cmdqv = struct('iommu_vevent_tegra241_cmdqv', 16, [
  array('lvcmdq_err_map', 0, 'u64', 2),
]);

// ---------------------------------------------------------------- mock driver data (mock-and-selftest.md §1.3)

export const iommu_test_hw_info = struct('iommu_test_hw_info', 8, [u32('flags', 0), u32('test_reg', 4)]);

export const iommu_hwpt_selftest = struct('iommu_hwpt_selftest', 8, [u32('iotlb', 0), u32('pagetable_type', 4)]);

export const iommu_hwpt_invalidate_selftest = struct('iommu_hwpt_invalidate_selftest', 8, [
  u32('flags', 0),
  u32('iotlb_id', 4),
]);

export const iommu_viommu_selftest = struct('iommu_viommu_selftest', 24, [
  u32('in_data', 0),
  u32('out_data', 4),
  u64('out_mmap_offset', 8),
  u64('out_mmap_length', 16),
]);

export const iommu_viommu_invalidate_selftest = struct('iommu_viommu_invalidate_selftest', 12, [
  u32('flags', 0),
  u32('vdev_id', 4),
  u32('cache_id', 8),
]);

export const iommu_viommu_event_selftest = struct('iommu_viommu_event_selftest', 4, [u32('virt_id', 0)]);

/**
 * Minimum user length the driver-data copy helper accepts (offsetofend of the
 * last member the driver names): shorter → EINVAL, between min and full →
 * zero-extended.  Real-driver minimums are the full struct.
 * unverified: real-driver minimums taken as the whole struct (the spec lists none).
 */
export const DRIVER_DATA_MIN_SIZE: Readonly<Record<string, number>> = {
  iommu_hwpt_vtd_s1: 24,
  iommu_hwpt_arm_smmuv3: 16,
  iommu_hwpt_amd_guest: 32,
  iommu_hwpt_vtd_s1_invalidate: 24,
  iommu_viommu_arm_smmuv3_invalidate: 16,
  iommu_viommu_tegra241_cmdqv: 16,
  iommu_hwpt_selftest: 4,
  iommu_hwpt_invalidate_selftest: 8,
  iommu_viommu_selftest: 8,
  iommu_viommu_invalidate_selftest: 12,
};

// ---------------------------------------------------------------- §9 VFIO cdev structs (argsz rules)

/**
 * unverified: token_uuid_ptr (and VFIO_DEVICE_BIND_FLAG_TOKEN) exist only in
 * the newest kernels; older ones have the 16-byte struct.  minsz stays 16.
 */
export const vfio_device_bind_iommufd = struct('vfio_device_bind_iommufd', 24, [
  u32('argsz', 0),
  u32('flags', 4),
  s32('iommufd', 8),
  u32('out_devid', 12),
  u64('token_uuid_ptr', 16),
]);

export const vfio_device_attach_iommufd_pt = struct('vfio_device_attach_iommufd_pt', 16, [
  u32('argsz', 0),
  u32('flags', 4),
  u32('pt_id', 8),
  u32('pasid', 12),
]);

export const vfio_device_detach_iommufd_pt = struct('vfio_device_detach_iommufd_pt', 12, [
  u32('argsz', 0),
  u32('flags', 4),
  u32('pasid', 8),
]);

// VFIO type1 container structs used by the compat path (§9.4).
// unverified: not in the spec; offsets from include/uapi/linux/vfio.h as remembered.

export const vfio_iommu_type1_info = struct('vfio_iommu_type1_info', 24, [
  u32('argsz', 0),
  u32('flags', 4),
  u64('iova_pgsizes', 8),
  u32('cap_offset', 16),
  u32('pad', 20),
]);

export const vfio_iommu_type1_dma_map = struct('vfio_iommu_type1_dma_map', 32, [
  u32('argsz', 0),
  u32('flags', 4),
  u64('vaddr', 8),
  u64('iova', 16),
  u64('size', 24),
]);

/** Followed in user memory by a flexible `__u8 data[]` (dirty bitmap request). */
export const vfio_iommu_type1_dma_unmap = struct('vfio_iommu_type1_dma_unmap', 24, [
  u32('argsz', 0),
  u32('flags', 4),
  u64('iova', 8),
  u64('size', 16),
]);

// ---------------------------------------------------------------- IOMMU_TEST_CMD (mock-and-selftest.md §2.2)

/**
 * The generic view: the per-op union is opaque bytes.  Alignment 8 because
 * the union holds `__aligned_u64` members.  The 4 bytes after `last` are tail
 * padding, not a field.
 */
export const iommu_test_cmd = struct(
  'iommu_test_cmd',
  72,
  [u32('size', 0), u32('op', 4), u32('id', 8), u32('__reserved', 12), bytes('union', 16, 48), u32('last', 64)],
  8,
);

/** Offset of the union inside iommu_test_cmd; union member layouts are relative to it. */
export const IOMMU_TEST_CMD_UNION_OFFSET = 16;
export const IOMMU_TEST_CMD_UNION_SIZE = 48;

// Union members, offsets relative to the union (spec offsets minus 16).
export const iommu_test_cmd_add_reserved = struct('add_reserved', 16, [u64('start', 0), u64('length', 8)]);
export const iommu_test_cmd_mock_domain = struct('mock_domain', 12, [
  u32('out_stdev_id', 0),
  u32('out_hwpt_id', 4),
  u32('out_idev_id', 8),
]);
export const iommu_test_cmd_mock_domain_flags = struct('mock_domain_flags', 16, [
  u32('out_stdev_id', 0),
  u32('out_hwpt_id', 4),
  u32('out_idev_id', 8),
  u32('dev_flags', 12),
]);
export const iommu_test_cmd_mock_domain_replace = struct('mock_domain_replace', 4, [u32('pt_id', 0)]);
export const iommu_test_cmd_check_map = struct('check_map', 24, [u64('iova', 0), u64('length', 8), u64('uptr', 16)]);
export const iommu_test_cmd_check_refs = struct('check_refs', 24, [
  u64('length', 0),
  u64('uptr', 8),
  u32('refs', 16),
]);
export const iommu_test_cmd_create_access = struct('create_access', 8, [u32('out_access_fd', 0), u32('flags', 4)]);
export const iommu_test_cmd_destroy_access_pages = struct('destroy_access_pages', 4, [u32('access_pages_id', 0)]);
export const iommu_test_cmd_access_pages = struct('access_pages', 32, [
  u32('flags', 0),
  u32('out_access_pages_id', 4),
  u64('iova', 8),
  u64('length', 16),
  u64('uptr', 24),
]);
export const iommu_test_cmd_access_rw = struct('access_rw', 32, [
  u64('iova', 0),
  u64('length', 8),
  u64('uptr', 16),
  u32('flags', 24),
]);
export const iommu_test_cmd_memory_limit = struct('memory_limit', 4, [u32('limit', 0)]);
export const iommu_test_cmd_access_replace_ioas = struct('access_replace_ioas', 4, [u32('ioas_id', 0)]);
export const iommu_test_cmd_dirty = struct('dirty', 48, [
  u32('flags', 0),
  u64('iova', 8),
  u64('length', 16),
  u64('page_size', 24),
  u64('uptr', 32),
  u64('out_nr_dirty', 40),
]);
export const iommu_test_cmd_check_iotlb = struct('check_iotlb', 8, [u32('id', 0), u32('iotlb', 4)]);
export const iommu_test_cmd_trigger_iopf = struct('trigger_iopf', 24, [
  u32('dev_id', 0),
  u32('pasid', 4),
  u32('grpid', 8),
  u32('perm', 12),
  u64('addr', 16),
]);
export const iommu_test_cmd_check_dev_cache = struct('check_dev_cache', 8, [u32('id', 0), u32('cache', 4)]);
export const iommu_test_cmd_trigger_vevent = struct('trigger_vevent', 4, [u32('dev_id', 0)]);
export const iommu_test_cmd_pasid_attach = struct('pasid_attach', 8, [u32('pasid', 0), u32('pt_id', 4)]);
export const iommu_test_cmd_pasid_replace = struct('pasid_replace', 8, [u32('pasid', 0), u32('pt_id', 4)]);
export const iommu_test_cmd_pasid_detach = struct('pasid_detach', 4, [u32('pasid', 0)]);
export const iommu_test_cmd_pasid_check = struct('pasid_check', 8, [u32('pasid', 0), u32('hwpt_id', 4)]);
export const iommu_test_cmd_dmabuf_get = struct('dmabuf_get', 8, [u32('length', 0), u32('open_flags', 4)]);
export const iommu_test_cmd_dmabuf_revoke = struct('dmabuf_revoke', 8, [s32('dmabuf_fd', 0), u32('revoked', 4)]);
/** [proposed] upstream, not in mainline. */
export const iommu_test_cmd_check_dmabuf = struct('check_dmabuf', 32, [
  s32('dmabuf_fd', 0),
  u64('iova', 8),
  u64('length', 16),
  u64('offset', 24),
]);

/** The whole 72-byte command seen through one union member: `decoded.<member>.<field>`, like C. */
function testCmdView<const M extends string, const L extends AnyLayout>(member: M, of: L) {
  return struct(
    `iommu_test_cmd.${member}`,
    72,
    [
      u32('size', 0),
      u32('op', 4),
      u32('id', 8),
      u32('__reserved', 12),
      embed(member, IOMMU_TEST_CMD_UNION_OFFSET, of),
      u32('last', 64),
    ],
    8,
  );
}

export const iommu_test_cmd_views = {
  add_reserved: testCmdView('add_reserved', iommu_test_cmd_add_reserved),
  mock_domain: testCmdView('mock_domain', iommu_test_cmd_mock_domain),
  mock_domain_flags: testCmdView('mock_domain_flags', iommu_test_cmd_mock_domain_flags),
  mock_domain_replace: testCmdView('mock_domain_replace', iommu_test_cmd_mock_domain_replace),
  check_map: testCmdView('check_map', iommu_test_cmd_check_map),
  check_refs: testCmdView('check_refs', iommu_test_cmd_check_refs),
  create_access: testCmdView('create_access', iommu_test_cmd_create_access),
  destroy_access_pages: testCmdView('destroy_access_pages', iommu_test_cmd_destroy_access_pages),
  access_pages: testCmdView('access_pages', iommu_test_cmd_access_pages),
  access_rw: testCmdView('access_rw', iommu_test_cmd_access_rw),
  memory_limit: testCmdView('memory_limit', iommu_test_cmd_memory_limit),
  access_replace_ioas: testCmdView('access_replace_ioas', iommu_test_cmd_access_replace_ioas),
  dirty: testCmdView('dirty', iommu_test_cmd_dirty),
  check_iotlb: testCmdView('check_iotlb', iommu_test_cmd_check_iotlb),
  trigger_iopf: testCmdView('trigger_iopf', iommu_test_cmd_trigger_iopf),
  check_dev_cache: testCmdView('check_dev_cache', iommu_test_cmd_check_dev_cache),
  trigger_vevent: testCmdView('trigger_vevent', iommu_test_cmd_trigger_vevent),
  pasid_attach: testCmdView('pasid_attach', iommu_test_cmd_pasid_attach),
  pasid_replace: testCmdView('pasid_replace', iommu_test_cmd_pasid_replace),
  pasid_detach: testCmdView('pasid_detach', iommu_test_cmd_pasid_detach),
  pasid_check: testCmdView('pasid_check', iommu_test_cmd_pasid_check),
  dmabuf_get: testCmdView('dmabuf_get', iommu_test_cmd_dmabuf_get),
  dmabuf_revoke: testCmdView('dmabuf_revoke', iommu_test_cmd_dmabuf_revoke),
  check_dmabuf: testCmdView('check_dmabuf', iommu_test_cmd_check_dmabuf),
} as const;

export type TestCmdMember = keyof typeof iommu_test_cmd_views;

// ---------------------------------------------------------------- catalogue

/** Every top-level layout by struct name, for self-checks and tooling (sub-views excluded). */
export const ALL_STRUCTS: Readonly<Record<string, AnyLayout>> = {
  iommu_destroy,
  iommu_ioas_alloc,
  iommu_iova_range,
  iommu_ioas_iova_ranges,
  iommu_ioas_allow_iovas,
  iommu_ioas_map,
  iommu_ioas_map_file,
  iommu_ioas_copy,
  iommu_ioas_unmap,
  iommu_option,
  iommu_vfio_ioas,
  iommu_hwpt_alloc,
  iommu_hw_info,
  iommu_hwpt_set_dirty_tracking,
  iommu_hwpt_get_dirty_bitmap,
  iommu_hwpt_invalidate,
  iommu_fault_alloc,
  iommu_viommu_alloc,
  iommu_vdevice_alloc,
  iommu_ioas_change_process,
  iommu_veventq_alloc,
  iommu_hw_queue_alloc,
  iommu_hwpt_pgfault,
  iommu_hwpt_page_response,
  iommufd_vevent_header,
  iommu_hwpt_vtd_s1,
  iommu_hwpt_arm_smmuv3,
  iommu_hwpt_amd_guest,
  iommu_hw_info_vtd,
  iommu_hw_info_arm_smmuv3,
  iommu_hw_info_tegra241_cmdqv,
  iommu_hw_info_amd,
  iommu_hwpt_vtd_s1_invalidate,
  iommu_viommu_arm_smmuv3_invalidate,
  iommu_viommu_tegra241_cmdqv,
  iommu_vevent_arm_smmuv3,
  iommu_vevent_tegra241_cmdqv,
  iommu_test_hw_info,
  iommu_hwpt_selftest,
  iommu_hwpt_invalidate_selftest,
  iommu_viommu_selftest,
  iommu_viommu_invalidate_selftest,
  iommu_viommu_event_selftest,
  vfio_device_bind_iommufd,
  vfio_device_attach_iommufd_pt,
  vfio_device_detach_iommufd_pt,
  vfio_iommu_type1_info,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  iommu_test_cmd,
};
