/**
 * Fixture `iommufd_dirty_tracking` of the selftest catalogue
 * (mock-and-selftest.md §3.5) through the raw ABI, every variant.  The huge
 * variants' MAP_HUGETLB|MAP_POPULATE buffer is emulated by populating the
 * buffer from physically contiguous, 1 MiB-aligned frames (the simulated mm
 * has no hugetlbfs), so the HUGE page table can map 1 MiB leaves.
 */
import { describe, expect, it } from 'vitest';
import { EINVAL, EOPNOTSUPP } from '../../uapi/errno.ts';
import * as E from '../../uapi/enums.ts';
import * as S from '../../uapi/structs.ts';
import { pack } from '../../uapi/layout.ts';
import { destroy, option, raw, type H } from '../core/helpers.ts';
import {
  MOCK_APERTURE_START, MOCK_PAGE_SIZE, PAGE, dirty, fixture, hwptAlloc, hwptAllocOk, mapFixed, mockDomain, mockDomainErr,
  pasidAttach, pasidDetach, peek, teardown, type MockDev,
} from './helpers.ts';

interface Variant {
  name: string;
  size: bigint;
  huge: boolean;
}

const K = 1024n;
const M = K * K;
const VARIANTS: Variant[] = [
  { name: 'domain_dirty8k', size: 8n * K, huge: false },
  { name: 'domain_dirty16k', size: 16n * K, huge: false },
  { name: 'domain_dirty64k', size: 64n * K, huge: false },
  { name: 'domain_dirty128k', size: 128n * K, huge: false },
  { name: 'domain_dirty320k', size: 320n * K, huge: false },
  { name: 'domain_dirty64M', size: 64n * M, huge: false },
  { name: 'domain_dirty64M_huge', size: 64n * M, huge: true },
  { name: 'domain_dirty128M', size: 128n * M, huge: false },
  { name: 'domain_dirty128M_huge', size: 128n * M, huge: true },
];

const THP = 2n * M;

interface Fx extends H {
  ioas: number;
  dev: MockDev;
  buf: bigint;
  bitmap: bigint;
  nbits: bigint;
}

/** MAP_HUGETLB|MAP_POPULATE stand-in: the buffer's frames are contiguous and 1 MiB aligned. */
function populateContiguous(h: H, va: bigint, size: bigint): void {
  const pm = h.sim.world.mem.pm;
  expect(pm.freeList.length, 'fresh frames only').toBe(0);
  const align = Number(E.MOCK_HUGE_PAGE_SIZE) / Number(PAGE);
  const padPages = (align - (pm.nextFresh % align)) % align;
  if (padPages) {
    const pad = h.p.mmap({ length: BigInt(padPages) * PAGE });
    expect(h.p.poke(pad, new Uint8Array(padPages * Number(PAGE)))).toBe(0);
  }
  const first = pm.nextFresh;
  const chunk = 4n * M;
  for (let off = 0n; off < size; off += chunk) expect(h.p.poke(va + off, new Uint8Array(Number(size - off < chunk ? size - off : chunk)))).toBe(0);
  expect(pm.nextFresh - first).toBe(Number(size / PAGE));
}

function setupFx(v: Variant): Fx {
  // The C selftests run as root: 128 MiB of pins must not hit RLIMIT_MEMLOCK.
  const h = fixture({ ipcLock: true });
  const len = v.huge ? (v.size > THP ? v.size : THP) : v.size;
  const buf = h.p.mmap({ length: len, addr: 0x100000000n, shared: true });
  if (v.huge) populateContiguous(h, buf, len);
  const nbits = v.size / MOCK_PAGE_SIZE;
  const bitmap = h.p.mmap({ length: nbits / 8n + PAGE * 2n });
  if (!v.huge) expect(option(h, { option_id: E.IOMMU_OPTION_HUGE_PAGES, op: E.IOMMU_OPTION_OP_SET, object_id: h.ioas, val64: 0n }).errno).toBe(0);
  const dev = mockDomain(h, h.ioas);
  return Object.assign(h, { dev, buf, bitmap, nbits });
}

