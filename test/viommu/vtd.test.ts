/**
 * VT-d nesting (iommu0, dev0 and dev1): guest RAM at GPA 0 behind a
 * NEST_PARENT second-level HWPT; nested HWPTs from iommu_hwpt_vtd_s1 whose
 * pgtbl_addr is the GPA of a first-level table the guest wrote into its
 * RAM; DMA through both stages; the guest's IOTLB invalidations with
 * IOMMU_HWPT_INVALIDATE (iommu_hwpt_vtd_s1_invalidate entries), their
 * per-entry errors and the entry_num write-back (hardware.md §2.6, §2.7;
 * uapi.md §3.12, §3.16, §5.2).
 */
import { describe, expect, it } from 'vitest';
import type { Simulation } from '../../actors/sim.ts';
import { openVfio } from '../../actors/api.ts';
import { encodeArray, pack } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import {
  IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HWPT_DATA_VTD_S1, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  IOMMU_VTD_INV_FLAGS_LEAF,
} from '../../uapi/enums.ts';
import { EINVAL, EOPNOTSUPP } from '../../uapi/errno.ts';
import { PAGE, S1_BASE, TABLE_PAGES, gpaVa, guestRam, journaled, peek, read1, userData, write1, writeStage1, type Guest } from './helpers.ts';

const U64_MAX = 0xffffffffffffffffn;

function vtdS1(pgtbl: number, o: { addrWidth?: number; flags?: bigint } = {}): Uint8Array {
  return pack(S.iommu_hwpt_vtd_s1, { flags: o.flags ?? 0n, pgtbl_addr: BigInt(pgtbl), addr_width: o.addrWidth ?? 48, __reserved: 0 });
}

function nestedAlloc(g: Guest, devId: number, data: Uint8Array, dataType = IOMMU_HWPT_DATA_VTD_S1) {
  return g.r.ifd.hwptAlloc({ dev_id: devId, pt_id: g.parent, flags: 0, data_type: dataType, data_len: data.length, data_uptr: userData(g.r.p, data) });
}

type Inv = { addr: bigint; npages: bigint; flags?: number; __reserved?: number };

function invalidate(g: Guest, hwpt: number, entries: Inv[], o: { entryLen?: number; dataType?: number; tail?: number } = {}) {
  const len = o.entryLen ?? 24;
  const buf = new Uint8Array(Math.max(1, entries.length * len));
  entries.forEach((e, i) => {
    const one = new Uint8Array(24);
    encodeArray(S.iommu_hwpt_vtd_s1_invalidate, [{ flags: 0, __reserved: 0, ...e }], one);
    buf.set(one.subarray(0, Math.min(24, len)), i * len);
    if (len > 24 && o.tail) buf[i * len + 24] = o.tail;
  });
  return g.r.ifd.hwptInvalidate({
    hwpt_id: hwpt, data_uptr: userData(g.r.p, buf, 0xa000n), data_type: o.dataType ?? IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, entry_len: len, entry_num: entries.length,
  });
}

function maps(base: number, firstGpaPage: number): { iova: number; gpa: number; write: boolean }[] {
  return Array.from({ length: 8 }, (_, i) => ({ iova: base + i * PAGE, gpa: (firstGpaPage + 2 * i) * PAGE, write: i !== 3 }));
}

function checkDma(sim: Simulation, g: Guest, dev: string, s1: Map<number, { gpa: number; write: boolean }>): void {
  for (const [iova, m] of s1) {
    const off = ((iova / PAGE) * 37) % (PAGE - 64);
    const o = read1(sim, dev, iova + off, 32);
    expect(o.ok).toBe(true);
    expect(o.data).toEqual(peek(g.r.p, gpaVa(g, m.gpa + off), 32));
    const data = new Uint8Array(16).fill(0xa0 | ((iova / PAGE) & 0xf));
    const w = write1(sim, dev, iova + off, data);
    if (m.write) {
      expect(w.ok).toBe(true);
      expect(peek(g.r.p, gpaVa(g, m.gpa + off), 16)).toEqual(data);
    } else {
      expect(w).toMatchObject({ ok: false, fault: 'permission', stage: 1 });
    }
  }
}

