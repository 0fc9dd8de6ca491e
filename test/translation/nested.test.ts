/**
 * Nested (two-stage) translation end to end through the simulator: the IOAS
 * holding "guest RAM" is stage 2 (GPA → host page) on a NEST_PARENT
 * HWPT_PAGING; the test plays the guest and writes its stage-1 tables INTO
 * guest memory (Proc.poke at the GPA's user address); HWPT_ALLOC nested
 * points the hardware at them; DMA at a guest IOVA lands on the host byte a
 * reference composed from the two mapping lists predicts.
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { encodeCd, materializeGuestTable } from '../../hardware/pagetable/nested.ts';
import { poolCreate } from '../../hardware/pagetable/pool.ts';
import { ptCreate, ptMap } from '../../hardware/pagetable/radix.ts';
import { FMT_SMMU_S1, FMT_VTD_FL, PROT_READ, PROT_WRITE, type FormatId } from '../../hardware/pagetable/format.ts';
import { pack } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HWPT_DATA_VTD_S1, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
} from '../../uapi/enums.ts';
import { hwDomainMismatches, staleTranslations } from '../../actors/invariants-hw.ts';
import { ioptIovaToPhys } from '../../actors/iommufd/io_pagetable.ts';
import { ioptEnv } from '../../actors/iommufd/ioas.ts';
import { FIXED, PAGE, RW, domainOf, ioptOf, journaled, pattern, peek, poke, rig, tr, type DevName, type Rig } from './helpers.ts';

/** Guest RAM: GPA [GPA_BASE, GPA_BASE + RAM_PAGES * 4K) — the first TABLE_PAGES hold the guest's tables. */
const GPA_BASE = 0x10_0000;
const RAM_PAGES = 64;
const TABLE_PAGES = 16;
/** Guest IOVAs the stage-1 table maps. */
const S1_BASE = 0x7f00_0000;

interface Guest {
  r: Rig;
  ram: bigint;
  /** stage 1: guest IOVA page → GPA page */
  s1: Map<number, { gpa: number; write: boolean }>;
  /** root (VT-d FLPTR) or CD table (SMMU S1ContextPtr), a GPA */
  root: number;
  parent: number;
}

/** Next free page of guest RAM for tables. */
function tableAllocator(): (node: number) => number {
  const gpas = new Map<number, number>();
  return (node) => {
    let g = gpas.get(node);
    if (g === undefined) {
      if (gpas.size >= TABLE_PAGES - 1) throw new Error('guest table space exhausted');
      gpas.set(node, (g = GPA_BASE + (1 + gpas.size) * PAGE));
    }
    return g;
  };
}

/** Guest RAM in an IOAS, a NEST_PARENT HWPT on it, and a stage-1 table of `format` written into the RAM. */
function buildGuest(sim: Simulation, dev: DevName, format: FormatId, seed: number): Guest {
  const r = rig(sim, dev, { attach: false });
  const ram = r.p.mmap({ length: RAM_PAGES * PAGE });
  const image = pattern(RAM_PAGES, seed);
  image.fill(0, 0, TABLE_PAGES * PAGE);
  expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: ram, length: BigInt(RAM_PAGES * PAGE), iova: BigInt(GPA_BASE) }).errno).toBe(0);
  const ph = r.ifd.hwptAlloc({ dev_id: r.devId, pt_id: r.ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT, data_type: 0, data_len: 0, data_uptr: 0n });
  expect(ph.errno).toBe(0);

  // The guest's stage 1: 24 IOVA pages onto data pages of its RAM, in a scrambled order, some read-only.
  const pool = poolCreate();
  const t = ptCreate(pool, format, { levels: 4, blocks: 0 });
  const s1 = new Map<number, { gpa: number; write: boolean }>();
  for (let i = 0; i < 24; i++) {
    const iova = S1_BASE + ((i * 7) % 40) * PAGE;
    const gpa = GPA_BASE + (TABLE_PAGES + ((i * 11 + seed) % (RAM_PAGES - TABLE_PAGES))) * PAGE;
    const write = i % 5 !== 4;
    expect(ptMap(pool, t, iova, gpa, PAGE, PROT_READ | (write ? PROT_WRITE : 0))).toBe(0);
    s1.set(iova, { gpa, write });
  }
  // and one IOVA whose stage-1 output is a GPA the guest does not have (stage-2 fault)
  expect(ptMap(pool, t, S1_BASE + 100 * PAGE, GPA_BASE + RAM_PAGES * PAGE * 4, PAGE, PROT_READ | PROT_WRITE)).toBe(0);
  s1.set(S1_BASE + 100 * PAGE, { gpa: GPA_BASE + RAM_PAGES * PAGE * 4, write: true });
  const dv = new DataView(image.buffer);
  const write64 = (gpa: number, v: bigint) => dv.setBigUint64(gpa - GPA_BASE, v, true);
  let root = materializeGuestTable(pool, t, tableAllocator(), write64);
  if (format === FMT_SMMU_S1) {
    // CD table (one CD, 64 bytes) at the first guest page: 48-bit input, TTB0 = the table root, ASID 5
    const [w0, w1] = encodeCd({ t0sz: 16, ttb0: root, asid: 5 });
    write64(GPA_BASE, w0);
    write64(GPA_BASE + 8, w1);
    root = GPA_BASE;
  }
  // the guest writes its memory: CPU stores into the process pages backing guest RAM
  poke(r.p, ram, image);
  return { r, ram, s1, root, parent: ph.out.out_hwpt_id };
}

