/**
 * vEVENTQ depth, lost events and the 31-bit sequence (uapi.md §7.2), with
 * real events: stage-1 faults of dev2 under a vSMMU become SMMUv3 records.
 * Depth N: N events queue, further ones are dropped and ONE lost-events
 * header (re)placed at the tail with a fresh sequence number; a normal event
 * queued after it removes a marker still at the tail (the gap tells the
 * loss).  Invariant on every read: sequence numbers increase by one except
 * right after a lost-events marker.  The wrap at 0x7FFFFFFF → 0 is shown on
 * the queue's report function and on a live queue restored from a snapshot
 * whose counter sits just below INT_MAX (the journal of the restored run
 * replays from its first snapshot).
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { Proc } from '../../actors/api.ts';
import { veventqReport, type VeventqData } from '../../actors/iommufd/eventq.ts';
import { JournalReader, JournalWriter, memorySink } from '../../journal/index.ts';
import { ReplaySession } from '../../replay/session.ts';
import { ictxActorId } from '../../actors/iommufd/main.ts';
import {
  IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_VEVENTQ_FLAG_LOST_EVENTS, IOMMU_VEVENTQ_SEQUENCE_MAX, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
} from '../../uapi/enums.ts';
import { EEXIST, EINVAL, EOPNOTSUPP, ESPIPE } from '../../uapi/errno.ts';
import { PAGE, S1_BASE, checkSequence, guestRam, journaled, read1, readVevents, ste0, userData, veventqData, vste, writeStage1, type Vevent } from './helpers.ts';

const LOST = IOMMU_VEVENTQ_FLAG_LOST_EVENTS;
const REC = 8 + 32;

function vsmmu(sim: Simulation, depth: number) {
  const g = guestRam(sim, 'dev2', 2);
  const { ifd, devId, p } = g.r;
  const v = ifd.viommuAlloc({ flags: 0, type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: devId, hwpt_id: g.parent, data_len: 0, data_uptr: 0n });
  expect(v.errno).toBe(0);
  expect(ifd.vdeviceAlloc({ viommu_id: v.out.out_viommu_id, dev_id: devId, virt_id: 7n }).errno).toBe(0);
  const q = ifd.veventqAlloc({ flags: 0, viommu_id: v.out.out_viommu_id, type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, veventq_depth: depth });
  expect(q.errno).toBe(0);
  const cd = writeStage1(g, 'smmuv3', [{ iova: S1_BASE, gpa: 20 * PAGE }]);
  const h = ifd.hwptAlloc({ dev_id: devId, pt_id: v.out.out_viommu_id, flags: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: 16, data_uptr: userData(p, vste(ste0(5, cd))) });
  expect(h.errno).toBe(0);
  expect(g.r.vfio.attach(h.out.out_hwpt_id).errno).toBe(0);
  return { g, viommu: v.out.out_viommu_id, q: q.out.out_veventq_id, fd: q.out.out_veventq_fd };
}

/** `n` stage-1 faults (one event each); the faulting address identifies the event. */
function faults(sim: Simulation, from: number, n: number): void {
  for (let i = 0; i < n; i++) expect(read1(sim, 'dev2', S1_BASE + (100 + from + i) * PAGE, 8).ok).toBe(false);
}

/** Which fault (its index) an event record stands for. */
const which = (e: Vevent) => (e.flags & LOST ? 'lost' : Number((new DataView(e.data.buffer, e.data.byteOffset).getBigUint64(16, true) - BigInt(S1_BASE)) / BigInt(PAGE)) - 100);

