/**
 * I/O page faults end to end on dev1 (VT-d, PRI): a FAULT queue, a
 * fault-capable HWPT_PAGING (FAULT_ID_VALID), a DMA burst that faults on
 * several pages → ONE page-request group (LAST_PAGE on the last record) read
 * from the fault fd with a cookie ≥ 1; the VMM maps the pages and answers
 * SUCCESS, the device retries and its DMA succeeds; INVALID fails it; close,
 * detach, replace and destroy answer what is pending INVALID (uapi.md §7.1).
 *
 * Invariants checked in every scenario: no fault record is lost or delivered
 * twice (every faulting access is read exactly once, in its group), and every
 * page request gets exactly one response (device actor `responses` counts;
 * the FAULT's received/answered counters).
 */
import { burstAccesses } from '../../hardware/burst.ts';
import { describe, expect, it } from 'vitest';
import type { Simulation } from '../../actors/sim.ts';
import { openVfio } from '../../actors/api.ts';
import {
  IOMMU_HWPT_FAULT_ID_VALID, IOMMU_PGFAULT_FLAGS_LAST_PAGE, IOMMU_PGFAULT_PERM_READ, IOMMU_PGFAULT_PERM_WRITE,
  IOMMUFD_PAGE_RESP_INVALID, IOMMUFD_PAGE_RESP_SUCCESS,
} from '../../uapi/enums.ts';
import { EBUSY, EINVAL, ENODEV, ENOENT, EOPNOTSUPP, ESPIPE } from '../../uapi/errno.ts';
import {
  FIXED, PAGE, RW, deviceState, faultData, journaled, peek, pattern, poke, readFaults, respond, responseCounts, rig, type PgFault, type Rig,
} from './helpers.ts';

const IOVA = 0x2000_0000;

interface Iopf {
  r: Rig;
  fault: number;
  ffd: number;
  hwpt: number;
  /** Every record read so far, for the no-loss / no-duplicate invariant. */
  seen: PgFault[];
  /** Faulting accesses issued (each must be read exactly once). */
  issued: { grpid: number; addr: bigint }[];
}

function setupIopf(sim: Simulation): Iopf {
  const r = rig(sim, 'dev1', { attach: false });
  const f = r.ifd.faultQueueAlloc();
  expect(f.errno).toBe(0);
  const h = r.ifd.hwptAlloc({ dev_id: r.devId, pt_id: r.ioas, flags: IOMMU_HWPT_FAULT_ID_VALID, fault_id: f.out.out_fault_id, data_type: 0, data_len: 0, data_uptr: 0n });
  expect(h.errno).toBe(0);
  expect(r.vfio.attach(h.out.out_hwpt_id).errno).toBe(0);
  return { r, fault: f.out.out_fault_id, ffd: f.out.out_fault_fd, hwpt: h.out.out_hwpt_id, seen: [], issued: [] };
}

/** A burst that faults everywhere it is not mapped; returns the group index the device is waiting on. */
function burst(sim: Simulation, s: Iopf, accesses: { iova: number; length: number; write: boolean; data?: Uint8Array }[]): number {
  const o = sim.dma('dev1', accesses);
  const st = deviceState(sim, 'dev1');
  const grpids = Object.keys(st.pending).map(Number);
  const grpid = Math.max(...grpids);
  o.forEach((x, i) => {
    if (!x.ok) {
      expect(x.fault).toBe('iopf');
      s.issued.push({ grpid, addr: BigInt(accesses[i]!.iova) });
    }
  });
  return grpid;
}

function read(s: Iopf, count?: number): PgFault[] {
  const r = readFaults(s.r.p, s.ffd, count);
  expect(r.ret).toBeGreaterThanOrEqual(0);
  s.seen.push(...r.recs);
  return r.recs;
}

/** Invariants: each issued faulting access was read exactly once; every group answered exactly once. */
function checkInvariants(sim: Simulation, s: Iopf, o: { allAnswered: boolean }): void {
  const key = (g: number, a: bigint) => `${g}:${a.toString(16)}`;
  const seen = s.seen.map((x) => key(x.grpid, x.addr));
  expect(new Set(seen).size, 'a record delivered twice').toBe(seen.length);
  const issued = new Set(s.issued.map((x) => key(x.grpid, x.addr)));
  for (const k of seen) expect(issued.has(k), `record ${k} never issued`).toBe(true);
  const st = deviceState(sim, 'dev1');
  const rc = responseCounts(sim, 'dev1');
  expect(rc.duplicated, 'a group answered more than once').toEqual([]);
  if (o.allAnswered) {
    expect(Object.keys(st.pending)).toEqual([]);
    const groups = new Set(s.issued.map((x) => x.grpid));
    expect(rc.total).toBe(groups.size);
    for (const g of groups) expect(st.responses[String(g)], `group ${g}`).toBe(1);
  }
}

