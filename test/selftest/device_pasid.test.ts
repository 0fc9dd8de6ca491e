/**
 * Fixture `iommufd_device_pasid` of the selftest catalogue
 * (mock-and-selftest.md §3.8), variants no_pasid and has_pasid, through the
 * raw ABI — including the IOPF round trip on PASID 2048 (TRIGGER_IOPF, read
 * of the fault fd, response).
 */
import { describe, expect, it } from 'vitest';
import { EBUSY, EINVAL, ENOMEM } from '../../uapi/errno.ts';
import * as E from '../../uapi/enums.ts';
import * as S from '../../uapi/structs.ts';
import { decode, pack } from '../../uapi/layout.ts';
import { destroy, raw, type H } from '../core/helpers.ts';
import {
  fixture, hwptAllocOk, mockDomain, mockDomainReplace, pasidAttach, pasidCheck, pasidDetach, pasidReplace, peek, teardown,
  testCmd, type MockDev,
} from './helpers.ts';

const selftestData = (iotlb = E.IOMMU_TEST_IOTLB_DEFAULT) => pack(S.iommu_hwpt_selftest, { iotlb });

function faultAlloc(h: H): { id: number; fd: number } {
  const r = raw<typeof S.iommu_fault_alloc>(h, 'IOMMU_FAULT_QUEUE_ALLOC', {});
  expect(r.errno, 'FAULT_QUEUE_ALLOC').toBe(0);
  return { id: r.out.out_fault_id, fd: r.out.out_fault_fd };
}

function viommuAlloc(h: H, dev: number, hwpt: number): number {
  const r = raw<typeof S.iommu_viommu_alloc>(h, 'IOMMU_VIOMMU_ALLOC', { type: E.IOMMU_VIOMMU_TYPE_SELFTEST, dev_id: dev, hwpt_id: hwpt });
  expect(r.errno, 'VIOMMU_ALLOC').toBe(0);
  return r.out.out_viommu_id;
}

/** test_cmd_trigger_iopf: TRIGGER_IOPF, read one record from the fault fd, answer it SUCCESS. */
function triggerIopf(h: H, idev: number, pasid: number, faultFd: number): void {
  expect(testCmd(h, E.IOMMU_TEST_OP_TRIGGER_IOPF, 'trigger_iopf', { dev_id: idev, pasid, grpid: 0x2, perm: E.IOMMU_PGFAULT_PERM_READ | E.IOMMU_PGFAULT_PERM_WRITE, addr: 0xdeadbeafn }).errno).toBe(0);
  const buf = h.p.scratchPage() + 0xe000n;
  const rd = h.p.syscall('read', { fd: faultFd, buf, count: S.iommu_hwpt_pgfault.size });
  expect(rd.errno).toBe(0);
  expect(Number(rd.ret)).toBeGreaterThan(0);
  const rec = decode(S.iommu_hwpt_pgfault, peek(h, buf, S.iommu_hwpt_pgfault.size));
  expect(rec.pasid).toBe(pasid);
  expect(rec.dev_id).toBe(idev);
  expect(h.p.poke(buf, pack(S.iommu_hwpt_page_response, { cookie: rec.cookie, code: E.IOMMUFD_PAGE_RESP_SUCCESS }))).toBe(0);
  const wr = h.p.syscall('write', { fd: faultFd, buf, count: S.iommu_hwpt_page_response.size });
  expect(wr.errno).toBe(0);
  expect(Number(wr.ret)).toBeGreaterThan(0);
}

