/**
 * The kernel's ioctl table as data and the generic part of the dispatcher.
 *
 * Like Linux main.c (`iommufd_ioctl_ops[]` + `iommufd_fops_ioctl`), every
 * check that does not depend on the command's meaning — size, request value,
 * minimum size, extensible-struct tail — happens here, once, in the kernel's
 * order (uapi.md §1.2), so that the errno that wins is the kernel's.
 * Handlers receive a zero-extended kernel copy (`kbuf`) of exactly `ksize`
 * bytes and never look at the user buffer's length again.
 */
import { E2BIG, EFAULT, EINVAL, ENOTTY, EOPNOTSUPP } from './errno.ts';
import {
  IOMMU_DESTROY, IOMMU_GET_HW_INFO, IOMMU_HW_QUEUE_ALLOC, IOMMU_HWPT_ALLOC, IOMMU_HWPT_GET_DIRTY_BITMAP,
  IOMMU_HWPT_INVALIDATE, IOMMU_HWPT_SET_DIRTY_TRACKING, IOMMU_FAULT_QUEUE_ALLOC, IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS, IOMMU_IOAS_CHANGE_PROCESS, IOMMU_IOAS_COPY, IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE, IOMMU_IOAS_UNMAP, IOMMU_OPTION, IOMMU_TEST_CMD, IOMMU_VDEVICE_ALLOC, IOMMU_VEVENTQ_ALLOC,
  IOMMU_VFIO_IOAS, IOMMU_VIOMMU_ALLOC, IOMMUFD_CMD_BASE, VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT, _IOC_NR,
} from './ioctl.ts';
import { fieldOf, fieldSize, offsetofend, type AnyLayout } from './layout.ts';
import * as S from './structs.ts';
import * as E from './enums.ts';

// ---------------------------------------------------------------- table entry shape

/**
 * Generic field rules of one ioctl (all fail EOPNOTSUPP in iommufd), for
 * checks.ts.  Handler-specific checks (enum values, ranges, lookups) are not
 * data: they live in the handlers, in the order documented in checks.ts.
 */
export interface FieldChecks {
  /** Must be zero; checked by the handler before anything else. */
  readonly reserved: readonly string[];
  /** Documented "must be 0" but the kernel check is unconfirmed (uapi.md §11). */
  readonly unverifiedReserved: readonly string[];
  /**
   * Flag word and its accepted bits.  `upfront` = checked together with the
   * reserved fields at the top of the handler; false = checked later (e.g.
   * HWPT_ALLOC validates flags per pt_id type, after lookups).
   */
  readonly flags?: { readonly field: string; readonly valid: number; readonly upfront: boolean };
  /** Enum fields whose DEFAULT (0) is rejected up front. */
  readonly nonDefault: readonly string[];
}

/**
 * How the handler copies its result back (`iommufd_ucmd_respond` writes the
 * whole struct, truncated to the user's size; a few handlers write one field).
 * `structAlways`: written even when the handler fails (HWPT_INVALIDATE's entry_num).
 */
export type Writeback = 'none' | 'struct' | 'structAlways' | { readonly field: string } | 'perOp';

export interface IoctlEntry {
  readonly name: string;
  readonly nr: number;
  /** The full request value the table accepts; anything else with this nr is ENOTTY. */
  readonly cmd: number;
  readonly layout: AnyLayout;
  /** sizeof(kernel struct): what copy_struct_from_user extends or truncates to. */
  readonly ksize: number;
  /** offsetofend(struct, last): the oldest struct size the kernel still accepts. */
  readonly minSize: number;
  readonly last: string;
  readonly since: string;
  readonly testOnly: boolean;
  readonly checks: FieldChecks;
  readonly writeback: Writeback;
}

interface EntrySpec {
  readonly name: string;
  readonly cmd: number;
  readonly layout: AnyLayout;
  readonly last: string;
  readonly since: string;
  readonly reserved?: readonly string[];
  readonly unverifiedReserved?: readonly string[];
  readonly flags?: FieldChecks['flags'];
  readonly nonDefault?: readonly string[];
  readonly writeback: Writeback;
  readonly testOnly?: boolean;
}

