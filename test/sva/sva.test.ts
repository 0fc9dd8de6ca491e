/**
 * Shared virtual addressing through the simulator: bonds, per-IOMMU SVA
 * domains, one PASID per mm, DMA through the process's own CPU page table,
 * MMU-notifier flushes, page requests, process exit.  Every scenario is
 * journaled and replayed without divergence.
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { spawnProc, type Proc } from '../../actors/api.ts';
import { PROT_READ, PROT_WRITE } from '../../actors/mm/process.ts';
import { bondsOf, svaDomainsOf, svaDriver, svaOf, svaTopology } from '../../actors/hw/sva-api.ts';
import { deviceActorId, type DeviceActor } from '../../actors/hw/device.ts';
import type { TranslationActor } from '../../actors/hw/translation.ts';
import { EBUSY, EINVAL, ENODEV, ENOENT, EOPNOTSUPP, EOVERFLOW, ENOSPC } from '../../uapi/errno.ts';
import { ReplaySession } from '../../replay/session.ts';
import { inspectState as inspect } from '../../replay/inspect.ts';
import { record } from '../helpers/record.ts';
import { cptLeaf, cptMap, cptWalk, PTE_P, PTE_RW, PTE_US, PTE_A, PTE_D } from '../../hardware/cpu-pagetable.ts';
import { createPhysMem, allocFrame } from '../../hardware/physmem.ts';
import { FAULT_PERMISSION, FAULT_TRANSLATION } from '../../hardware/pagetable/format.ts';

const PAGE = 0x1000n;

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}

/** Journal the scenario, replay it, and hand back the live simulation. */
function journaled(fn: (sim: Simulation) => void): Simulation {
  const { bytes, sim } = record(fn, { topology: svaTopology() });
  expect(ReplaySession.fromBytes(bytes).runToEnd()).toBeNull();
  return sim;
}

function engine(sim: Simulation) {
  return (sim.rt.actor('translation') as TranslationActor).st.engine;
}

function device(sim: Simulation, dev: string): DeviceActor {
  return sim.rt.actor(deviceActorId(dev)) as DeviceActor;
}

function setupProc(sim: Simulation, pages = 4): { p: Proc; buf: bigint } {
  const p = spawnProc(sim);
  const buf = p.mmap({ length: BigInt(pages) * PAGE });
  expect(p.poke(buf, pattern(pages * 0x1000, 1))).toBe(0);
  return { p, buf };
}

describe('sva: x86-64 CPU page table walker', () => {
  it('walks 4 KiB, 2 MiB and 1 GiB leaves, ANDs R/W and U/S over the path, sets A and D', () => {
    const pm = createPhysMem({ totalPages: 64 });
    const root = allocFrame(pm);
    cptMap(pm, root, 0x40000000, 0x100, PTE_P | PTE_US | PTE_RW, 1);
    cptMap(pm, root, 0x80000000, 0x200, PTE_P | PTE_US, 2);
    cptMap(pm, root, 0x1_0000_0000, 0x40000, PTE_P | PTE_US | PTE_RW, 3);
    let w = cptWalk(pm, root, 0x40000123, true, true);
    expect(w).toMatchObject({ code: 0, pa: 0x100123, pageSize: 0x1000, dirty: true });
    const leaf = cptLeaf(pm, root, 0x40000000)!;
    expect(leaf.lo & (PTE_A | PTE_D)).toBe(PTE_A | PTE_D);
    w = cptWalk(pm, root, 0x80012345, false, true);
    expect(w).toMatchObject({ code: 0, pa: 0x200000 + 0x12345, pageSize: 0x200000, writable: false });
    expect(cptWalk(pm, root, 0x80012345, true, true).code).toBe(FAULT_PERMISSION);
    w = cptWalk(pm, root, 0x1_2345_6789, true, false);
    expect(w).toMatchObject({ code: 0, pa: 0x40000000 + 0x23456789, pageSize: 0x40000000 });
    expect(cptWalk(pm, root, 0x5000, false, false).code).toBe(FAULT_TRANSLATION);
    expect(cptWalk(pm, root, 2 ** 47, false, false).code).toBe(FAULT_TRANSLATION);
  });
});

