import { describe, expect, it } from 'vitest';
import {
  CMDQ_BATCH_ENTRIES, MSI_IOVA_BASE, STRTAB_STE_0_NESTING_ALLOWED, STRTAB_STE_1_NESTING_ALLOWED, smmuv3Model,
} from '../../hardware/models/smmuv3.ts';
import { fieldGet, has } from '../../hardware/models/common.ts';
import type { DomainParams, NestedDomainParams, ViommuParams } from '../../hardware/models/types.ts';
import { E2BIG, EBUSY, EINVAL, EIO, ENOENT, EOPNOTSUPP } from '../../uapi/errno.ts';
import * as E from '../../uapi/enums.ts';
import { decode } from '../../uapi/layout.ts';
import { iommu_hw_info_arm_smmuv3 } from '../../uapi/structs.ts';
import { invalReq, iommu, must, pciDev, u64s } from './helpers.ts';

const s = smmuv3Model(iommu('smmuv3'));
const dev = pciDev({ iommu: 'i0', bdf: '0000:01:00.0', rid: 0x100, ats: true });
const paging = (flags = 0, model = s) => must<{ domain: DomainParams }>(model.allocPaging(flags, dev)).domain;
const parent = paging(E.IOMMU_HWPT_ALLOC_NEST_PARENT);
const vsmmu = must<{ viommu: ViommuParams }>(s.allocViommu(E.IOMMU_VIOMMU_TYPE_ARM_SMMUV3, parent, dev)).viommu;
const vste = (w0: bigint, w1 = 0n) => s.allocNested(parent, E.IOMMU_HWPT_DATA_ARM_SMMUV3, u64s(w0, w1), dev, 0, vsmmu);
const V = 1n;
const cfg = (c: number) => BigInt(c) << 1n;