function setDirtyTracking(h: H, hwpt: number, enable: boolean): number {
  return raw(h, 'IOMMU_HWPT_SET_DIRTY_TRACKING', { flags: enable ? E.IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0, hwpt_id: hwpt }).errno;
}

function getDirtyBitmap(h: H, hwpt: number, o: { iova: bigint; length: bigint; pageSize: bigint; data: bigint; flags: number }): number {
  return raw(h, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: hwpt, flags: o.flags, iova: o.iova, length: o.length, page_size: o.pageSize, data: o.data }).errno;
}

const bit = (b: Uint8Array, i: number) => (b[i >> 3]! >> (i & 7)) & 1;

/** _test_mock_dirty_bitmaps: mark every 2*npte-th IO page dirty, read the bitmap twice. */
function mockDirtyBitmaps(f: Fx, hwpt: number, bitmap: bigint, pteSize: bigint, flags: number): void {
  const nbits = Number(f.nbits);
  const npte = Number(pteSize / MOCK_PAGE_SIZE);
  const pteset = 2 * npte;
  const nr = Math.floor(nbits / pteset) || 1;
  const bytes = Math.ceil(nbits / 8);
  const marks = new Uint8Array(bytes);
  for (let i = 0; i < nbits; i += pteset) marks[i >> 3]! |= 1 << (i & 7);
  expect(f.p.poke(bitmap, marks)).toBe(0);
  const d = dirty(f, hwpt, { iova: MOCK_APERTURE_START, length: f.nbits * MOCK_PAGE_SIZE, pageSize: MOCK_PAGE_SIZE, uptr: bitmap });
  expect(d.errno).toBe(0);
  expect(d.out.out_nr_dirty).toBe(BigInt(nr));
  const read = (): Uint8Array => {
    expect(f.p.poke(bitmap, new Uint8Array(bytes))).toBe(0);
    expect(getDirtyBitmap(f, hwpt, { iova: MOCK_APERTURE_START, length: f.nbits * MOCK_PAGE_SIZE, pageSize: MOCK_PAGE_SIZE, data: bitmap, flags })).toBe(0);
    return peek(f, bitmap, bytes);
  };
  const first = read();
  for (let i = 0; i < nbits; i += pteset) for (let j = 0; j < pteset && i + j < nbits; j++) expect(bit(first, i + j), `bit ${i + j}`).toBe(j < npte ? 1 : 0);
  // Read already: all zero, unless NO_CLEAR kept the dirty state.
  const second = read();
  const noClear = (flags & E.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) !== 0;
  for (let i = 0; i < nbits; i += pteset) for (let j = 0; j < pteset && i + j < nbits; j++) expect(bit(second, i + j), `bit ${i + j}`).toBe(j < npte && noClear ? 1 : 0);
}

function dirtyBitmapTest(v: Variant, flags: number): void {
  const f = setupFx(v);
  expect(mapFixed(f, f.ioas, f.buf, v.size, MOCK_APERTURE_START).errno).toBe(0);
  const data = pack(S.iommu_hwpt_selftest, { iotlb: 0, pagetable_type: v.huge ? E.MOCK_IOMMUPT_HUGE : E.MOCK_IOMMUPT_DEFAULT });
  const hwpt = hwptAllocOk(f, { dev: f.dev.idev, pt: f.ioas, flags: E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING, dataType: E.IOMMU_HWPT_DATA_SELFTEST, data });
  const s = mockDomain(f, hwpt);
  expect(setDirtyTracking(f, hwpt, true)).toBe(0);
  const pte = v.huge ? BigInt(E.MOCK_HUGE_PAGE_SIZE) : MOCK_PAGE_SIZE;
  mockDirtyBitmaps(f, hwpt, f.bitmap, pte, flags);
  mockDirtyBitmaps(f, hwpt, f.bitmap + MOCK_PAGE_SIZE, pte, flags);
  // u64 unaligned bitmap
  mockDirtyBitmaps(f, hwpt, f.bitmap + 0xff1n, pte, flags);
  expect(destroy(f, s.stdev)).toBe(0);
  expect(destroy(f, hwpt)).toBe(0);
  teardown(f);
}