describe('iommufd_device_pasid', () => {
  for (const variant of ['no_pasid', 'has_pasid'] as const) {
    describe(variant, () => {
      it('pasid_attach', () => {
        const h = fixture();
        const d: MockDev = mockDomain(h, h.ioas, E.MOCK_FLAGS_DEVICE_PASID);
        const plain: MockDev | null = variant === 'no_pasid' ? mockDomain(h, h.ioas) : null;
        const { stdev } = d;
        const pasid = 100;
        // Detach of a PASID with nothing attached succeeds.
        expect(pasidDetach(h, stdev, pasid)).toBe(0);

        // Not PASID-compatible: a NEST_PARENT HWPT.
        const parent = hwptAllocOk(h, { dev: d.idev, pt: h.ioas, flags: E.IOMMU_HWPT_ALLOC_NEST_PARENT });
        const nested0 = hwptAllocOk(h, { dev: d.idev, pt: parent, flags: E.IOMMU_HWPT_ALLOC_PASID, dataType: E.IOMMU_HWPT_DATA_SELFTEST, data: selftestData() });
        const nested1 = hwptAllocOk(h, { dev: d.idev, pt: parent, flags: E.IOMMU_HWPT_ALLOC_PASID, dataType: E.IOMMU_HWPT_DATA_SELFTEST, data: selftestData() });
        const fault = faultAlloc(h);
        const iopfHwpt = hwptAllocOk(h, {
          dev: d.idev, pt: parent, flags: E.IOMMU_HWPT_FAULT_ID_VALID | E.IOMMU_HWPT_ALLOC_PASID, dataType: E.IOMMU_HWPT_DATA_SELFTEST,
          data: selftestData(), faultId: fault.id,
        });
        const viommu = viommuAlloc(h, d.idev, parent);
        const nested2 = hwptAllocOk(h, { dev: d.idev, pt: viommu, flags: E.IOMMU_HWPT_ALLOC_PASID, dataType: E.IOMMU_HWPT_DATA_SELFTEST, data: selftestData() });
        expect(nested2).toBeGreaterThan(0);
        const s2 = hwptAllocOk(h, { dev: d.idev, pt: h.ioas, flags: E.IOMMU_HWPT_ALLOC_PASID });

        // RID on a non-PASID-compatible domain: no PASID attach.
        expect(mockDomainReplace(h, stdev, parent).errno).toBe(0);
        expect(pasidAttach(h, stdev, pasid, s2).errno).toBe(EINVAL);
        // RID on a PASID-compatible domain.
        expect(mockDomainReplace(h, stdev, s2).errno).toBe(0);
        expect(pasidAttach(h, stdev, pasid, nested0).errno).toBe(0);
        // A PASID in use needs a PASID-compatible RID domain.
        expect(mockDomainReplace(h, stdev, parent).errno).toBe(EINVAL);
        expect(pasidDetach(h, stdev, pasid)).toBe(0);
        expect(pasidCheck(h, stdev, pasid, 0)).toBe(0);

        if (plain) {
          // The ordinary device can use the nested HWPT at its RID, but no PASID.
          expect(mockDomainReplace(h, plain.stdev, nested0).errno).toBe(0);
          expect(mockDomainReplace(h, plain.stdev, h.ioas).errno).toBe(0);
          expect(pasidAttach(h, plain.stdev, pasid, parent).errno).toBe(EINVAL);
          expect(pasidAttach(h, plain.stdev, pasid, s2).errno).toBe(EINVAL);
        }

        expect(pasidAttach(h, stdev, pasid, parent).errno).toBe(EINVAL);
        expect(pasidCheck(h, stdev, pasid, 0)).toBe(0);
        expect(pasidAttach(h, stdev, pasid, h.ioas).errno).toBe(EINVAL);
        expect(pasidCheck(h, stdev, pasid, 0)).toBe(0);
        const a = pasidAttach(h, stdev, pasid, s2);
        expect(a.errno).toBe(0);
        expect(a.out.pt_id).toBe(s2);
        expect(pasidCheck(h, stdev, pasid, s2)).toBe(0);
        expect(pasidAttach(h, stdev, pasid, nested0).errno).toBe(EBUSY);
        expect(pasidDetach(h, stdev, pasid)).toBe(0);
        expect(pasidCheck(h, stdev, pasid, 0)).toBe(0);
        expect(pasidAttach(h, stdev, pasid, nested0).errno).toBe(0);
        expect(pasidCheck(h, stdev, pasid, nested0)).toBe(0);
        expect(pasidAttach(h, stdev, pasid, nested0).errno).toBe(EBUSY);
        expect(pasidDetach(h, stdev, pasid)).toBe(0);

        // PASID 200: replace semantics.
        const p2 = 200;
        expect(pasidReplace(h, stdev, p2, s2).errno).toBe(EINVAL);
        expect(pasidAttach(h, stdev, p2, s2).errno).toBe(0);
        expect(pasidCheck(h, stdev, p2, s2)).toBe(0);
        expect(pasidReplace(h, stdev, p2, h.ioas).errno).toBe(EINVAL);
        expect(pasidCheck(h, stdev, p2, s2)).toBe(0);
        expect(pasidReplace(h, stdev, p2, nested0).errno).toBe(0);
        expect(pasidCheck(h, stdev, p2, nested0)).toBe(0);
        expect(pasidReplace(h, stdev, p2, nested1).errno).toBe(0);
        expect(pasidCheck(h, stdev, p2, nested1)).toBe(0);
        expect(pasidDetach(h, stdev, p2)).toBe(0);

        // PASID 1024: the mock fails the second attach, the core keeps the old domain.
        const p3 = E.IOMMU_TEST_PASID_RESERVED;
        expect(pasidAttach(h, stdev, p3, s2).errno).toBe(0);
        expect(pasidCheck(h, stdev, p3, s2)).toBe(0);
        expect(pasidReplace(h, stdev, p3, nested0).errno).toBe(ENOMEM);
        expect(pasidCheck(h, stdev, p3, s2)).toBe(0);
        expect(pasidDetach(h, stdev, p3)).toBe(0);

        // PASID 2048: an IOPF-capable HWPT.
        const p4 = 2048;
        expect(pasidAttach(h, stdev, p4, iopfHwpt).errno).toBe(0);
        expect(pasidCheck(h, stdev, p4, iopfHwpt)).toBe(0);
        triggerIopf(h, d.idev, p4, fault.fd);
        expect(pasidReplace(h, stdev, p4, s2).errno).toBe(0);
        expect(pasidCheck(h, stdev, p4, s2)).toBe(0);
        expect(pasidDetach(h, stdev, p4)).toBe(0);
        expect(destroy(h, iopfHwpt)).toBe(0);
        expect(h.p.close(fault.fd)).toBe(0);
        expect(destroy(h, fault.id)).toBe(0);
        expect(mockDomainReplace(h, stdev, h.ioas).errno).toBe(0);
        teardown(h);
        expect(h.sim.rt.deadLetters.map((l) => `${l.env.src} -> ${l.env.dst} ${l.env.type}`)).toEqual([]);
      });
    });
  }
});
