// Descriptor bit layouts spot-checked against hardware.md (§2.2, §2.3, §3.4, §4.3) and mock §1.2.
import { describe, expect, it } from 'vitest';
import { IoPageTable, ptTouch } from '../../hardware/pagetable/radix.ts';
import {
  FMT_AMD_V1, FMT_AMD_V2, FMT_MOCK, FMT_SMMU_S1, FMT_SMMU_S2, FMT_VTD_FL, FMT_VTD_SL, PROT_READ, PROT_WRITE, PROT_PRIV,
  UNMAP_REFUSE, UNMAP_WHOLE,
} from '../../hardware/pagetable/format.ts';
import { MOCK_HUGE_PAGE_SIZE, MOCK_PAGE_SIZE } from '../../hardware/pagetable/mock.ts';
import { NODE_WORDS } from '../../hardware/pagetable/pool.ts';

const RW = PROT_READ | PROT_WRITE;
const M2 = 2 ** 21;
const PA = 0x1234_5000;
const PA2M = 0x4020_0000;

function rootEntry(t: IoPageTable, idx: number): bigint {
  const w = t.pool.words;
  const e = t.state.root * NODE_WORDS + idx * 2;
  return (BigInt(w[e + 1]!) << 32n) | BigInt(w[e]!);
}

describe('VT-d second level', () => {
  it('R 0, W 1, PS 7, D 9; no separate present bit', () => {
    const t = IoPageTable.create(FMT_VTD_SL, { tracking: true });
    t.map(0x1000, PA, 0x1000, RW);
    t.map(0x2000, PA + 0x1000, 0x1000, PROT_READ);
    t.map(M2 * 4, PA2M, M2, RW);
    expect(t.leafDescriptor(0x1000)).toEqual({ desc: 0x1234_5003n, level: 1 });
    expect(t.leafDescriptor(0x2000)!.desc).toBe(0x1234_6001n);
    expect(t.leafDescriptor(M2 * 4)).toEqual({ desc: 0x4020_0083n, level: 2 });
    expect(rootEntry(t, 0) & 0xfffn).toBe(3n); // table descriptor: R|W
    t.write(0x1000);
    expect(t.leafDescriptor(0x1000)!.desc).toBe(0x1234_5003n | (1n << 9n) | (1n << 8n));
    t.walk(0x2000); // pure probe: no A bit
    expect(t.leafDescriptor(0x2000)!.desc).toBe(0x1234_6001n);
  });
  it('partial unmap of a superpage drops the whole page (intel_iommu_unmap)', () => {
    const t = IoPageTable.create(FMT_VTD_SL, { partialUnmap: UNMAP_WHOLE });
    t.map(0, PA2M, M2, RW);
    expect(t.unmap(0x1000, 0x1000)).toBe(M2);
    expect(t.dump()).toEqual([]);
  });
});

describe('x86-64 first level (VT-d FL, AMD v2)', () => {
  for (const fmt of [FMT_VTD_FL, FMT_AMD_V2] as const) {
    it(`P 0, R/W 1, U/S 2, A 5, D 6, PS 7 (format ${fmt})`, () => {
      const t = IoPageTable.create(fmt);
      t.map(0x1000, PA, 0x1000, RW);
      t.map(M2, PA2M, M2, PROT_READ);
      expect(t.leafDescriptor(0x1000)).toEqual({ desc: 0x1234_5027n, level: 1 });
      expect(t.leafDescriptor(M2)).toEqual({ desc: 0x4020_00a5n, level: 2 });
      expect(rootEntry(t, 0) & 0xfffn).toBe(0x27n);
      t.write(0x1000);
      expect(t.leafDescriptor(0x1000)!.desc & 0x40n).toBe(0x40n);
      expect(t.walk(M2, 2).fault?.kind).toBe('permission');
    });
  }
  it('permission is the AND over every level (R/W cleared in an upper entry)', () => {
    const t = IoPageTable.create(FMT_VTD_FL);
    t.map(0x1000, PA, 0x1000, RW);
    const w = t.pool.words;
    w[t.state.root * NODE_WORDS] = w[t.state.root * NODE_WORDS]! & ~2; // PML4E R/W = 0
    // a hand edit is a software change of the table: it must bump the generation (TableState.gen), as ptMap does
    ptTouch(t.pool, t.state);
    expect(t.walk(0x1000, 2).fault?.kind).toBe('permission');
    expect(t.walk(0x1000, 1).ok).toBe(true);
    w[t.state.root * NODE_WORDS] = w[t.state.root * NODE_WORDS]! & ~4; // U/S = 0
    ptTouch(t.pool, t.state);
    expect(t.walk(0x1000, 1).fault?.kind).toBe('permission');
    expect(t.walk(0x1000, 1 | 8).ok).toBe(true); // supervisor request
  });
});