describe('sva: bonds, domains and PASIDs', () => {
  it('two devices behind one IOMMU share one SVA domain and one PASID', () => {
    journaled((sim) => {
      const { p } = setupProc(sim);
      const d = svaDriver(p);
      const a = d.bind('acc0');
      const b = d.bind('acc1');
      expect(a.ok && b.ok).toBe(true);
      expect(a.pasid).toBe(b.pasid);
      expect(svaDomainsOf(sim)).toHaveLength(1);
      expect(svaDomainsOf(sim)[0]).toMatchObject({ iommu: 'iommu0', users: 2, pid: p.pid });
      expect(bondsOf(sim).map((x) => x.dev)).toEqual(['acc0', 'acc1']);
      expect(svaOf(sim).pasids).toEqual([a.pasid]);
    });
  });

  it('devices behind two IOMMUs get two domains and the same PASID', () => {
    journaled((sim) => {
      const { p } = setupProc(sim);
      const d = svaDriver(p);
      const a = d.bind('acc0');
      const b = d.bind('acc2');
      const c = d.bind('acc3');
      expect([a.pasid, b.pasid, c.pasid]).toEqual([a.pasid, a.pasid, a.pasid]);
      expect(svaDomainsOf(sim).map((x) => x.iommu)).toEqual(['iommu0', 'iommu1', 'iommu2']);
      const doms = svaDomainsOf(sim);
      expect(new Set(doms.map((x) => x.id)).size).toBe(3);
      expect(new Set(doms.map((x) => x.cr3)).size).toBe(1);
    });
  });

  it('two processes get two PASIDs; the PASID lives until the mm is gone', () => {
    journaled((sim) => {
      const { p } = setupProc(sim);
      const { p: q } = setupProc(sim);
      const a = svaDriver(p).bind('acc0');
      const b = svaDriver(q).bind('acc0');
      expect(a.pasid).not.toBe(b.pasid);
      expect(svaDomainsOf(sim)).toHaveLength(2);
      // Unbind drops the bond and the domain, never the PASID while the mm lives.
      expect(svaDriver(p).unbind('acc0')).toBe(0);
      expect(svaOf(sim).pasids).toEqual([a.pasid, b.pasid]);
      expect(svaDriver(p).bind('acc1').pasid).toBe(a.pasid);
      expect(svaDriver(p).unbind('acc1')).toBe(0);
      expect(p.exit()).toBe(0);
      expect(svaOf(sim).pasids).toEqual([b.pasid]);
      // Freed, it is handed out again.
      const { p: r } = setupProc(sim);
      expect(svaDriver(r).bind('acc0').pasid).toBe(a.pasid);
    });
  });

  it('bond counts across repeated bind/unbind', () => {
    journaled((sim) => {
      const { p } = setupProc(sim);
      const d = svaDriver(p);
      const first = d.bind('acc0');
      expect(d.bind('acc0')).toEqual(first);
      expect(d.bind('acc0')).toEqual(first);
      expect(bondsOf(sim)).toHaveLength(1);
      expect(bondsOf(sim)[0]!.users).toBe(3);
      d.bind('acc1');
      expect(svaDomainsOf(sim)[0]!.users).toBe(2);
      expect(d.unbind('acc0')).toBe(0);
      expect(d.unbind('acc0')).toBe(0);
      expect(bondsOf(sim).find((b) => b.dev === 'acc0')!.users).toBe(1);
      expect(svaDomainsOf(sim)[0]!.users).toBe(2);
      expect(d.unbind('acc0')).toBe(0);
      expect(bondsOf(sim).map((b) => b.dev)).toEqual(['acc1']);
      expect(svaDomainsOf(sim)[0]!.users).toBe(1);
      expect(d.unbind('acc0')).toBe(ENOENT);
      expect(d.unbind('acc1')).toBe(0);
      expect(svaDomainsOf(sim)).toEqual([]);
      expect(svaOf(sim).pasids).toEqual([first.pasid]);
      // The context entries are gone: DMA on the PASID is blocked.
      expect(sim.dma('acc0', [{ iova: 0x10000n, length: 8, write: false, pasid: first.pasid }])[0]).toMatchObject({ ok: false, fault: 'blocked' });
    });
  });

  it("Linux's bind refusals: no PRI, no PASID, no SVA in the IOMMU, PASID taken on the device", () => {
    journaled((sim) => {
      const { p } = setupProc(sim);
      const d = svaDriver(p);
      // No PASID capability and no PASID for the mm yet: iommu_alloc_global_pasid finds none.
      expect(d.bind('nopasid0').errno).toBe(ENOSPC);
      expect(d.bind('mockp').errno).toBe(EOPNOTSUPP);
      expect(d.bind('nopri0').errno).toBe(ENODEV);
      expect(d.bind('nodev').errno).toBe(ENODEV);
      const ok = d.bind('acc0');
      expect(ok.ok).toBe(true);
      // With the mm's PASID beyond the device's max_pasids.
      expect(d.bind('nopasid0').errno).toBe(EOVERFLOW);
      // Nothing half-done stays behind.
      expect(bondsOf(sim).map((b) => b.dev)).toEqual(['acc0']);
    });
  });

  it('sva: the PASID already attached to another (non-SVA) domain on the device: EBUSY', () => {
    const sim = new Simulation({ topology: svaTopology() });
    const { p } = setupProc(sim);
    const pasid = svaDriver(p).bind('acc0').pasid;
    // What an iommufd PASID attach of acc1's group leaves in the group's pasid array.
    const hws = sim.world.kobj.hw as { groups: Record<number, Record<number, unknown>> };
    hws.groups[1] = { [pasid]: { file: 0, hwpt: 0, domain: 0, devices: [] } };
    expect(svaDriver(p).bind('acc1').errno).toBe(EBUSY);
    delete hws.groups[1];
    expect(svaDriver(p).bind('acc1').ok).toBe(true);
    expect(EINVAL).toBe(22);
  });
});

