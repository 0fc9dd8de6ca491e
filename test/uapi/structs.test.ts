import { describe, expect, it } from 'vitest';
import { fieldOf, fieldSize, layoutProblems, offsetOf, type AnyLayout } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';

/**
 * The spec's offset tables, transcribed independently of structs.ts:
 * "struct size: field@offset:size ...".  uapi.md §3, §7, §8, §9;
 * mock-and-selftest.md §1.3, §2.2.
 */
const SPEC = `
iommu_destroy 8: size@0:4 id@4:4
iommu_ioas_alloc 12: size@0:4 flags@4:4 out_ioas_id@8:4
iommu_iova_range 16: start@0:8 last@8:8
iommu_ioas_iova_ranges 32: size@0:4 ioas_id@4:4 num_iovas@8:4 __reserved@12:4 allowed_iovas@16:8 out_iova_alignment@24:8
iommu_ioas_allow_iovas 24: size@0:4 ioas_id@4:4 num_iovas@8:4 __reserved@12:4 allowed_iovas@16:8
iommu_ioas_map 40: size@0:4 flags@4:4 ioas_id@8:4 __reserved@12:4 user_va@16:8 length@24:8 iova@32:8
iommu_ioas_map_file 40: size@0:4 flags@4:4 ioas_id@8:4 fd@12:4 start@16:8 length@24:8 iova@32:8
iommu_ioas_copy 40: size@0:4 flags@4:4 dst_ioas_id@8:4 src_ioas_id@12:4 length@16:8 dst_iova@24:8 src_iova@32:8
iommu_ioas_unmap 24: size@0:4 ioas_id@4:4 iova@8:8 length@16:8
iommu_option 24: size@0:4 option_id@4:4 op@8:2 __reserved@10:2 object_id@12:4 val64@16:8
iommu_vfio_ioas 12: size@0:4 ioas_id@4:4 op@8:2 __reserved@10:2
iommu_hwpt_alloc 48: size@0:4 flags@4:4 dev_id@8:4 pt_id@12:4 out_hwpt_id@16:4 __reserved@20:4 data_type@24:4 data_len@28:4 data_uptr@32:8 fault_id@40:4 __reserved2@44:4
iommu_hw_info 40: size@0:4 flags@4:4 dev_id@8:4 data_len@12:4 data_uptr@16:8 in_data_type@24:4 out_data_type@24:4 out_max_pasid_log2@28:1 __reserved@29:3 out_capabilities@32:8
iommu_hwpt_set_dirty_tracking 16: size@0:4 flags@4:4 hwpt_id@8:4 __reserved@12:4
iommu_hwpt_get_dirty_bitmap 48: size@0:4 hwpt_id@4:4 flags@8:4 __reserved@12:4 iova@16:8 length@24:8 page_size@32:8 data@40:8
iommu_hwpt_invalidate 32: size@0:4 hwpt_id@4:4 data_uptr@8:8 data_type@16:4 entry_len@20:4 entry_num@24:4 __reserved@28:4
iommu_fault_alloc 16: size@0:4 flags@4:4 out_fault_id@8:4 out_fault_fd@12:4
iommu_viommu_alloc 40: size@0:4 flags@4:4 type@8:4 dev_id@12:4 hwpt_id@16:4 out_viommu_id@20:4 data_len@24:4 __reserved@28:4 data_uptr@32:8
iommu_vdevice_alloc 24: size@0:4 viommu_id@4:4 dev_id@8:4 out_vdevice_id@12:4 virt_id@16:8
iommu_ioas_change_process 8: size@0:4 __reserved@4:4
iommu_veventq_alloc 32: size@0:4 flags@4:4 viommu_id@8:4 type@12:4 veventq_depth@16:4 out_veventq_id@20:4 out_veventq_fd@24:4 __reserved@28:4
iommu_hw_queue_alloc 40: size@0:4 flags@4:4 viommu_id@8:4 type@12:4 index@16:4 out_hw_queue_id@20:4 nesting_parent_iova@24:8 length@32:8
iommu_hwpt_pgfault 40: flags@0:4 dev_id@4:4 pasid@8:4 grpid@12:4 perm@16:4 __reserved@20:4 addr@24:8 length@32:4 cookie@36:4
iommu_hwpt_page_response 8: cookie@0:4 code@4:4
iommufd_vevent_header 8: flags@0:4 sequence@4:4
iommu_hwpt_vtd_s1 24: flags@0:8 pgtbl_addr@8:8 addr_width@16:4 __reserved@20:4
iommu_hwpt_arm_smmuv3 16: ste@0:16
iommu_hw_info_vtd 24: flags@0:4 __reserved@4:4 cap_reg@8:8 ecap_reg@16:8
iommu_hw_info_arm_smmuv3 40: flags@0:4 __reserved@4:4 idr@8:24 iidr@32:4 aidr@36:4
iommu_hw_info_tegra241_cmdqv 8: flags@0:4 version@4:1 log2vcmdqs@5:1 log2vsids@6:1 __reserved@7:1
iommu_hwpt_vtd_s1_invalidate 24: addr@0:8 npages@8:8 flags@16:4 __reserved@20:4
iommu_viommu_arm_smmuv3_invalidate 16: cmd@0:16
iommu_viommu_tegra241_cmdqv 16: out_vintf_mmap_offset@0:8 out_vintf_mmap_length@8:8
iommu_vevent_arm_smmuv3 32: evt@0:32
iommu_vevent_tegra241_cmdqv 16: lvcmdq_err_map@0:16
iommu_hw_info_amd 16: efr@0:8 efr2@8:8
iommu_hwpt_amd_guest 32: dte@0:32
iommu_test_hw_info 8: flags@0:4 test_reg@4:4
iommu_hwpt_selftest 8: iotlb@0:4 pagetable_type@4:4
iommu_hwpt_invalidate_selftest 8: flags@0:4 iotlb_id@4:4
iommu_viommu_selftest 24: in_data@0:4 out_data@4:4 out_mmap_offset@8:8 out_mmap_length@16:8
iommu_viommu_invalidate_selftest 12: flags@0:4 vdev_id@4:4 cache_id@8:4
iommu_viommu_event_selftest 4: virt_id@0:4
vfio_device_bind_iommufd 24: argsz@0:4 flags@4:4 iommufd@8:4 out_devid@12:4 token_uuid_ptr@16:8
vfio_device_attach_iommufd_pt 16: argsz@0:4 flags@4:4 pt_id@8:4 pasid@12:4
vfio_device_detach_iommufd_pt 12: argsz@0:4 flags@4:4 pasid@8:4
iommu_test_cmd 72: size@0:4 op@4:4 id@8:4 __reserved@12:4 last@64:4
`;