describe('iommufd_dirty_tracking', () => {
  for (const v of VARIANTS) {
    describe(v.name, () => {
      it('enforce_dirty', () => {
        const f = setupFx(v);
        const hwpt = hwptAllocOk(f, { dev: f.dev.idev, pt: f.ioas, flags: E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING });
        const s = mockDomain(f, hwpt);
        expect(mockDomainErr(f, hwpt, E.MOCK_FLAGS_DEVICE_NO_DIRTY).errno).toBe(EINVAL);
        expect(destroy(f, s.stdev)).toBe(0);
        expect(destroy(f, hwpt)).toBe(0);
        const ioas = raw<typeof S.iommu_ioas_alloc>(f, 'IOMMU_IOAS_ALLOC', {}).out.out_ioas_id;
        const nd = mockDomain(f, ioas, E.MOCK_FLAGS_DEVICE_NO_DIRTY);
        expect(hwptAlloc(f, { dev: nd.idev, pt: ioas, flags: E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING }).errno).toBe(EOPNOTSUPP);
        expect(destroy(f, nd.stdev)).toBe(0);
        teardown(f);
      });

      it('set_dirty_tracking', () => {
        const f = setupFx(v);
        const hwpt = hwptAllocOk(f, { dev: f.dev.idev, pt: f.ioas, flags: E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING });
        const s = mockDomain(f, hwpt);
        expect(setDirtyTracking(f, hwpt, true)).toBe(0);
        expect(setDirtyTracking(f, hwpt, false)).toBe(0);
        expect(destroy(f, s.stdev)).toBe(0);
        expect(destroy(f, hwpt)).toBe(0);
        teardown(f);
      });

      it('pasid_set_dirty_tracking', () => {
        const f = setupFx(v);
        const hwpt = hwptAllocOk(f, { dev: f.dev.idev, pt: f.ioas, flags: E.IOMMU_HWPT_ALLOC_PASID | E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING });
        const s = mockDomain(f, hwpt, E.MOCK_FLAGS_DEVICE_PASID);
        expect(pasidAttach(f, s.stdev, 100, hwpt).errno).toBe(0);
        expect(setDirtyTracking(f, hwpt, true)).toBe(0);
        expect(setDirtyTracking(f, hwpt, false)).toBe(0);
        expect(pasidDetach(f, s.stdev, 100)).toBe(0);
        expect(destroy(f, s.stdev)).toBe(0);
        // A PASID device without dirty tracking refuses the dirty HWPT at a PASID.
        const ioas = raw<typeof S.iommu_ioas_alloc>(f, 'IOMMU_IOAS_ALLOC', {}).out.out_ioas_id;
        const nd = mockDomain(f, ioas, E.MOCK_FLAGS_DEVICE_NO_DIRTY | E.MOCK_FLAGS_DEVICE_PASID);
        expect(pasidAttach(f, nd.stdev, 100, hwpt).errno).toBe(EINVAL);
        expect(destroy(f, nd.stdev)).toBe(0);
        expect(destroy(f, hwpt)).toBe(0);
        teardown(f);
      });

      it('device_dirty_capability', () => {
        const f = setupFx(v);
        const r = raw<typeof S.iommu_hw_info>(f, 'IOMMU_GET_HW_INFO', { dev_id: f.dev.idev, data_len: 0, data_uptr: 0n });
        expect(r.errno).toBe(0);
        expect(r.out.out_capabilities & BigInt(E.IOMMU_HW_CAP_DIRTY_TRACKING)).toBe(BigInt(E.IOMMU_HW_CAP_DIRTY_TRACKING));
        teardown(f);
      });

      it('get_dirty_bitmap', () => dirtyBitmapTest(v, 0));
      it('get_dirty_bitmap_no_clear', () => dirtyBitmapTest(v, E.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR));
    });
  }
});