describe('vEVENTQ depth and lost events', () => {
  it('depth N: N events queued, the rest dropped with ONE lost-events header; sequence gaps tell the loss', () => {
    journaled((sim) => {
      const s = vsmmu(sim, 3);
      const { p, ifd } = s.g.r;
      let prev: number | null = null;
      faults(sim, 0, 5);
      // queue: ev0 ev1 ev2 LOST — the marker was placed at 3 and re-placed at 4
      expect(veventqData(sim, p, ifd.fd, s.q)).toMatchObject({ events: 3, lost: 2, nextSeq: 5 });
      let r = readVevents(p, s.fd, 2 * REC, 32);
      expect(r.evs.map(which)).toEqual([0, 1]);
      prev = checkSequence(r.evs, prev);
      // one event of room now: the next event drops the marker still at the tail and takes seq 5
      faults(sim, 10, 1);
      r = readVevents(p, s.fd, 16 * REC, 32);
      expect(r.evs.map((e) => [which(e), e.seq])).toEqual([[2, 2], [10, 5]]);
      prev = checkSequence(r.evs.slice(0, 1), prev);
      // the gap 2 → 5 means two events were lost (seq 3 and 4 went to the marker)
      expect(r.evs[1]!.seq - r.evs[0]!.seq - 1).toBe(2);
      prev = r.evs[1]!.seq;

      // full again and overflowing: the marker is read (header only, 8 bytes) and the sequence continues after it
      faults(sim, 20, 4);
      r = readVevents(p, s.fd, 16 * REC, 32);
      expect(r.evs.map((e) => [which(e), e.seq, e.flags])).toEqual([[20, 6, 0], [21, 7, 0], [22, 8, 0], ['lost', 9, LOST]]);
      expect(r.ret).toBe(3 * REC + 8);
      prev = checkSequence(r.evs, prev);
      faults(sim, 30, 1);
      r = readVevents(p, s.fd, 16 * REC, 32);
      expect(r.evs.map((e) => [which(e), e.seq])).toEqual([[30, 10]]);
      prev = checkSequence(r.evs, prev);
      expect(veventqData(sim, p, ifd.fd, s.q)).toMatchObject({ events: 0, queue: [] });

      // a lost marker alone at the head is read even into a buffer with room for just its header
      faults(sim, 40, 4);
      readVevents(p, s.fd, 3 * REC, 32);
      r = readVevents(p, s.fd, 8, 32);
      expect(r.evs.map((e) => [e.flags, e.seq])).toEqual([[LOST, 14]]);
      // reads: fits nothing → 0; pos ≠ 0 → ESPIPE; write → EINVAL
      faults(sim, 50, 1);
      expect(p.read(s.fd, 8 + 31).ret).toBe(0);
      expect(p.read(s.fd, 7).ret).toBe(0);
      expect(p.syscall('read', { fd: s.fd, buf: p.scratchPage(), count: REC, pos: 8 }).errno).toBe(ESPIPE);
      expect(p.write(s.fd, new Uint8Array(8))).toBe(-EINVAL);
      r = readVevents(p, s.fd, REC, 32);
      expect(r.evs.map((e) => e.seq)).toEqual([15]);
    });
  });

  it('VEVENTQ_ALLOC: flags/reserved/type DEFAULT → EOPNOTSUPP, depth 0 → EINVAL, one queue per type (EEXIST)', () => {
    journaled((sim) => {
      const s = vsmmu(sim, 2);
      const { ifd } = s.g.r;
      const base = { flags: 0, viommu_id: s.viommu, type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, veventq_depth: 2 };
      expect(ifd.veventqAlloc({ ...base, flags: 1 }).errno).toBe(EOPNOTSUPP);
      expect(ifd.veventqAlloc({ ...base, __reserved: 1 }).errno).toBe(EOPNOTSUPP);
      expect(ifd.veventqAlloc({ ...base, type: 0 }).errno).toBe(EOPNOTSUPP);
      expect(ifd.veventqAlloc({ ...base, veventq_depth: 0 }).errno).toBe(EINVAL);
      expect(ifd.veventqAlloc(base).errno).toBe(EEXIST);
      // any other non-zero type passes the core
      expect(ifd.veventqAlloc({ ...base, type: 2 }).errno).toBe(0);
    });
  });

  it('poll: never writable (unlike a FAULT fd); readable while an event or a lost-events marker waits', () => {
    const EPOLLIN = 0x1, EPOLLRDNORM = 0x40;
    journaled((sim) => {
      const s = vsmmu(sim, 1);
      const { p } = s.g.r;
      const poll = () => Number(p.syscall('poll', { fd: s.fd }).ret);
      expect(poll()).toBe(0);
      faults(sim, 0, 2); // depth 1: ev0, then the marker for the dropped second event
      expect(poll()).toBe(EPOLLIN | EPOLLRDNORM);
      expect(readVevents(p, s.fd, REC, 32).evs.map(which)).toEqual([0]);
      // the marker alone is still on the deliver list, so the fd stays readable
      expect(poll()).toBe(EPOLLIN | EPOLLRDNORM);
      expect(readVevents(p, s.fd, REC, 32).evs.map(which)).toEqual(['lost']);
      expect(poll()).toBe(0);
    });
  });
});