describe('IOPF round trip (dev1, PRI)', () => {
  it('multi-page group: one group, LAST_PAGE on the last record, cookie ≥ 1; SUCCESS retries the DMA, INVALID fails it', () => {
    journaled((sim) => {
      const s = setupIopf(sim);
      const { r } = s;
      const va = r.p.mmap({ length: 4 * PAGE });
      const bytes = pattern(4, 21);
      poke(r.p, va, bytes);
      const wdata = new Uint8Array(64).fill(0x77);
      const accesses = [
        { iova: IOVA + 0x10, length: 32, write: false },
        { iova: IOVA + PAGE + 0x20, length: 32, write: false },
        { iova: IOVA + 2 * PAGE + 0x30, length: 64, write: true, data: wdata },
        { iova: IOVA + 3 * PAGE, length: 16, write: false },
      ];
      const grpid = burst(sim, s, accesses);
      // the device holds the four faulted accesses, as they were, for its retry
      expect(burstAccesses(deviceState(sim, 'dev1').pending[grpid]!.burst)).toEqual(accesses);
      expect(faultData(sim, r.p, r.ifd.fd, s.fault)).toMatchObject({ received: 1, answered: 0 });

      // bad sizes / positions first: ESPIPE; a buffer too small for the whole group copies nothing
      expect(r.p.read(s.ffd, 41).ret).toBe(-ESPIPE);
      expect(r.p.syscall('read', { fd: s.ffd, buf: r.p.scratchPage(), count: 40, pos: 40 }).errno).toBe(ESPIPE);
      expect(readFaults(r.p, s.ffd, 3 * 40).ret).toBe(0);
      const recs = read(s, 8 * 40);
      expect(recs).toHaveLength(4);
      expect(recs.map((x) => x.addr)).toEqual(accesses.map((a) => BigInt(a.iova)));
      expect(recs.map((x) => x.flags)).toEqual([0, 0, 0, IOMMU_PGFAULT_FLAGS_LAST_PAGE]);
      expect(new Set(recs.map((x) => x.cookie))).toEqual(new Set([1]));
      expect(recs.every((x) => x.grpid === grpid && x.dev_id === r.devId && x.pasid === 0 && x.length === 0)).toBe(true);
      expect(recs.map((x) => x.perm)).toEqual([
        IOMMU_PGFAULT_PERM_READ, IOMMU_PGFAULT_PERM_READ, IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE, IOMMU_PGFAULT_PERM_READ,
      ]);
      // nothing more to read
      expect(read(s)).toEqual([]);

      // the VMM maps the pages, then answers: the device retries the four accesses, all succeed
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(4 * PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      // a bad code and an unknown cookie are refused before anything is consumed
      expect(respond(r.p, s.ffd, [{ cookie: 1, code: 7 }])).toBe(-EINVAL);
      expect(respond(r.p, s.ffd, [{ cookie: 2, code: 0 }])).toBe(-EINVAL);
      expect(r.p.write(s.ffd, new Uint8Array(12))).toBe(-ESPIPE);
      expect(respond(r.p, s.ffd, [{ cookie: 1, code: IOMMUFD_PAGE_RESP_SUCCESS }, { cookie: 1, code: 0 }])).toBe(8);
      const st = deviceState(sim, 'dev1');
      expect(st.responses[String(grpid)]).toBe(1);
      expect(st.last!.map((x) => x.ok)).toEqual([true, true, true, true]);
      expect(st.last![0]!.data).toEqual(bytes.subarray(0x10, 0x30));
      expect(st.last![1]!.data).toEqual(bytes.subarray(PAGE + 0x20, PAGE + 0x40));
      expect(peek(r.p, va + BigInt(2 * PAGE + 0x30), 64)).toEqual(wdata);
      // the cookie is retired: answering it again is EINVAL
      expect(respond(r.p, s.ffd, [{ cookie: 1, code: 0 }])).toBe(-EINVAL);

      // INVALID: the device gives up on the group (no retry)
      const g2 = burst(sim, s, [{ iova: IOVA + 8 * PAGE, length: 8, write: false }, { iova: IOVA + 9 * PAGE, length: 8, write: true, data: new Uint8Array(8) }]);
      const recs2 = read(s);
      expect(recs2.map((x) => [x.grpid, x.cookie, x.flags])).toEqual([[g2, 1, 0], [g2, 1, IOMMU_PGFAULT_FLAGS_LAST_PAGE]]);
      const completed = st.completed;
      expect(respond(r.p, s.ffd, [{ cookie: 1, code: IOMMUFD_PAGE_RESP_INVALID }])).toBe(8);
      expect(st.prqFailed).toBe(1);
      expect(st.completed).toBe(completed);
      expect(faultData(sim, r.p, r.ifd.fd, s.fault)).toMatchObject({ received: 2, answered: 2 });
      checkInvariants(sim, s, { allAnswered: true });
    });
  });

  it('cookies: lowest free ≥ 1 per delivered group, reused once answered; whole groups per read', () => {
    journaled((sim) => {
      const s = setupIopf(sim);
      const { r } = s;
      const g = [1, 2, 3].map((k) => burst(sim, s, Array.from({ length: k }, (_, i) => ({ iova: IOVA + (10 * k + i) * PAGE, length: 8, write: false }))));
      // room for the first group (1 record) and the second (2), not the third (3)
      const a = read(s, 4 * 40);
      expect(a.map((x) => [x.grpid, x.cookie])).toEqual([[g[0], 1], [g[1], 2], [g[1], 2]]);
      expect(respond(r.p, s.ffd, [{ cookie: 1, code: IOMMUFD_PAGE_RESP_INVALID }])).toBe(8);
      const b = read(s);
      // cookie 1 is free again; 2 is still awaiting a response
      expect(b.map((x) => [x.grpid, x.cookie])).toEqual([[g[2], 1], [g[2], 1], [g[2], 1]]);
      expect(respond(r.p, s.ffd, [{ cookie: 2, code: IOMMUFD_PAGE_RESP_INVALID }, { cookie: 1, code: IOMMUFD_PAGE_RESP_INVALID }])).toBe(16);
      expect(faultData(sim, r.p, r.ifd.fd, s.fault)).toMatchObject({ received: 3, answered: 3, deliver: [], response: {} });
      checkInvariants(sim, s, { allAnswered: true });
    });
  });

  it('close, detach, replace and destroy answer pending groups INVALID — every page request exactly once', () => {
    journaled((sim) => {
      const s = setupIopf(sim);
      const { r } = s;
      // close: one group delivered (awaiting), one still queued
      burst(sim, s, [{ iova: IOVA, length: 8, write: false }]);
      read(s);
      burst(sim, s, [{ iova: IOVA + PAGE, length: 8, write: false }, { iova: IOVA + 2 * PAGE, length: 8, write: false }]);
      expect(faultData(sim, r.p, r.ifd.fd, s.fault)).toMatchObject({ received: 2, answered: 0 });
      // the fd holds the FAULT (EBUSY), and so does the HWPT
      expect(r.ifd.destroy(s.fault).errno).toBe(EBUSY);
      expect(r.p.close(s.ffd)).toBe(0);
      expect(faultData(sim, r.p, r.ifd.fd, s.fault)).toMatchObject({ received: 2, answered: 2 });
      expect(deviceState(sim, 'dev1').prqFailed).toBe(2);
      checkInvariants(sim, s, { allAnswered: true });
      expect(r.ifd.destroy(s.fault).errno).toBe(EBUSY);

      // detach: a second FAULT + HWPT, groups pending in both states, then the device detaches
      const f2 = r.ifd.faultQueueAlloc();
      const h2 = r.ifd.hwptAlloc({ dev_id: r.devId, pt_id: r.ioas, flags: IOMMU_HWPT_FAULT_ID_VALID, fault_id: f2.out.out_fault_id, data_type: 0, data_len: 0, data_uptr: 0n });
      expect(h2.errno).toBe(0);
      const s2: Iopf = { ...s, fault: f2.out.out_fault_id, ffd: f2.out.out_fault_fd, hwpt: h2.out.out_hwpt_id };
      // replace: the groups of the old attachment are answered as it goes
      burst(sim, s, [{ iova: IOVA + 3 * PAGE, length: 8, write: false }]);
      expect(r.vfio.attach(s2.hwpt).errno).toBe(0);
      expect(faultData(sim, r.p, r.ifd.fd, s.fault)).toMatchObject({ received: 3, answered: 3 });
      checkInvariants(sim, s, { allAnswered: true });
      burst(sim, s2, [{ iova: IOVA + 4 * PAGE, length: 8, write: false }]);
      read(s2);
      burst(sim, s2, [{ iova: IOVA + 5 * PAGE, length: 8, write: false }]);
      expect(r.vfio.detach().errno).toBe(0);
      expect(faultData(sim, r.p, r.ifd.fd, s2.fault)).toMatchObject({ received: 2, answered: 2, deliver: [], response: {} });
      // the detached device's DMA is blocked now, not a page request
      expect(sim.dma('dev1', [{ iova: IOVA, length: 8, write: false }])[0]).toMatchObject({ ok: false, fault: 'blocked' });
      // a response for an answered group is EINVAL (its cookie went with the detach)
      expect(respond(r.p, s2.ffd, [{ cookie: 1, code: 0 }])).toBe(-EINVAL);

      // destroy: reattach, fault, then HWPT destroy is EBUSY while attached; detach/destroy the HWPT, close, destroy the FAULT
      expect(r.vfio.attach(s2.hwpt).errno).toBe(0);
      burst(sim, s2, [{ iova: IOVA + 6 * PAGE, length: 8, write: false }]);
      expect(r.ifd.destroy(s2.hwpt).errno).toBe(EBUSY);
      expect(r.ifd.destroy(s2.fault).errno).toBe(EBUSY);
      // FAULT destroy proper: via the last reference — move the device away without detach hooks first
      const plain = r.ifd.hwptAlloc({ dev_id: r.devId, pt_id: r.ioas, flags: 0, data_type: 0, data_len: 0, data_uptr: 0n });
      expect(r.vfio.attach(plain.out.out_hwpt_id).errno).toBe(0);
      expect(faultData(sim, r.p, r.ifd.fd, s2.fault)).toMatchObject({ received: 3, answered: 3 });
      expect(r.ifd.destroy(s2.hwpt).errno).toBe(0);
      expect(r.p.close(s2.ffd)).toBe(0);
      expect(r.ifd.destroy(s2.fault).errno).toBe(0);
      expect(r.ifd.destroy(s2.fault).errno).toBe(ENOENT);
      const s3: Iopf = { ...s, issued: [...s.issued, ...s2.issued.filter((x) => !s.issued.includes(x))] };
      checkInvariants(sim, s3, { allAnswered: true });
    });
  });

  it('FAULT destroy with groups still queued (the iommufd closes): all answered INVALID; a device without PRI cannot attach a fault-capable HWPT (ENODEV)', () => {
    journaled((sim) => {
      const s = setupIopf(sim);
      const { r } = s;
      burst(sim, s, [{ iova: IOVA, length: 8, write: false }, { iova: IOVA + PAGE, length: 8, write: false }]);
      burst(sim, s, [{ iova: IOVA + 2 * PAGE, length: 8, write: false }]);
      read(s, 2 * 40);
      // close the fault fd first? no: close the whole iommufd with the fault fd open — the fd keeps the ctx
      expect(r.vfio.detach().errno).toBe(0);
      checkInvariants(sim, s, { allAnswered: true });

      // dev0 has no PRI: a fault-capable HWPT still faults its DMA, but no page request is made
      const d0 = openVfio(r.p, 0);
      const b = d0.bind(r.ifd);
      expect(b.errno).toBe(0);
      const h = r.ifd.hwptAlloc({ dev_id: b.out.out_devid, pt_id: r.ioas, flags: IOMMU_HWPT_FAULT_ID_VALID, fault_id: s.fault, data_type: 0, data_len: 0, data_uptr: 0n });
      expect(h.errno).toBe(0);
      // the driver cannot turn on IOPF for it: the attach is refused, and the plain HWPT path still works
      expect(d0.attach(h.out.out_hwpt_id).errno).toBe(ENODEV);
      expect(d0.attach(r.ioas).errno).toBe(0);
      expect(sim.dma('dev0', [{ iova: IOVA, length: 8, write: false }])[0]).toMatchObject({ ok: false, fault: 'translation' });
      expect(faultData(sim, r.p, r.ifd.fd, s.fault).received).toBe(2);
      // FAULT_QUEUE_ALLOC flags → EOPNOTSUPP; a fault id that is not a FAULT → ENOENT (HWPT not created)
      expect(r.ifd.faultQueueAlloc({ flags: 1 }).errno).toBe(EOPNOTSUPP);
      expect(r.ifd.hwptAlloc({ dev_id: r.devId, pt_id: r.ioas, flags: IOMMU_HWPT_FAULT_ID_VALID, fault_id: r.ioas, data_type: 0, data_len: 0, data_uptr: 0n }).errno).toBe(ENOENT);
    });
  });
});
