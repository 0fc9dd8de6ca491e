/**
 * Fixture `iommufd_ioas` of the selftest catalogue (mock-and-selftest.md
 * §3.3) through the raw ABI: the mock_domain, two_mock_domain and
 * mock_domain_limit variants, and for no_domain the entries that need
 * IOMMU_TEST_CMD (test/core/ioas.test.ts has the rest of no_domain).
 */
import { describe, expect, it } from 'vitest';
import { EADDRINUSE, EBUSY, EEXIST, EFAULT, EINVAL, EMSGSIZE, ENOENT, ENOSPC, EOPNOTSUPP } from '../../uapi/errno.ts';
import { encodeArray, pack } from '../../uapi/layout.ts';
import { readFaults, respond } from '../viommu/helpers.ts';
import * as E from '../../uapi/enums.ts';
import * as S from '../../uapi/structs.ts';
import {
  U64_MAX, WRITE, allowIovas, copy, destroy, iovaRanges, map, option, raw, readRanges, scratch, unmap, writeRanges,
} from '../core/helpers.ts';
import { CORE_NO_DOMAIN, VARIANTS, checkAccessRw, done, setupFx, type Fx } from './ioas_fixture.ts';
import {
  BUFFER_SIZE, FIXED, MOCK_APERTURE_START, PAGE, accessPages, checkMap, addReserved, createAccess, destroyAccessPages,
  checkIotlb, hwptAlloc, hwptAllocOk, testCmd, mockDomain, mockDomainErr, mockDomainReplace, peek,
} from './helpers.ts';

const lsb = (n: bigint) => n & -n;

const IOTLB_DEFAULT = E.IOMMU_TEST_IOTLB_DEFAULT;
const nestedData = () => pack(S.iommu_hwpt_selftest, { iotlb: IOTLB_DEFAULT, pagetable_type: 0 });

/** test_cmd_hwpt_check_iotlb for every slot of a nested mock domain. */
function expectIotlb(f: Fx, hwpt: number, slots: number[]): void {
  slots.forEach((v, i) => expect(checkIotlb(f, hwpt, i, v), `iotlb[${i}]`).toBe(0));
}

/** IOMMU_HWPT_INVALIDATE with selftest entries; the entry count the kernel wrote back. */
function hwptInvalidate(
  f: Fx, hwpt: number, entries: { flags?: number; iotlb_id: number }[],
  o: { dataType?: number; entryLen?: number; num?: number; uptr?: bigint } = {},
): { errno: number; num: number } {
  const buf = new Uint8Array(Math.max(16, entries.length * 8));
  encodeArray(S.iommu_hwpt_invalidate_selftest, entries.map((e) => ({ flags: 0, ...e })), buf);
  const uptr = o.uptr ?? scratch(f) + 0xa000n;
  if (o.uptr === undefined) expect(f.p.poke(uptr, buf)).toBe(0);
  const r = raw<typeof S.iommu_hwpt_invalidate>(f, 'IOMMU_HWPT_INVALIDATE', {
    hwpt_id: hwpt, data_uptr: uptr, data_type: o.dataType ?? E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
    entry_len: o.entryLen ?? 8, entry_num: o.num ?? entries.length,
  });
  return { errno: r.errno, num: r.out.entry_num };
}

