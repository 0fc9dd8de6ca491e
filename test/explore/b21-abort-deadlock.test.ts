/**
 * B21 (spec/bugs.md; 70eadc7fc7ef "iommufd: Allow a hwpt to be aborted after
 * allocation"): MOCK_DOMAIN on an IOAS with a mapping creates an automatic
 * HWPT under ioas->mutex; a fail_nth failure while its domain joins the IOAS
 * aborts it.  The abort op expects the caller to hold the mutex; the buggy
 * abort ran the normal destroy, which takes it again: a self-deadlock
 * (the model's lockdep records it).  The fixed model fails ENOMEM cleanly at
 * every N, with no lock held afterwards and no HWPT left.
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { spawnProc } from '../../actors/api.ts';
import { IOMMU_TEST_CMD } from '../../uapi/ioctl.ts';
import { ENOMEM } from '../../uapi/errno.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../uapi/enums.ts';
import { mockDomainArg } from '../../explore/scenario.ts';
import { ictxActorId } from '../../actors/iommufd/main.ts';
import type { IctxData } from '../../actors/iommufd/ioctl.ts';

function mockDomainFailing(variant: string | null, n: number) {
  const sim = new Simulation({ seed: 1, config: { variant } });
  const p = spawnProc(sim);
  const ifd = p.openIommufd();
  const ioas = ifd.ioasAlloc().out.out_ioas_id;
  const buf = p.mmap({ length: 0x2000n });
  expect(ifd.ioasMap({ flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE, ioas_id: ioas, user_va: buf, length: 0x2000n, iova: 0x1000000n }).errno).toBe(0);
  sim.world.config.failNth = n;
  sim.world.failCount = 0;
  const errno = p.ioctl(ifd.fd, IOMMU_TEST_CMD, mockDomainArg(ioas)).errno;
  const consumed = sim.world.failCount >= n;
  sim.world.config.failNth = 0;
  const d = (sim.rt.actor(ictxActorId(1)) as unknown as { context: { data: IctxData } }).context.data;
  const hwpts = Object.values(d.table.entries).filter((e) => e.type === 'hwpt_paging').length;
  return { errno, consumed, warn: (sim.world.kobj.warn ?? []) as string[], locks: (sim.world.kobj.locks ?? []) as string[], hwpts };
}

describe('B21: aborting an automatic HWPT under ioas->mutex', () => {
  it('fixed: every injected failure is ENOMEM, no WARN, no lock held, no HWPT left', () => {
    let n = 1;
    for (; n < 100; n++) {
      const r = mockDomainFailing(null, n);
      if (!r.consumed) break;
      expect(r, `N=${n}`).toEqual({ errno: ENOMEM, consumed: true, warn: [], locks: [], hwpts: 0 });
    }
    expect(n).toBeGreaterThan(3);
  });

  it('B21: some failure point during the domain join self-deadlocks on the mutex', () => {
    const hits: number[] = [];
    for (let n = 1; n < 100; n++) {
      const r = mockDomainFailing('B21', n);
      if (!r.consumed) break;
      if (r.warn.some((w) => /possible recursive locking detected: .*ioas \d+->mutex/.test(w))) hits.push(n);
    }
    expect(hits.length).toBeGreaterThan(0);
    // The same points are clean in the fixed model.
    for (const n of hits) expect(mockDomainFailing(null, n).warn).toEqual([]);
  });
});