/** mock-and-selftest.md §2.2, absolute offsets inside the 72-byte command. */
const TEST_CMD_UNION = `
add_reserved: start@16:8 length@24:8
mock_domain: out_stdev_id@16:4 out_hwpt_id@20:4 out_idev_id@24:4
mock_domain_flags: out_stdev_id@16:4 out_hwpt_id@20:4 out_idev_id@24:4 dev_flags@28:4
mock_domain_replace: pt_id@16:4
check_map: iova@16:8 length@24:8 uptr@32:8
check_refs: length@16:8 uptr@24:8 refs@32:4
create_access: out_access_fd@16:4 flags@20:4
destroy_access_pages: access_pages_id@16:4
access_pages: flags@16:4 out_access_pages_id@20:4 iova@24:8 length@32:8 uptr@40:8
access_rw: iova@16:8 length@24:8 uptr@32:8 flags@40:4
memory_limit: limit@16:4
access_replace_ioas: ioas_id@16:4
dirty: flags@16:4 iova@24:8 length@32:8 page_size@40:8 uptr@48:8 out_nr_dirty@56:8
check_iotlb: id@16:4 iotlb@20:4
trigger_iopf: dev_id@16:4 pasid@20:4 grpid@24:4 perm@28:4 addr@32:8
check_dev_cache: id@16:4 cache@20:4
trigger_vevent: dev_id@16:4
pasid_attach: pasid@16:4 pt_id@20:4
pasid_replace: pasid@16:4 pt_id@20:4
pasid_detach: pasid@16:4
pasid_check: pasid@16:4 hwpt_id@20:4
dmabuf_get: length@16:4 open_flags@20:4
dmabuf_revoke: dmabuf_fd@16:4 revoked@20:4
check_dmabuf: dmabuf_fd@16:4 iova@24:8 length@32:8 offset@40:8
`;

