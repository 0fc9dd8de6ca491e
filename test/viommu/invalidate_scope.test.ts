/**
 * What a guest invalidation drops from the hardware caches, read straight
 * from the translation actor's IOTLB after DMA has filled it.
 *
 * SMMUv3 (arm_vsmmu_cache_invalidate → arm_smmu_cmdq_issue_cmdlist): the
 * converted command is issued as written, with the vIOMMU's VMID forced in:
 * TLBI_NH_VA drops the entries covering that VA for that ASID, TLBI_NH_ASID
 * the ASID's, TLBI_NH_ALL every stage-1 entry of the VMID, CFGI_CD the cached
 * context descriptor (the IOTLB stays).  Nothing else of the stage-2 parent
 * goes.
 *
 * VT-d (intel_nested_cache_invalidate_user → cache_tag_flush_range): the
 * nested domain's tags over [addr, addr + npages * 4K).
 *
 * Also the per-entry / full-array read of the user array on these drivers:
 * VT-d faults after the entries it handled, SMMUv3 before any.
 */
import { describe, expect, it } from 'vitest';
import type { Simulation } from '../../actors/sim.ts';
import { encodeArray, pack } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import {
  IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HWPT_DATA_VTD_S1, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
} from '../../uapi/enums.ts';
import { EFAULT, EINVAL } from '../../uapi/errno.ts';
import { TAG_ASID, TAG_DOMAIN, iotlbEntries } from '../../hardware/iotlb.ts';
import {
  PAGE, S1_BASE, TABLE_PAGES, domainOf, gpaVa, guestRam, journaled, peek, read1, tr, userData, vste, ste0, writeStage1, type Guest,
} from './helpers.ts';

const VSID = 0x42n;
const ASID = 5;
const CFG_S1 = 5;

/** Every IOTLB entry of IOMMU `iommu` as [kind, tag, tag2, iova]. */
function iotlb(sim: Simulation, iommu: string): [number, number, number, number][] {
  const t = tr(sim);
  const tlb = t.st.engine.iotlbs[t.st.iommuIndex[iommu]!]!;
  return iotlbEntries(tlb).map((e) => [e.kind, e.tag, e.tag2, e.iova] as [number, number, number, number]).sort((a, b) => a[3] - b[3]);
}

// ---------------------------------------------------------------- SMMUv3

interface Vsmmu {
  g: Guest;
  viommu: number;
  s1: number;
}

function smmuMaps(): { iova: number; gpa: number; write: boolean }[] {
  return Array.from({ length: 4 }, (_, i) => ({ iova: S1_BASE + i * PAGE, gpa: (TABLE_PAGES + 2 * i) * PAGE, write: true }));
}

function bringUp(sim: Simulation): Vsmmu {
  const g = guestRam(sim, 'dev2', 11);
  const { ifd, devId } = g.r;
  const v = ifd.viommuAlloc({ flags: 0, type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: devId, hwpt_id: g.parent, data_len: 0, data_uptr: 0n });
  expect(v.errno).toBe(0);
  const viommu = v.out.out_viommu_id;
  expect(ifd.vdeviceAlloc({ viommu_id: viommu, dev_id: devId, virt_id: VSID }).errno).toBe(0);
  const data = vste(ste0(CFG_S1, writeStage1(g, 'smmuv3', smmuMaps(), ASID)));
  const h = ifd.hwptAlloc({ dev_id: devId, pt_id: viommu, flags: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: data.length, data_uptr: userData(g.r.p, data) });
  expect(h.errno).toBe(0);
  expect(g.r.vfio.attach(h.out.out_hwpt_id).errno).toBe(0);
  return { g, viommu, s1: h.out.out_hwpt_id };
}

/** The stage-2 parent of dev2's nested domain: its id is the VMID tag (tag2) of every combined entry. */
function stage2Of(sim: Simulation): number {
  return (tr(sim).st.engine.domains[domainOf(sim, 'dev2')] as { parent: number }).parent;
}

/** DMA through every stage-1 page, so each has its combined (ASID, VMID) IOTLB entry. */
function touchAll(sim: Simulation, s: Vsmmu): void {
  for (const [iova, m] of s.g.s1) expect(read1(sim, 'dev2', iova + 8, 8).data).toEqual(peek(s.g.r.p, gpaVa(s.g, m.gpa + 8), 8));
}

function smmuCmds(list: [bigint, bigint][]): Uint8Array {
  const b = new Uint8Array(list.length * 16);
  encodeArray(S.iommu_viommu_arm_smmuv3_invalidate, list.map((cmd) => ({ cmd })), b);
  return b;
}

function smmuInvalidate(s: Vsmmu, list: [bigint, bigint][], o: { uptr?: bigint; num?: number } = {}): [number, number] {
  const { ifd, p } = s.g.r;
  const r = ifd.hwptInvalidate({
    hwpt_id: s.viommu, data_uptr: o.uptr ?? userData(p, smmuCmds(list), 0xa000n), data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
    entry_len: 16, entry_num: o.num ?? list.length,
  });
  return [r.errno, r.out.entry_num];
}