/** Like the kernel's IOCTL_OP(): min_size derived from the struct, never typed twice. */
function IOCTL_OP(spec: EntrySpec): IoctlEntry {
  return Object.freeze({
    name: spec.name,
    nr: _IOC_NR(spec.cmd),
    cmd: spec.cmd,
    layout: spec.layout,
    ksize: spec.layout.size,
    minSize: offsetofend(spec.layout, spec.last),
    last: spec.last,
    since: spec.since,
    testOnly: spec.testOnly ?? false,
    checks: Object.freeze({
      reserved: spec.reserved ?? [],
      unverifiedReserved: spec.unverifiedReserved ?? [],
      ...(spec.flags ? { flags: spec.flags } : {}),
      nonDefault: spec.nonDefault ?? [],
    }),
    writeback: spec.writeback,
  });
}

const flagsMustBe = (valid: number, upfront = true) => ({ field: 'flags', valid, upfront }) as const;

// ---------------------------------------------------------------- the table (uapi.md §3.1)
// "since" versions are best-effort (uapi.md §11).

const ENTRIES: readonly IoctlEntry[] = [
  IOCTL_OP({ name: 'IOMMU_DESTROY', cmd: IOMMU_DESTROY, layout: S.iommu_destroy, last: 'id', since: '6.2', writeback: 'none' }),
  IOCTL_OP({
    name: 'IOMMU_IOAS_ALLOC', cmd: IOMMU_IOAS_ALLOC, layout: S.iommu_ioas_alloc, last: 'out_ioas_id', since: '6.2',
    flags: flagsMustBe(0), writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_IOAS_ALLOW_IOVAS', cmd: IOMMU_IOAS_ALLOW_IOVAS, layout: S.iommu_ioas_allow_iovas,
    last: 'allowed_iovas', since: '6.2', reserved: ['__reserved'], writeback: 'none',
  }),
  IOCTL_OP({
    name: 'IOMMU_IOAS_COPY', cmd: IOMMU_IOAS_COPY, layout: S.iommu_ioas_copy, last: 'src_iova', since: '6.2',
    flags: flagsMustBe(E.IOMMU_IOAS_MAP_FLAGS_VALID), writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_IOAS_IOVA_RANGES', cmd: IOMMU_IOAS_IOVA_RANGES, layout: S.iommu_ioas_iova_ranges,
    last: 'out_iova_alignment', since: '6.2', reserved: ['__reserved'], writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_IOAS_MAP', cmd: IOMMU_IOAS_MAP, layout: S.iommu_ioas_map, last: 'iova', since: '6.2',
    reserved: ['__reserved'], flags: flagsMustBe(E.IOMMU_IOAS_MAP_FLAGS_VALID), writeback: 'struct',
  }),
  IOCTL_OP({ name: 'IOMMU_IOAS_UNMAP', cmd: IOMMU_IOAS_UNMAP, layout: S.iommu_ioas_unmap, last: 'length', since: '6.2', writeback: 'struct' }),
  IOCTL_OP({
    name: 'IOMMU_OPTION', cmd: IOMMU_OPTION, layout: S.iommu_option, last: 'val64', since: '6.2',
    reserved: ['__reserved'], writeback: { field: 'val64' },
  }),
  IOCTL_OP({
    name: 'IOMMU_VFIO_IOAS', cmd: IOMMU_VFIO_IOAS, layout: S.iommu_vfio_ioas, last: '__reserved', since: '6.2',
    reserved: ['__reserved'], writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_HWPT_ALLOC', cmd: IOMMU_HWPT_ALLOC, layout: S.iommu_hwpt_alloc, last: '__reserved', since: '6.6',
    reserved: ['__reserved'],
    // unverified: __reserved2 is documented as padding; no kernel check confirmed (uapi.md §11).
    unverifiedReserved: ['__reserved2'],
    flags: flagsMustBe(E.IOMMU_HWPT_ALLOC_PAGING_FLAGS, false),
    writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_GET_HW_INFO', cmd: IOMMU_GET_HW_INFO, layout: S.iommu_hw_info, last: '__reserved', since: '6.6',
    reserved: ['__reserved'], flags: flagsMustBe(E.IOMMU_HW_INFO_FLAGS_VALID), writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_HWPT_SET_DIRTY_TRACKING', cmd: IOMMU_HWPT_SET_DIRTY_TRACKING, layout: S.iommu_hwpt_set_dirty_tracking,
    last: '__reserved', since: '6.7',
    // unverified: not checked by some kernels (uapi.md §3.14).
    unverifiedReserved: ['__reserved'],
    flags: flagsMustBe(E.IOMMU_HWPT_DIRTY_TRACKING_ENABLE), writeback: 'none',
  }),
  IOCTL_OP({
    name: 'IOMMU_HWPT_GET_DIRTY_BITMAP', cmd: IOMMU_HWPT_GET_DIRTY_BITMAP, layout: S.iommu_hwpt_get_dirty_bitmap,
    last: 'data', since: '6.7', reserved: ['__reserved'],
    flags: flagsMustBe(E.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR), writeback: 'none',
  }),
  IOCTL_OP({
    name: 'IOMMU_HWPT_INVALIDATE', cmd: IOMMU_HWPT_INVALIDATE, layout: S.iommu_hwpt_invalidate, last: '__reserved',
    since: '6.8', reserved: ['__reserved'], writeback: 'structAlways',
  }),
  IOCTL_OP({
    name: 'IOMMU_FAULT_QUEUE_ALLOC', cmd: IOMMU_FAULT_QUEUE_ALLOC, layout: S.iommu_fault_alloc, last: 'out_fault_fd',
    since: '6.11', flags: flagsMustBe(0), writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_IOAS_MAP_FILE', cmd: IOMMU_IOAS_MAP_FILE, layout: S.iommu_ioas_map_file, last: 'iova', since: '6.13',
    flags: flagsMustBe(E.IOMMU_IOAS_MAP_FLAGS_VALID), writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_VIOMMU_ALLOC', cmd: IOMMU_VIOMMU_ALLOC, layout: S.iommu_viommu_alloc, last: 'out_viommu_id',
    since: '6.13',
    // unverified: whether __reserved is checked (uapi.md §3.18).
    unverifiedReserved: ['__reserved'],
    flags: flagsMustBe(0), nonDefault: ['type'], writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_VDEVICE_ALLOC', cmd: IOMMU_VDEVICE_ALLOC, layout: S.iommu_vdevice_alloc, last: 'virt_id',
    since: '6.13', writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_IOAS_CHANGE_PROCESS', cmd: IOMMU_IOAS_CHANGE_PROCESS, layout: S.iommu_ioas_change_process,
    // unverified: exact errno of the __reserved check (EOPNOTSUPP assumed, uapi.md §3.20).
    last: '__reserved', since: '6.14', reserved: ['__reserved'], writeback: 'none',
  }),
  IOCTL_OP({
    name: 'IOMMU_VEVENTQ_ALLOC', cmd: IOMMU_VEVENTQ_ALLOC, layout: S.iommu_veventq_alloc, last: 'out_veventq_fd',
    since: '6.15', reserved: ['__reserved'], flags: flagsMustBe(0), nonDefault: ['type'], writeback: 'struct',
  }),
  IOCTL_OP({
    name: 'IOMMU_HW_QUEUE_ALLOC', cmd: IOMMU_HW_QUEUE_ALLOC, layout: S.iommu_hw_queue_alloc, last: 'length',
    since: '6.17', flags: flagsMustBe(0), nonDefault: ['type'], writeback: 'struct',
  }),
];

