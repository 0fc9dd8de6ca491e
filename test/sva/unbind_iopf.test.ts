/**
 * Page requests still pending when the last bond of a (device, PASID) goes.
 *
 * iommu_sva_unbind_device → iommu_detach_device_pasid → the blocked
 * domain's set_dev_pasid: the PASID entry is torn down and the caches
 * flushed, then the driver drains the PASID's page requests (VT-d
 * intel_iommu_drain_pasid_prq: wait until the PRQ thread has consumed every
 * request of this RID + PASID, then iopf_queue_flush_dev runs the queued
 * work), so each pending group is answered by the SVA fault handler
 * (iopf_group_response with the handler's code) before unbind returns.
 * The handler still sees the bond's domain and mm: a resolvable fault is
 * SUCCESS, anything else INVALID.  Nothing answers a group after unbind,
 * which matters once the PASID goes to another process.
 *
 * Every scenario is journaled and replayed.
 */
import { describe, expect, it } from 'vitest';
import type { Simulation } from '../../actors/sim.ts';
import { spawnProc } from '../../actors/api.ts';
import { threadActorId } from '../../actors/thread.ts';
import { deviceActorId, type DeviceActor } from '../../actors/hw/device.ts';
import { svaDriver, svaOf, svaTopology } from '../../actors/hw/sva-api.ts';
import { IOMMU_PAGE_RESP_INVALID, IOMMU_PAGE_RESP_SUCCESS } from '../../actors/hw/sva.ts';
import type { Envelope } from '../../actors/runtime/envelope.ts';
import { ReplaySession } from '../../replay/session.ts';
import { inspectState as inspect } from '../../replay/inspect.ts';
import { record } from '../helpers/record.ts';

const PAGE = 0x1000n;

function journaled(fn: (sim: Simulation) => void): Simulation {
  const { bytes, sim } = record(fn, { topology: svaTopology() });
  expect(ReplaySession.fromBytes(bytes).runToEnd()).toBeNull();
  return sim;
}

function device(sim: Simulation, dev: string): DeviceActor {
  return sim.rt.actor(deviceActorId(dev)) as DeviceActor;
}

/** Every delivery from now on. */
function watch(sim: Simulation): Envelope[] {
  const seen: Envelope[] = [];
  sim.rt.bus.delivered$.subscribe((e) => seen.push(e));
  return seen;
}

const responses = (seen: Envelope[], dev: string) =>
  seen.filter((e) => e.dst === deviceActorId(dev) && e.type === 'page.response').map((e) => ({ cause: e.cause, ...(e.body as { grpid: number; code: number }) }));

const unbindSeq = (seen: Envelope[]) =>
  seen.find((e) => e.dst === 'kernel' && e.type === 'syscall' && (e.body as { call: string }).call === 'sva.unbind')!.seq;

/** A DMA straight to the IOMMU, then the unbind: under FIFO the unbind runs while the page request is still queued. */
function dmaThenUnbind(sim: Simulation, pid: number, dev: string, iova: bigint, pasid: number): void {
  sim.rt.inject(deviceActorId(dev), 'translation', 'dma', 'dma', { device: dev, accesses: [{ iova, length: 16, write: false, pasid }] });
  sim.rt.inject(threadActorId(pid, 1), 'kernel', 'ioctl', 'syscall', { call: 'sva.unbind', pid, args: { dev } });
}