/** Reference from the two mapping lists: guest IOVA → (user VA of the host byte, writable) or a fault stage. */
function reference(g: Guest, iova: number): { va: bigint; hostPa: number; write: boolean } | { fault: number } {
  const page = iova - (iova % PAGE);
  const s = g.s1.get(page);
  if (!s) return { fault: 1 };
  const gpa = s.gpa + (iova % PAGE);
  if (gpa < GPA_BASE || gpa >= GPA_BASE + RAM_PAGES * PAGE) return { fault: 2 };
  return { va: g.ram + BigInt(gpa - GPA_BASE), hostPa: ioptIovaToPhys(ioptOf(g.r), ioptEnv(g.r.sim.world), BigInt(gpa)), write: s.write };
}

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

/** DMA at guest IOVAs, checked against the reference: reads, writes, faults, both stages. */
function exerciseNested(sim: Simulation, g: Guest, dev: string, seed: number): void {
  const rnd = xorshift(seed);
  const candidates = [...g.s1.keys(), S1_BASE + 100 * PAGE, S1_BASE + 41 * PAGE, S1_BASE + 1000 * PAGE, S1_BASE - PAGE];
  const seen = { hits: 0, s1: 0, s2: 0 };
  // every candidate page once, then random ones
  for (let k = 0; k < candidates.length + 60; k++) {
    const page = k < candidates.length ? candidates[k]! : candidates[rnd() % candidates.length]!;
    const off = rnd() % (PAGE - 64);
    const iova = page + off;
    const ref = reference(g, iova);
    if ('fault' in ref) {
      const o = sim.dma(dev, [{ iova, length: 16, write: false }])[0]!;
      expect(o).toMatchObject({ ok: false, fault: 'translation', stage: ref.fault });
      seen[ref.fault === 1 ? 's1' : 's2']++;
      continue;
    }
    seen.hits++;
    expect(ref.hostPa).toBeGreaterThanOrEqual(0);
    if (rnd() % 2) {
      const o = sim.dma(dev, [{ iova, length: 64, write: false }])[0]!;
      expect(o.ok).toBe(true);
      expect(o.data).toEqual(peek(g.r.p, ref.va, 64));
    } else {
      const data = pattern(1, rnd()).subarray(0, 64);
      const before = peek(g.r.p, ref.va, 64);
      const o = sim.dma(dev, [{ iova, length: 64, write: true, data }])[0]!;
      if (ref.write) {
        expect(o.ok).toBe(true);
        expect(peek(g.r.p, ref.va, 64)).toEqual(data);
      } else {
        expect(o).toMatchObject({ ok: false, fault: 'permission', stage: 1 });
        expect(peek(g.r.p, ref.va, 64)).toEqual(before);
      }
    }
  }
  expect(seen.hits).toBeGreaterThan(20);
  expect(seen.s1).toBeGreaterThan(0);
  expect(seen.s2).toBeGreaterThan(0);
  expect(staleTranslations(sim)).toEqual([]);
  expect(hwDomainMismatches(sim)).toEqual([]);
}