/** Test builds only; `__reserved` is deliberately not validated (mock-and-selftest.md §2.1). */
export const IOMMU_TEST_CMD_ENTRY: IoctlEntry = IOCTL_OP({
  name: 'IOMMU_TEST_CMD', cmd: IOMMU_TEST_CMD, layout: S.iommu_test_cmd, last: 'last', since: 'test',
  testOnly: true, writeback: 'perOp',
});

function buildOps(entries: readonly IoctlEntry[]): readonly (IoctlEntry | undefined)[] {
  const top = Math.max(...entries.map((e) => e.nr));
  const ops = new Array<IoctlEntry | undefined>(top - IOMMUFD_CMD_BASE + 1).fill(undefined);
  for (const e of entries) ops[e.nr - IOMMUFD_CMD_BASE] = e;
  return Object.freeze(ops);
}

/** `iommufd_ioctl_ops[]` of a production kernel: 0x15 entries, 0x80..0x94, no holes. */
export const IOMMUFD_IOCTL_OPS = buildOps(ENTRIES);
/** Of a CONFIG_IOMMUFD_TEST kernel: extends to 0xA0, 0x95..0x9F are empty slots. */
export const IOMMUFD_IOCTL_OPS_TEST = buildOps([...ENTRIES, IOMMU_TEST_CMD_ENTRY]);