describe('iommufd_ioas', () => {
  for (const v of VARIANTS) {
    describe(v.name, () => {
      const t = (name: string, body: (f: Fx) => void) => {
        if (v.name === 'no_domain' && CORE_NO_DOMAIN.has(name)) return;
        it(name, () => {
          const f = setupFx(v);
          body(f);
          done(f);
        });
      };

      t('ioas_auto_destroy', () => {});

      t('ioas_destroy', (f) => {
        expect(destroy(f, f.ioas)).toBe(v.domains ? EBUSY : 0);
        if (v.domains) {
          // The IOAS stays usable.
          expect(map(f, f.ioas, { length: PAGE, iova: f.base }).errno).toBe(0);
        }
      });

      t('alloc_hwpt_nested', (f) => {
        const dev = f.devs[0]?.idev ?? 0;
        const nested = (pt: number, o: { flags?: number; dataType?: number; data?: Uint8Array; faultId?: number } = {}) =>
          hwptAlloc(f, { dev, pt, dataType: E.IOMMU_HWPT_DATA_SELFTEST, data: nestedData(), ...o });
        if (!v.domains) {
          expect(hwptAlloc(f, { dev: 0, pt: f.ioas }).errno).toBe(ENOENT);
          expect(nested(f.ioas).errno).toBe(ENOENT);
          expect(mockDomainReplace(f, 0, f.ioas).errno).toBe(ENOENT);
          return;
        }
        const stdev = f.devs[0]!.stdev;
        expect(hwptAlloc(f, { dev: f.ioas, pt: dev }).errno).toBe(ENOENT);
        expect(hwptAlloc(f, { dev, pt: dev }).errno).toBe(EINVAL);
        expect(hwptAlloc(f, { dev, pt: f.ioas, flags: E.IOMMU_HWPT_ALLOC_NEST_PARENT | E.IOMMU_HWPT_FAULT_ID_VALID }).errno).toBe(EOPNOTSUPP);
        const parent = hwptAllocOk(f, { dev, pt: f.ioas, flags: E.IOMMU_HWPT_ALLOC_NEST_PARENT });
        const plain = hwptAllocOk(f, { dev, pt: f.ioas });

        expect(nested(parent, { dataType: E.IOMMU_HWPT_DATA_NONE }).errno).toBe(EINVAL);
        expect(nested(parent, { dataType: E.IOMMU_HWPT_DATA_SELFTEST + 1 }).errno).toBe(EOPNOTSUPP);
        expect(nested(parent, { data: nestedData().subarray(0, 3) }).errno).toBe(EINVAL);
        const nullData = raw<typeof S.iommu_hwpt_alloc>(f, 'IOMMU_HWPT_ALLOC', {
          flags: 0, dev_id: dev, pt_id: parent, data_type: E.IOMMU_HWPT_DATA_SELFTEST, data_len: nestedData().length, data_uptr: 0n,
        });
        expect(nullData.errno).toBe(EFAULT);
        expect(nested(parent, { flags: E.IOMMU_HWPT_ALLOC_NEST_PARENT }).errno).toBe(EOPNOTSUPP);
        expect(nested(plain).errno).toBe(EINVAL);

        const fq = raw<typeof S.iommu_fault_alloc>(f, 'IOMMU_FAULT_QUEUE_ALLOC', { flags: 0 });
        expect(fq.errno).toBe(0);
        const fault = { id: fq.out.out_fault_id, fd: fq.out.out_fault_fd };
        const n0 = nested(parent).out.out_hwpt_id;
        const n1 = nested(parent).out.out_hwpt_id;
        expect(n0 && n1).toBeGreaterThan(0);
        expect(nested(parent, { flags: E.IOMMU_HWPT_FAULT_ID_VALID, faultId: 0xffffffff }).errno).toBe(ENOENT);
        const iopf = nested(parent, { flags: E.IOMMU_HWPT_FAULT_ID_VALID, faultId: fault.id });
        expect(iopf.errno).toBe(0);
        const iopfHwpt = iopf.out.out_hwpt_id;
        expectIotlb(f, n0, [IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT]);
        expectIotlb(f, n1, [IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT]);
        expect(nested(n0).errno).toBe(EINVAL);
        expect(destroy(f, parent)).toBe(EBUSY);

        // invalidation: every rejected request reports 0 entries handled
        const id0 = [{ iotlb_id: 0 }];
        expect(hwptInvalidate(f, parent, id0)).toEqual({ errno: EINVAL, num: 0 });
        expect(hwptInvalidate(f, n0, [], { num: 0 })).toEqual({ errno: 0, num: 0 });
        expect(hwptInvalidate(f, n0, id0, { dataType: 0xdadbeef })).toEqual({ errno: EINVAL, num: 0 });
        // entry size sanity (the kernel test's sizeof + 1 and 1).  The spec's further core checks,
        // entry_len > PAGE_SIZE and entry_num > 2^19, are not in the kernel's iommufd_hwpt_invalidate.
        for (const entryLen of [9, 1]) expect(hwptInvalidate(f, n0, id0, { entryLen })).toEqual({ errno: EINVAL, num: 0 });
        expect(hwptInvalidate(f, n0, [{ iotlb_id: 0, flags: 0xffffffff }])).toEqual({ errno: EOPNOTSUPP, num: 0 });
        expect(hwptInvalidate(f, n0, id0, { uptr: 0n })).toEqual({ errno: EINVAL, num: 0 });
        expect(hwptInvalidate(f, n0, id0, { entryLen: 0 })).toEqual({ errno: EINVAL, num: 0 });
        expect(hwptInvalidate(f, n0, [{ iotlb_id: E.MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1 }])).toEqual({ errno: EINVAL, num: 0 });
        expectIotlb(f, n0, [IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT]);
        // a failing second entry stops the batch after the first took effect
        expect(hwptInvalidate(f, n0, [{ iotlb_id: 0 }, { iotlb_id: 0, flags: 0xffffffff }])).toEqual({ errno: EOPNOTSUPP, num: 1 });
        expectIotlb(f, n0, [0, IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT]);
        expect(hwptInvalidate(f, n0, [{ iotlb_id: 0 }, { iotlb_id: 4 }])).toEqual({ errno: EINVAL, num: 1 });
        expectIotlb(f, n0, [0, IOTLB_DEFAULT, IOTLB_DEFAULT, IOTLB_DEFAULT]);
        expect(hwptInvalidate(f, n0, [{ iotlb_id: 1 }])).toEqual({ errno: 0, num: 1 });
        expectIotlb(f, n0, [0, 0, IOTLB_DEFAULT, IOTLB_DEFAULT]);
        expect(hwptInvalidate(f, n0, [{ iotlb_id: 2 }, { iotlb_id: 3 }])).toEqual({ errno: 0, num: 2 });
        expectIotlb(f, n0, [0, 0, 0, 0]);
        expect(hwptInvalidate(f, n1, [{ iotlb_id: 0, flags: E.IOMMU_TEST_INVALIDATE_FLAG_ALL }])).toEqual({ errno: 0, num: 1 });
        expectIotlb(f, n1, [0, 0, 0, 0]);

        // a nested HWPT in use by the device cannot be destroyed
        expect(mockDomainReplace(f, stdev, n0).errno).toBe(0);
        expect(destroy(f, n0)).toBe(EBUSY);
        expect(mockDomainReplace(f, stdev, n1).errno).toBe(0);
        expect(destroy(f, n1)).toBe(EBUSY);
        expect(destroy(f, n0)).toBe(0);
        expect(mockDomainReplace(f, stdev, iopfHwpt).errno).toBe(0);
        expect(destroy(f, iopfHwpt)).toBe(EBUSY);
        const trig = testCmd(f, E.IOMMU_TEST_OP_TRIGGER_IOPF, 'trigger_iopf', {
          dev_id: dev, pasid: 1, grpid: 0x2, perm: E.IOMMU_PGFAULT_PERM_READ | E.IOMMU_PGFAULT_PERM_WRITE, addr: 0xdeadbeafn,
        });
        expect(trig.errno).toBe(0);
        const { recs } = readFaults(f.p, fault.fd, S.iommu_hwpt_pgfault.size);
        // pasid 1 has nothing attached: the request falls back to the nested RID domain and keeps its pasid
        expect(recs).toMatchObject([{ flags: E.IOMMU_PGFAULT_FLAGS_PASID_VALID | E.IOMMU_PGFAULT_FLAGS_LAST_PAGE, dev_id: dev, pasid: 1, grpid: 2, addr: 0xdeadbeafn, cookie: 1 }]);
        expect(respond(f.p, fault.fd, [{ cookie: recs[0]!.cookie, code: E.IOMMUFD_PAGE_RESP_SUCCESS }])).toBe(8);
        expect(mockDomainReplace(f, stdev, parent).errno).toBe(0);
        expect(destroy(f, n1)).toBe(0);
        expect(destroy(f, iopfHwpt)).toBe(0);
        expect(mockDomainReplace(f, stdev, f.ioas).errno).toBe(0);
        expect(destroy(f, parent)).toBe(0);
        expect(destroy(f, plain)).toBe(0);
        expect(f.p.close(fault.fd)).toBe(0);
        expect(destroy(f, fault.id)).toBe(0);
      });

      t('hwpt_attach', (f) => {
        if (v.domains) {
          const d = mockDomain(f, f.devs[0]!.hwpt);
          expect(d.hwpt).toBe(f.devs[0]!.hwpt);
        } else {
          expect(mockDomainErr(f, 0).errno).toBe(ENOENT);
        }
      });

      t('ioas_area_destroy', (f) => {
        expect(map(f, f.ioas, { length: PAGE, iova: f.base }).errno).toBe(0);
        expect(destroy(f, f.ioas)).toBe(v.domains ? EBUSY : 0);
      });

      t('ioas_area_auto_destroy', (f) => {
        for (let i = 0n; i < 10n; i++) expect(map(f, f.ioas, { length: PAGE, iova: f.base + i * PAGE }).errno).toBe(0);
      });

      t('get_hw_info', (f) => {
        const at = scratch(f) + 0x2000n;
        const info = (dev: number, len: number, extra: Record<string, unknown> = {}) =>
          raw<typeof S.iommu_hw_info>(f, 'IOMMU_GET_HW_INFO', { dev_id: dev, data_len: len, data_uptr: len ? at : 0n, ...extra });
        if (!v.domains) {
          expect(info(0, 8).errno).toBe(ENOENT);
          expect(info(0, 16).errno).toBe(ENOENT);
          return;
        }
        const idev = f.devs[0]!.idev;
        expect(info(idev, 0).errno).toBe(0);
        const exact = info(idev, 8);
        expect(exact.errno).toBe(0);
        expect(exact.out.out_data_type).toBe(E.IOMMU_HW_INFO_TYPE_SELFTEST);
        expect(decodeInfo(f, at)).toEqual({ flags: 0, test_reg: E.IOMMU_HW_INFO_SELFTEST_REGVAL });
        expect(info(idev, 8, { flags: E.IOMMU_HW_INFO_FLAG_INPUT_TYPE, in_data_type: E.IOMMU_HW_INFO_TYPE_SELFTEST + 1 }).errno).toBe(EOPNOTSUPP);
        expect(info(idev, 8, { flags: E.IOMMU_HW_INFO_FLAG_INPUT_TYPE, in_data_type: E.IOMMU_HW_INFO_TYPE_SELFTEST }).errno).toBe(0);
        expect(f.p.poke(at, new Uint8Array(16).fill(0xaa))).toBe(0);
        const big = info(idev, 16);
        expect(big.errno).toBe(0);
        expect(big.out.data_len).toBe(8);
        expect(peek(f, at + 8n, 8)).toEqual(new Uint8Array(8));
        expect(f.p.poke(at, new Uint8Array(8).fill(0xaa))).toBe(0);
        const small = info(idev, 4);
        expect(small.errno).toBe(0);
        expect(peek(f, at, 4)).toEqual(new Uint8Array(4));
        expect(peek(f, at + 4n, 4)).toEqual(new Uint8Array(4).fill(0xaa));
        expect(exact.out.out_max_pasid_log2).toBe(0);
        if (f.pasidDev) expect(info(f.pasidDev.idev, 0).out.out_max_pasid_log2).toBe(E.MOCK_PASID_WIDTH);
      });

      t('area', (f) => {
        for (let i = 0n; i < 10n; i++) expect(unmap(f, f.ioas, f.base + i * PAGE, PAGE).errno).toBe(ENOENT);
        for (let i = 0n; i < 10n; i++) expect(map(f, f.ioas, { length: PAGE, iova: f.base + i * PAGE }).errno).toBe(0);
        for (let i = 0n; i < 10n; i++) expect(unmap(f, f.ioas, f.base + i * PAGE, PAGE).errno).toBe(0);
        expect(map(f, f.ioas, { length: 2n * PAGE, iova: f.base + 16n * PAGE }).errno).toBe(0);
        expect(unmap(f, f.ioas, f.base + 16n * PAGE, PAGE).errno).toBe(ENOENT);
        expect(unmap(f, f.ioas, f.base + 17n * PAGE, PAGE).errno).toBe(ENOENT);
        for (const [n, at] of [[2n, 16n], [1n, 16n], [1n, 17n], [2n, 15n], [3n, 15n]] as const) {
          expect(map(f, f.ioas, { length: n * PAGE, iova: f.base + at * PAGE }).errno).toBe(EEXIST);
        }
        expect(unmap(f, f.ioas, 0n, U64_MAX).errno).toBe(0);
        expect(unmap(f, f.ioas, 0n, U64_MAX).errno).toBe(0);
      });

      t('unmap_fully_contained_areas', (f) => {
        const base = f.base + 4n * PAGE;
        for (let i = 0n; i < 4n; i++) expect(map(f, f.ioas, { length: 8n * PAGE, iova: base + i * 16n * PAGE }).errno).toBe(0);
        expect(unmap(f, f.ioas, base - 4n * PAGE, 8n * PAGE).errno).toBe(ENOENT);
        expect(unmap(f, f.ioas, base + 3n * 16n * PAGE + 4n * PAGE, 8n * PAGE).errno).toBe(ENOENT);
        const r = unmap(f, f.ioas, base - 4n * PAGE, (3n * 16n + 8n + 4n) * PAGE);
        expect(r.errno).toBe(0);
        expect(r.out.length).toBe(32n * PAGE);
      });

      t('area_auto_iova', (f) => {
        const iovas: bigint[] = [];
        for (let i = 0; i < 10; i++) {
          const r = map(f, f.ioas, { length: PAGE });
          expect(r.errno).toBe(0);
          iovas.push(r.out.iova);
        }
        for (const iova of iovas) expect(unmap(f, f.ioas, iova, PAGE).errno).toBe(0);
        const va = v.domains ? f.buffer : 1n << 31n;
        const auto = () => {
          const out: bigint[] = [];
          for (let i = 1n; i <= 10n; i++) {
            const r = map(f, f.ioas, { va, length: i * PAGE });
            expect(r.errno).toBe(0);
            expect(r.out.iova % lsb(i * PAGE)).toBe(0n);
            out.push(r.out.iova);
          }
          return out;
        };
        const unmapAll = (l: bigint[]) => l.forEach((iova, i) => expect(unmap(f, f.ioas, iova, BigInt(i + 1) * PAGE).errno).toBe(0));
        if (!v.domains) {
          // va 1<<31 is not mapped in the test process: give it memory so the pins succeed.
          f.p.mmap({ length: 64n * PAGE, addr: 1n << 31n, shared: true });
        }
        unmapAll(auto());
        expect(addReserved(f, f.ioas, 4n * PAGE, 100n * PAGE)).toBe(0);
        const avoid = auto();
        avoid.forEach((iova, i) => {
          const last = iova + BigInt(i + 1) * PAGE - 1n;
          expect(last < 4n * PAGE || iova >= 104n * PAGE).toBe(true);
        });
        unmapAll(avoid);
        expect(allowIovas(f, f.ioas, [{ start: PAGE, last: 600n * PAGE }]).errno).toBe(EADDRINUSE);
        const range = v.domains
          ? { start: MOCK_APERTURE_START + PAGE, last: MOCK_APERTURE_START + 600n * PAGE - 1n }
          : { start: 200n * PAGE, last: 600n * PAGE - 1n };
        expect(allowIovas(f, f.ioas, [range]).errno).toBe(0);
        const inside = auto();
        inside.forEach((iova, i) => expect(iova >= range.start && iova + BigInt(i + 1) * PAGE - 1n <= range.last).toBe(true));
        unmapAll(inside);
      });

      t('reserved_overflow', (f) => {
        expect(addReserved(f, f.ioas, 6n, 0xffffffffffff8001n)).toBe(0);
        expect(map(f, f.ioas, { length: 0x5000n }).errno).toBe(ENOSPC);
      });

      t('area_allowed', (f) => {
        const range = { start: f.base, last: f.base + 600n * PAGE };
        expect(allowIovas(f, f.ioas, [range]).errno).toBe(0);
        expect(addReserved(f, f.ioas, f.base + PAGE, PAGE)).toBe(EADDRINUSE);
        expect(allowIovas(f, f.ioas, []).errno).toBe(0);
        expect(addReserved(f, f.ioas, f.base + PAGE, PAGE)).toBe(0);
        expect(allowIovas(f, f.ioas, [range]).errno).toBe(EADDRINUSE);
      });

      t('copy_area', (f) => {
        expect(map(f, f.ioas, { length: PAGE, iova: f.base }).errno).toBe(0);
        expect(copy(f, { dst: f.ioas, src: f.ioas, srcIova: f.base, length: PAGE, dstIova: f.base + PAGE, flags: FIXED | WRITE }).errno).toBe(0);
        const dst = raw<typeof S.iommu_ioas_alloc>(f, 'IOMMU_IOAS_ALLOC', {}).out.out_ioas_id;
        expect(copy(f, { dst, src: f.ioas, srcIova: f.base, length: PAGE, dstIova: 0n, flags: FIXED | WRITE }).errno).toBe(0);
      });

      t('iova_ranges', (f) => {
        const at = scratch(f);
        const r = iovaRanges(f, f.ioas, 1, at);
        expect(r.errno).toBe(0);
        expect(r.out.num_iovas).toBe(1);
        if (v.domains) {
          expect(readRanges(f, at, 1)).toEqual([{ start: MOCK_APERTURE_START, last: BigInt(E.MOCK_APERTURE_LAST) }]);
          expect(r.out.out_iova_alignment).toBe(BigInt(E.MOCK_PAGE_SIZE));
        } else {
          expect(readRanges(f, at, 1)).toEqual([{ start: 0n, last: U64_MAX }]);
          expect(r.out.out_iova_alignment).toBe(1n);
        }
        writeRanges(f, at, [{ start: 0n, last: 0n }, { start: 0n, last: 0n }]);
        const z = iovaRanges(f, f.ioas, 0, at);
        expect(z.errno).toBe(EMSGSIZE);
        expect(z.out.num_iovas).toBe(1);
        expect(readRanges(f, at, 1)).toEqual([{ start: 0n, last: 0n }]);
        expect(addReserved(f, f.ioas, PAGE, PAGE)).toBe(0);
        const one = iovaRanges(f, f.ioas, 1, at);
        if (v.domains) {
          expect(one.errno).toBe(0);
          expect(one.out.num_iovas).toBe(1);
        } else {
          expect(one.errno).toBe(EMSGSIZE);
          expect(one.out.num_iovas).toBe(2);
          expect(readRanges(f, at, 2)).toEqual([{ start: 0n, last: PAGE - 1n }, { start: 0n, last: 0n }]);
          expect(iovaRanges(f, f.ioas, 2, at).errno).toBe(0);
          expect(readRanges(f, at, 2)).toEqual([{ start: 0n, last: PAGE - 1n }, { start: 2n * PAGE, last: U64_MAX }]);
        }
      });

      t('access_pin', (f) => {
        const acc = createAccess(f, f.ioas, E.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
        for (let npages = 1n; npages < BUFFER_SIZE / PAGE; npages++) {
          expect(map(f, f.ioas, { length: BUFFER_SIZE, iova: MOCK_APERTURE_START }).errno).toBe(0);
          const p1 = accessPages(f, acc, MOCK_APERTURE_START, npages * PAGE, f.buffer);
          expect(p1.errno).toBe(0);
          expect(destroyAccessPages(f, acc, p1.out.out_access_pages_id)).toBe(0);
          // Double the pin
          const a = accessPages(f, acc, MOCK_APERTURE_START, npages * PAGE, f.buffer);
          const b = accessPages(f, acc, MOCK_APERTURE_START, npages * PAGE, f.buffer);
          expect([a.errno, b.errno]).toEqual([0, 0]);
          expect(destroyAccessPages(f, acc, a.out.out_access_pages_id)).toBe(0);
          expect(destroyAccessPages(f, acc, b.out.out_access_pages_id)).toBe(0);
          // Add and destroy a domain while the area exists
          const p2 = accessPages(f, acc, MOCK_APERTURE_START, npages * PAGE, f.buffer);
          expect(p2.errno).toBe(0);
          const d = mockDomain(f, f.ioas);
          expect(checkMap(f, d.hwpt, MOCK_APERTURE_START, BUFFER_SIZE, f.buffer)).toBe(0);
          expect(destroy(f, d.stdev)).toBe(0);
          expect(destroyAccessPages(f, acc, p2.out.out_access_pages_id)).toBe(0);
          expect(unmap(f, f.ioas, MOCK_APERTURE_START, BUFFER_SIZE).errno).toBe(0);
        }
        expect(f.p.close(acc)).toBe(0);
      });

      t('access_pin_unmap', (f) => {
        const acc = createAccess(f, f.ioas, E.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
        expect(map(f, f.ioas, { length: BUFFER_SIZE, iova: MOCK_APERTURE_START }).errno).toBe(0);
        const p = accessPages(f, acc, MOCK_APERTURE_START, BUFFER_SIZE, f.buffer);
        expect(p.errno).toBe(0);
        // Unmap tells the access to drop its pin.
        expect(unmap(f, f.ioas, MOCK_APERTURE_START, BUFFER_SIZE).errno).toBe(0);
        expect(destroyAccessPages(f, acc, p.out.out_access_pages_id)).toBe(ENOENT);
        expect(f.p.close(acc)).toBe(0);
      });

      t('access_rw', (f) => {
        const acc = createAccess(f, f.ioas, 0);
        const r = map(f, f.ioas, { length: BUFFER_SIZE });
        expect(r.errno).toBe(0);
        checkAccessRw(f, acc, r.out.iova, 0);
        checkAccessRw(f, acc, r.out.iova, E.MOCK_ACCESS_RW_SLOW_PATH);
        expect(unmap(f, f.ioas, r.out.iova, BUFFER_SIZE).errno).toBe(0);
        expect(f.p.close(acc)).toBe(0);
      });

      t('access_rw_unaligned', (f) => {
        const acc = createAccess(f, f.ioas, 0);
        // Unaligned pages: the IOVA is not page aligned relative to the user VA.
        const iova = f.base + BigInt(E.MOCK_PAGE_SIZE);
        expect(map(f, f.ioas, { length: BUFFER_SIZE, iova }).errno).toBe(0);
        checkAccessRw(f, acc, iova, 0);
        expect(unmap(f, f.ioas, iova, BUFFER_SIZE).errno).toBe(0);
        expect(f.p.close(acc)).toBe(0);
      });

      t('ioas_option_huge_pages', (f) => {
        const huge = (op: number, val64 = 0n) => option(f, { option_id: E.IOMMU_OPTION_HUGE_PAGES, op, object_id: f.ioas, val64 });
        expect(huge(E.IOMMU_OPTION_OP_GET).out.val64).toBe(1n);
        expect(huge(E.IOMMU_OPTION_OP_SET, 0n).errno).toBe(0);
        expect(huge(E.IOMMU_OPTION_OP_GET).out.val64).toBe(0n);
        expect(huge(E.IOMMU_OPTION_OP_SET, 2n).errno).toBe(EINVAL);
        expect(huge(E.IOMMU_OPTION_OP_SET, 1n).errno).toBe(0);
      });

      t('ioas_iova_alloc', (f) => {
        for (let length = 1n; length < 2n * PAGE; length++) {
          const r = map(f, f.ioas, { length });
          if (v.domains && length % BigInt(E.MOCK_PAGE_SIZE)) {
            expect(r.errno).toBe(EINVAL);
            continue;
          }
          expect(r.errno).toBe(0);
          expect(unmap(f, f.ioas, r.out.iova, length).errno).toBe(0);
        }
      });

      if (v.domains) {
        t('replace (MOCK_DOMAIN_REPLACE of the fixture device)', (f) => {
          // The auto-domain list of an IOAS with two paging HWPTs: replace back to the IOAS reuses the first.
          const h2 = hwptAlloc(f, { dev: f.devs[0]!.idev, pt: f.ioas });
          expect(h2.errno).toBe(0);
          expect(mockDomainReplace(f, f.devs[0]!.stdev, h2.out.out_hwpt_id).errno).toBe(0);
          expect(mockDomainReplace(f, f.devs[0]!.stdev, f.ioas).out.pt_id).toBe(f.devs[0]!.hwpt);
          expect(destroy(f, h2.out.out_hwpt_id)).toBe(0);
        });
      }
    });
  }
});

function decodeInfo(f: Fx, at: bigint) {
  const b = peek(f, at, 8);
  const dv = new DataView(b.buffer, b.byteOffset, 8);
  return { flags: dv.getUint32(0, true), test_reg: dv.getUint32(4, true) };
}