describe('sva: unbind answers the pending page requests of the PASID', () => {
  it('a resolvable request is answered SUCCESS inside the unbind, exactly once', () => {
    journaled((sim) => {
      const p = spawnProc(sim);
      const buf = p.mmap({ length: PAGE });
      const { pasid } = svaDriver(p).bind('acc0');
      const seen = watch(sim);
      dmaThenUnbind(sim, p.pid, 'acc0', buf, pasid);
      sim.settle();
      const r = responses(seen, 'acc0');
      expect(r).toHaveLength(1);
      expect(r[0]).toMatchObject({ code: IOMMU_PAGE_RESP_SUCCESS, cause: unbindSeq(seen) });
      expect(device(sim, 'acc0').st.responses).toEqual({ [String(r[0]!.grpid)]: 1 });
      expect(device(sim, 'acc0').st.pending).toEqual({});
      // The handler resolved the fault in the bound mm before the PASID entry went.
      expect(sim.world.mem.mms[p.pid]!.pt[Number(buf >> 12n)]).toBeDefined();
      expect(svaOf(sim).pageRequests).toEqual({ success: 1, invalid: 0 });
      // The device's retry after SUCCESS finds the PASID blocked: no second request.
      expect(device(sim, 'acc0').st.last).toEqual([{ ok: false, fault: 'blocked' }]);
    });
  });

  it('an unresolvable request is answered INVALID inside the unbind', () => {
    journaled((sim) => {
      const p = spawnProc(sim);
      p.mmap({ length: PAGE });
      const { pasid } = svaDriver(p).bind('acc0');
      const seen = watch(sim);
      dmaThenUnbind(sim, p.pid, 'acc0', 0x7000_0000n, pasid);
      // The DMA alone: its page request waits in the PRQ (inspect shows it) until the unbind runs.
      sim.rt.step();
      const view = inspect(sim.snapshot()).hardware['iommu-sva'] as { prq: { dev: string; pasid: number; records: number }[] };
      expect(view.prq).toMatchObject([{ dev: 'acc0', pasid, records: 1 }]);
      sim.settle();
      expect((inspect(sim.snapshot()).hardware['iommu-sva'] as { prq: unknown[] }).prq).toEqual([]);
      const r = responses(seen, 'acc0');
      expect(r).toEqual([{ cause: unbindSeq(seen), grpid: r[0]!.grpid, pasid, code: IOMMU_PAGE_RESP_INVALID }]);
      expect(device(sim, 'acc0').st.pending).toEqual({});
      expect(device(sim, 'acc0').st.prqFailed).toBe(1);
      expect(svaOf(sim).pageRequests).toEqual({ success: 0, invalid: 1 });
    });
  });

  it('the PASID handed to the next process: the old request is never resolved in its mm', () => {
    journaled((sim) => {
      const X = 0x7000_0000n;
      const p = spawnProc(sim);
      p.mmap({ length: PAGE });
      const q = spawnProc(sim);
      expect(q.mmap({ length: PAGE, addr: X })).toBe(X);
      expect(q.poke(X, new Uint8Array(16).fill(0x5a))).toBe(0);
      const qFrame = sim.world.mem.mms[q.pid]!.pt[Number(X >> 12n)];
      const { pasid } = svaDriver(p).bind('acc0');
      const seen = watch(sim);
      // p's device faults on X (nothing there in p), p unbinds and exits, q binds and gets the same PASID,
      // all before the IOPF workqueue would have run.
      dmaThenUnbind(sim, p.pid, 'acc0', X, pasid);
      sim.rt.inject(threadActorId(p.pid, 1), 'kernel', 'ioctl', 'syscall', { call: 'proc.exit', pid: p.pid, args: {} });
      sim.rt.inject(threadActorId(q.pid, 1), 'kernel', 'ioctl', 'syscall', { call: 'sva.bind', pid: q.pid, args: { dev: 'acc0' } });
      sim.settle();
      expect(svaOf(sim).mms[q.pid]?.pasid).toBe(pasid);
      const r = responses(seen, 'acc0');
      expect(r).toHaveLength(1);
      expect(r[0]).toMatchObject({ code: IOMMU_PAGE_RESP_INVALID, cause: unbindSeq(seen) });
      expect(svaOf(sim).pageRequests).toEqual({ success: 0, invalid: 1 });
      // No retry reached q's memory through the reused PASID.
      expect(device(sim, 'acc0').st.completed).toBe(1);
      expect(sim.world.mem.mms[q.pid]!.pt[Number(X >> 12n)]).toBe(qFrame);
      expect(sim.world.kobj.kasan ?? []).toEqual([]);
    });
  });

  it('a bond still used by another unbind caller keeps its requests pending for the workqueue', () => {
    journaled((sim) => {
      const p = spawnProc(sim);
      const buf = p.mmap({ length: PAGE });
      const d = svaDriver(p);
      const { pasid } = d.bind('acc0');
      expect(d.bind('acc0').pasid).toBe(pasid);
      const seen = watch(sim);
      dmaThenUnbind(sim, p.pid, 'acc0', buf, pasid);
      sim.settle();
      // Not the last use: no detach, no drain; the workqueue answers it (SUCCESS) and the retry succeeds.
      const r = responses(seen, 'acc0');
      expect(r).toHaveLength(1);
      expect(r[0]!.code).toBe(IOMMU_PAGE_RESP_SUCCESS);
      expect(r[0]!.cause).not.toBe(unbindSeq(seen));
      expect(device(sim, 'acc0').st.last).toEqual([{ ok: true, data: new Uint8Array(16) }]);
      expect(d.unbind('acc0')).toBe(0);
    });
  });
});