describe('sva: DMA through the process page table', () => {
  it("reads and writes the process's bytes (two IOMMUs, IOTLB and ATC)", () => {
    journaled((sim) => {
      const { p, buf } = setupProc(sim, 3);
      const d = svaDriver(p);
      const { pasid } = d.bind('acc0');
      d.bind('acc2');
      const r = sim.dma('acc0', [{ iova: buf + 0x800n, length: 0x1000, write: false, pasid }]);
      expect(r[0]!.ok).toBe(true);
      expect(r[0]!.data).toEqual(pattern(0x3000, 1).subarray(0x800, 0x1800));
      const w = pattern(0x1800, 9);
      expect(sim.dma('acc2', [{ iova: buf + 0x400n, length: 0x1800, write: true, pasid, data: w }])[0]!.ok).toBe(true);
      expect(p.peek(buf + 0x400n, 0x1800)).toEqual(w);
      // Again, from the caches now (no new walks).
      const walks = engine(sim).stats.walks;
      expect(sim.dma('acc0', [{ iova: buf + 0x800n, length: 0x1000, write: false, pasid }])[0]!.data).toEqual(w.subarray(0x400, 0x1400));
      expect(engine(sim).stats.walks).toBe(walks);
      expect(engine(sim).stats.iotlbHits + engine(sim).stats.atcHits).toBeGreaterThan(0);
      expect(engine(sim).stats.staleUses).toBe(0);
      // The thread-submitted work queue path does the same.
      expect(d.submit('acc0', { va: buf, length: 4, write: true, data: new Uint8Array([7, 7, 7, 7]) })).toBe(0);
      expect(p.peek(buf, 4)).toEqual(new Uint8Array([7, 7, 7, 7]));
      // inspect shows the SVA state.
      const v = inspect(sim.snapshot());
      const s = v.hardware['iommu-sva'] as { pasids: number[]; domains: Record<string, unknown>; bonds: Record<string, unknown> };
      expect(s.pasids).toEqual([pasid]);
      expect(Object.keys(s.domains)).toHaveLength(2);
      expect(Object.keys(s.bonds)).toHaveLength(2);
    });
  });

  it('munmap then DMA faults; no stale IOTLB/ATC use; the freed page reused elsewhere is not reachable', () => {
    journaled((sim) => {
      const { p, buf } = setupProc(sim, 2);
      const { pasid } = svaDriver(p).bind('acc0');
      expect(sim.dma('acc0', [{ iova: buf, length: 0x2000, write: false, pasid }])[0]!.ok).toBe(true);
      const frame = sim.world.mem.mms[p.pid]!.pt[Number(buf >> 12n)]!;
      expect(p.munmap(buf, 0x1000)).toBe(0);
      expect(sim.dma('acc0', [{ iova: buf, length: 16, write: false, pasid }])[0]).toMatchObject({ ok: false });
      // The address mapped again, the freed frame reused, other bytes: the device sees the new page only.
      const other = p.mmap({ length: 0x1000 });
      expect(other).toBe(buf);
      const q = spawnProc(sim);
      const qb = q.mmap({ length: 0x1000 });
      q.poke(qb, pattern(0x1000, 42));
      expect(sim.world.mem.mms[q.pid]!.pt[Number(qb >> 12n)]).toBe(frame);
      p.poke(other, pattern(0x1000, 99));
      expect(sim.dma('acc0', [{ iova: buf, length: 16, write: false, pasid }])[0]!.data).toEqual(pattern(0x1000, 99).subarray(0, 16));
      expect(sim.dma('acc0', [{ iova: buf + 0x1000n, length: 16, write: false, pasid }])[0]!.data).toEqual(pattern(0x2000, 1).subarray(0x1000, 0x1010));
      expect(engine(sim).stats.staleUses).toBe(0);
      // The page request for the unmapped address was answered INVALID.
      expect(device(sim, 'acc0').st.prqFailed).toBe(1);
      expect(svaOf(sim).pageRequests.invalid).toBe(1);
    });
  });

  it('mprotect read-only: writes fault (INVALID), reads still work; write back on: the page request upgrades the PTE', () => {
    journaled((sim) => {
      const { p, buf } = setupProc(sim, 1);
      const { pasid } = svaDriver(p).bind('acc0');
      expect(sim.dma('acc0', [{ iova: buf, length: 4, write: true, pasid, data: new Uint8Array([1, 1, 1, 1]) }])[0]!.ok).toBe(true);
      expect(p.mprotect(buf, 0x1000, PROT_READ)).toBe(0);
      expect(sim.dma('acc0', [{ iova: buf, length: 4, write: true, pasid, data: new Uint8Array([2, 2, 2, 2]) }])[0]!.ok).toBe(false);
      expect(p.peek(buf, 4)).toEqual(new Uint8Array([1, 1, 1, 1]));
      expect(sim.dma('acc0', [{ iova: buf, length: 4, write: false, pasid }])[0]!.ok).toBe(true);
      expect(p.mprotect(buf, 0x1000, PROT_READ | PROT_WRITE)).toBe(0);
      const before = svaOf(sim).pageRequests.success;
      expect(sim.dma('acc0', [{ iova: buf, length: 4, write: true, pasid, data: new Uint8Array([3, 3, 3, 3]) }])[0]!.ok).toBe(true);
      expect(svaOf(sim).pageRequests.success).toBe(before + 1);
      expect(p.peek(buf, 4)).toEqual(new Uint8Array([3, 3, 3, 3]));
      expect(engine(sim).stats.staleUses).toBe(0);
    });
  });
});

