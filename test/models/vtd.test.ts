import { describe, expect, it } from 'vitest';
import { vtdModel, vtdRegisters, IOAPIC_RANGE_START } from '../../hardware/models/vtd.ts';
import { fieldGet, has } from '../../hardware/models/common.ts';
import type { DomainParams, NestedDomainParams } from '../../hardware/models/types.ts';
import { EINVAL, ENODEV, EOPNOTSUPP } from '../../uapi/errno.ts';
import * as E from '../../uapi/enums.ts';
import { decode, pack } from '../../uapi/layout.ts';
import { iommu_hw_info_vtd, iommu_hwpt_vtd_s1, iommu_hwpt_vtd_s1_invalidate } from '../../uapi/structs.ts';
import { PROT_READ, PROT_WRITE } from '../../hardware/pagetable/format.ts';
import { invalReq, iommu, must, pciDev } from './helpers.ts';

const v = vtdModel(iommu('vtd'));
const dev = pciDev({ iommu: 'i0' });
const pasidDev = pciDev({ iommu: 'i0', id: 'dev1', bdf: '0000:00:04.0', rid: 0x20, pasid: 1 << 20, pasidPriv: true, pri: true, ats: true });
const paging = (flags = 0, model = v) => must<{ domain: DomainParams }>(model.allocPaging(flags, dev)).domain;
const parent = paging(E.IOMMU_HWPT_ALLOC_NEST_PARENT);
const s1 = (flags: number, addr_width = 48, pgtbl_addr = 0x1000n) => pack(iommu_hwpt_vtd_s1, { flags, pgtbl_addr, addr_width });
const nested = (data: Uint8Array, model = v, p = parent) =>
  must<{ domain: NestedDomainParams }>(model.allocNested(p, E.IOMMU_HWPT_DATA_VTD_S1, data, dev)).domain;

describe('VT-d hw_info', () => {
  it('is iommu_hw_info_vtd with the errata flag and the raw CAP/ECAP', () => {
    const r = v.hwInfo(dev);
    expect(r.type).toBe(E.IOMMU_HW_INFO_TYPE_INTEL_VTD);
    expect(r.data.length).toBe(24);
    const info = decode(iommu_hw_info_vtd, r.data);
    expect(info.flags).toBe(E.IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17);
    expect(info.__reserved).toBe(0);
    expect(info.cap_reg).toBe(v.registers.cap);
    expect(info.ecap_reg).toBe(v.registers.ecap);
    const cap = info.cap_reg;
    const ecap = info.ecap_reg;
    expect(fieldGet(cap, 2, 0)).toBe(6); // ND: 2^16 domain ids
    expect(fieldGet(cap, 12, 8) & 0b0100).not.toBe(0); // SAGAW 48-bit
    expect(fieldGet(cap, 21, 16)).toBe(47); // MGAW
    expect(has(cap, 34) && has(cap, 35) && has(cap, 56)).toBe(true); // SLLPS 2M/1G, FL1GP
    for (const b of [43, 40, 26, 29, 45, 46, 47, 48, 7, 2]) expect(has(ecap, b)).toBe(true); // SMTS PASID NEST PRS SLADS SLTS FLTS SMPWC SC DT
    expect(fieldGet(ecap, 39, 35)).toBe(19); // PSS = 20 bits - 1
    expect(has(ecap, 34)).toBe(false); // EAFS off by default
  });
  it('reports dirty tracking, PASID width and the device PASID capability bits', () => {
    expect(v.hwInfo(dev).capabilities).toBe(E.IOMMU_HW_CAP_DIRTY_TRACKING);
    const r = v.hwInfo(pasidDev);
    expect(r.maxPasidLog2).toBe(20);
    expect(r.capabilities).toBe(E.IOMMU_HW_CAP_DIRTY_TRACKING | E.IOMMU_HW_CAP_PCI_PASID_PRIV);
    expect(v.hwInfo(dev, E.IOMMU_HW_INFO_TYPE_ARM_SMMUV3).errno).toBe(EOPNOTSUPP);
  });
  it('overrides turn register bits off', () => {
    const { cap, ecap } = vtdRegisters(iommu('vtd', { dirtyTracking: false, nesting: false, pasidBits: 0, addressWidth: 57 }));
    expect(has(ecap, 45)).toBe(false);
    expect(has(ecap, 26)).toBe(false);
    expect(has(ecap, 40)).toBe(false);
    expect(has(cap, 60)).toBe(true); // FL5LP with 5-level
    expect(fieldGet(cap, 21, 16)).toBe(56);
    const m = vtdModel(iommu('vtd', { dirtyTracking: false, pasidBits: 0 }));
    expect(m.hwInfo(pasidDev)).toMatchObject({ capabilities: 0, maxPasidLog2: 0 });
  });
});

