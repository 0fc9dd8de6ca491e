/**
 * What the scenario language, the syz importer and the fuzzer know about
 * each ioctl: request value, struct layout flattened to named scalar leaves,
 * which word is the size (iommufd `size`, VFIO `argsz`), which fields the
 * kernel writes back, and which symbolic names a field's values have.
 *
 * Everything is derived from uapi/ (the dispatcher table, the struct
 * layouts, the enums), so a struct change there is picked up here without
 * a second copy of the offsets.
 */
import { ioctlEntry, IOMMU_TEST_OPS, VFIO_CDEV_IOCTL_OPS } from '../uapi/dispatch.ts';
import { IOMMUFD_IOCTLS, VFIO_COMPAT_IOCTLS, ioctlFromName } from '../uapi/ioctl.ts';
import { struct, u64, type AnyLayout, type Field, type ScalarType } from '../uapi/layout.ts';
import * as S from '../uapi/structs.ts';
import * as E from '../uapi/enums.ts';

/** One scalar (or raw byte run) of a struct, at an absolute offset. */
export interface Leaf {
  path: string;
  offset: number;
  type: ScalarType | 'bytes';
  size: number;
}

export type Target = 'iommufd' | 'vfio';

export interface IoctlSpec {
  name: string;
  cmd: number;
  layout: AnyLayout;
  /** Bytes a well-formed call passes. */
  ksize: number;
  /** The leading word holding the struct size, or null for an integer argument. */
  sizeField: 'size' | 'argsz' | null;
  /** Which kind of fd the ioctl is issued on. */
  target: Target;
  /** Fields the kernel writes back (what `-> name` may save). */
  outFields: string[];
  /** The field `-> name` saves when no field is named. */
  primaryOut: string | undefined;
}

const SCALAR_SIZE: Record<ScalarType, number> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8 };

/** Scalar leaves of a layout; embedded structs become `member.field`, arrays `name[i]`. */
export function leavesOf(layout: AnyLayout, base = 0, prefix = ''): Leaf[] {
  const out: Leaf[] = [];
  for (const f of layout.fields) pushLeaves(out, f, base, prefix);
  return out;
}

function pushLeaves(out: Leaf[], f: Field, base: number, prefix: string): void {
  const at = base + f.offset;
  const path = prefix + f.name;
  switch (f.type) {
    case 'bytes':
      out.push({ path, offset: at, type: 'bytes', size: f.length });
      return;
    case 'struct':
      out.push(...leavesOf(f.of, at, `${path}.`));
      return;
    case 'array':
      for (let i = 0; i < f.count; i++) {
        if (typeof f.of === 'string') out.push({ path: `${path}[${i}]`, offset: at + i * SCALAR_SIZE[f.of], type: f.of, size: SCALAR_SIZE[f.of] });
        else out.push(...leavesOf(f.of, at + i * f.of.size, `${path}[${i}].`));
      }
      return;
    default:
      out.push({ path, offset: at, type: f.type, size: SCALAR_SIZE[f.type] });
      for (const a of f.aliases ?? []) out.push({ path: prefix + a, offset: at, type: f.type, size: SCALAR_SIZE[f.type] });
  }
}

/** VFIO container ioctls that take an integer, not a struct: passed as 8 little-endian bytes. */
const int_arg = struct('int_arg', 8, [u64('value', 0)]);

const OUT_BY_IOCTL: Record<string, { out: string[]; primary?: string }> = {
  IOMMU_IOAS_MAP: { out: ['iova'], primary: 'iova' },
  IOMMU_IOAS_MAP_FILE: { out: ['iova'], primary: 'iova' },
  IOMMU_IOAS_COPY: { out: ['dst_iova'], primary: 'dst_iova' },
  IOMMU_IOAS_IOVA_RANGES: { out: ['num_iovas', 'out_iova_alignment'] },
  IOMMU_OPTION: { out: ['val64'], primary: 'val64' },
  IOMMU_VFIO_IOAS: { out: ['ioas_id'], primary: 'ioas_id' },
  IOMMU_GET_HW_INFO: { out: ['data_len', 'out_data_type', 'out_max_pasid_log2', 'out_capabilities'] },
  IOMMU_HWPT_INVALIDATE: { out: ['entry_num'] },
  VFIO_DEVICE_BIND_IOMMUFD: { out: ['out_devid'], primary: 'out_devid' },
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: { out: ['pt_id'], primary: 'pt_id' },
};