describe('SMMUv3 LPAE, 4 KiB granule', () => {
  it('stage 1: page 0b11, block 0b01, AP[1] 6, AP[2] 7, SH 9:8, AF 10, nG 11, DBM 51', () => {
    const t = IoPageTable.create(FMT_SMMU_S1, { tracking: true });
    t.map(0x1000, PA, 0x1000, RW);
    t.map(0x2000, PA + 0x1000, 0x1000, PROT_READ);
    t.map(M2, PA2M, M2, RW | PROT_PRIV);
    expect(t.leafDescriptor(0x1000)).toEqual({ desc: 0x1234_5f43n | (1n << 51n), level: 3 });
    expect(t.leafDescriptor(0x2000)!.desc).toBe(0x1234_6fc3n);
    expect(t.leafDescriptor(M2)).toEqual({ desc: 0x4020_0f01n | (1n << 51n), level: 2 });
    expect(rootEntry(t, 0) & 0xfffn).toBe(3n);
    // HTTU: read_and_clear sets AP[2] (writable-clean), a write clears it again
    expect(t.readAndClearDirty(0, 2 ** 30).length).toBe(2);
    expect(t.leafDescriptor(0x1000)!.desc & 0x80n).toBe(0x80n);
    expect(t.write(0x1000).ok).toBe(true);
    expect(t.leafDescriptor(0x1000)!.desc & 0x80n).toBe(0n);
    expect(t.walk(0x2000, 2).fault?.kind).toBe('permission');
    expect(t.walk(M2, 1).fault?.kind).toBe('permission'); // AP[1] = 0: privileged only
    expect(t.walk(M2, 1 | 8).ok).toBe(true);
  });
  it('stage 2: S2AP 7:6, MemAttr 5:2, AF 10; AF = 0 gives an access fault', () => {
    const t = IoPageTable.create(FMT_SMMU_S2);
    t.map(0x1000, PA, 0x1000, RW);
    t.map(0x2000, PA + 0x1000, 0x1000, PROT_WRITE);
    expect(t.leafDescriptor(0x1000)!.desc).toBe(0x1234_57d7n);
    expect(t.leafDescriptor(0x2000)!.desc).toBe(0x1234_6797n);
    expect(t.walk(0x2000, 1).fault?.kind).toBe('permission');
    expect(t.walk(0x2000, 2).ok).toBe(true);
    const r = t.walk(0x1000);
    expect(r.level).toBe(3);
    // clear AF by hand, as a guest-built table might have it
    const w = t.pool.words;
    for (let i = 0; i < w.length; i += 2) if (w[i] === 0x1234_57d7) w[i] = 0x1234_53d7;
    expect(t.walk(0x1000).fault?.kind).toBe('access');
  });
  it('partial unmap of a block is refused (io-pgtable-arm today)', () => {
    const t = IoPageTable.create(FMT_SMMU_S1, { partialUnmap: UNMAP_REFUSE });
    t.map(0, PA2M, M2, RW);
    t.map(M2, PA2M + M2, 0x1000, RW);
    expect(t.unmap(0x1000, 0x1000)).toBe(0);
    expect(t.unmap(M2, 0x1000)).toBe(0x1000);
    expect(t.dump().length).toBe(1);
  });
});

describe('AMD-Vi v1', () => {
  it('PR 0, NL 11:9, FC 60, IR 61, IW 62, D 6', () => {
    const t = IoPageTable.create(FMT_AMD_V1, { tracking: true });
    t.map(0x1000, PA, 0x1000, RW);
    t.map(M2, PA2M, M2, PROT_READ);
    expect(t.leafDescriptor(0x1000)).toEqual({ desc: 0x7000_0000_1234_5001n, level: 1 });
    expect(t.leafDescriptor(M2)).toEqual({ desc: 0x3000_0000_4020_0001n, level: 2 });
    // root PDE of a 4-level table points at a level-3 table: NL = 3, IR|IW
    expect(rootEntry(t, 0) & 0x6000_0000_0000_0fffn).toBe(0x6000_0000_0000_0601n);
    t.write(0x1000);
    expect(t.leafDescriptor(0x1000)!.desc & 0x60n).toBe(0x60n);
  });
});

describe('mock (AMDv1 layout, 2 KiB granule)', () => {
  it('2 KiB leaves by default, 1 MiB leaves for the HUGE type; hardware never sets D', () => {
    const t = IoPageTable.create(FMT_MOCK);
    expect(t.map(1 << 24, 0x10_0800, MOCK_HUGE_PAGE_SIZE, RW)).toBe(0);
    const d = t.dump();
    expect(d[0]!.pageSize).toBe(MOCK_PAGE_SIZE);
    expect(t.walk((1 << 24) + 0x801).pa).toBe(0x10_1001);
    expect(t.leafDescriptor(1 << 24)!.desc).toBe(0x6000_0000_0000_0000n | (BigInt(0x10_0800 / 2048) << 12n) | 1n);
    t.setTracking(true);
    t.write(1 << 24);
    expect(t.readAndClearDirty(0, 2 ** 31)).toEqual([]);
    expect(t.markDirty((1 << 24) + 100)).toBe(true);
    expect(t.readAndClearDirty(0, 2 ** 31)).toEqual([{ iova: 1 << 24, size: 2048 }]);
    const h = IoPageTable.create(FMT_MOCK, { blocks: 0b11 });
    h.map(1 << 24, 1 << 21, MOCK_HUGE_PAGE_SIZE, RW);
    expect(h.dump()[0]!.pageSize).toBe(MOCK_HUGE_PAGE_SIZE);
    h.markDirty((1 << 24) + 4096);
    expect(h.readAndClearDirty(1 << 24, 2048)).toEqual([{ iova: 1 << 24, size: MOCK_HUGE_PAGE_SIZE }]);
  });
});

describe('API edge', () => {
  it('accepts bigints and rejects addresses beyond 2^53 or the input width', () => {
    const t = IoPageTable.create(FMT_VTD_SL, { levels: 5 });
    expect(t.map(2n ** 50n, 0x1000n, 0x1000n, RW)).toBe(0);
    expect(t.walk(2n ** 50n + 8n).pa).toBe(0x1008);
    expect(() => t.walk(2n ** 56n)).toThrow(RangeError);
    const t4 = IoPageTable.create(FMT_VTD_SL);
    expect(t4.walk(2 ** 48).fault?.kind).toBe('address_size');
    expect(t4.map(0x1001, 0, 0x1000, RW)).toBe(-22);
    expect(t4.map(0, 0, 0x1000, 0)).toBe(-22);
  });
});