interface SpecField { name: string; offset: number; size: number }

function parseFields(text: string): SpecField[] {
  return text.trim().split(/\s+/).map((tok) => {
    const m = /^(\w+)@(\d+):(\d+)$/.exec(tok);
    if (!m) throw new Error(`bad spec token ${tok}`);
    return { name: m[1]!, offset: Number(m[2]), size: Number(m[3]) };
  });
}

function parseSpec(): Array<{ name: string; size: number; fields: SpecField[] }> {
  return SPEC.trim().split('\n').map((line) => {
    const m = /^(\w+) (\d+): (.*)$/.exec(line);
    if (!m) throw new Error(`bad spec line ${line}`);
    return { name: m[1]!, size: Number(m[2]), fields: parseFields(m[3]!) };
  });
}

const specStructs = parseSpec();

describe('struct layouts match the spec tables', () => {
  it.each(specStructs.map((s) => [s.name, s] as const))('%s', (name, spec) => {
    const layout = S.ALL_STRUCTS[name];
    expect(layout, `${name} missing from ALL_STRUCTS`).toBeDefined();
    expect(layout!.size).toBe(spec.size);
    for (const f of spec.fields) {
      expect(offsetOf(layout!, f.name), `${name}.${f.name} offset`).toBe(f.offset);
      expect(fieldSize(fieldOf(layout!, f.name)), `${name}.${f.name} size`).toBe(f.size);
    }
  });

  it('every catalogued struct has a spec line', () => {
    const specNames = new Set(specStructs.map((s) => s.name));
    const missing = Object.keys(S.ALL_STRUCTS).filter(
      (n) => !specNames.has(n) && !n.startsWith('vfio_iommu_type1_'),
    );
    expect(missing).toEqual([]);
  });

  it('iommu_test_cmd is 8-aligned with the union at 16..64', () => {
    expect(S.iommu_test_cmd.align).toBe(8);
    expect(S.IOMMU_TEST_CMD_UNION_OFFSET + S.IOMMU_TEST_CMD_UNION_SIZE).toBe(64);
  });
});

describe('iommu_test_cmd union members match mock-and-selftest.md §2.2', () => {
  const rows = TEST_CMD_UNION.trim().split('\n').map((line) => {
    const [member, rest] = line.split(': ') as [S.TestCmdMember, string];
    return [member, parseFields(rest)] as const;
  });

  it('covers every member', () => {
    expect(rows.map(([m]) => m).sort()).toEqual(Object.keys(S.iommu_test_cmd_views).sort());
  });

  it.each(rows)('%s', (member, fields) => {
    const view = S.iommu_test_cmd_views[member];
    expect(view.size).toBe(72);
    const embedded = fieldOf(view, member);
    if (embedded.type !== 'struct') throw new Error('member must be embedded');
    for (const f of fields) {
      const inner = fieldOf(embedded.of, f.name);
      expect(embedded.offset + inner.offset, `${member}.${f.name}`).toBe(f.offset);
      expect(fieldSize(inner)).toBe(f.size);
    }
    expect(embedded.offset + embedded.of.size).toBeLessThanOrEqual(64);
  });
});

describe('layout self-check', () => {
  const all: Array<[string, AnyLayout]> = [
    ...Object.entries(S.ALL_STRUCTS),
    ...Object.entries(S.iommu_test_cmd_views).map(([k, v]) => [`view ${k}`, v] as [string, AnyLayout]),
  ];
  it.each(all)('%s: fields inside, aligned, non-overlapping', (_name, layout) => {
    expect(layoutProblems(layout)).toEqual([]);
  });
});
