/**
 * Typed API of the SVA driver model: `svaDriver(proc).bind('acc0')` and
 * friends, each one journaled system call (actors/hw/sva.ts), never
 * throwing for a kernel error.  Plus a topology with SVA-capable devices
 * and read-only views of the kernel's SVA bookkeeping for tests.
 */
import type { Proc } from '../api.ts';
import type { Simulation } from '../sim.ts';
import type { TopologySpec } from '../../hardware/topology.ts';
import { svaState, type SvaBond, type SvaDomain, type SvaState } from './sva-state.ts';

export interface SvaAccess {
  va: bigint;
  length: number;
  write: boolean;
  data?: Uint8Array;
}

export class SvaDriver {
  constructor(readonly proc: Proc) {}

  /** iommu_sva_bind_device(dev, this process's mm): the PASID, or the errno. */
  bind(dev: string): { ok: boolean; errno: number; pasid: number } {
    const r = this.proc.syscall('sva.bind', { dev });
    return { ok: r.errno === 0, errno: r.errno, pasid: r.errno ? -1 : Number(r.ret) };
  }

  /** Drop one use of `pid`'s bond on dev (default: this process's). */
  unbind(dev: string, pid = this.proc.pid): number {
    return this.proc.syscall('sva.unbind', { dev, pid }).errno;
  }

  /** Submit one work descriptor (the device DMAs with this mm's PASID, or `pasid`); runs until quiet. */
  submit(dev: string, a: SvaAccess, pasid?: number): number {
    return this.proc.syscall('sva.submit', { dev, va: a.va, length: a.length, write: a.write, ...(a.data ? { data: a.data } : {}), ...(pasid !== undefined ? { pasid } : {}) }).errno;
  }
}

export function svaDriver(proc: Proc): SvaDriver {
  return new SvaDriver(proc);
}

/** The kernel's SVA state (read-only use). */
export function svaOf(sim: Simulation): SvaState {
  return svaState(sim.world);
}

export function bondsOf(sim: Simulation): SvaBond[] {
  return Object.values(svaOf(sim).bonds);
}

export function svaDomainsOf(sim: Simulation): SvaDomain[] {
  return Object.values(svaOf(sim).domains);
}

/**
 * A machine for SVA: acc0 and acc1 (PASID + PRI + ATS) behind one VT-d,
 * acc2 behind an SMMUv3, acc3 behind an AMD-Vi, nopri0 (PASID, no PRI)
 * and nopasid0 (no PASID) behind the VT-d, and a mock device with PASID.
 */
export function svaTopology(): TopologySpec {
  const base = { reservedRegions: [], cacheCoherent: true, msiIsolated: true };
  const pci = { pasid: 1 << 20, pasidExec: false, pasidPriv: true, pri: true, ats: true };
  return {
    iommus: [
      { id: 'iommu0', kind: 'vtd' },
      { id: 'iommu1', kind: 'smmuv3' },
      { id: 'iommu2', kind: 'amd' },
      { id: 'iommu3', kind: 'mock' },
    ],
    devices: [
      { id: 'acc0', iommu: 'iommu0', bdf: '0000:00:03.0', rid: 0x18, group: 0, ...pci, ...base },
      { id: 'acc1', iommu: 'iommu0', bdf: '0000:00:04.0', rid: 0x20, group: 1, ...pci, ...base },
      { id: 'acc2', iommu: 'iommu1', bdf: '0000:01:00.0', rid: 0x100, group: 2, ...pci, ...base },
      { id: 'acc3', iommu: 'iommu2', bdf: '0000:02:00.0', rid: 0x200, group: 3, ...pci, ...base },
      { id: 'nopri0', iommu: 'iommu0', bdf: '0000:00:05.0', rid: 0x28, group: 4, ...pci, pri: false, ...base },
      { id: 'nopasid0', iommu: 'iommu0', bdf: '0000:00:06.0', rid: 0x30, group: 5, pasid: 0, pri: false, ats: true, ...base },
      { id: 'mockp', iommu: 'iommu3', group: 6, pasid: 0, pri: false, ats: false, mockFlags: 4 /* MOCK_FLAGS_DEVICE_PASID */, ...base },
    ],
  };
}
