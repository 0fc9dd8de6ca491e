/**
 * Fixture `iommufd_mock_domain` of the selftest catalogue
 * (mock-and-selftest.md §3.4) through the raw ABI: variants one_domain,
 * two_domains, one_domain_file and the anonymous MAP_HUGETLB ones
 * (one_domain_hugepage, two_domains_hugepage: a 2 × 2 MiB buffer of huge
 * pages).  one_domain_file_hugepage needs a hugetlbfs memfd (MFD_HUGETLB),
 * which the simulated kernel does not have.
 */
import { describe, expect, it } from 'vitest';
import { EBUSY, EFAULT, EINVAL, ENOENT, EOPNOTSUPP } from '../../uapi/errno.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES } from '../../uapi/enums.ts';
import * as S from '../../uapi/structs.ts';
import { destroy, raw, unmap, type H } from '../core/helpers.ts';
import {
  FIXED, MOCK_APERTURE_START, MOCK_PAGE_SIZE, PAGE, RW, accessPages, accessReplaceIoas, checkMap, checkRefs, createAccess,
  destroyAccessPages, expectDevCacheDefault, fixture, hwptAlloc, hwptAllocOk, mapAuto, mmapHuge, mockDomain, mockDomainReplace, teardown,
  type MockDev,
} from './helpers.ts';
import { WRITE } from '../core/helpers.ts';

interface Variant {
  name: string;
  domains: number;
  file: boolean;
  huge?: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'one_domain', domains: 1, file: false },
  { name: 'two_domains', domains: 2, file: false },
  { name: 'one_domain_hugepage', domains: 1, file: false, huge: true },
  { name: 'two_domains_hugepage', domains: 2, file: false, huge: true },
  { name: 'one_domain_file', domains: 1, file: true },
];

const MOCK_BUFFER_PAGES = 8n;
const MOCK_BUFFER_SIZE = MOCK_BUFFER_PAGES * PAGE;
/** HUGEPAGE_SIZE of the C test (the THP size). */
const HUGEPAGE = 2n * 1024n * 1024n;

/** mmap_buf_size: 8 pages, or two huge pages for the hugepage variants. */
const bufSize = (v: Variant) => (v.huge ? 2n * HUGEPAGE : MOCK_BUFFER_SIZE);

/** The variant's mmap: MAP_SHARED | MAP_ANONYMOUS, plus MAP_HUGETLB | MAP_POPULATE for the hugepage ones. */
function mmapBuf(h: H, v: Variant): bigint {
  return v.huge ? mmapHuge(h, bufSize(v)) : h.p.mmap({ length: MOCK_BUFFER_SIZE, shared: true });
}

interface Fx extends H {
  ioas: number;
  devs: MockDev[];
  /** The variant's buffer: anonymous shared memory or a mapping of `mfd`. */
  buf: bigint;
  mfd: number;
  mfdBuffer: bigint;
}

function setupFx(v: Variant): Fx {
  const h = fixture();
  const devs: MockDev[] = [];
  for (let i = 0; i < v.domains; i++) {
    const d = mockDomain(h, h.ioas);
    expectDevCacheDefault(h, d.idev);
    devs.push(d);
  }
  const mfd = h.p.memfdCreate(MOCK_BUFFER_SIZE);
  const mfdBuffer = h.p.mmap({ length: MOCK_BUFFER_SIZE, fd: mfd, shared: true });
  const anon = mmapBuf(h, v);
  return Object.assign(h, { devs, mfd, mfdBuffer, buf: v.file ? mfdBuffer : anon });
}

function mapFile(h: H, ioas: number, fd: number, start: bigint, length: bigint, iova = 0n, flags = RW) {
  return raw<typeof S.iommu_ioas_map_file>(h, 'IOMMU_IOAS_MAP_FILE', { ioas_id: ioas, flags: flags | (iova ? FIXED : 0), fd, start, length, iova });
}

/** Map [va, va+length) of the variant's memory (anonymous: by VA; file: the memfd at the same offset). */
function mapBuf(f: Fx, v: Variant, ioas: number, va: bigint, length: bigint) {
  return v.file ? mapFile(f, ioas, f.mfd, va - f.mfdBuffer, length) : mapAuto(f, ioas, va, length);
}

/** check_mock_iova: MD_CHECK_MAP on hwpt_ids[0] and, when there is one, hwpt_ids[1]. */
function checkMockIova(f: Fx, hwpts: number[], va: bigint, iova: bigint, length: bigint): void {
  for (const hw of hwpts) expect(checkMap(f, hw, iova, length, va)).toBe(0);
}

