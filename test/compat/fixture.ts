/**
 * The vfio_compat_mock_domain fixture (mock-and-selftest §3.6) through the
 * raw ABI: an IOAS with one device attached (what VFIO would consider a
 * group), made the compat IOAS with IOMMU_VFIO_IOAS SET, then
 * VFIO_SET_IOMMU(version).
 *
 * The selftest creates its device with IOMMU_TEST_OP_MOCK_DOMAIN on the IOAS
 * (`device: 'mock'`, the default); `device: 'vfio'` uses instead a VFIO cdev
 * device sitting behind the mock IOMMU (a topology device without
 * `mockFlags` is a "real" device VFIO can open), bound and attached to the
 * IOAS, which gives the same automatic mock domain: aperture
 * [MOCK_APERTURE_START, MOCK_APERTURE_LAST], 2 KiB pages.
 */
import { Simulation } from '../../actors/sim.ts';
import { openVfio, spawnProc, type Iommufd, type Proc, type VfioDevice } from '../../actors/api.ts';
import { defaultTopology, type TopologySpec } from '../../hardware/topology.ts';
import { IOMMU_VFIO_IOAS_SET } from '../../uapi/enums.ts';
import { totalPins } from '../../hardware/physmem.ts';
import { mockDomainErr } from '../selftest/helpers.ts';

export const PAGE = 4096n;
export const MOCK_APERTURE_START = 1n << 24n;
export const MOCK_APERTURE_LAST = (1n << 31n) - 1n;
export const HUGEPAGE_SIZE = 2n << 20n;
/** The selftest's BUFFER_SIZE (2 MiB) would make every test slow; 16 pages is what test/core uses. */
export const BUFFER_SIZE = 16n * PAGE;

/** The default topology plus a VFIO-openable device behind the mock IOMMU (vfio index 3). */
export function compatTopology(): TopologySpec {
  const t = defaultTopology();
  t.devices.push({
    id: 'vmock0', iommu: 'iommu2', group: 5, pasid: 0, pri: false, ats: false, reservedRegions: [],
    cacheCoherent: true, msiIsolated: true,
  });
  return t;
}

/** Index of `vmock0` among the topology's VFIO devices (those without mockFlags). */
export const VMOCK_INDEX = 3;

export interface CompatFx {
  sim: Simulation;
  p: Proc;
  fd: Iommufd;
  ioas: number;
  vfio: VfioDevice | null;
  devId: number;
  hwpt: number;
  buffer: bigint;
}

export function newSim(config: ConstructorParameters<typeof Simulation>[0] extends infer O ? (O extends { config?: infer C } ? C : never) : never = {}): Simulation {
  return new Simulation({ seed: 1, config, topology: compatTopology() });
}

/** Open /dev/iommu, allocate an IOAS, optionally attach a device, make it the compat IOAS. */
export type CompatDevice = 'mock' | 'vfio' | false;

export function compatSetup(o: { device?: CompatDevice; version?: number; sim?: Simulation } = {}): CompatFx {
  const sim = o.sim ?? newSim();
  const p = spawnProc(sim, { uid: 1000, rlimitMemlock: 64 << 20 });
  const buffer = p.mmap({ length: 4n * HUGEPAGE_SIZE, addr: 0x40000000n, shared: true });
  const fd = p.openIommufd();
  const a = fd.ioasAlloc();
  if (a.errno) throw new Error(`IOAS_ALLOC: ${a.errno}`);
  const ioas = a.out.out_ioas_id;
  let vfio: VfioDevice | null = null;
  let devId = 0;
  let hwpt = 0;
  const device = o.device ?? 'mock';
  if (device === 'mock') {
    const r = mockDomainErr({ sim, p, fd: fd.fd, buffer }, ioas);
    if (r.errno) throw new Error(`MOCK_DOMAIN: ${r.errno}`);
    devId = r.out.out_idev_id;
    hwpt = r.out.out_hwpt_id;
  } else if (device === 'vfio') {
    vfio = openVfio(p, VMOCK_INDEX);
    const b = vfio.bind(fd);
    if (b.errno) throw new Error(`BIND: ${b.errno}`);
    devId = b.out.out_devid;
    const at = vfio.attach(ioas);
    if (at.errno) throw new Error(`ATTACH: ${at.errno}`);
    hwpt = at.out.pt_id;
  }
  const s = fd.vfioIoas({ op: IOMMU_VFIO_IOAS_SET, ioas_id: ioas });
  if (s.errno) throw new Error(`VFIO_IOAS SET: ${s.errno}`);
  if (o.version !== undefined) {
    const v = fd.vfioSetIommu(o.version);
    if (v.errno) throw new Error(`VFIO_SET_IOMMU: ${v.errno}`);
  }
  return { sim, p, fd, ioas, vfio, devId, hwpt, buffer };
}

/** Close every fd of the test process; afterwards nothing may be left. */
export function closeAll(fx: { sim: Simulation; p: Proc }): void {
  const fds = Object.keys(fx.sim.world.procs[fx.p.pid]!.fds).map(Number).sort((a, b) => b - a);
  for (const f of fds) fx.p.close(f);
}

/** What must be true once every file is closed: no object, no pin, nothing charged, no dead letter. */
export function leftovers(sim: Simulation): string[] {
  const out: string[] = [];
  const actors = sim.rt.actorIds().filter((id) => id.startsWith('iommufd:') || id.startsWith('obj:') || id.startsWith('vfio:'));
  if (actors.length) out.push(`actors left: ${actors.join(', ')}`);
  const pins = totalPins(sim.world.mem.pm);
  if (pins) out.push(`${pins} page pin(s) left`);
  const mem = sim.world.mem;
  for (const k in mem.mms) if (mem.mms[k]!.pinnedVm || mem.mms[k]!.lockedVm) out.push(`pid ${k}: pinnedVm ${mem.mms[k]!.pinnedVm}, lockedVm ${mem.mms[k]!.lockedVm}`);
  for (const k in mem.users) if (mem.users[k]!.lockedVm) out.push(`uid ${k}: lockedVm ${mem.users[k]!.lockedVm}`);
  const pages = Object.keys(sim.world.pages.pages);
  if (pages.length) out.push(`iopt_pages left: ${pages.join(', ')}`);
  if (sim.rt.deadLetters.length) out.push(`dead letters: ${sim.rt.deadLetters.map((d) => `${d.env.type}→${d.env.dst}`).join(', ')}`);
  const hw = sim.world.kobj.hw as { bound: Record<string, unknown>; groups: Record<number, Record<number, unknown>>; domains: Record<number, unknown> } | undefined;
  if (hw) {
    for (const [d, b] of Object.entries(hw.bound)) if (b) out.push(`device ${d} still bound`);
    for (const [g, m] of Object.entries(hw.groups)) if (Object.keys(m).length) out.push(`group ${g} still attached`);
    if (Object.keys(hw.domains).length) out.push(`hardware domains left: ${Object.keys(hw.domains).join(', ')}`);
  }
  return out;
}
