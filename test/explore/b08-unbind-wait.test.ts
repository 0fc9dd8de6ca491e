/**
 * B08 (spec/bugs.md; d9df72c6acd6 "iommu: iommufd: fix WARNING in
 * iommufd_device_unbind", checked against the patch: the wait in
 * iommufd_object_dec_wait_shortterm went from msecs_to_jiffies(10000) to
 * 60000) in virtual time, one schedule at a time: a VFIO device is closed
 * (its driver unbinds it) while IOMMU_GET_HW_INFO holds it through a 30 s
 * driver stall.  On a schedule where the unbind has to wait, the fixed
 * model waits until the stall is over, then removes the device; the B08
 * variant gives up at 10 s, WARNs and leaves it in place.
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { KERNEL_ACTOR } from '../../actors/kernel.ts';
import { threadActorId } from '../../actors/thread.ts';
import { timers } from '../../actors/timer.ts';
import { ictxActorId } from '../../actors/iommufd/main.ts';
import type { IctxData } from '../../actors/iommufd/ioctl.ts';
import { SCENARIOS } from '../../explore/scenarios.ts';
import { setupScenario, SCENARIO_PID } from '../../explore/run.ts';

function run(variant: string | null, seed: number) {
  const sim = new Simulation({ seed: 1, config: { variant }, strategy: { name: 'random', seed: String(seed) } });
  const tids = setupScenario(sim, SCENARIOS['unbind-hwinfo-stall']!).threads.map((t) => t.tid);
  sim.rt.inject(threadActorId(SCENARIO_PID, 1), KERNEL_ACTOR, 'ioctl', 'syscall', { call: 'thread.start', pid: SCENARIO_PID, args: { tids } });
  sim.rt.run(100_000);
  const t = timers(sim.world);
  const d = (sim.rt.actor(ictxActorId(1)) as unknown as { context: { data: IctxData } }).context.data;
  const devices = Object.values(d.table.entries).filter((e) => e.type === 'device').length;
  // Two timers were armed: the stall's and the waiting unbind's.
  return { waited: t.nextId > 2, jiffies: t.jiffies, warn: (sim.world.kobj.warn ?? []) as string[], devices, pending: sim.rt.scheduler.pendingCount };
}

/** The first random schedule on which the unbind found the device held and waited, ending at `jiffies`. */
function waitingSeed(jiffies: number): number {
  for (let seed = 1; seed <= 400; seed++) {
    const r = run(null, seed);
    if (r.waited && r.jiffies === jiffies) return seed;
  }
  throw new Error(`no schedule made the unbind wait until ${jiffies}`);
}

describe('B08: unbind waits for short-term users in virtual time', () => {
  const seed = waitingSeed(30_000);

  it('fixed: woken when the 30 s stall ends, the unbind removes the device', () => {
    expect(run(null, seed)).toEqual({ waited: true, jiffies: 30_000, warn: [], devices: 0, pending: 0 });
  });

  it('fixed: if time runs on before the stalled call resumes, the 60 s timeout finds the device free (the resume is ahead of it)', () => {
    expect(run(null, waitingSeed(60_000))).toEqual({ waited: true, jiffies: 60_000, warn: [], devices: 0, pending: 0 });
  });

  it('B08: the unbind gives up after 10 s, WARNs and leaves the device object; the fixed model on that schedule does not', () => {
    let bad = 0;
    for (let s = 1; s <= 400 && !bad; s++) if (run('B08', s).warn.length) bad = s;
    expect(bad).toBeGreaterThan(0);
    expect(run(null, bad)).toMatchObject({ waited: true, warn: [], devices: 0, pending: 0 });
    const r = run('B08', bad);
    expect(r.waited).toBe(true);
    expect(r.warn).toEqual([expect.stringMatching(/timed out after 10000 ms waiting for device \d+ to become free/)]);
    expect(r.devices).toBe(1);
    // The stall still ends later: time reaches 30 s after the timeout at 10 s.
    expect(r.jiffies).toBe(30_000);
  });
});