describe('vEVENTQ sequence wrap (31 bits)', () => {
  it('veventqReport: INT_MAX is followed by 0, for events and for the lost-events marker', () => {
    const d: VeventqData = { viommu: 1, type: 1, depth: 2, queue: [], events: 0, nextSeq: IOMMU_VEVENTQ_SEQUENCE_MAX - 1, lost: 0 };
    const ev = new Uint8Array(4);
    veventqReport(d, ev);
    veventqReport(d, ev);
    veventqReport(d, ev); // dropped: marker takes 0
    expect(d.queue.map((e) => [e.seq, e.flags])).toEqual([[0x7ffffffe, 0], [0x7fffffff, 0], [0, LOST]]);
    veventqReport(d, ev); // marker re-placed at 1
    expect(d.queue.map((e) => [e.seq, e.flags])).toEqual([[0x7ffffffe, 0], [0x7fffffff, 0], [1, LOST]]);
    expect(d.nextSeq).toBe(2);
  });

  it('a live queue whose counter is just below INT_MAX wraps to 0; the restored run journals and replays', () => {
    // phase 1 (not journaled): build the vSMMU and move the queue's counter near the wrap in a snapshot
    const sim0 = new Simulation({});
    const s = vsmmu(sim0, 8);
    const snap = structuredClone(sim0.snapshot());
    const file = sim0.world.procs[s.g.r.p.pid]!.fds[s.g.r.ifd.fd]!;
    const ctx = snap.actors.find((a) => a.id === ictxActorId(file))! as unknown as { state: { context: { data: { table: { entries: Record<number, { actor: string }> } } } } };
    const qActor = ctx.state.context.data.table.entries[s.q]!.actor;
    const qa = snap.actors.find((a) => a.id === qActor)! as unknown as { state: { context: { data: VeventqData } } };
    qa.state.context.data.nextSeq = IOMMU_VEVENTQ_SEQUENCE_MAX - 1;

    // phase 2: the restored machine, journaled; real events cross the wrap
    const sink = memorySink();
    const sim = new Simulation({ snapshotEvery: 1, journal: new JournalWriter(sink), scenario: { name: 'veventq-wrap' } }, { snapshot: snap });
    const proc = new Proc(sim, s.g.r.p.pid);
    faults(sim, 0, 4);
    const r = readVevents(proc, s.fd, 16 * REC, 32);
    expect(r.evs.map((e) => e.seq)).toEqual([0x7ffffffe, 0x7fffffff, 0, 1]);
    expect(checkSequence(r.evs, 0x7ffffffd)).toBe(1);
    sim.close();
    // the journal starts after the edit: replay it from its first snapshot
    const bytes = sink.bytes();
    const first = JournalReader.fromBytes(bytes).snapshots()[0]!;
    const rs = ReplaySession.fromBytes(bytes);
    rs.seek(first.seq);
    expect(rs.runToEnd()).toBeNull();
    expect(rs.position).toBeGreaterThan(first.seq + 10);
  });
});