export function iommufdIoctlOps(testBuild: boolean): readonly (IoctlEntry | undefined)[] {
  return testBuild ? IOMMUFD_IOCTL_OPS_TEST : IOMMUFD_IOCTL_OPS;
}

const ENTRY_BY_NAME: ReadonlyMap<string, IoctlEntry> = new Map(
  [...ENTRIES, IOMMU_TEST_CMD_ENTRY].map((e) => [e.name, e]),
);

export function ioctlEntry(name: string): IoctlEntry | undefined {
  return ENTRY_BY_NAME.get(name);
}

// ---------------------------------------------------------------- copy_struct_from_user

/**
 * Linux `copy_struct_from_user(dst, ksize = dst.length, src + srcOffset, usize)`.
 * `src` models the readable user memory: any byte past its end faults.
 * Returns 0, E2BIG (non-zero byte in [ksize, usize)) or EFAULT.  The tail is
 * scanned before the copy, and a non-zero byte found before the fault wins
 * (unverified: the kernel scans in aligned words, so a fault in the same word
 * as a non-zero byte could differ; with page-granular faults it cannot).
 */
export function copyStructFromUser(dst: Uint8Array, src: Uint8Array, usize: number, srcOffset = 0): number {
  const ksize = dst.length;
  const readable = Math.max(0, src.length - srcOffset);
  if (usize > ksize) {
    const scanEnd = Math.min(usize, readable);
    for (let i = ksize; i < scanEnd; i++) if (src[srcOffset + i] !== 0) return E2BIG;
    if (usize > readable) return EFAULT;
  }
  const n = Math.min(usize, ksize);
  if (n > readable) return EFAULT;
  copyBytes(dst, 0, src, srcOffset, n);
  dst.fill(0, n);
  return 0;
}

/** dst[dstOffset, +n) = src[srcOffset, +n); a loop for struct-sized copies, where a subarray view costs more than the copy. */
function copyBytes(dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, n: number): void {
  if (n <= 64) for (let i = 0; i < n; i++) dst[dstOffset + i] = src[srcOffset + i]!;
  else dst.set(src.subarray(srcOffset, srcOffset + n), dstOffset);
}

// ---------------------------------------------------------------- iommufd dispatcher

export interface DispatchOptions {
  /** CONFIG_IOMMUFD_TEST: extends the table to IOMMU_TEST_CMD (changes which numbers route to compat). */
  readonly testBuild: boolean;
}

/** nr outside the iommufd table: the VFIO container compatibility handler decides (ENOTTY if unknown). */
export interface DispatchCompat {
  readonly route: 'compat';
  readonly cmd: number;
}
export interface DispatchFailure {
  readonly route: 'iommufd';
  readonly ok: false;
  readonly errno: number;
}
export interface DispatchSuccess {
  readonly route: 'iommufd';
  readonly ok: true;
  readonly entry: IoctlEntry;
  /** Kernel copy: exactly entry.ksize bytes, zero-extended; `size` at offset 0 holds the user's size. */
  readonly kbuf: Uint8Array;
  readonly userSize: number;
}
export type DispatchResult = DispatchCompat | DispatchFailure | DispatchSuccess;

const fail = (errno: number): DispatchFailure => ({ route: 'iommufd', ok: false, errno });

function readUserSize(arg: Uint8Array): number {
  return (arg[0]! | (arg[1]! << 8) | (arg[2]! << 16) | (arg[3]! << 24)) >>> 0;
}

/**
 * iommufd_fops_ioctl up to the handler call, in the kernel's order:
 * 1. nr outside the table → compat route;
 * 2. get_user(size) — unreadable → EFAULT, before the request is validated;
 * 3. empty slot or request value ≠ the table's (direction/size/type bits) → ENOTTY;
 * 4. size < min_size → EINVAL;
 * 5. copy_struct_from_user → E2BIG / EFAULT.
 * `arg` is the user memory at the argument pointer; a short `arg` models a fault.
 */