const TLBI_NH_VA = (asid: number, iova: number): [bigint, bigint] => [0x12n | (BigInt(asid) << 48n), BigInt(iova)];
const TLBI_NH_VAA = (iova: number): [bigint, bigint] => [0x13n, BigInt(iova)];
const TLBI_NH_ASID = (asid: number): [bigint, bigint] => [0x11n | (BigInt(asid) << 48n), 0n];
const TLBI_NH_ALL: [bigint, bigint] = [0x10n, 0n];
const CFGI_CD_ALL = (vsid: bigint): [bigint, bigint] => [0x06n | (vsid << 32n), 0n];

describe('SMMUv3 vIOMMU invalidation drops only what the command names', () => {
  it('TLBI_NH_VA: that page of that ASID; another ASID or page stays; TLBI_NH_VAA: any ASID', () => {
    journaled((sim) => {
      const s = bringUp(sim);
      const parent = stage2Of(sim);
      touchAll(sim, s);
      const pages = [0, 1, 2, 3].map((i) => S1_BASE + i * PAGE);
      expect(iotlb(sim, 'iommu1')).toEqual(pages.map((iova) => [TAG_ASID, ASID, parent, iova]));

      expect(smmuInvalidate(s, [TLBI_NH_VA(ASID, pages[2]!)])).toEqual([0, 1]);
      expect(iotlb(sim, 'iommu1').map((e) => e[3])).toEqual([pages[0], pages[1], pages[3]]);
      // another ASID names nothing cached here
      expect(smmuInvalidate(s, [TLBI_NH_VA(ASID + 1, pages[1]!), TLBI_NH_ASID(ASID + 1)])).toEqual([0, 2]);
      expect(iotlb(sim, 'iommu1').map((e) => e[3])).toEqual([pages[0], pages[1], pages[3]]);
      // VAA: the page, whatever its ASID
      expect(smmuInvalidate(s, [TLBI_NH_VAA(pages[0]!)])).toEqual([0, 1]);
      expect(iotlb(sim, 'iommu1').map((e) => e[3])).toEqual([pages[1], pages[3]]);
      // the address inside the page is enough (the command's VA is page-aligned by the field mask)
      expect(smmuInvalidate(s, [TLBI_NH_VA(ASID, pages[3]! + 0x123)])).toEqual([0, 1]);
      expect(iotlb(sim, 'iommu1').map((e) => e[3])).toEqual([pages[1]]);
    });
  });

  it('TLBI_NH_ASID and TLBI_NH_ALL drop the whole ASID / VMID; a bad command after them still leaves them done', () => {
    journaled((sim) => {
      const s = bringUp(sim);
      touchAll(sim, s);
      expect(iotlb(sim, 'iommu1')).toHaveLength(4);
      expect(smmuInvalidate(s, [TLBI_NH_ASID(ASID)])).toEqual([0, 1]);
      expect(iotlb(sim, 'iommu1')).toEqual([]);
      touchAll(sim, s);
      expect(iotlb(sim, 'iommu1')).toHaveLength(4);
      expect(smmuInvalidate(s, [TLBI_NH_ALL])).toEqual([0, 1]);
      expect(iotlb(sim, 'iommu1')).toEqual([]);
    });
  });

  it('CFGI_CD_ALL drops the cached CD, not the IOTLB: the next walk uses the guest\'s new ASID', () => {
    journaled((sim) => {
      const s = bringUp(sim);
      const parent = stage2Of(sim);
      expect(read1(sim, 'dev2', S1_BASE, 8).ok).toBe(true);
      // The guest rewrites its CD with ASID 9 (same tables).
      writeStage1(s.g, 'smmuv3', smmuMaps(), 9);
      // Until CFGI_CD the SMMU keeps the cached CD: a new page is still filled under ASID 5.
      expect(read1(sim, 'dev2', S1_BASE + PAGE, 8).ok).toBe(true);
      expect(iotlb(sim, 'iommu1').map((e) => e[1])).toEqual([ASID, ASID]);
      expect(smmuInvalidate(s, [CFGI_CD_ALL(VSID)])).toEqual([0, 1]);
      expect(iotlb(sim, 'iommu1').map((e) => e[1])).toEqual([ASID, ASID]);
      expect(read1(sim, 'dev2', S1_BASE + 2 * PAGE, 8).ok).toBe(true);
      expect(iotlb(sim, 'iommu1')).toEqual([
        [TAG_ASID, ASID, parent, S1_BASE], [TAG_ASID, ASID, parent, S1_BASE + PAGE], [TAG_ASID, 9, parent, S1_BASE + 2 * PAGE],
      ]);
    });
  });

  it('the command array is copied whole before anything runs: a fault part way is EFAULT with entry_num 0', () => {
    journaled((sim) => {
      const s = bringUp(sim);
      touchAll(sim, s);
      const { p } = s.g.r;
      const base = p.mmap({ length: 2 * PAGE });
      expect(p.munmap(base + BigInt(PAGE), PAGE)).toBe(0);
      const uptr = base + BigInt(PAGE) - 16n;
      expect(p.poke(uptr, smmuCmds([TLBI_NH_ALL]))).toBe(0);
      expect(smmuInvalidate(s, [], { uptr, num: 2 })).toEqual([EFAULT, 0]);
      expect(iotlb(sim, 'iommu1')).toHaveLength(4);
      expect(smmuInvalidate(s, [], { uptr, num: 1 })).toEqual([0, 1]);
      expect(iotlb(sim, 'iommu1')).toEqual([]);
    });
  });
});

