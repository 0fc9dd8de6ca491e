/**
 * B16 (spec/bugs.md, "iommufd/device: Fix hwpt at err_unresv in
 * iommufd_device_do_replace()"): a VT-d VFIO device attached to IOAS A1 is
 * replaced onto a HWPT of IOAS A2 and the replace fails after its reserved
 * regions (the IOAPIC/MSI window) were enforced on A2 (fail_nth at the
 * attach handle).  The unwind must take them off A2; the buggy one took them
 * off A1, so A1 — still in use by the device — accepts a MAP over the MSI
 * window and A2 keeps a stale reservation (a MAP over a reserved range is EINVAL).
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { openVfio, spawnProc } from '../../actors/api.ts';
import { EINVAL, ENOMEM } from '../../uapi/errno.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../uapi/enums.ts';

const MSI = 0xfee00000n;
const MAP = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

function failedReplace(variant: string | null) {
  const sim = new Simulation({ seed: 1, config: { variant } });
  const p = spawnProc(sim);
  const ifd = p.openIommufd();
  const a1 = ifd.ioasAlloc().out.out_ioas_id;
  const a2 = ifd.ioasAlloc().out.out_ioas_id;
  const buf = p.mmap({ length: 0x1000n });
  const vfio = openVfio(p, 0);
  const dev = vfio.bind(ifd).out.out_devid as number;
  expect(vfio.attach(a1).errno).toBe(0);
  const h2 = ifd.hwptAlloc({ dev_id: dev, pt_id: a2, flags: 0, data_type: 0, data_len: 0, data_uptr: 0n });
  expect(h2.errno).toBe(0);
  // Point 1 is the reservation on A2 (iopt_reserved_alloc), point 2 the attach handle.
  sim.world.config.failNth = 2;
  sim.world.failCount = 0;
  const r = vfio.attach(h2.out.out_hwpt_id);
  const consumed = sim.world.failCount;
  sim.world.config.failNth = 0;
  expect(r.errno).toBe(ENOMEM);
  expect(consumed).toBe(2);
  const map = (ioas: number) => ifd.ioasMap({ flags: MAP, ioas_id: ioas, user_va: buf, length: 0x1000n, iova: MSI }).errno;
  return { mapA1: map(a1), mapA2: map(a2) };
}

describe('B16: replace unwind after the reservations', () => {
  it('fixed: A1 keeps the MSI window reserved, A2 has no stale reservation', () => {
    expect(failedReplace(null)).toEqual({ mapA1: EINVAL, mapA2: 0 });
  });

  it('B16: the window is gone from A1 (still attached) and stale on A2', () => {
    expect(failedReplace('B16')).toEqual({ mapA1: 0, mapA2: EINVAL });
  });
});
