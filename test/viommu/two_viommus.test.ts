/**
 * Two vIOMMUs on different physical SMMUv3 instances sharing one nest
 * parent (a VM with two vSMMUs over one guest RAM): the newest kernels give
 * each vSMMU its own VMID and let an S2 parent allocated through one SMMU
 * back vSMMUs on others.  Each device walks its own guest stage 1 (through
 * its own vSMMU) over the common stage 2; vSIDs are per vIOMMU; events go to
 * each vIOMMU's own queue; unmapping guest RAM from the parent is seen by
 * both instances (no stale combined entry survives).
 */
import { describe, expect, it } from 'vitest';
import { openVfio, type VfioDevice } from '../../actors/api.ts';
import { staleTranslations } from '../../actors/invariants-hw.ts';
import { defaultTopology, type TopologySpec } from '../../hardware/topology.ts';
import { IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, IOMMU_VIOMMU_TYPE_ARM_SMMUV3 } from '../../uapi/enums.ts';
import { EEXIST, EINVAL } from '../../uapi/errno.ts';
import { PAGE, RAM_PAGES, S1_BASE, gpaVa, guestRam, journaled, peek, read1, readVevents, ste0, userData, vste, writeStage1 } from './helpers.ts';

/** The default machine plus a second SMMUv3 (iommu3) with one PCI device (dev3 = vfio3). */
function twoSmmus(): TopologySpec {
  const t = defaultTopology();
  t.iommus.push({ id: 'iommu3', kind: 'smmuv3' });
  t.devices.push({
    id: 'dev3', iommu: 'iommu3', bdf: '0000:02:00.0', rid: 0x200, group: 5, pasid: 0,
    pri: false, ats: true, reservedRegions: [], cacheCoherent: true, msiIsolated: true,
  });
  return t;
}

describe('two vIOMMUs on different SMMUv3 instances, one nest parent', () => {
  it('both vSMMUs translate through their own guest stage 1 over the shared stage 2', () => {
    journaled((sim) => {
      // guest RAM and the nest parent, allocated through dev2 (iommu1)
      const g = guestRam(sim, 'dev2', 11);
      const { ifd, p } = g.r;
      const v3: VfioDevice = openVfio(p, 3);
      const b3 = v3.bind(ifd);
      expect(b3.errno).toBe(0);
      const dev3 = b3.out.out_devid;

      const va = ifd.viommuAlloc({ flags: 0, type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: g.r.devId, hwpt_id: g.parent, data_len: 0, data_uptr: 0n });
      const vb = ifd.viommuAlloc({ flags: 0, type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: dev3, hwpt_id: g.parent, data_len: 0, data_uptr: 0n });
      expect([va.errno, vb.errno]).toEqual([0, 0]);
      const A = va.out.out_viommu_id;
      const B = vb.out.out_viommu_id;
      // vDEVICEs: a device only on the vIOMMU of its own instance; the same vSID may be used on both vIOMMUs
      expect(ifd.vdeviceAlloc({ viommu_id: B, dev_id: g.r.devId, virt_id: 1n }).errno).toBe(EINVAL);
      expect(ifd.vdeviceAlloc({ viommu_id: A, dev_id: g.r.devId, virt_id: 1n }).errno).toBe(0);
      expect(ifd.vdeviceAlloc({ viommu_id: B, dev_id: dev3, virt_id: 1n }).errno).toBe(0);
      expect(ifd.vdeviceAlloc({ viommu_id: B, dev_id: dev3, virt_id: 2n }).errno).toBe(EEXIST);
      const qa = ifd.veventqAlloc({ flags: 0, viommu_id: A, type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, veventq_depth: 8 });
      const qb = ifd.veventqAlloc({ flags: 0, viommu_id: B, type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, veventq_depth: 8 });
      expect([qa.errno, qb.errno]).toEqual([0, 0]);

      // two guest stage-1 tables (CD tables at GPA 0 and 16 pages up), the same IOVAs onto different GPAs
      const mapsA = Array.from({ length: 4 }, (_, i) => ({ iova: S1_BASE + i * PAGE, gpa: (40 + i) * PAGE }));
      const mapsB = Array.from({ length: 4 }, (_, i) => ({ iova: S1_BASE + i * PAGE, gpa: (50 + i) * PAGE }));
      const cdA = writeStage1(g, 'smmuv3', mapsA, 3, 0);
      const cdB = writeStage1({ ...g, s1: new Map() }, 'smmuv3', mapsB, 3, 16 * PAGE);
      const nest = (viommu: number, devId: number, cd: number) =>
        ifd.hwptAlloc({ dev_id: devId, pt_id: viommu, flags: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: 16, data_uptr: userData(p, vste(ste0(5, cd))) });
      // a nested HWPT only on the vIOMMU of the device's own instance
      expect(nest(B, g.r.devId, cdA).errno).toBe(EINVAL);
      const na = nest(A, g.r.devId, cdA);
      const nb = nest(B, dev3, cdB);
      expect([na.errno, nb.errno]).toEqual([0, 0]);
      // and attach refuses the other instance's nested HWPT
      expect(v3.attach(na.out.out_hwpt_id).errno).toBe(EINVAL);
      expect(g.r.vfio.attach(na.out.out_hwpt_id).errno).toBe(0);
      expect(v3.attach(nb.out.out_hwpt_id).errno).toBe(0);

      for (let i = 0; i < 4; i++) {
        const off = 0x100 + i * 8;
        expect(read1(sim, 'dev2', S1_BASE + i * PAGE + off, 32).data).toEqual(peek(p, gpaVa(g, mapsA[i]!.gpa + off), 32));
        expect(read1(sim, 'dev3', S1_BASE + i * PAGE + off, 32).data).toEqual(peek(p, gpaVa(g, mapsB[i]!.gpa + off), 32));
      }
      // stage-1 faults: each on its own vIOMMU's queue, with that vIOMMU's vSID
      expect(read1(sim, 'dev2', S1_BASE + 9 * PAGE, 8).ok).toBe(false);
      expect(read1(sim, 'dev3', S1_BASE + 9 * PAGE, 8).ok).toBe(false);
      expect(read1(sim, 'dev3', S1_BASE + 10 * PAGE, 8).ok).toBe(false);
      const ea = readVevents(p, qa.out.out_veventq_fd, 1024, 32).evs;
      const eb = readVevents(p, qb.out.out_veventq_fd, 1024, 32).evs;
      expect([ea.length, eb.length]).toEqual([1, 2]);
      expect(eb.map((e) => e.seq)).toEqual([0, 1]);
      for (const e of [...ea, ...eb]) expect(new DataView(e.data.buffer, e.data.byteOffset).getUint32(4, true)).toBe(1);

      // the parent cannot go while either vIOMMU holds it
      expect(ifd.destroy(g.parent).errno).not.toBe(0);
      // unmapping guest RAM from the shared parent: both instances see it (stage-2 faults, nothing stale)
      expect(ifd.ioasUnmap({ ioas_id: g.r.ioas, iova: 0n, length: BigInt(RAM_PAGES * PAGE) }).errno).toBe(0);
      expect(read1(sim, 'dev2', S1_BASE, 8)).toMatchObject({ ok: false, stage: 2 });
      expect(read1(sim, 'dev3', S1_BASE, 8)).toMatchObject({ ok: false, stage: 2 });
      expect(staleTranslations(sim)).toEqual([]);
    }, { topology: twoSmmus() });
  });
});