export function dispatchIoctl(cmd: number, arg: Uint8Array, opts: DispatchOptions): DispatchResult {
  const request = cmd >>> 0;
  const ops = iommufdIoctlOps(opts.testBuild);
  const nr = _IOC_NR(request);
  if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= ops.length) return { route: 'compat', cmd: request };
  if (arg.length < 4) return fail(EFAULT);
  const userSize = readUserSize(arg);
  const entry = ops[nr - IOMMUFD_CMD_BASE];
  if (entry === undefined || entry.cmd !== request) return fail(ENOTTY);
  if (userSize < entry.minSize) return fail(EINVAL);
  const kbuf = new Uint8Array(entry.ksize);
  const err = copyStructFromUser(kbuf, arg, userSize);
  if (err !== 0) return fail(err);
  return { route: 'iommufd', ok: true, entry, kbuf, userSize };
}

/** Write user bytes [0, n) from kbuf; a short `arg` faults after writing what is reachable (copy_to_user). */
function copyToUser(arg: Uint8Array, argOffset: number, kbuf: Uint8Array, kOffset: number, n: number): number {
  const reachable = Math.max(0, Math.min(n, arg.length - argOffset));
  if (reachable > 0) copyBytes(arg, argOffset, kbuf, kOffset, reachable);
  return reachable < n ? EFAULT : 0;
}

/**
 * `iommufd_ucmd_respond`: copy min(userSize, ksize) bytes of the kernel struct
 * back over the user's struct.  Returns 0 or EFAULT; on EFAULT the handler
 * must undo what it did (uapi.md §1.2 step 6/7).
 * unverified: a faulting copy_to_user leaves the reachable prefix written; we do the same.
 */
export function respond(entry: IoctlEntry, kbuf: Uint8Array, arg: Uint8Array, userSize: number): number {
  return copyToUser(arg, 0, kbuf, 0, Math.min(userSize, entry.ksize));
}

/** Write back a single field (IOMMU_OPTION writes only val64), independent of userSize. */
export function respondField(entry: IoctlEntry, kbuf: Uint8Array, arg: Uint8Array, field: string): number {
  const f = fieldOf(entry.layout, field);
  return copyToUser(arg, f.offset, kbuf, f.offset, fieldSize(f));
}

// ---------------------------------------------------------------- IOMMU_TEST_CMD ops

export interface TestOpEntry {
  readonly op: number;
  readonly name: string;
  readonly member: S.TestCmdMember | undefined;
  /** Layout to decode the kernel copy with (the whole 72 bytes seen through the op's union member). */
  readonly view: AnyLayout;
  /** The op writes the struct back (ucmd respond) on success. */
  readonly responds: boolean;
}

function testOp(op: number, name: string, member: S.TestCmdMember | undefined, responds = false): TestOpEntry {
  return Object.freeze({
    op,
    name,
    member,
    view: member === undefined ? S.iommu_test_cmd : S.iommu_test_cmd_views[member],
    responds,
  });
}

