/**
 * One PASID of a device group, two users: an SVA bond (iommu_sva_bind_device)
 * and an iommufd attach (VFIO_DEVICE_ATTACH_IOMMUFD_PT with
 * VFIO_DEVICE_ATTACH_PASID).  Both go through the group's pasid_array:
 *
 * - iommufd after SVA: iommufd_hwpt_attach_device → iommu_attach_device_pasid,
 *   whose xa_insert finds the SVA handle → EBUSY; iommufd's own checks
 *   (iommufd_hwpt_pasid_compat, max_pasids) come first and stay EINVAL;
 * - SVA after iommufd: iommu_attach_handle_get(group, pasid, IOMMU_DOMAIN_SVA)
 *   finds a handle of another type → EBUSY.
 *
 * A refused attach changes nothing: the SVA bond keeps translating.
 * Journaled and replayed.
 */
import { describe, expect, it } from 'vitest';
import type { Simulation } from '../../actors/sim.ts';
import { openVfio, spawnProc } from '../../actors/api.ts';
import { bondsOf, svaDriver, svaTopology } from '../../actors/hw/sva-api.ts';
import type { TranslationActor } from '../../actors/hw/translation.ts';
import { IOMMU_HWPT_ALLOC_PASID, IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../uapi/enums.ts';
import { EBUSY, EINVAL } from '../../uapi/errno.ts';
import { ReplaySession } from '../../replay/session.ts';
import { record } from '../helpers/record.ts';

const PAGE = 0x1000n;

function journaled(fn: (sim: Simulation) => void): void {
  const { bytes } = record(fn, { topology: svaTopology() });
  expect(ReplaySession.fromBytes(bytes).runToEnd()).toBeNull();
}

function ctxDomain(sim: Simulation, dev: string, pasid: number): number | undefined {
  return (sim.rt.actor('translation') as TranslationActor).domainOf(dev, pasid);
}

/** A VMM process: iommufd, an IOAS with one page at IOVA 0, acc1 bound, a PASID-capable and a plain HWPT. */
function vmm(sim: Simulation) {
  const q = spawnProc(sim, { uid: 1000, rlimitMemlock: 1 << 30, sysResource: true });
  const ifd = q.openIommufd();
  const ioas = ifd.ioasAlloc().out.out_ioas_id;
  const va = q.mmap({ length: PAGE });
  expect(q.poke(va, new Uint8Array(16).fill(0x33))).toBe(0);
  const map = ifd.ioasMap({ ioas_id: ioas, flags: IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_FIXED_IOVA, user_va: va, length: PAGE, iova: 0n });
  expect(map.errno).toBe(0);
  const vfio = openVfio(q, 1); // acc1
  const b = vfio.bind(ifd);
  expect(b.errno).toBe(0);
  const devId = b.out.out_devid;
  const alloc = (flags: number) => {
    const r = ifd.hwptAlloc({ dev_id: devId, pt_id: ioas, flags, data_type: 0, data_len: 0, data_uptr: 0n });
    expect(r.errno).toBe(0);
    return r.out.out_hwpt_id as number;
  };
  return { q, ifd, vfio, pasidHwpt: alloc(IOMMU_HWPT_ALLOC_PASID), plainHwpt: alloc(0) };
}

describe('sva and iommufd share the group pasid_array', () => {
  it('iommufd PASID attach on an SVA-bound PASID: EBUSY after iommufd\'s own EINVAL checks; the bond keeps working', () => {
    journaled((sim) => {
      const p = spawnProc(sim);
      const buf = p.mmap({ length: PAGE });
      expect(p.poke(buf, new Uint8Array(16).fill(0x77))).toBe(0);
      const { pasid } = svaDriver(p).bind('acc1');
      const sva = ctxDomain(sim, 'acc1', pasid);
      expect(sva).toBeDefined();
      const v = vmm(sim);

      expect(v.vfio.attach(v.pasidHwpt, pasid).errno).toBe(EBUSY);
      // a HWPT not allocated for PASIDs is refused by iommufd before the core looks at the slot
      expect(v.vfio.attach(v.plainHwpt, pasid).errno).toBe(EINVAL);
      // the IOAS form gets an automatic domain, never PASID-compatible: EINVAL as well
      expect(v.vfio.attach(v.ifd.ioasAlloc().out.out_ioas_id, pasid).errno).toBe(EINVAL);
      // nothing changed: the PASID still walks p's page table
      expect(ctxDomain(sim, 'acc1', pasid)).toBe(sva);
      expect(sim.dma('acc1', [{ iova: buf, length: 16, write: false, pasid }])[0]).toMatchObject({ ok: true, data: new Uint8Array(16).fill(0x77) });

      // another PASID of the same device is free
      expect(v.vfio.attach(v.pasidHwpt, pasid + 1).errno).toBe(0);
      expect(sim.dma('acc1', [{ iova: 0, length: 16, write: false, pasid: pasid + 1 }])[0]).toMatchObject({ ok: true, data: new Uint8Array(16).fill(0x33) });

      // once the bond is gone the slot is free for iommufd
      expect(svaDriver(p).unbind('acc1')).toBe(0);
      expect(v.vfio.attach(v.pasidHwpt, pasid).errno).toBe(0);
      expect(sim.dma('acc1', [{ iova: 0, length: 16, write: false, pasid }])[0]).toMatchObject({ ok: true, data: new Uint8Array(16).fill(0x33) });
    });
  });

  it('SVA bind on a PASID iommufd holds: EBUSY until iommufd detaches', () => {
    journaled((sim) => {
      const v = vmm(sim);
      const p = spawnProc(sim);
      p.mmap({ length: PAGE });
      // p's PASID is allocated by its first bind (on acc0, another group); acc1's slot for it is iommufd's
      const { pasid } = svaDriver(p).bind('acc0');
      expect(v.vfio.attach(v.pasidHwpt, pasid).errno).toBe(0);
      const hw = ctxDomain(sim, 'acc1', pasid);
      expect(svaDriver(p).bind('acc1').errno).toBe(EBUSY);
      expect(bondsOf(sim).map((b) => b.dev)).toEqual(['acc0']);
      expect(ctxDomain(sim, 'acc1', pasid)).toBe(hw);
      expect(v.vfio.detach(pasid).errno).toBe(0);
      expect(svaDriver(p).bind('acc1').ok).toBe(true);
      expect(bondsOf(sim).map((b) => b.dev)).toEqual(['acc0', 'acc1']);
    });
  });
});