describe('VT-d allocPaging', () => {
  it('a plain domain prefers the first stage; flag-specific ones are second stage', () => {
    const d = paging();
    expect(d.format).toBe('vtd-fl');
    expect(d.apertureEnd).toBe((1n << 47n) - 1n);
    expect(d.pgsizeBitmap).toBe(0x40201000n);
    expect(paging(E.IOMMU_HWPT_ALLOC_PASID).format).toBe('vtd-fl');
    const sl = paging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    expect(sl.format).toBe('vtd-sl');
    expect(sl.apertureEnd).toBe((1n << 48n) - 1n);
    expect(sl.dirty).toMatchObject({ hwUpdates: true, enableBit: 'ssade' });
    expect(paging(0, vtdModel(iommu('vtd', { preferFirstStage: false }))).format).toBe('vtd-sl');
  });
  it('NEST_PARENT needs nesting and refuses PASID', () => {
    expect(parent.nestParent).toBe(true);
    expect(v.allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT | E.IOMMU_HWPT_ALLOC_PASID, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(vtdModel(iommu('vtd', { nesting: false })).allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT, dev)).toEqual({ errno: EOPNOTSUPP });
    const both = paging(E.IOMMU_HWPT_ALLOC_NEST_PARENT | E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    expect([both.nestParent, both.dirtyTracking]).toEqual([true, true]);
  });
  it('DIRTY_TRACKING needs SLADS, unknown flags and user data fail', () => {
    expect(vtdModel(iommu('vtd', { dirtyTracking: false })).allocPaging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(v.allocPaging(1 << 5, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(v.allocPaging(0, dev, { type: E.IOMMU_HWPT_DATA_VTD_S1, bytes: new Uint8Array(24) })).toEqual({ errno: EOPNOTSUPP });
  });
  it('second-stage geometry follows the address width', () => {
    const m39 = vtdModel(iommu('vtd', { addressWidth: 39, preferFirstStage: false }));
    const d = paging(0, m39);
    expect([d.levels, d.apertureEnd]).toEqual([3, (1n << 39n) - 1n]);
    const noBig = paging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING, vtdModel(iommu('vtd', { superpage1G: false })));
    expect(noBig.pgsizeBitmap).toBe(0x201000n);
  });
});

describe('VT-d nested', () => {
  it('copies iommu_hwpt_vtd_s1 without validating it', () => {
    const n = nested(s1(0xff, 40, 0x1234n));
    expect(n.config).toEqual({ kind: 'vtd', flags: 0xffn, pgtblAddr: 0x1234n, addrWidth: 40 });
  });
  it('allocation errors', () => {
    expect(v.allocNested(parent, E.IOMMU_HWPT_DATA_SELFTEST, s1(0), dev)).toEqual({ errno: EOPNOTSUPP });
    expect(v.allocNested(paging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING), E.IOMMU_HWPT_DATA_VTD_S1, s1(0), dev)).toEqual({ errno: EINVAL });
    expect(v.allocNested({ ...parent, kind: 'mock' }, E.IOMMU_HWPT_DATA_VTD_S1, s1(0), dev)).toEqual({ errno: EINVAL });
    expect(v.allocNested(parent, E.IOMMU_HWPT_DATA_VTD_S1, new Uint8Array(20), dev)).toEqual({ errno: EINVAL });
    expect(v.allocNested(parent, E.IOMMU_HWPT_DATA_VTD_S1, new Uint8Array(32), dev)).toEqual({ errno: EINVAL });
    expect(v.allocNested(parent, E.IOMMU_HWPT_DATA_VTD_S1, s1(0), dev, E.IOMMU_HWPT_ALLOC_NEST_PARENT)).toEqual({ errno: EOPNOTSUPP });
  });
  it('attach validates addr_width and the S1 flags (intel_pasid_setup_nested)', () => {
    expect(v.canAttach(nested(s1(0, 48)), dev)).toBe(0);
    expect(v.canAttach(nested(s1(0, 57)), dev)).toBe(EINVAL); // no FL5LP
    expect(v.canAttach(nested(s1(0, 39)), dev)).toBe(EINVAL);
    expect(v.canAttach(nested(s1(E.IOMMU_VTD_S1_SRE)), dev)).toBe(0);
    expect(v.canAttach(nested(s1(E.IOMMU_VTD_S1_EAFE)), dev)).toBe(EINVAL); // EAFS off
    expect(v.canAttach(nested(s1(E.IOMMU_VTD_S1_WPE)), dev)).toBe(0); // WPE without SRE: silently ignored
    const five = vtdModel(iommu('vtd', { addressWidth: 57, supervisorRequests: false, extendedAccessed: true }));
    const p5 = must<{ domain: DomainParams }>(five.allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT, dev)).domain;
    expect(five.canAttach(nested(s1(0, 57), five, p5), dev)).toBe(0);
    expect(five.canAttach(nested(s1(E.IOMMU_VTD_S1_SRE, 57), five, p5), dev)).toBe(EINVAL);
    expect(five.canAttach(nested(s1(E.IOMMU_VTD_S1_EAFE, 57), five, p5), dev)).toBe(0);
    // a 5-level parent on a 4-level IOMMU: AGAW too small
    expect(v.canAttach(nested(s1(0, 57), five, p5), dev)).toBe(ENODEV);
  });
});

describe('VT-d HWPT invalidation', () => {
  const n = nested(s1(0));
  const inv = (addr: bigint, npages: bigint, flags = 0, __reserved = 0) =>
    pack(iommu_hwpt_vtd_s1_invalidate, { addr, npages, flags, __reserved });
  const T = E.IOMMU_HWPT_INVALIDATE_DATA_VTD_S1;
  const U64_MAX = (1n << 64n) - 1n;

  it('ranges, whole-domain and leaf flushes', () => {
    const r = v.invalidateHwpt(n, invalReq(T, [inv(0x2000n, 3n, E.IOMMU_VTD_INV_FLAGS_LEAF), inv(0n, U64_MAX)]));
    expect(r).toEqual({
      errno: 0, processed: 2,
      flushes: [{ scope: 'range', iova: 0x2000n, size: 0x3000n, leaf: true }, { scope: 'domain', leaf: false }],
    });
  });
  it('per-entry errors stop the array', () => {
    expect(v.invalidateHwpt(n, invalReq(T, [inv(0x1000n, 1n), inv(0x1000n, 1n, 2)]))).toMatchObject({ errno: EOPNOTSUPP, processed: 1 });
    expect(v.invalidateHwpt(n, invalReq(T, [inv(0x1000n, 1n, 0, 1)]))).toMatchObject({ errno: EOPNOTSUPP, processed: 0 });
    expect(v.invalidateHwpt(n, invalReq(T, [inv(0x1800n, 1n)]))).toMatchObject({ errno: EINVAL, processed: 0 });
    expect(v.invalidateHwpt(n, invalReq(T, [inv(0x1000n, U64_MAX)]))).toMatchObject({ errno: EINVAL, processed: 0 });
    expect(v.invalidateHwpt(n, invalReq(1, [inv(0n, 1n)]))).toEqual({ errno: EINVAL, processed: 0, flushes: [] });
    expect(v.invalidateHwpt(n, invalReq(T, [new Uint8Array(16)])).errno).toBe(EINVAL);
  });
  it('has no vIOMMU', () => {
    expect(v.allocViommu(E.IOMMU_VIOMMU_TYPE_ARM_SMMUV3, parent, dev)).toEqual({ errno: EOPNOTSUPP });
  });
});

describe('VT-d attach, map and reserved regions', () => {
  it('paging compatibility across VT-d instances', () => {
    const sl = paging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    expect(v.canAttach(sl, dev)).toBe(0);
    expect(vtdModel(iommu('vtd', { dirtyTracking: false }, 'i1')).canAttach(sl, dev)).toBe(EINVAL);
    expect(vtdModel(iommu('vtd', { snoopControl: false }, 'i1')).canAttach(sl, dev, { enforcingCoherency: true })).toBe(EINVAL);
    expect(vtdModel(iommu('vtd', { addressWidth: 39 }, 'i1')).canAttach(sl, dev)).toBe(EINVAL);
    expect(vtdModel(iommu('vtd', { firstStage: false }, 'i1')).canAttach(paging(), dev)).toBe(EINVAL);
    expect(v.canAttach({ ...sl, kind: 'smmuv3' }, dev)).toBe(EINVAL);
  });
  it('PASID attach', () => {
    expect(v.canAttach(paging(E.IOMMU_HWPT_ALLOC_PASID), pasidDev, { pasid: 1 })).toBe(0);
    expect(v.canAttach(paging(), pasidDev, { pasid: 1 })).toBe(EINVAL);
    expect(v.canAttach(paging(E.IOMMU_HWPT_ALLOC_PASID), dev, { pasid: 1 })).toBe(EINVAL);
  });
  it('ERRATA_772415_SPR17: no read-only mapping on a nest parent', () => {
    expect(v.checkMap(parent, PROT_READ)).toBe(EINVAL);
    expect(v.checkMap(parent, PROT_READ | PROT_WRITE)).toBe(0);
    expect(v.checkMap(paging(), PROT_READ)).toBe(0);
  });
  it('the IOAPIC MSI window comes first, then the device RMRRs', () => {
    const d = { ...dev, reservedRegions: [{ start: 0x7c000000n, last: 0x7c0fffffn, type: 'direct' as const }] };
    expect(v.reservedRegions(d)).toEqual([
      { start: IOAPIC_RANGE_START, last: 0xfeefffffn, type: 'msi' },
      { start: 0x7c000000n, last: 0x7c0fffffn, type: 'direct' },
    ]);
  });
});
