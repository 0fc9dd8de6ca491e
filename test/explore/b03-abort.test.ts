/**
 * B03 (spec/bugs.md; fixed by 4e034bf045b1 "iommufd: Fix race during abort
 * for file descriptors") outside the explorer, for both objects that come
 * with a file: IOMMU_FAULT_QUEUE_ALLOC and IOMMU_VEVENTQ_ALLOC whose response
 * copy-out fails (fail_nth on the copy_to_user, the third failure point of
 * either ioctl: object kzalloc, xa_alloc, copy_to_user).  The fixed model
 * releases the file synchronously before freeing the object, so the call
 * fails EFAULT and leaves nothing behind; the B03 variant defers the release
 * to task work and frees the object first, so the release drops a users
 * reference on an id that no longer exists.
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { spawnProc, type Iommufd, type Proc } from '../../actors/api.ts';
import { IOMMU_TEST_CMD } from '../../uapi/ioctl.ts';
import { decode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import { EFAULT } from '../../uapi/errno.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_VEVENTQ_TYPE_SELFTEST, IOMMU_VIOMMU_TYPE_SELFTEST } from '../../uapi/enums.ts';
import { mockDomainArg } from '../../explore/scenario.ts';
import { ictxActorId } from '../../actors/iommufd/main.ts';
import type { IctxData } from '../../actors/iommufd/ioctl.ts';

interface Fx {
  sim: Simulation;
  p: Proc;
  ifd: Iommufd;
  /** The allocation under test. */
  alloc: () => { errno: number };
}

function fixture(variant: string | null, kind: 'fault' | 'veventq'): Fx {
  const sim = new Simulation({ seed: 1, config: { variant } });
  const p = spawnProc(sim);
  const ifd = p.openIommufd();
  if (kind === 'fault') return { sim, p, ifd, alloc: () => ifd.faultQueueAlloc() };
  const ioas = ifd.ioasAlloc().out.out_ioas_id;
  const md = p.ioctl(ifd.fd, IOMMU_TEST_CMD, mockDomainArg(ioas));
  expect(md.errno).toBe(0);
  const dev = (decode(S.iommu_test_cmd_views.mock_domain, md.arg) as { mock_domain: { out_idev_id: number } }).mock_domain.out_idev_id;
  const parent = ifd.hwptAlloc({ dev_id: dev, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT, data_type: 0, data_len: 0, data_uptr: 0n });
  expect(parent.errno).toBe(0);
  const v = ifd.viommuAlloc({ flags: 0, type: IOMMU_VIOMMU_TYPE_SELFTEST, dev_id: dev, hwpt_id: parent.out.out_hwpt_id, data_len: 0, data_uptr: 0n });
  expect(v.errno).toBe(0);
  const viommu = v.out.out_viommu_id;
  return { sim, p, ifd, alloc: () => ifd.veventqAlloc({ flags: 0, viommu_id: viommu, type: IOMMU_VEVENTQ_TYPE_SELFTEST, veventq_depth: 2 }) };
}

/** Arm fail_nth between two system calls, as writing /proc/self/task/<tid>/fail-nth does. */
function failNth(sim: Simulation, n: number): void {
  sim.world.config.failNth = n;
  sim.world.failCount = 0;
}

const ictx = (fx: Fx) => (fx.sim.rt.actor(ictxActorId(1)) as unknown as { context: { data: IctxData } }).context.data;

describe.each(['fault', 'veventq'] as const)('B03: %s alloc whose copy-out fails', (kind) => {
  it('fixed: EFAULT, the file is released before the object is freed, nothing is left', () => {
    const fx = fixture(null, kind);
    const fds = { ...fx.sim.world.procs[fx.p.pid]!.fds };
    const ids = Object.keys(ictx(fx).table.entries);
    const refs = ictx(fx).fileRefs;
    failNth(fx.sim, 3);
    expect(fx.alloc().errno).toBe(EFAULT);
    expect(fx.sim.world.failCount).toBe(3);
    failNth(fx.sim, 0);
    expect(fx.sim.world.procs[fx.p.pid]!.fds).toEqual(fds);
    expect(Object.values(fx.sim.world.files).filter((f) => f.kind === 'eventfd')).toEqual([]);
    expect(Object.keys(ictx(fx).table.entries)).toEqual(ids);
    expect(ictx(fx).fileRefs).toBe(refs);
    expect(fx.sim.rt.deadLetters).toEqual([]);
    // The id is free again and the next alloc gets it, with a working fd.
    expect(fx.alloc().errno).toBe(0);
    expect(Object.keys(ictx(fx).table.entries).length).toBe(ids.length + 1);
    expect(fx.p.close(fx.ifd.fd)).toBe(0);
  });

  it('B03: the deferred release drops a users reference on the freed object', () => {
    const fx = fixture('B03', kind);
    failNth(fx.sim, 3);
    expect(() => fx.alloc()).toThrow(/dropping a reference to id \d+ that is not in the table/);
  });
});