describe('VT-d nesting (iommu0)', () => {
  it('nested HWPTs of dev0 and dev1 on one nest parent: DMA through the guest first-level tables and stage 2', () => {
    journaled((sim) => {
      const g = guestRam(sim, 'dev0', 7);
      const root = writeStage1(g, 'vtd', maps(S1_BASE, TABLE_PAGES));
      const s1dev0 = new Map(g.s1);
      const n0 = nestedAlloc(g, g.r.devId, vtdS1(root));
      expect(n0.errno).toBe(0);
      expect(g.r.vfio.attach(n0.out.out_hwpt_id).errno).toBe(0);
      checkDma(sim, g, 'dev0', s1dev0);
      // an IOVA the guest did not map faults in stage 1; one onto a GPA outside RAM in stage 2
      expect(read1(sim, 'dev0', S1_BASE + 40 * PAGE, 8)).toMatchObject({ ok: false, fault: 'translation', stage: 1 });

      // dev1 (same IOMMU, its own group) on the same parent with a table of its own at other GPAs
      const v1 = openVfio(g.r.p, 1);
      const b1 = v1.bind(g.r.ifd);
      expect(b1.errno).toBe(0);
      // dev1's table lives in guest pages 32..47 (dev0's stays where it is), mapping data pages 48..62
      const g1: Guest = { ...g, s1: new Map() };
      const m1 = [...maps(S1_BASE, 48), { iova: S1_BASE + 9 * PAGE, gpa: 0x1000_0000, write: true }];
      const root1 = writeStage1(g1, 'vtd', m1, 0, 32 * PAGE);
      const n1 = nestedAlloc(g, b1.out.out_devid, vtdS1(root1));
      expect(n1.errno).toBe(0);
      expect(v1.attach(n1.out.out_hwpt_id).errno).toBe(0);
      const s1dev1 = new Map([...g1.s1].filter(([, m]) => m.gpa < 0x1000_0000));
      checkDma(sim, g, 'dev1', s1dev1);
      expect(read1(sim, 'dev1', S1_BASE + 9 * PAGE, 8)).toMatchObject({ ok: false, fault: 'translation', stage: 2 });
      // dev0 still walks its own table
      checkDma(sim, g, 'dev0', s1dev0);
      // a nested HWPT is per device model: dev0's on dev1 is fine too (same IOMMU), the parent is shared
      expect(v1.attach(n0.out.out_hwpt_id).errno).toBe(0);
      checkDma(sim, g, 'dev1', s1dev0);
    });
  });

  it('IOMMU_HWPT_INVALIDATE with iommu_hwpt_vtd_s1_invalidate: flushes, per-entry errors, entry_num write-back', () => {
    journaled((sim) => {
      const g = guestRam(sim, 'dev0', 8);
      const root = writeStage1(g, 'vtd', maps(S1_BASE, TABLE_PAGES));
      const n = nestedAlloc(g, g.r.devId, vtdS1(root));
      expect(n.errno).toBe(0);
      const hwpt = n.out.out_hwpt_id;
      expect(g.r.vfio.attach(hwpt).errno).toBe(0);
      const iova = S1_BASE + 2 * PAGE + 0x80;
      const oldGpa = g.s1.get(S1_BASE + 2 * PAGE)!.gpa;
      expect(read1(sim, 'dev0', iova, 16).data).toEqual(peek(g.r.p, gpaVa(g, oldGpa + 0x80), 16));
      // the guest remaps the page; the IOTLB keeps the old translation until the guest invalidates
      const newGpa = 62 * PAGE;
      writeStage1(g, 'vtd', maps(S1_BASE, TABLE_PAGES).map((m) => (m.iova === S1_BASE + 2 * PAGE ? { ...m, gpa: newGpa } : m)));
      expect(read1(sim, 'dev0', iova, 16).data).toEqual(peek(g.r.p, gpaVa(g, oldGpa + 0x80), 16));

      // a good entry, then an unaligned address: EINVAL, entry_num 1 (the first one was flushed)
      let r = invalidate(g, hwpt, [{ addr: BigInt(S1_BASE + 2 * PAGE), npages: 1n, flags: IOMMU_VTD_INV_FLAGS_LEAF }, { addr: 0x123n, npages: 1n }]);
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 1]);
      expect(read1(sim, 'dev0', iova, 16).data).toEqual(peek(g.r.p, gpaVa(g, newGpa + 0x80), 16));

      // unknown flag / reserved → EOPNOTSUPP at that entry
      r = invalidate(g, hwpt, [{ addr: 0n, npages: U64_MAX }, { addr: 0n, npages: 1n, flags: 2 }]);
      expect([r.errno, r.out.entry_num]).toEqual([EOPNOTSUPP, 1]);
      r = invalidate(g, hwpt, [{ addr: 0n, npages: 1n, __reserved: 1 }]);
      expect([r.errno, r.out.entry_num]).toEqual([EOPNOTSUPP, 0]);
      // npages = U64_MAX needs addr 0 (whole domain)
      r = invalidate(g, hwpt, [{ addr: 0n, npages: U64_MAX }, { addr: 0x1000n, npages: U64_MAX }]);
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 1]);
      r = invalidate(g, hwpt, [{ addr: 0n, npages: U64_MAX }, { addr: BigInt(S1_BASE), npages: 8n }, { addr: 0x1000n, npages: 0n }]);
      expect([r.errno, r.out.entry_num]).toEqual([0, 3]);
      // array-level: wrong type → EINVAL before anything; short entries → EINVAL at entry 0
      r = invalidate(g, hwpt, [{ addr: 0n, npages: 1n }], { dataType: IOMMU_HWPT_DATA_VTD_S1 });
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 0]);
      r = invalidate(g, hwpt, [{ addr: 0n, npages: 1n }, { addr: 0n, npages: 1n }], { entryLen: 16 });
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 0]);
      // longer entries: the per-entry helper (__iommu_copy_struct_from_user) refuses len > sizeof → EINVAL, tail or not
      // (unlike SMMUv3's full-array copy, where a non-zero tail is E2BIG and a zero one passes)
      r = invalidate(g, hwpt, [{ addr: 0n, npages: 1n }, { addr: 0n, npages: 1n }], { entryLen: 32, tail: 1 });
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 0]);
      r = invalidate(g, hwpt, [{ addr: 0n, npages: 1n }, { addr: 0n, npages: 1n }], { entryLen: 32 });
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 0]);
      // zero entries probe the type
      r = invalidate(g, hwpt, []);
      expect([r.errno, r.out.entry_num]).toEqual([0, 0]);
      // a paging HWPT (the parent) takes no user invalidation → EINVAL; the core's pointer rule
      r = invalidate(g, g.parent, [{ addr: 0n, npages: 1n }]);
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 0]);
      r = g.r.ifd.hwptInvalidate({ hwpt_id: hwpt, data_uptr: 0n, data_type: IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, entry_len: 24, entry_num: 1 });
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 0]);
      r = g.r.ifd.hwptInvalidate({ hwpt_id: hwpt, data_uptr: userData(g.r.p, new Uint8Array(24)), data_type: IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, entry_len: 0, entry_num: 1 });
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 0]);
    });
  });

  it('allocation and attach refusals of the VT-d nested domain', () => {
    journaled((sim) => {
      const g = guestRam(sim, 'dev0', 9);
      const { ifd, devId, p } = g.r;
      // not VTD_S1 → EOPNOTSUPP (the driver), short / long struct → EINVAL (copy helper)
      expect(nestedAlloc(g, devId, new Uint8Array(16), IOMMU_HWPT_DATA_ARM_SMMUV3).errno).toBe(EOPNOTSUPP);
      expect(nestedAlloc(g, devId, vtdS1(PAGE).subarray(0, 16)).errno).toBe(EINVAL);
      // parent must be a manual NEST_PARENT paging HWPT
      const plain = ifd.hwptAlloc({ dev_id: devId, pt_id: g.r.ioas, flags: 0, data_type: 0, data_len: 0, data_uptr: 0n });
      expect(plain.errno).toBe(0);
      expect(ifd.hwptAlloc({ dev_id: devId, pt_id: plain.out.out_hwpt_id, flags: 0, data_type: IOMMU_HWPT_DATA_VTD_S1, data_len: 24, data_uptr: userData(p, vtdS1(PAGE)) }).errno).toBe(EINVAL);
      // flags other than FAULT_ID_VALID / PASID → EOPNOTSUPP
      expect(ifd.hwptAlloc({ dev_id: devId, pt_id: g.parent, flags: 1, data_type: IOMMU_HWPT_DATA_VTD_S1, data_len: 24, data_uptr: userData(p, vtdS1(PAGE)) }).errno).toBe(EOPNOTSUPP);
      // values are checked at attach (intel_pasid_setup_nested): addr_width 39 → EINVAL, 57 without FL5LP → EINVAL
      for (const aw of [39, 57]) {
        const h = nestedAlloc(g, devId, vtdS1(PAGE, { addrWidth: aw }));
        expect(h.errno).toBe(0);
        expect(g.r.vfio.attach(h.out.out_hwpt_id).errno).toBe(EINVAL);
        expect(ifd.destroy(h.out.out_hwpt_id).errno).toBe(0);
      }
      // VT-d has no vIOMMU of the SMMUv3 type
      expect(ifd.viommuAlloc({ flags: 0, type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: devId, hwpt_id: g.parent, data_len: 0, data_uptr: 0n }).errno).toBe(EOPNOTSUPP);
    });
  });
});

