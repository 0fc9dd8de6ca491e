/**
 * Raw-ABI helpers for the selftest catalogue (mock-and-selftest.md §3): the
 * IOMMU_TEST_CMD ops packed byte for byte through the union-member views of
 * `struct iommu_test_cmd`, plus the C selftest's `test_*` helpers.
 */
import { expect } from 'vitest';
import { rawBytes, raw, setup, type H, type HOpts, PAGE, BUFFER_SIZE, RW, FIXED } from '../core/helpers.ts';
import { IOMMU_TEST_CMD } from '../../uapi/ioctl.ts';
import { pack, decode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import * as E from '../../uapi/enums.ts';
import { Proc } from '../../actors/api.ts';
import { PROT_READ, PROT_WRITE } from '../../actors/mm/process.ts';

export const MOCK_APERTURE_START = BigInt(E.MOCK_APERTURE_START);
export const MOCK_PAGE_SIZE = BigInt(E.MOCK_PAGE_SIZE);
export const TEST_CMD = IOMMU_TEST_CMD;

type Member = S.TestCmdMember;

export interface TestCmdResult {
  errno: number;
  out: Record<string, any>;
}

/** IOMMU_TEST_CMD with `op`, `id` and the union member's fields; returns the member as written back. */
export function testCmd(h: H, op: number, member: Member | null, fields: Record<string, unknown> = {}, id = 0, fd = h.fd): TestCmdResult {
  const layout = member ? S.iommu_test_cmd_views[member] : S.iommu_test_cmd;
  const arg = pack(layout as never, { size: 72, op, id, ...(member ? { [member]: fields } : {}) } as never);
  const r = rawBytes(h, TEST_CMD, arg, fd);
  const full = new Uint8Array(72);
  full.set(r.bytes.subarray(0, 72));
  const d = decode(layout, full) as Record<string, any>;
  return { errno: r.errno, out: member ? d[member] : d };
}

export interface MockDev {
  stdev: number;
  hwpt: number;
  idev: number;
}

export function mockDomainErr(h: H, ptId: number, flags?: number): TestCmdResult {
  return flags === undefined
    ? testCmd(h, E.IOMMU_TEST_OP_MOCK_DOMAIN, 'mock_domain', {}, ptId)
    : testCmd(h, E.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, 'mock_domain_flags', { dev_flags: flags }, ptId);
}

/** test_cmd_mock_domain(_flags): must succeed. */
export function mockDomain(h: H, ptId: number, flags?: number): MockDev {
  const r = mockDomainErr(h, ptId, flags);
  expect(r.errno, 'MOCK_DOMAIN').toBe(0);
  return { stdev: r.out.out_stdev_id, hwpt: r.out.out_hwpt_id, idev: r.out.out_idev_id };
}

export function mockDomainReplace(h: H, stdev: number, ptId: number): TestCmdResult {
  return testCmd(h, E.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, 'mock_domain_replace', { pt_id: ptId }, stdev);
}

export function addReserved(h: H, ioas: number, start: bigint, length: bigint): number {
  return testCmd(h, E.IOMMU_TEST_OP_ADD_RESERVED, 'add_reserved', { start, length }, ioas).errno;
}

export function checkMap(h: H, hwpt: number, iova: bigint, length: bigint, uptr: bigint): number {
  return testCmd(h, E.IOMMU_TEST_OP_MD_CHECK_MAP, 'check_map', { iova, length, uptr }, hwpt).errno;
}

export function checkRefs(h: H, uptr: bigint, length: bigint, refs: number, fd = h.fd): number {
  return testCmd(h, E.IOMMU_TEST_OP_MD_CHECK_REFS, 'check_refs', { length, uptr, refs }, 0, fd).errno;
}

export function memoryLimit(h: H, limit: number): number {
  return testCmd(h, E.IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 'memory_limit', { limit }).errno;
}

export function createAccessErr(h: H, ioas: number, flags = 0): TestCmdResult {
  return testCmd(h, E.IOMMU_TEST_OP_CREATE_ACCESS, 'create_access', { flags }, ioas);
}

export function createAccess(h: H, ioas: number, flags = 0): number {
  const r = createAccessErr(h, ioas, flags);
  expect(r.errno, 'CREATE_ACCESS').toBe(0);
  return r.out.out_access_fd;
}

export function accessPages(h: H, accessFd: number, iova: bigint, length: bigint, uptr: bigint, flags = 0): TestCmdResult {
  return testCmd(h, E.IOMMU_TEST_OP_ACCESS_PAGES, 'access_pages', { flags, iova, length, uptr }, accessFd);
}

export function destroyAccessPages(h: H, accessFd: number, itemId: number): number {
  return testCmd(h, E.IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, 'destroy_access_pages', { access_pages_id: itemId }, accessFd).errno;
}

export function accessRw(h: H, accessFd: number, iova: bigint, length: bigint, uptr: bigint, flags = 0): number {
  return testCmd(h, E.IOMMU_TEST_OP_ACCESS_RW, 'access_rw', { iova, length, uptr, flags }, accessFd).errno;
}

export function accessReplaceIoas(h: H, accessFd: number, ioas: number): number {
  return testCmd(h, E.IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, 'access_replace_ioas', { ioas_id: ioas }, accessFd).errno;
}

export function pasidAttach(h: H, stdev: number, pasid: number, ptId: number): TestCmdResult {
  return testCmd(h, E.IOMMU_TEST_OP_PASID_ATTACH, 'pasid_attach', { pasid, pt_id: ptId }, stdev);
}

export function pasidReplace(h: H, stdev: number, pasid: number, ptId: number): TestCmdResult {
  return testCmd(h, E.IOMMU_TEST_OP_PASID_REPLACE, 'pasid_replace', { pasid, pt_id: ptId }, stdev);
}

export function pasidDetach(h: H, stdev: number, pasid: number): number {
  return testCmd(h, E.IOMMU_TEST_OP_PASID_DETACH, 'pasid_detach', { pasid }, stdev).errno;
}

export function pasidCheck(h: H, stdev: number, pasid: number, hwpt: number): number {
  return testCmd(h, E.IOMMU_TEST_OP_PASID_CHECK_HWPT, 'pasid_check', { pasid, hwpt_id: hwpt }, stdev).errno;
}

export function checkIotlb(h: H, hwpt: number, iotlbId: number, iotlb: number): number {
  return testCmd(h, E.IOMMU_TEST_OP_MD_CHECK_IOTLB, 'check_iotlb', { id: iotlbId, iotlb }, hwpt).errno;
}

export function checkDevCache(h: H, idev: number, cacheId: number, cache: number): number {
  return testCmd(h, E.IOMMU_TEST_OP_DEV_CHECK_CACHE, 'check_dev_cache', { id: cacheId, cache }, idev).errno;
}

/** Every device cache slot still holds its initial value (the fixtures' setup check). */
export function expectDevCacheDefault(h: H, idev: number): void {
  for (let i = 0; i < E.MOCK_DEV_CACHE_NUM; i++) expect(checkDevCache(h, idev, i, E.IOMMU_TEST_DEV_CACHE_DEFAULT)).toBe(0);
}

export function dirty(h: H, hwpt: number, o: { iova: bigint; length: bigint; pageSize: bigint; uptr: bigint; flags?: number }): TestCmdResult {
  return testCmd(h, E.IOMMU_TEST_OP_DIRTY, 'dirty', { flags: o.flags ?? 0, iova: o.iova, length: o.length, page_size: o.pageSize, uptr: o.uptr }, hwpt);
}

/** O_CLOEXEC, the only open_flags the selftests pass to DMABUF_GET. */
export const O_CLOEXEC = 0o2000000;

/** _test_cmd_get_dmabuf: the new fd (ioctl return value) or the errno. */
export function getDmabuf(h: H, length: bigint | number): { errno: number; fd: number } {
  const arg = pack(S.iommu_test_cmd_views.dmabuf_get as never, {
    size: 72, op: E.IOMMU_TEST_OP_DMABUF_GET, dmabuf_get: { length: Number(length), open_flags: O_CLOEXEC },
  } as never);
  const r = h.sim.ioctl(h.p.pid, h.fd, TEST_CMD, arg);
  return { errno: r.errno, fd: r.errno ? -1 : Number(r.ret) };
}

/** test_cmd_get_dmabuf: must succeed. */
export function getDmabufOk(h: H, length: bigint | number): number {
  const r = getDmabuf(h, length);
  expect(r.errno, 'DMABUF_GET').toBe(0);
  expect(r.fd).toBeGreaterThanOrEqual(0);
  return r.fd;
}

export function revokeDmabuf(h: H, dmabufFd: number, revoked: boolean): number {
  return testCmd(h, E.IOMMU_TEST_OP_DMABUF_REVOKE, 'dmabuf_revoke', { dmabuf_fd: dmabufFd, revoked: revoked ? 1 : 0 }).errno;
}

export function checkDmabuf(h: H, hwpt: number, dmabufFd: number, iova: bigint, length: bigint, offset: bigint): number {
  return testCmd(h, E.IOMMU_TEST_OP_MD_CHECK_DMABUF, 'check_dmabuf', { dmabuf_fd: dmabufFd, iova, length, offset }, hwpt).errno;
}

/** IOMMU_IOAS_MAP_FILE (R/W; FIXED_IOVA when `iova` is given). */
export function mapFile(h: H, ioas: number, fd: number, start: bigint, length: bigint, iova?: bigint) {
  return raw<typeof S.iommu_ioas_map_file>(h, 'IOMMU_IOAS_MAP_FILE', {
    ioas_id: ioas, flags: RW | (iova === undefined ? 0 : FIXED), fd, start, length, iova: iova ?? 0n,
  });
}

// ---------------------------------------------------------------- processes and memory

/** fork(): the child process (same open files, MAP_SHARED memory shared, private memory copied). */
export function fork(h: H): Proc {
  const r = h.p.syscall('proc.fork');
  expect(r.errno, 'fork').toBe(0);
  return new Proc(h.sim, Number(r.ret));
}

/** The same harness acting as another process of the simulation (a forked child using the inherited fds). */
export function as<T extends H>(h: T, p: Proc): T {
  return { ...h, p };
}

/** mmap(MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE): 2 MiB pages, faulted in up front. */
export function mmapHuge(h: H, length: bigint): bigint {
  const r = h.p.syscall('mmap', { length, prot: PROT_READ | PROT_WRITE, shared: true, huge: true, populate: true });
  expect(r.errno, 'mmap(MAP_HUGETLB)').toBe(0);
  return BigInt(r.ret as bigint);
}

// ---------------------------------------------------------------- plain ioctls the tests use

export function hwptAlloc(h: H, o: { dev: number; pt: number; flags?: number; dataType?: number; data?: Uint8Array; faultId?: number }) {
  let uptr = 0n;
  if (o.data) {
    uptr = h.p.scratchPage() + 0xc000n;
    expect(h.p.poke(uptr, o.data)).toBe(0);
  }
  return raw<typeof S.iommu_hwpt_alloc>(h, 'IOMMU_HWPT_ALLOC', {
    flags: o.flags ?? 0, dev_id: o.dev, pt_id: o.pt, data_type: o.dataType ?? 0, data_len: o.data?.length ?? 0, data_uptr: uptr,
    fault_id: o.faultId ?? 0,
  });
}

export function hwptAllocOk(h: H, o: Parameters<typeof hwptAlloc>[1]): number {
  const r = hwptAlloc(h, o);
  expect(r.errno, 'HWPT_ALLOC').toBe(0);
  return r.out.out_hwpt_id;
}

export function mapFixed(h: H, ioas: number, va: bigint, length: bigint, iova: bigint, flags = RW | FIXED) {
  return raw<typeof S.iommu_ioas_map>(h, 'IOMMU_IOAS_MAP', { ioas_id: ioas, flags, user_va: va, length, iova });
}

export function mapAuto(h: H, ioas: number, va: bigint, length: bigint, flags = RW) {
  return raw<typeof S.iommu_ioas_map>(h, 'IOMMU_IOAS_MAP', { ioas_id: ioas, flags, user_va: va, length, iova: 0n });
}

/** teardown_iommufd: close succeeds and a fresh fd sees no page of `buffer` pinned. */
export function teardown(h: H, fd = h.fd): void {
  expect(h.p.close(fd)).toBe(0);
  const fresh = h.p.open('/dev/iommu');
  expect(fresh).toBeGreaterThan(0);
  expect(checkRefs(h, h.buffer, BUFFER_SIZE, 0, fresh)).toBe(0);
  expect(h.p.close(fresh)).toBe(0);
}

/** The fixture shape most tests share: a fresh simulation, an IOAS, the default memory limit. */
export function fixture(o: HOpts = {}): H & { ioas: number } {
  const h = setup(o);
  expect(memoryLimit(h, E.MOCK_TEMP_MEMORY_LIMIT_DEFAULT)).toBe(0);
  const r = raw<typeof S.iommu_ioas_alloc>(h, 'IOMMU_IOAS_ALLOC', {});
  expect(r.errno).toBe(0);
  return Object.assign(h, { ioas: r.out.out_ioas_id });
}

/** Bytes of user memory, or a failing expectation. */
export function peek(h: H, va: bigint, n: number): Uint8Array {
  const b = h.p.peek(va, n);
  if (typeof b === 'number') throw new Error(`peek failed: ${b}`);
  return b;
}

/** A deterministic byte pattern (the C tests use random data; any distinct bytes do). */
export function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let v = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    v = (v * 1103515245 + 12345) >>> 0;
    b[i] = v >>> 24;
  }
  return b;
}

export { PAGE, BUFFER_SIZE, RW, FIXED };