/** mock-and-selftest.md §2.3/§2.4.  Unknown op → EOPNOTSUPP (that is the handler's first check). */
export const IOMMU_TEST_OPS: readonly TestOpEntry[] = [
  testOp(E.IOMMU_TEST_OP_ADD_RESERVED, 'ADD_RESERVED', 'add_reserved'),
  testOp(E.IOMMU_TEST_OP_MOCK_DOMAIN, 'MOCK_DOMAIN', 'mock_domain', true),
  testOp(E.IOMMU_TEST_OP_MD_CHECK_MAP, 'MD_CHECK_MAP', 'check_map'),
  testOp(E.IOMMU_TEST_OP_MD_CHECK_REFS, 'MD_CHECK_REFS', 'check_refs'),
  testOp(E.IOMMU_TEST_OP_CREATE_ACCESS, 'CREATE_ACCESS', 'create_access', true),
  testOp(E.IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, 'DESTROY_ACCESS_PAGES', 'destroy_access_pages'),
  testOp(E.IOMMU_TEST_OP_ACCESS_PAGES, 'ACCESS_PAGES', 'access_pages', true),
  testOp(E.IOMMU_TEST_OP_ACCESS_RW, 'ACCESS_RW', 'access_rw'),
  testOp(E.IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 'SET_TEMP_MEMORY_LIMIT', 'memory_limit'),
  testOp(E.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, 'MOCK_DOMAIN_REPLACE', 'mock_domain_replace', true),
  testOp(E.IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, 'ACCESS_REPLACE_IOAS', 'access_replace_ioas'),
  testOp(E.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, 'MOCK_DOMAIN_FLAGS', 'mock_domain_flags', true),
  testOp(E.IOMMU_TEST_OP_DIRTY, 'DIRTY', 'dirty', true),
  testOp(E.IOMMU_TEST_OP_MD_CHECK_IOTLB, 'MD_CHECK_IOTLB', 'check_iotlb'),
  testOp(E.IOMMU_TEST_OP_TRIGGER_IOPF, 'TRIGGER_IOPF', 'trigger_iopf'),
  testOp(E.IOMMU_TEST_OP_DEV_CHECK_CACHE, 'DEV_CHECK_CACHE', 'check_dev_cache'),
  testOp(E.IOMMU_TEST_OP_TRIGGER_VEVENT, 'TRIGGER_VEVENT', 'trigger_vevent'),
  testOp(E.IOMMU_TEST_OP_PASID_ATTACH, 'PASID_ATTACH', 'pasid_attach', true),
  testOp(E.IOMMU_TEST_OP_PASID_REPLACE, 'PASID_REPLACE', 'pasid_replace', true),
  testOp(E.IOMMU_TEST_OP_PASID_DETACH, 'PASID_DETACH', 'pasid_detach'),
  testOp(E.IOMMU_TEST_OP_PASID_CHECK_HWPT, 'PASID_CHECK_HWPT', 'pasid_check'),
  // DMABUF_GET returns the new fd as the ioctl's return value, not in the struct.
  testOp(E.IOMMU_TEST_OP_DMABUF_GET, 'DMABUF_GET', 'dmabuf_get'),
  testOp(E.IOMMU_TEST_OP_DMABUF_REVOKE, 'DMABUF_REVOKE', 'dmabuf_revoke'),
  testOp(E.IOMMU_TEST_OP_MD_CHECK_DMABUF, 'MD_CHECK_DMABUF', 'check_dmabuf'),
];

const TEST_OP_BY_NUMBER: ReadonlyMap<number, TestOpEntry> = new Map(IOMMU_TEST_OPS.map((o) => [o.op, o]));

export function testOpEntry(op: number): TestOpEntry | undefined {
  return TEST_OP_BY_NUMBER.get(op);
}

// ---------------------------------------------------------------- VFIO cdev ioctls (uapi.md §9)

export interface VfioIoctlEntry {
  readonly name: string;
  readonly cmd: number;
  readonly layout: AnyLayout;
  /** Bytes the kernel always copies and requires argsz to cover. */
  readonly minsz: number;
  readonly validFlags: number;
  /** A flag that extends the struct: argsz must then reach the end of `field` (else EINVAL). */
  readonly flagExtents: readonly { readonly flag: number; readonly field: string }[];
  /** Fields copied back individually with copy_to_user on success. */
  readonly outFields: readonly string[];
}

function VFIO_OP(e: Omit<VfioIoctlEntry, 'minsz'> & { readonly minLast: string }): VfioIoctlEntry {
  const { minLast, ...rest } = e;
  return Object.freeze({ ...rest, minsz: offsetofend(e.layout, minLast) });
}

export const VFIO_CDEV_IOCTL_OPS: readonly VfioIoctlEntry[] = [
  VFIO_OP({
    name: 'VFIO_DEVICE_BIND_IOMMUFD', cmd: VFIO_DEVICE_BIND_IOMMUFD, layout: S.vfio_device_bind_iommufd,
    minLast: 'out_devid',
    // unverified: FLAG_TOKEN and the 24-byte extension exist only in the newest kernels.
    validFlags: E.VFIO_DEVICE_BIND_FLAG_TOKEN,
    flagExtents: [{ flag: E.VFIO_DEVICE_BIND_FLAG_TOKEN, field: 'token_uuid_ptr' }],
    outFields: ['out_devid'],
  }),
  VFIO_OP({
    name: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', cmd: VFIO_DEVICE_ATTACH_IOMMUFD_PT, layout: S.vfio_device_attach_iommufd_pt,
    minLast: 'pt_id', validFlags: E.VFIO_DEVICE_ATTACH_PASID,
    flagExtents: [{ flag: E.VFIO_DEVICE_ATTACH_PASID, field: 'pasid' }],
    outFields: ['pt_id'],
  }),
  VFIO_OP({
    name: 'VFIO_DEVICE_DETACH_IOMMUFD_PT', cmd: VFIO_DEVICE_DETACH_IOMMUFD_PT, layout: S.vfio_device_detach_iommufd_pt,
    minLast: 'flags', validFlags: E.VFIO_DEVICE_DETACH_PASID,
    flagExtents: [{ flag: E.VFIO_DEVICE_DETACH_PASID, field: 'pasid' }],
    outFields: [],
  }),
];

