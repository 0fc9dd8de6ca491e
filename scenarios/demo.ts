/**
 * The built-in demo (`npm start`): a VMM-like process sets up guest RAM,
 * maps it into an IOAS, copies part of it into a second IOAS, unmaps,
 * destroys and closes — every step through the raw ABI, journaled.
 */
import { Simulation } from '../actors/sim.ts';
import { openVfio, spawnProc, type ApiResult } from '../actors/api.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../uapi/enums.ts';
import { errnoName } from '../uapi/errno.ts';

export interface DemoStep {
  what: string;
  result: string;
}

const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
const MiB = 1n << 20n;

function res(r: ApiResult<any>, detail: (o: any) => string = () => ''): string {
  return r.ok ? `ok ${detail(r.out)}`.trim() : errnoName(r.errno);
}

/** Runs the demo in `sim`; returns the steps with their results for printing. */
export function runDemo(sim: Simulation): DemoStep[] {
  const steps: DemoStep[] = [];
  const step = (what: string, result: string) => steps.push({ what, result });
  const vmm = spawnProc(sim, { uid: 1000, rlimitMemlock: 64 << 20 });
  step('create VMM process', `pid ${vmm.pid}`);
  const ram = vmm.mmap({ length: 16n * MiB });
  step('mmap 16 MiB of guest RAM', `va 0x${ram.toString(16)}`);
  vmm.poke(ram, new TextEncoder().encode('guest kernel image'));
  const fd = vmm.openIommufd();
  step('open /dev/iommu', `fd ${fd.fd}`);
  const a = fd.ioasAlloc();
  step('IOMMU_IOAS_ALLOC', res(a, (o) => `ioas ${o.out_ioas_id}`));
  const ioas = a.out.out_ioas_id;
  const ranges = fd.ioasIovaRanges(ioas);
  step('IOMMU_IOAS_IOVA_RANGES', res(ranges, (o) => `${o.num_iovas} range(s), alignment ${o.out_iova_alignment}`));
  const map = fd.ioasMap({ ioas_id: ioas, flags: RW | IOMMU_IOAS_MAP_FIXED_IOVA, user_va: ram, length: 16n * MiB, iova: 0n });
  step('IOMMU_IOAS_MAP guest RAM at GPA 0 (fixed)', res(map, (o) => `iova 0x${o.iova.toString(16)}`));
  const again = fd.ioasMap({ ioas_id: ioas, flags: RW | IOMMU_IOAS_MAP_FIXED_IOVA, user_va: ram, length: MiB, iova: 0n });
  step('IOMMU_IOAS_MAP the same IOVA again', res(again));
  const nic = openVfio(vmm, 0);
  const bound = nic.bind(fd);
  step('VFIO_DEVICE_BIND_IOMMUFD dev0 (VT-d)', res(bound, (o) => `dev_id ${o.out_devid}`));
  const att = nic.attach(ioas);
  step('VFIO_DEVICE_ATTACH_IOMMUFD_PT to the IOAS', res(att, (o) => `automatic HWPT ${o.pt_id}; guest RAM now pinned`));
  const dma = sim.dma('dev0', [{ iova: 0n, length: 18, write: false }, { iova: 0x2000000n, length: 4, write: false }]);
  step('dev0 DMA-reads GPA 0 and GPA 32 MiB', dma.map((r) => (r.ok ? `"${new TextDecoder().decode(r.data)}"` : `${r.fault} fault`)).join(', '));
  step('IOMMU_DESTROY the HWPT while attached', res(fd.destroy(att.out.pt_id)));
  step('VFIO_DEVICE_DETACH_IOMMUFD_PT', res(nic.detach()));
  step('close the VFIO device (unbind)', vmm.close(nic.fd) ? 'failed' : 'ok');
  const b = fd.ioasAlloc();
  step('IOMMU_IOAS_ALLOC second IOAS', res(b, (o) => `ioas ${o.out_ioas_id}`));
  const copy = fd.ioasCopy({ dst_ioas_id: b.out.out_ioas_id, src_ioas_id: ioas, flags: RW, length: 16n * MiB, src_iova: 0n });
  step('IOMMU_IOAS_COPY all of it (automatic IOVA)', res(copy, (o) => `dst iova 0x${o.dst_iova.toString(16)}`));
  const cut = fd.ioasUnmap({ ioas_id: ioas, iova: 0n, length: MiB });
  step('IOMMU_IOAS_UNMAP the first 1 MiB (cuts the area)', res(cut));
  const un = fd.ioasUnmap({ ioas_id: ioas, iova: 0n, length: 16n * MiB });
  step('IOMMU_IOAS_UNMAP the whole area', res(un, (o) => `${o.length} bytes`));
  const d = fd.destroy(ioas);
  step('IOMMU_DESTROY the first IOAS', res(d));
  const d2 = fd.destroy(ioas);
  step('IOMMU_DESTROY it again', res(d2));
  step('close /dev/iommu (tears down the copy)', vmm.close(fd.fd) ? 'failed' : 'ok');
  const mm = sim.world.mem.mms[vmm.pid]!;
  step('locked memory after close', `${mm.pinnedVm + (sim.world.mem.users[mm.uid]?.lockedVm ?? 0)} pages`);
  return steps;
}