describe('sva: page requests', () => {
  it('a page request is resolved by fault-in and the retried DMA succeeds', () => {
    journaled((sim) => {
      const p = spawnProc(sim);
      const buf = p.mmap({ length: 0x3000 });
      const { pasid } = svaDriver(p).bind('acc1');
      // Never touched by the CPU: not present in the CPU page table.
      const data = pattern(0x2000, 5);
      const r = sim.dma('acc1', [{ iova: buf + 0x800n, length: 0x2000, write: true, pasid, data }]);
      expect(r[0]!.ok).toBe(true);
      expect(p.peek(buf + 0x800n, 0x2000)).toEqual(data);
      expect(svaOf(sim).pageRequests.success).toBeGreaterThanOrEqual(1);
      const dev = device(sim, 'acc1');
      expect(dev.st.pending).toEqual({});
      expect(dev.st.prqFailed).toBe(0);
      expect(Object.values(dev.st.responses).every((n) => n === 1)).toBe(true);
    });
  });

  it('an address with no vma (or without permission) is answered INVALID and the device reports failure', () => {
    journaled((sim) => {
      const p = spawnProc(sim);
      const ro = p.mmap({ length: 0x1000, prot: 'r' });
      const { pasid } = svaDriver(p).bind('acc0');
      expect(sim.dma('acc0', [{ iova: 0x7000_0000n, length: 8, write: false, pasid }])[0]!.ok).toBe(false);
      expect(sim.dma('acc0', [{ iova: ro, length: 8, write: true, pasid, data: new Uint8Array(8) }])[0]!.ok).toBe(false);
      expect(device(sim, 'acc0').st.prqFailed).toBe(2);
      expect(svaOf(sim).pageRequests).toEqual({ success: 0, invalid: 2 });
    });
  });
});