const VFIO_OP_BY_CMD: ReadonlyMap<number, VfioIoctlEntry> = new Map(VFIO_CDEV_IOCTL_OPS.map((e) => [e.cmd, e]));

export interface VfioDispatchOptions {
  /**
   * Known flag bits this device cannot honour (e.g. VFIO_DEVICE_ATTACH_PASID
   * when the driver has no PASID attach op) → EOPNOTSUPP, checked after the
   * unknown-flags EINVAL and before the extension's argsz check.
   * unverified: that position in the order (uapi.md §9.2).
   */
  readonly unsupportedFlags?: number;
}

export type VfioDispatchResult =
  | { readonly ok: false; readonly errno: number }
  | { readonly ok: true; readonly entry: VfioIoctlEntry; readonly kbuf: Uint8Array; readonly argsz: number };

const vfioFail = (errno: number): VfioDispatchResult => ({ ok: false, errno });

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** Extend the kernel copy for every set flag that adds fields; returns 0, EINVAL or EFAULT. */
function copyFlagExtents(e: VfioIoctlEntry, kbuf: Uint8Array, arg: Uint8Array, argsz: number, flags: number): number {
  let xend = e.minsz;
  for (const x of e.flagExtents) {
    if ((flags & x.flag) !== 0) xend = Math.max(xend, offsetofend(e.layout, x.field));
  }
  if (xend === e.minsz) return 0;
  if (argsz < xend) return EINVAL;
  if (arg.length < xend) return EFAULT;
  kbuf.set(arg.subarray(e.minsz, xend), e.minsz);
  return 0;
}

/**
 * The VFIO cdev argsz convention (uapi.md §9): copy minsz bytes (fault →
 * EFAULT), argsz < minsz → EINVAL, unknown flags → EINVAL (not EOPNOTSUPP),
 * bytes beyond what the kernel understands are ignored (no zero check).
 * Unknown request → ENOTTY.  Device state checks (bound? attached?) are the
 * handler's.
 */
export function dispatchVfioIoctl(cmd: number, arg: Uint8Array, opts: VfioDispatchOptions = {}): VfioDispatchResult {
  const e = VFIO_OP_BY_CMD.get(cmd >>> 0);
  if (e === undefined) return vfioFail(ENOTTY);
  if (arg.length < e.minsz) return vfioFail(EFAULT);
  const kbuf = new Uint8Array(e.layout.size);
  kbuf.set(arg.subarray(0, e.minsz));
  const argsz = readU32(kbuf, 0);
  const flags = readU32(kbuf, 4);
  if (argsz < e.minsz) return vfioFail(EINVAL);
  if ((flags & ~e.validFlags) !== 0) return vfioFail(EINVAL);
  if ((flags & (opts.unsupportedFlags ?? 0)) !== 0) return vfioFail(EOPNOTSUPP);
  const err = copyFlagExtents(e, kbuf, arg, argsz, flags);
  if (err !== 0) return vfioFail(err);
  return { ok: true, entry: e, kbuf, argsz };
}

/** Copy each out-field back (VFIO uses per-field copy_to_user); 0 or EFAULT. */
export function respondVfio(entry: VfioIoctlEntry, kbuf: Uint8Array, arg: Uint8Array): number {
  for (const name of entry.outFields) {
    const f = fieldOf(entry.layout, name);
    const err = copyToUser(arg, f.offset, kbuf, f.offset, fieldSize(f));
    if (err !== 0) return err;
  }
  return 0;
}