/** Guest RAM unmapped from the parent: every nested DMA now faults in stage 2 (the combined entries were flushed). */
function unmapGuestRam(sim: Simulation, g: Guest, dev: string): void {
  const iova = [...g.s1.keys()][0]!;
  expect(sim.dma(dev, [{ iova, length: 8, write: false }])[0]!.ok).toBe(true);
  expect(g.r.ifd.ioasUnmap({ ioas_id: g.r.ioas, iova: BigInt(GPA_BASE), length: BigInt(RAM_PAGES * PAGE) }).errno).toBe(0);
  expect(sim.dma(dev, [{ iova, length: 8, write: false }])[0]).toMatchObject({ ok: false, stage: 2 });
  expect(staleTranslations(sim)).toEqual([]);
}

describe('nested translation, VT-d (iommu_hwpt_vtd_s1, first-level table in guest memory)', () => {
  it('DMA at guest IOVAs lands on the host bytes the two mapping lists give; journals and replays', () => {
    journaled((sim) => {
      const g = buildGuest(sim, 'dev0', FMT_VTD_FL, 3);
      const data = pack(S.iommu_hwpt_vtd_s1, { flags: 0n, pgtbl_addr: BigInt(g.root), addr_width: 48, __reserved: 0 });
      const uptr = g.r.p.scratchPage();
      poke(g.r.p, uptr, data);
      const nh = g.r.ifd.hwptAlloc({ dev_id: g.r.devId, pt_id: g.parent, flags: 0, data_type: IOMMU_HWPT_DATA_VTD_S1, data_len: data.length, data_uptr: uptr });
      expect(nh.errno).toBe(0);
      expect(g.r.vfio.attach(nh.out.out_hwpt_id).errno).toBe(0);
      const nested = domainOf(sim, 'dev0');
      expect(tr(sim).st.engine.domains[nested]).toMatchObject({ kind: 'nested', s1: { type: 'vtd', flptr: g.root, flpm: 0 } });
      exerciseNested(sim, g, 'dev0', 11);
      unmapGuestRam(sim, g, 'dev0');
    });
  });
});

describe('nested translation, SMMUv3 (vSTE S1 translate, CD + LPAE tables in guest memory)', () => {
  it('DMA at guest IOVAs lands on the host bytes the two mapping lists give; journals and replays', () => {
    journaled((sim) => {
      const g = buildGuest(sim, 'dev2', FMT_SMMU_S1, 9);
      // SMMUv3 nests through its vIOMMU (the parent's VMID); a HWPT parent alone has no nested op
      const direct = g.r.ifd.hwptAlloc({ dev_id: g.r.devId, pt_id: g.parent, flags: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: 16, data_uptr: g.r.p.scratchPage() });
      expect(direct.errno).not.toBe(0);
      const v = g.r.ifd.call<typeof S.iommu_viommu_alloc>('IOMMU_VIOMMU_ALLOC', { flags: 0, type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: g.r.devId, hwpt_id: g.parent, data_len: 0, data_uptr: 0n });
      expect(v.errno).toBe(0);
      // S1 translate needs the device's vDEVICE (virtual SID) on the vIOMMU before the nested attach
      const vd = g.r.ifd.call<typeof S.iommu_vdevice_alloc>('IOMMU_VDEVICE_ALLOC', { viommu_id: v.out.out_viommu_id, dev_id: g.r.devId, virt_id: 0x42n });
      expect(vd.errno).toBe(0);
      // STE word 0: V | Config = S1 translate (5) | S1ContextPtr = GPA of the CD table (bits 51:6); S1CDMax 0
      const ste0 = 1n | (5n << 1n) | BigInt(g.root);
      const ste = pack(S.iommu_hwpt_arm_smmuv3, { ste: [ste0, 0n] });
      const uptr = g.r.p.scratchPage();
      poke(g.r.p, uptr, ste);
      const nh = g.r.ifd.hwptAlloc({ dev_id: g.r.devId, pt_id: v.out.out_viommu_id, flags: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: ste.length, data_uptr: uptr });
      expect(nh.errno).toBe(0);
      expect(g.r.vfio.attach(nh.out.out_hwpt_id).errno).toBe(0);
      const nested = domainOf(sim, 'dev2');
      expect(tr(sim).st.engine.domains[nested]).toMatchObject({ kind: 'nested', s1: { type: 'smmuv3', cdTable: g.root, s1cdmax: 0 } });
      exerciseNested(sim, g, 'dev2', 13);
      unmapGuestRam(sim, g, 'dev2');
    });
  });
});