// ---------------------------------------------------------------- VT-d

function vtdInvalidate(g: Guest, hwpt: number, entries: { addr: bigint; npages: bigint }[], o: { uptr?: bigint; num?: number } = {}): [number, number] {
  const buf = new Uint8Array(Math.max(1, entries.length * 24));
  encodeArray(S.iommu_hwpt_vtd_s1_invalidate, entries.map((e) => ({ flags: 0, __reserved: 0, ...e })), buf);
  const r = g.r.ifd.hwptInvalidate({
    hwpt_id: hwpt, data_uptr: o.uptr ?? userData(g.r.p, buf, 0xa000n), data_type: IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
    entry_len: 24, entry_num: o.num ?? entries.length,
  });
  return [r.errno, r.out.entry_num];
}

describe('VT-d nested HWPT invalidation drops the range it names', () => {
  function vtdUp(sim: Simulation): { g: Guest; hwpt: number; domain: number; pages: number[] } {
    const g = guestRam(sim, 'dev0', 12);
    const maps = Array.from({ length: 6 }, (_, i) => ({ iova: S1_BASE + i * PAGE, gpa: (TABLE_PAGES + i) * PAGE, write: true }));
    const data = pack(S.iommu_hwpt_vtd_s1, { flags: 0n, pgtbl_addr: BigInt(writeStage1(g, 'vtd', maps)), addr_width: 48, __reserved: 0 });
    const h = g.r.ifd.hwptAlloc({ dev_id: g.r.devId, pt_id: g.parent, flags: 0, data_type: IOMMU_HWPT_DATA_VTD_S1, data_len: data.length, data_uptr: userData(g.r.p, data) });
    expect(h.errno).toBe(0);
    expect(g.r.vfio.attach(h.out.out_hwpt_id).errno).toBe(0);
    const pages = maps.map((m) => m.iova);
    for (const iova of pages) expect(read1(sim, 'dev0', iova, 8).ok).toBe(true);
    return { g, hwpt: h.out.out_hwpt_id, domain: domainOf(sim, 'dev0'), pages };
  }

  it('addr/npages: only [addr, addr + npages * 4K); npages U64_MAX at 0: everything', () => {
    journaled((sim) => {
      const { g, hwpt, domain, pages } = vtdUp(sim);
      expect(iotlb(sim, 'iommu0')).toEqual(pages.map((iova) => [TAG_DOMAIN, domain, 0xffffffff, iova]));
      expect(vtdInvalidate(g, hwpt, [{ addr: BigInt(pages[1]!), npages: 2n }])).toEqual([0, 1]);
      expect(iotlb(sim, 'iommu0').map((e) => e[3])).toEqual([pages[0], pages[3], pages[4], pages[5]]);
      expect(vtdInvalidate(g, hwpt, [{ addr: BigInt(pages[5]!), npages: 1n }, { addr: BigInt(S1_BASE + 64 * PAGE), npages: 8n }])).toEqual([0, 2]);
      expect(iotlb(sim, 'iommu0').map((e) => e[3])).toEqual([pages[0], pages[3], pages[4]]);
      expect(vtdInvalidate(g, hwpt, [{ addr: 0n, npages: 0xffffffffffffffffn }])).toEqual([0, 1]);
      expect(iotlb(sim, 'iommu0')).toEqual([]);
    });
  });

  it('entries are read one at a time: those before an unreadable one take effect, entry_num counts them', () => {
    journaled((sim) => {
      const { g, hwpt, pages } = vtdUp(sim);
      const { p } = g.r;
      const base = p.mmap({ length: 2 * PAGE });
      expect(p.munmap(base + BigInt(PAGE), PAGE)).toBe(0);
      const uptr = base + BigInt(PAGE) - 48n;
      const two = new Uint8Array(48);
      encodeArray(S.iommu_hwpt_vtd_s1_invalidate, [0, 2].map((i) => ({ addr: BigInt(pages[i]!), npages: 1n, flags: 0, __reserved: 0 })), two);
      expect(p.poke(uptr, two)).toBe(0);
      expect(vtdInvalidate(g, hwpt, [], { uptr, num: 3 })).toEqual([EFAULT, 2]);
      expect(iotlb(sim, 'iommu0').map((e) => e[3])).toEqual([pages[1], pages[3], pages[4], pages[5]]);
      // a wrong data type is refused before the array is read
      const r = g.r.ifd.hwptInvalidate({ hwpt_id: hwpt, data_uptr: base + BigInt(PAGE), data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_len: 24, entry_num: 1 });
      expect([r.errno, r.out.entry_num]).toEqual([EINVAL, 0]);
    });
  });
});