describe('sva: process exit while bound', () => {
  it('DMA on the PASID is blocked from exit on; bonds stay until unbind; then the PASID goes', () => {
    journaled((sim) => {
      const { p, buf } = setupProc(sim, 2);
      const d = svaDriver(p);
      const { pasid } = d.bind('acc0');
      d.bind('acc2');
      expect(sim.dma('acc0', [{ iova: buf, length: 0x2000, write: false, pasid }])[0]!.ok).toBe(true);
      // DMA in flight: the burst is queued for the IOMMU when the process exits.
      const dev = device(sim, 'acc0');
      const before = dev.st.completed;
      sim.rt.inject(dev.id, 'translation', 'dma', 'dma', { device: 'acc0', accesses: [{ iova: buf, length: 16, write: false, pasid }] });
      sim.rt.inject('thread:1.1', 'kernel', 'ioctl', 'syscall', { call: 'proc.exit', pid: p.pid, args: {} });
      sim.settle();
      expect(dev.st.completed).toBe(before + 1);
      expect(sim.dma('acc0', [{ iova: buf, length: 16, write: false, pasid }])[0]).toMatchObject({ ok: false, fault: 'blocked' });
      expect(sim.dma('acc2', [{ iova: buf, length: 16, write: true, pasid, data: new Uint8Array(16) }])[0]).toMatchObject({ ok: false, fault: 'blocked' });
      expect(bondsOf(sim)).toHaveLength(2);
      expect(svaDomainsOf(sim).every((x) => x.released)).toBe(true);
      expect(svaOf(sim).pasids).toEqual([pasid]);
      expect(sim.world.mem.mms[p.pid]!.cpt).toBeUndefined();
      expect(sim.world.kobj.kasan ?? []).toEqual([]);
      expect(engine(sim).stats.staleUses).toBe(0);
      // The driver unbinds (from another context).
      const drv = spawnProc(sim);
      expect(svaDriver(drv).unbind('acc0', p.pid)).toBe(0);
      expect(svaOf(sim).pasids).toEqual([pasid]);
      expect(svaDriver(drv).unbind('acc2', p.pid)).toBe(0);
      expect(svaOf(sim).pasids).toEqual([]);
      expect(bondsOf(sim)).toEqual([]);
      expect(sim.world.mem.pm.inUse).toBe(0);
    });
  });

  it('a page request racing exit is answered INVALID', () => {
    journaled((sim) => {
      const p = spawnProc(sim);
      const buf = p.mmap({ length: 0x1000 });
      const { pasid } = svaDriver(p).bind('acc0');
      const dev = device(sim, 'acc0');
      sim.rt.inject(dev.id, 'translation', 'dma', 'dma', { device: 'acc0', accesses: [{ iova: buf, length: 16, write: false, pasid }] });
      // Deliver the DMA (it faults and raises a page request), then exit before the workqueue runs.
      sim.rt.step();
      sim.rt.inject('thread:1.1', 'kernel', 'ioctl', 'syscall', { call: 'proc.exit', pid: p.pid, args: {} });
      sim.settle();
      expect(svaOf(sim).pageRequests.invalid + svaOf(sim).pageRequests.success).toBe(1);
      expect(dev.st.pending).toEqual({});
      expect(sim.world.kobj.kasan ?? []).toEqual([]);
    });
  });
});
