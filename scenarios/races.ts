/**
 * Small concurrent scenarios: several threads issuing ioctls on shared
 * objects at once, so the schedule decides the outcome.  Used by the tests,
 * the explorer and the replay benchmark.
 */
import type { Simulation } from '../actors/sim.ts';
import { spawnProc } from '../actors/api.ts';
import type { ThreadStep } from '../actors/thread.ts';
import { pack } from '../uapi/layout.ts';
import * as S from '../uapi/structs.ts';
import { IOMMU_IOAS_MAP, IOMMU_IOAS_UNMAP } from '../uapi/ioctl.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../uapi/enums.ts';

const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

export function mapStep(fd: number, ioas: number, userVa: bigint, iova: bigint, length: bigint): ThreadStep {
  return { op: 'ioctl', fd, cmd: IOMMU_IOAS_MAP, arg: pack(S.iommu_ioas_map, { size: 40, flags: RW | IOMMU_IOAS_MAP_FIXED_IOVA, ioas_id: ioas, user_va: userVa, length, iova }) };
}

export function unmapStep(fd: number, ioas: number, iova: bigint, length: bigint): ThreadStep {
  return { op: 'ioctl', fd, cmd: IOMMU_IOAS_UNMAP, arg: pack(S.iommu_ioas_unmap, { size: 24, ioas_id: ioas, iova, length }) };
}

/**
 * `threads` threads each map and unmap the same fixed IOVA `rounds` times on
 * one IOAS: which MAP wins (and which gets EEXIST, which UNMAP gets ENOENT)
 * is decided by the schedule.
 */
export function contendedMapUnmap(sim: Simulation, threads = 2, rounds = 2): void {
  const p = spawnProc(sim);
  const buf = p.mmap({ length: 1 << 20 });
  const fd = p.openIommufd();
  const ioas = fd.ioasAlloc().out.out_ioas_id;
  const tids: number[] = [];
  for (let t = 0; t < threads; t++) {
    const program: ThreadStep[] = [];
    for (let r = 0; r < rounds; r++) {
      program.push(mapStep(fd.fd, ioas, buf + BigInt(t) * 0x10000n, 0x100000n, 0x10000n));
      program.push(unmapStep(fd.fd, ioas, 0x100000n, 0x10000n));
    }
    tids.push(Number(p.syscall('thread.create', { program, start: false }).ret));
  }
  p.syscall('thread.start', { tids });
  p.close(fd.fd);
}