function outsOf(name: string, layout: AnyLayout): { out: string[]; primary: string | undefined } {
  const fixed = OUT_BY_IOCTL[name];
  const named = leavesOf(layout).map((l) => l.path).filter((p) => /(^|\.)out_/.test(p));
  const out = [...new Set([...(fixed?.out ?? []), ...named])];
  const primary = fixed?.primary ?? named.find((p) => /_id$|devid$/.test(p)) ?? named[0];
  return { out, primary };
}

function build(): Map<string, IoctlSpec> {
  const m = new Map<string, IoctlSpec>();
  for (const name of Object.keys(IOMMUFD_IOCTLS)) {
    const e = ioctlEntry(name);
    if (!e) continue;
    const { out, primary } = outsOf(name, e.layout);
    m.set(name, { name, cmd: e.cmd, layout: e.layout, ksize: e.ksize, sizeField: 'size', target: 'iommufd', outFields: out, primaryOut: primary });
  }
  for (const e of VFIO_CDEV_IOCTL_OPS) {
    const { out, primary } = outsOf(e.name, e.layout);
    // Same argsz as the typed API (actors/api.ts VfioDevice): the whole struct this kernel knows.
    m.set(e.name, { name: e.name, cmd: e.cmd, layout: e.layout, ksize: e.layout.size, sizeField: 'argsz', target: 'vfio', outFields: out, primaryOut: primary });
  }
  const compat: Record<string, AnyLayout> = {
    VFIO_IOMMU_GET_INFO: S.vfio_iommu_type1_info,
    VFIO_IOMMU_MAP_DMA: S.vfio_iommu_type1_dma_map,
    VFIO_IOMMU_UNMAP_DMA: S.vfio_iommu_type1_dma_unmap,
  };
  for (const name of Object.keys(VFIO_COMPAT_IOCTLS)) {
    const layout = compat[name] ?? int_arg;
    m.set(name, { name, cmd: ioctlFromName(name)!, layout, ksize: layout.size, sizeField: compat[name] ? 'argsz' : null, target: 'iommufd', outFields: [], primaryOut: undefined });
  }
  return m;
}

export const IOCTLS: ReadonlyMap<string, IoctlSpec> = build();
const BY_CMD: ReadonlyMap<number, IoctlSpec> = new Map([...IOCTLS.values()].map((s) => [s.cmd, s]));

export function ioctlSpec(name: string): IoctlSpec | undefined {
  return IOCTLS.get(name);
}

export function ioctlSpecByCmd(cmd: number): IoctlSpec | undefined {
  return BY_CMD.get(cmd >>> 0);
}

// ---------------------------------------------------------------- IOMMU_TEST_CMD views

/** The test command is one struct with a per-op union; the op selects the view its fields are named by. */
export function testCmdView(op: number): { layout: AnyLayout; member: string | undefined; primaryOut: string | undefined } {
  const t = IOMMU_TEST_OPS.find((o) => o.op === op);
  if (!t || !t.member) return { layout: S.iommu_test_cmd, member: undefined, primaryOut: undefined };
  const outs = leavesOf(t.view).map((l) => l.path).filter((p) => p.includes('.out_'));
  return { layout: t.view, member: t.member, primaryOut: outs[0] };
}

// ---------------------------------------------------------------- symbolic values

export type Symbols = Readonly<Record<string, number>>;

const MAP_FLAGS: Symbols = { FIXED_IOVA: E.IOMMU_IOAS_MAP_FIXED_IOVA, WRITEABLE: E.IOMMU_IOAS_MAP_WRITEABLE, READABLE: E.IOMMU_IOAS_MAP_READABLE };
const HWPT_FLAGS: Symbols = {
  NEST_PARENT: E.IOMMU_HWPT_ALLOC_NEST_PARENT, DIRTY_TRACKING: E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  FAULT_ID_VALID: E.IOMMU_HWPT_FAULT_ID_VALID, PASID: E.IOMMU_HWPT_ALLOC_PASID,
};
const HWPT_DATA: Symbols = {
  NONE: E.IOMMU_HWPT_DATA_NONE, VTD_S1: E.IOMMU_HWPT_DATA_VTD_S1, ARM_SMMUV3: E.IOMMU_HWPT_DATA_ARM_SMMUV3,
  AMD_GUEST: E.IOMMU_HWPT_DATA_AMD_GUEST, SELFTEST: E.IOMMU_HWPT_DATA_SELFTEST,
};
const TEST_OPS: Symbols = Object.fromEntries(IOMMU_TEST_OPS.map((o) => [o.name, o.op]));

