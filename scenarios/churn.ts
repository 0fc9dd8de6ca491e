/**
 * A long, realistic workload: a VMM repeatedly maps and unmaps buffers of
 * varying sizes in two IOASes (automatic and fixed IOVAs), copies between
 * them and reads the ranges — the ioctl mix of a guest with a DMA buffer pool.
 * Used by the replay benchmark to make a journal of a given length.
 */
import type { Simulation } from '../actors/sim.ts';
import { spawnProc } from '../actors/api.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../uapi/enums.ts';

const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

/** Runs until at least `deliveries` deliveries were made. */
export function churn(sim: Simulation, deliveries: number): void {
  const p = spawnProc(sim, { rlimitMemlock: 1 << 30 });
  const pool = p.mmap({ length: 64 << 20 });
  const fd = p.openIommufd();
  const a = fd.ioasAlloc().out.out_ioas_id;
  const b = fd.ioasAlloc().out.out_ioas_id;
  let i = 0;
  while (sim.deliveries < deliveries) {
    const len = BigInt(0x1000 << (i % 5));
    const va = pool + BigInt((i * 0x11000) % (60 << 20)) & ~0xfffn;
    const m = fd.ioasMap({ ioas_id: a, flags: RW, user_va: va, length: len });
    if (i % 4 === 0) {
      const c = fd.ioasCopy({ dst_ioas_id: b, src_ioas_id: a, flags: RW | IOMMU_IOAS_MAP_FIXED_IOVA, length: len, dst_iova: 0x4000_0000n, src_iova: m.out.iova });
      if (c.ok) fd.ioasUnmap({ ioas_id: b, iova: 0x4000_0000n, length: len });
    }
    if (i % 16 === 0) fd.ioasIovaRanges(a);
    fd.ioasUnmap({ ioas_id: a, iova: m.out.iova, length: len });
    i++;
  }
  p.close(fd.fd);
}