describe('SMMUv3 hw_info', () => {
  it('is iommu_hw_info_arm_smmuv3 with IDR0..5, IIDR, AIDR', () => {
    const r = s.hwInfo(dev);
    expect(r.type).toBe(E.IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
    expect(r.data.length).toBe(40);
    const info = decode(iommu_hw_info_arm_smmuv3, r.data);
    expect(info.flags).toBe(0);
    expect(info.__reserved).toBe(0);
    expect(info.idr.map(BigInt)).toEqual([0, 1, 2, 3, 4, 5].map((i) => s.registers[`idr${i}`]));
    expect(info.iidr).toBe(0x43b);
    expect(info.aidr).toBe(0x2);
    const idr0 = BigInt(info.idr[0]!);
    for (const b of [0, 1, 4, 10, 12, 16, 18]) expect(has(idr0, b)).toBe(true); // S2P S1P COHACC ATS ASID16 PRI VMID16
    expect(fieldGet(idr0, 3, 2)).toBe(2); // AArch64 tables
    expect(fieldGet(idr0, 7, 6)).toBe(2); // HTTU: access + dirty
    expect(fieldGet(BigInt(info.idr[1]!), 10, 6)).toBe(20); // SSIDSIZE
    expect(has(BigInt(info.idr[3]!), 10)).toBe(true); // RIL
    expect(fieldGet(BigInt(info.idr[5]!), 2, 0)).toBe(5); // OAS 48 bits
    expect(r.capabilities).toBe(E.IOMMU_HW_CAP_DIRTY_TRACKING);
  });
  it('overrides clear IDR bits and capabilities', () => {
    const m = smmuv3Model(iommu('smmuv3', { nesting: false, dirtyTracking: false, ats: false, pri: false }));
    const idr0 = m.registers.idr0!;
    expect(has(idr0, 0)).toBe(false);
    expect(fieldGet(idr0, 7, 6)).toBe(0);
    expect(has(idr0, 10) || has(idr0, 16)).toBe(false);
    expect(m.hwInfo(dev).capabilities).toBe(0);
    expect(m.caps.nesting).toBe(false);
  });
  it('other requested types need an implementation this model has not', () => {
    expect(s.hwInfo(dev, E.IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV).errno).toBe(EOPNOTSUPP);
  });
});

describe('SMMUv3 allocPaging: the stage follows the exact flag combination', () => {
  it('plain and PASID domains are stage 1; a nest parent is stage 2', () => {
    expect(paging().format).toBe('smmuv3-s1');
    expect(paging(E.IOMMU_HWPT_ALLOC_PASID).format).toBe('smmuv3-s1');
    expect(parent.format).toBe('smmuv3-s2');
    expect(paging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING).dirty).toMatchObject({ enableBit: 'cd.hd' });
    expect(paging().pgsizeBitmap).toBe(0x40201000n);
  });
  it('refused combinations → EOPNOTSUPP', () => {
    for (const f of [
      E.IOMMU_HWPT_ALLOC_NEST_PARENT | E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
      E.IOMMU_HWPT_ALLOC_NEST_PARENT | E.IOMMU_HWPT_ALLOC_PASID,
      1 << 6,
    ]) expect(s.allocPaging(f, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(smmuv3Model(iommu('smmuv3', { dirtyTracking: false })).allocPaging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(smmuv3Model(iommu('smmuv3', { nesting: false })).allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT, dev)).toEqual({ errno: EOPNOTSUPP });
    // without stage 1 a plain domain falls back to stage 2
    expect(paging(0, smmuv3Model(iommu('smmuv3', { firstStage: false, secondStage: true }))).format).toBe('smmuv3-s2');
  });
});

describe('SMMUv3 vIOMMU and vSTE validation', () => {
  it('vIOMMU needs nesting, an SMMUv3 S2 parent (any instance, newest kernels), and a coherent master or S2FWB', () => {
    expect(s.allocViommu(E.IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV, parent, dev)).toEqual({ errno: EOPNOTSUPP });
    // a nest parent of another SMMUv3 instance may back this vSMMU (VMID per vSMMU)
    expect('viommu' in s.allocViommu(E.IOMMU_VIOMMU_TYPE_ARM_SMMUV3, { ...parent, iommu: 'i9' }, dev)).toBe(true);
    expect(s.allocViommu(E.IOMMU_VIOMMU_TYPE_ARM_SMMUV3, paging(0), dev)).toEqual({ errno: EINVAL });
    expect(s.allocViommu(E.IOMMU_VIOMMU_TYPE_ARM_SMMUV3, { ...parent, kind: 'vtd' } as never, dev)).toEqual({ errno: EINVAL });
    const nc = { ...dev, cacheCoherent: false };
    expect(s.allocViommu(E.IOMMU_VIOMMU_TYPE_ARM_SMMUV3, parent, nc)).toEqual({ errno: EOPNOTSUPP });
    expect('viommu' in smmuv3Model(iommu('smmuv3', { s2fwb: true })).allocViommu(E.IOMMU_VIOMMU_TYPE_ARM_SMMUV3, parent, nc)).toBe(true);
  });
  it('nested domains only through a vIOMMU, with no flags', () => {
    expect(s.allocNested(parent, E.IOMMU_HWPT_DATA_ARM_SMMUV3, u64s(0n, 0n), dev)).toEqual({ errno: EOPNOTSUPP });
    expect(s.allocNested(parent, E.IOMMU_HWPT_DATA_ARM_SMMUV3, u64s(0n, 0n), dev, E.IOMMU_HWPT_ALLOC_PASID, vsmmu)).toEqual({ errno: EOPNOTSUPP });
  });
  it('copy rules: type, length', () => {
    expect(s.allocNested(parent, E.IOMMU_HWPT_DATA_VTD_S1, u64s(0n, 0n), dev, 0, vsmmu)).toEqual({ errno: EINVAL });
    expect(s.allocNested(parent, E.IOMMU_HWPT_DATA_ARM_SMMUV3, new Uint8Array(8), dev, 0, vsmmu)).toEqual({ errno: EINVAL });
    expect(s.allocNested(parent, E.IOMMU_HWPT_DATA_ARM_SMMUV3, new Uint8Array(24), dev, 0, vsmmu)).toEqual({ errno: EINVAL });
  });
  it('V = 0: zeroed and accepted whatever the other bits', () => {
    const n = must<{ domain: NestedDomainParams }>(vste(~1n & ((1n << 64n) - 1n), 0xffffn)).domain;
    expect(n.config).toEqual({ kind: 'smmuv3', ste0: 0n, ste1: 0n, config: 'abort', enableAts: false });
  });
  it('disallowed STE bits → EIO', () => {
    expect(vste(V | cfg(5) | (1n << 52n))).toEqual({ errno: EIO }); // word 0 bit 52 (reserved in the allowed mask)
    expect(vste(V | cfg(5), 1n << 19n)).toEqual({ errno: EIO }); // MEV is the kernel's
    expect(vste(V | cfg(5), 1n << 25n)).toEqual({ errno: EIO }); // S2FWB
    expect(STRTAB_STE_0_NESTING_ALLOWED).toBe(0xf80fffffffffffffn);
    expect(STRTAB_STE_1_NESTING_ALLOWED).toBe(0x380000ffn);
  });
  it('Config other than abort/bypass/S1 → EIO; EATS other than 0/1 → EIO', () => {
    expect(vste(V | cfg(6))).toEqual({ errno: EIO });
    expect(vste(V | cfg(7))).toEqual({ errno: EIO });
    expect(vste(V | cfg(1))).toEqual({ errno: EIO });
    expect(vste(V | cfg(5), 2n << 28n)).toEqual({ errno: EIO });
  });
  it('valid configurations; EATS is dropped from the stored copy', () => {
    const s1 = must<{ domain: NestedDomainParams }>(vste(V | cfg(5) | 0x4000n | (3n << 59n), (1n << 28n) | 0x5n)).domain;
    expect(s1.config).toEqual({ kind: 'smmuv3', ste0: V | cfg(5) | 0x4000n | (3n << 59n), ste1: 0x5n, config: 's1', enableAts: true });
    const byp = must<{ domain: NestedDomainParams }>(vste(V | cfg(4), 1n << 28n)).domain;
    expect(byp.config).toMatchObject({ config: 'bypass', enableAts: false });
    expect(must<{ domain: NestedDomainParams }>(vste(V | cfg(0))).domain.config).toMatchObject({ config: 'abort' });
  });
  it('nested attach: S1 needs a vDEVICE, SSIDs in use are EBUSY, other SMMU EINVAL', () => {
    const s1 = must<{ domain: NestedDomainParams }>(vste(V | cfg(5))).domain;
    const byp = must<{ domain: NestedDomainParams }>(vste(V | cfg(4))).domain;
    expect(s.canAttach(s1, dev)).toBe(ENOENT);
    expect(s.canAttach(s1, dev, { hasVdevice: true })).toBe(0);
    expect(s.canAttach(byp, dev)).toBe(0);
    expect(s.canAttach(byp, dev, { ssidsInUse: true })).toBe(EBUSY);
    expect(s.canAttach(byp, { ...dev, iommu: 'i1' })).toBe(EINVAL);
  });
});

describe('SMMUv3 vIOMMU invalidation', () => {
  const T = E.IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3;
  const ctx = { vmid: 7, vdevs: { '3': dev } };
  const cmd = (w0: bigint, w1 = 0n) => u64s(w0, w1);

  it('TLBI commands carry the vIOMMU VMID, whatever the guest wrote', () => {
    const r = s.invalidateViommu(vsmmu, invalReq(T, [
      cmd(0x10n | (99n << 32n)),
      cmd(0x11n | (5n << 48n)),
      cmd(0x12n | (5n << 48n), 0x40000n | 1n),
      cmd(0x13n, 0x80000n),
      cmd(0x30n, 0xffn),
    ]), ctx);
    expect(r.errno).toBe(0);
    expect(r.processed).toBe(5);
    expect(r.flushes).toEqual([
      { scope: 'vmid', vmid: 7 },
      { scope: 'asid', vmid: 7, asid: 5 },
      { scope: 'va', vmid: 7, asid: 5, iova: 0x40000n, size: 1n, leaf: true },
      { scope: 'va', vmid: 7, asid: null, iova: 0x80000n, size: 1n, leaf: false },
      { scope: 'vmid', vmid: 7 },
    ]);
  });
  it('range TLBI: (NUM + 1) << SCALE granules', () => {
    const w0 = 0x12n | (3n << 12n) | (1n << 20n); // NUM 3, SCALE 1
    const w1 = 0x100000n | (1n << 10n); // TG = 4 KiB
    const r = s.invalidateViommu(vsmmu, invalReq(T, [cmd(w0, w1)]), ctx);
    expect(r.flushes).toEqual([{ scope: 'va', vmid: 7, asid: 0, iova: 0x100000n, size: 8n * 4096n, leaf: false }]);
  });
  it('ATC_INV and CFGI_CD translate the vSID to the physical StreamID', () => {
    const atc = 0x40n | (3n << 32n) | (1n << 11n) | (9n << 12n);
    const r = s.invalidateViommu(vsmmu, invalReq(T, [
      cmd(atc, 0x12345000n | 2n),
      cmd(0x40n | (3n << 32n), 52n),
      cmd(0x05n | (3n << 32n) | (4n << 12n), 1n),
      cmd(0x06n | (3n << 32n)),
    ]), ctx);
    expect(r.flushes).toEqual([
      { scope: 'atc', device: 'dev0', sid: 0x100, ssid: 9, global: false, iova: 0x12344000n, size: 0x4000n },
      { scope: 'atc', device: 'dev0', sid: 0x100, ssid: null, global: false, iova: 0n, size: 1n << 64n },
      { scope: 'cd', device: 'dev0', sid: 0x100, ssid: 4, leaf: true },
      { scope: 'cd', device: 'dev0', sid: 0x100, ssid: null, leaf: false },
    ]);
  });
  it('unsupported opcodes and unknown vSIDs → EIO, entry_num = commands before it', () => {
    for (const op of [0x03n, 0x04n, 0x28n, 0x2an, 0x41n, 0x44n, 0x46n]) {
      expect(s.invalidateViommu(vsmmu, invalReq(T, [cmd(0x10n), cmd(op)]), ctx)).toMatchObject({ errno: EIO, processed: 1 });
    }
    expect(s.invalidateViommu(vsmmu, invalReq(T, [cmd(0x40n | (4n << 32n))]), ctx)).toMatchObject({ errno: EIO, processed: 0 });
  });
  it('a failing command leaves the open batch unissued, though entry_num counts it', () => {
    const good = Array.from({ length: CMDQ_BATCH_ENTRIES + 1 }, () => cmd(0x10n));
    const r = s.invalidateViommu(vsmmu, invalReq(T, [...good, cmd(0x46n)]), ctx);
    expect(r.errno).toBe(EIO);
    expect(r.processed).toBe(CMDQ_BATCH_ENTRIES + 1);
    expect(r.flushes).toHaveLength(CMDQ_BATCH_ENTRIES - 1);
  });
  it('array rules: wrong type EINVAL, zero entries EINVAL (no probe), long entries need zero tails', () => {
    expect(s.invalidateViommu(vsmmu, invalReq(0, [cmd(0x10n)]), ctx)).toEqual({ errno: EINVAL, processed: 0, flushes: [] });
    // arm_vsmmu_cache_invalidate: iommu_copy_struct_from_full_user_array refuses entry_num 0
    expect(s.invalidateViommu(vsmmu, invalReq(T, []), ctx)).toEqual({ errno: EINVAL, processed: 0, flushes: [] });
    const long = new Uint8Array(24);
    long.set(cmd(0x10n));
    expect(s.invalidateViommu(vsmmu, invalReq(T, [long]), ctx).processed).toBe(1);
    long[20] = 1;
    expect(s.invalidateViommu(vsmmu, invalReq(T, [long]), ctx).errno).toBe(E2BIG);
    expect(s.invalidateHwpt(must<{ domain: NestedDomainParams }>(vste(0n)).domain, invalReq(0, []))).toMatchObject({ errno: EOPNOTSUPP });
  });
});

describe('SMMUv3 attach and reserved regions', () => {
  it('paging attach: same SMMU, CANWBS for an enforcing domain, PASID needs stage 1', () => {
    expect(s.canAttach(paging(), dev)).toBe(0);
    expect(s.canAttach(paging(), { ...dev, iommu: 'i1' })).toBe(EINVAL);
    expect(s.canAttach(paging(), { ...dev, cacheCoherent: false }, { enforcingCoherency: true })).toBe(EINVAL);
    const pd = { ...dev, pasid: 1 << 20 };
    expect(s.canAttach(paging(E.IOMMU_HWPT_ALLOC_PASID), pd, { pasid: 3 })).toBe(0);
    expect(s.canAttach({ ...paging(E.IOMMU_HWPT_ALLOC_PASID), format: 'smmuv3-s2' }, pd, { pasid: 3 })).toBe(EINVAL);
  });
  it('the software MSI window', () => {
    expect(s.reservedRegions(dev)).toEqual([{ start: MSI_IOVA_BASE, last: 0x80fffffn, type: 'sw-msi' }]);
  });
});