/** Symbol tables by ioctl, then field.  A field is "flags-like" when its values combine with `|`. */
const FIELD_SYMBOLS: Record<string, Record<string, { syms: Symbols; bits: boolean }>> = {
  IOMMU_IOAS_MAP: { flags: { syms: MAP_FLAGS, bits: true } },
  IOMMU_IOAS_MAP_FILE: { flags: { syms: MAP_FLAGS, bits: true } },
  IOMMU_IOAS_COPY: { flags: { syms: MAP_FLAGS, bits: true } },
  IOMMU_HWPT_ALLOC: { flags: { syms: HWPT_FLAGS, bits: true }, data_type: { syms: HWPT_DATA, bits: false } },
  IOMMU_HWPT_SET_DIRTY_TRACKING: { flags: { syms: { ENABLE: E.IOMMU_HWPT_DIRTY_TRACKING_ENABLE }, bits: true } },
  IOMMU_HWPT_GET_DIRTY_BITMAP: { flags: { syms: { NO_CLEAR: E.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR }, bits: true } },
  IOMMU_GET_HW_INFO: { flags: { syms: { INPUT_TYPE: E.IOMMU_HW_INFO_FLAG_INPUT_TYPE }, bits: true } },
  IOMMU_OPTION: {
    option_id: { syms: { RLIMIT_MODE: E.IOMMU_OPTION_RLIMIT_MODE, HUGE_PAGES: E.IOMMU_OPTION_HUGE_PAGES }, bits: false },
    op: { syms: { SET: E.IOMMU_OPTION_OP_SET, GET: E.IOMMU_OPTION_OP_GET }, bits: false },
  },
  IOMMU_VFIO_IOAS: { op: { syms: { GET: E.IOMMU_VFIO_IOAS_GET, SET: E.IOMMU_VFIO_IOAS_SET, CLEAR: E.IOMMU_VFIO_IOAS_CLEAR }, bits: false } },
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: { flags: { syms: { PASID: E.VFIO_DEVICE_ATTACH_PASID }, bits: true } },
  VFIO_DEVICE_DETACH_IOMMUFD_PT: { flags: { syms: { PASID: E.VFIO_DEVICE_DETACH_PASID }, bits: true } },
  VFIO_IOMMU_MAP_DMA: { flags: { syms: { READ: E.VFIO_DMA_MAP_FLAG_READ, WRITE: E.VFIO_DMA_MAP_FLAG_WRITE, VADDR: E.VFIO_DMA_MAP_FLAG_VADDR }, bits: true } },
  VFIO_IOMMU_UNMAP_DMA: { flags: { syms: { GET_DIRTY_BITMAP: E.VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, ALL: E.VFIO_DMA_UNMAP_FLAG_ALL, VADDR: E.VFIO_DMA_UNMAP_FLAG_VADDR }, bits: true } },
  IOMMU_TEST_CMD: { op: { syms: TEST_OPS, bits: false } },
};

export function fieldSymbols(ioctl: string, field: string): { syms: Symbols; bits: boolean } | undefined {
  return FIELD_SYMBOLS[ioctl]?.[field];
}

/** Any constant of uapi/enums.ts by its full name, as a fallback for symbols (IOMMU_HWPT_DATA_VTD_S1...). */
export function enumConstant(name: string): number | undefined {
  const v = (E as Record<string, unknown>)[name];
  return typeof v === 'number' ? v : undefined;
}

/** Render a value with the field's symbols: `READABLE|WRITEABLE`, `GET`, or undefined if none apply. */
export function symbolize(ioctl: string, field: string, v: bigint): string | undefined {
  const s = fieldSymbols(ioctl, field);
  if (!s || v < 0n || v > 0xffffffffn) return undefined;
  const n = Number(v);
  if (!s.bits) {
    const hit = Object.entries(s.syms).find(([, x]) => x === n);
    return hit?.[0];
  }
  if (n === 0) return undefined;
  const parts: string[] = [];
  let rest = n;
  for (const [k, bit] of Object.entries(s.syms)) {
    if (bit && (rest & bit) === bit) {
      parts.push(k);
      rest &= ~bit;
    }
  }
  if (!parts.length) return undefined;
  if (rest) parts.push(`0x${(rest >>> 0).toString(16)}`);
  return parts.join('|');
}