const hwptIds = (f: Fx) => f.devs.map((d) => d.hwpt).slice(0, 2);

/*
 * all_aligns(_copy)' loops: every 2 KiB start and end, except that the
 * hugepage variants step the start by size/16 and begin with end = size,
 * where the C loop (end < size) runs no iteration at all.
 */
const alignsStep = (v: Variant) => (v.huge ? bufSize(v) / 16n : MOCK_PAGE_SIZE);
const alignsFirstEnd = (v: Variant, start: bigint) => (v.huge ? bufSize(v) + MOCK_PAGE_SIZE : start + MOCK_PAGE_SIZE);
const alignsLastEnd = (v: Variant) => bufSize(v);

describe('iommufd_mock_domain', () => {
  for (const v of VARIANTS) {
    describe(v.name, () => {
      it('basic', () => {
        const f = setupFx(v);
        if (v.file) {
          const r = mapFile(f, f.ioas, f.mfd, 0n, PAGE);
          expect(r.errno).toBe(0);
          checkMockIova(f, hwptIds(f), f.mfdBuffer, r.out.iova, PAGE);
          const mfd2 = f.p.memfdCreate(MOCK_BUFFER_SIZE);
          expect(mapFile(f, f.ioas, mfd2, 0n, MOCK_BUFFER_SIZE + 1n).errno).toBe(EINVAL);
        } else {
          const r = mapAuto(f, f.ioas, f.buf, PAGE);
          expect(r.errno).toBe(0);
          checkMockIova(f, hwptIds(f), f.buf, r.out.iova, PAGE);
          const size = bufSize(v);
          const b = mmapBuf(f, v);
          expect(f.p.munmap(b + size / 2n, size / 2n)).toBe(0);
          expect(mapAuto(f, f.ioas, b, size).errno).toBe(EFAULT);
          expect(f.p.munmap(b, size / 2n)).toBe(0);
          expect(mapAuto(f, f.ioas, b, size).errno).toBe(EFAULT);
        }
        teardown(f);
      });

      if (!v.file) {
        it('ro_unshare', () => {
          const f = setupFx(v);
          // A private writable mapping of a file (the test binary in C), mapped READABLE only.
          const exe = f.p.memfdCreate(PAGE);
          expect(f.p.poke(f.buf, new Uint8Array([1]))).toBe(0);
          const va = f.p.mmap({ length: PAGE, fd: exe, shared: false });
          const r = mapAuto(f, f.ioas, va, PAGE, 1 << 2);
          expect(r.errno).toBe(0);
          checkMockIova(f, hwptIds(f), va, r.out.iova, PAGE);
          // The user writes the page (copy-on-write for a private mapping): the IOVA still follows it.
          expect(f.p.poke(va, new Uint8Array([0xaa]))).toBe(0);
          checkMockIova(f, hwptIds(f), va, r.out.iova, PAGE);
          teardown(f);
        });
      }

      /**
       * all_aligns and all_aligns_copy: map every (start, end) of the sweep,
       * check it and unmap it; the copy variant adds a device after each map,
       * whose domain is filled from the pinned pages.
       */
      const allAligns = (copy: boolean) => {
        const f = setupFx(v);
        const size = bufSize(v);
        expect(checkRefs(f, f.buf, size, 0)).toBe(0);
        for (let start = 0n; start < size; start += alignsStep(v)) {
          for (let end = alignsFirstEnd(v, start); end <= alignsLastEnd(v); end += MOCK_PAGE_SIZE) {
            const length = end - start;
            const r = mapBuf(f, v, f.ioas, f.buf + start, length);
            expect(r.errno).toBe(0);
            const d = copy ? mockDomain(f, f.ioas) : null;
            checkMockIova(f, d ? [f.devs[0]!.hwpt, d.hwpt] : hwptIds(f), f.buf + start, r.out.iova, length);
            const lo = (start / PAGE) * PAGE;
            const n = (end / PAGE) * PAGE - lo;
            if (n > 0n) expect(checkRefs(f, f.buf + lo, n, 1)).toBe(0);
            if (d) expect(destroy(f, d.stdev)).toBe(0);
            expect(unmap(f, f.ioas, r.out.iova, length).errno).toBe(0);
          }
        }
        expect(checkRefs(f, f.buf, size, 0)).toBe(0);
        teardown(f);
      };

      it('all_aligns', () => allAligns(false));

      it('all_aligns_copy', () => allAligns(true));

      it('user_copy', () => {
        const f = setupFx(v);
        const len = PAGE * 16n > bufSize(v) ? bufSize(v) : PAGE * 16n;
        const mapSrc = (ioas: number) => {
          const r = v.file ? mapFile(f, ioas, f.mfd, 0n, len) : mapAuto(f, ioas, f.buf, len);
          expect(r.errno).toBe(0);
          return r.out.iova;
        };
        const copyFrom = (src: number, srcIova: bigint) =>
          raw(f, 'IOMMU_IOAS_COPY', { dst_ioas_id: f.ioas, src_ioas_id: src, flags: FIXED | WRITE, length: len, dst_iova: MOCK_APERTURE_START, src_iova: srcIova }).errno;
        const ioas = hwptFreeIoas(f);
        let srcIova = mapSrc(ioas);
        const acc = createAccess(f, ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
        expect(accessPages(f, acc, srcIova, len, f.buf).errno).toBe(0);
        expect(copyFrom(ioas, srcIova)).toBe(0);
        checkMockIova(f, hwptIds(f), f.buf, MOCK_APERTURE_START, len);
        // Now replace the IOAS with a new one.
        const newIoas = hwptFreeIoas(f);
        srcIova = mapSrc(newIoas);
        expect(accessReplaceIoas(f, acc, newIoas)).toBe(0);
        // Destroy the old IOAS and clean up the copied mapping.
        expect(unmap(f, f.ioas, MOCK_APERTURE_START, len).errno).toBe(0);
        expect(destroy(f, ioas)).toBe(0);
        // The same again from the new IOAS.
        const p = accessPages(f, acc, srcIova, len, f.buf);
        expect(p.errno).toBe(0);
        expect(copyFrom(newIoas, srcIova)).toBe(0);
        checkMockIova(f, hwptIds(f), f.buf, MOCK_APERTURE_START, len);
        expect(destroyAccessPages(f, acc, p.out.out_access_pages_id)).toBe(0);
        expect(f.p.close(acc)).toBe(0);
        expect(destroy(f, newIoas)).toBe(0);
        teardown(f);
      });

      it('replace', () => {
        const f = setupFx(v);
        const ioas = hwptFreeIoas(f);
        const [d0, d1] = f.devs;
        expect(mockDomainReplace(f, d0!.stdev, ioas).errno).toBe(0);
        // The prior automatic HWPT was freed with its last device.
        if (v.domains === 1) expect(mockDomainReplace(f, d0!.stdev, d0!.hwpt).errno).toBe(ENOENT);
        expect(mockDomainReplace(f, d0!.stdev, ioas).errno).toBe(0);
        if (v.domains >= 2) {
          expect(mockDomainReplace(f, d0!.stdev, d1!.hwpt).errno).toBe(0);
          expect(mockDomainReplace(f, d0!.stdev, d1!.hwpt).errno).toBe(0);
          expect(mockDomainReplace(f, d0!.stdev, d0!.hwpt).errno).toBe(0);
        }
        const back = mockDomainReplace(f, d0!.stdev, f.ioas);
        expect(back.errno).toBe(0);
        expect(back.out.pt_id).toBeGreaterThan(0);
        expect(destroy(f, ioas)).toBe(0);
        teardown(f);
      });

      it('alloc_hwpt', () => {
        const f = setupFx(v);
        for (const d of f.devs) {
          expect(hwptAlloc(f, { dev: d.idev, pt: f.ioas, flags: ~IOMMU_HWPT_ALLOC_NEST_PARENT >>> 0 }).errno).toBe(EOPNOTSUPP);
          const h0 = hwptAllocOk(f, { dev: d.idev, pt: f.ioas });
          const h1 = hwptAllocOk(f, { dev: d.idev, pt: f.ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
          // A hw_pagetable rotation.
          expect(mockDomainReplace(f, d.stdev, h0).errno).toBe(0);
          expect(destroy(f, h0)).toBe(EBUSY);
          expect(mockDomainReplace(f, d.stdev, h1).errno).toBe(0);
          expect(destroy(f, h1)).toBe(EBUSY);
          expect(mockDomainReplace(f, d.stdev, f.ioas).errno).toBe(0);
          expect(destroy(f, h1)).toBe(0);
          const s = mockDomain(f, h0);
          expect(s.hwpt).toBe(h0);
          expect(destroy(f, s.stdev)).toBe(0);
          expect(destroy(f, h0)).toBe(0);
        }
        teardown(f);
      });
    });
  }
});

function hwptFreeIoas(f: Fx): number {
  const r = raw<typeof S.iommu_ioas_alloc>(f, 'IOMMU_IOAS_ALLOC', {});
  expect(r.errno).toBe(0);
  return r.out.out_ioas_id;
}
