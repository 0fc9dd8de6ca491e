import { describe, expect, it } from 'vitest';
import {
  AMD_IOMMU_PGSIZES, FEATURE2_GCR3TRPMODE, FEATURE_GIOSUP, FEATURE_GT, FEATURE_HDSUP, FEATURE_PPR, HT_RANGE_START,
  IOMMU_VIOMMU_TYPE_AMD, MSI_RANGE_START, amdModel,
} from '../../hardware/models/amd.ts';
import { fieldGet, has } from '../../hardware/models/common.ts';
import type { DomainParams, NestedDomainParams, ViommuParams } from '../../hardware/models/types.ts';
import { EINVAL, EOPNOTSUPP } from '../../uapi/errno.ts';
import * as E from '../../uapi/enums.ts';
import { decode } from '../../uapi/layout.ts';
import { iommu_hw_info_amd } from '../../uapi/structs.ts';
import { invalReq, iommu, must, pciDev, u64s } from './helpers.ts';

const a = amdModel(iommu('amd'));
const dev = pciDev({ iommu: 'i0' });
const pasidDev = pciDev({ iommu: 'i0', id: 'd1', bdf: '0000:00:05.0', rid: 0x28, pasid: 1 << 16, ats: true, pri: true });
const paging = (flags = 0, model = a) => must<{ domain: DomainParams }>(model.allocPaging(flags, dev)).domain;
const parent = paging(E.IOMMU_HWPT_ALLOC_NEST_PARENT);
const vi = must<{ viommu: ViommuParams }>(a.allocViommu(IOMMU_VIOMMU_TYPE_AMD, parent, dev)).viommu;
const gdte = (w0: bigint, w1 = 0n, w2 = 0n) => a.allocNested(parent, E.IOMMU_HWPT_DATA_AMD_GUEST, u64s(w0, w1, w2, 0n), dev, 0, vi);
const V = 1n;
const GV = 1n << 55n;

describe('AMD hw_info', () => {
  it('is iommu_hw_info_amd { efr, efr2 } with the bits the model claims', () => {
    const r = a.hwInfo(dev);
    expect(r.type).toBe(E.IOMMU_HW_INFO_TYPE_AMD);
    expect(r.data.length).toBe(16);
    const { efr, efr2 } = decode(iommu_hw_info_amd, r.data);
    expect(efr).toBe(a.registers.efr);
    for (const b of [FEATURE_PPR, FEATURE_GT, FEATURE_GIOSUP, FEATURE_HDSUP]) expect(has(efr, b)).toBe(true);
    expect(has(efr2, FEATURE2_GCR3TRPMODE)).toBe(true);
    expect(fieldGet(efr, 36, 32)).toBe(15); // PASMAX: 16-bit PASIDs
    expect(r.capabilities).toBe(E.IOMMU_HW_CAP_DIRTY_TRACKING);
    expect(a.hwInfo(dev, E.IOMMU_HW_INFO_TYPE_INTEL_VTD).errno).toBe(EOPNOTSUPP);
  });
  it('max_pasids is 2^(PASMAX+1) - 1, so log2 reads PASMAX', () => {
    expect(a.devMaxPasids(pasidDev)).toBe(65535);
    expect(a.hwInfo(pasidDev).maxPasidLog2).toBe(15);
  });
  it('overrides clear EFR bits', () => {
    const m = amdModel(iommu('amd', { dirtyTracking: false, nesting: false }));
    expect(has(m.registers.efr!, FEATURE_HDSUP)).toBe(false);
    expect(has(m.registers.efr!, FEATURE_GIOSUP)).toBe(false);
    expect(m.registers.efr2).toBe(0n);
    expect(m.hwInfo(dev).capabilities).toBe(0);
  });
});

describe('AMD allocPaging', () => {
  it('v1 for plain, dirty and nest-parent domains; v2 for PASID', () => {
    const d = paging();
    expect([d.format, d.pgsizeBitmap, d.apertureEnd]).toEqual(['amd-v1', AMD_IOMMU_PGSIZES, (1n << 64n) - 1n]);
    expect(paging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING | E.IOMMU_HWPT_ALLOC_NEST_PARENT)).toMatchObject({ format: 'amd-v1', dirtyTracking: true, nestParent: true });
    const p = paging(E.IOMMU_HWPT_ALLOC_PASID);
    expect([p.format, p.pgsizeBitmap, p.apertureEnd, p.pasidCapable]).toEqual(['amd-v2', 0x40201000n, (1n << 48n) - 1n, true]);
    expect(paging(0, amdModel(iommu('amd', { pgtable: 'v2' }))).format).toBe('amd-v2');
  });
  it('refusals', () => {
    expect(a.allocPaging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING | E.IOMMU_HWPT_ALLOC_PASID, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(a.allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT | E.IOMMU_HWPT_ALLOC_PASID, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(amdModel(iommu('amd', { dirtyTracking: false })).allocPaging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(amdModel(iommu('amd', { nesting: false })).allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(amdModel(iommu('amd', { pasidBits: 0, nesting: false })).allocPaging(E.IOMMU_HWPT_ALLOC_PASID, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(a.allocPaging(1 << 7, dev)).toEqual({ errno: EOPNOTSUPP });
  });
});

describe('AMD guest DTE validation (validate_gdte_nested)', () => {
  it('accepts a guest DTE with a GCR3 root and records the guest domain id', () => {
    const w0 = V | GV | (1n << 58n); // GCR3[14:12] = 1
    const w1 = 0x2an | (3n << 16n); // gDomID 0x2a, GCR3[30:15] = 3
    const n = must<{ domain: NestedDomainParams }>(gdte(w0, w1)).domain;
    expect(n.config).toMatchObject({ kind: 'amd', gdomId: 0x2a, guestPagingMode: 0, gcr3Root: 0x1000n | (3n << 15n), glx: 0, gv: true });
  });
  it('each error path', () => {
    expect(gdte(V | (4n << 9n))).toEqual({ errno: EINVAL }); // Mode
    expect(gdte(V | (0x1234n << 12n))).toEqual({ errno: EINVAL }); // host table root
    expect(gdte(V | GV)).toEqual({ errno: EINVAL }); // no GCR3 root
    expect(gdte(V, 0n, 2n << 54n)).toEqual({ errno: EINVAL }); // guest paging level
    expect(gdte(V | (3n << 56n))).toEqual({ errno: EINVAL }); // GLX reserved
    expect('domain' in gdte(V)).toBe(true); // V without GV needs no GCR3 root
  });
  it('5-level guest tables need GATS = 5-level', () => {
    const five = amdModel(iommu('amd', { fiveLevel: true }));
    const p5 = must<{ domain: DomainParams }>(five.allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT, dev)).domain;
    const v5 = must<{ viommu: ViommuParams }>(five.allocViommu(IOMMU_VIOMMU_TYPE_AMD, p5, dev)).viommu;
    expect('domain' in five.allocNested(p5, E.IOMMU_HWPT_DATA_AMD_GUEST, u64s(V, 0n, 1n << 54n, 0n), dev, 0, v5)).toBe(true);
    const four = amdModel(iommu('amd', { fiveLevel: false }));
    const p = must<{ domain: DomainParams }>(four.allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT, dev)).domain;
    const v4 = must<{ viommu: ViommuParams }>(four.allocViommu(IOMMU_VIOMMU_TYPE_AMD, p, dev)).viommu;
    expect(four.allocNested(p, E.IOMMU_HWPT_DATA_AMD_GUEST, u64s(V, 0n, 1n << 54n, 0n), dev, 0, v4)).toEqual({ errno: EOPNOTSUPP });
  });
  it('type, length and vIOMMU requirements', () => {
    expect(a.allocNested(parent, E.IOMMU_HWPT_DATA_VTD_S1, u64s(0n, 0n, 0n, 0n), dev, 0, vi)).toEqual({ errno: EOPNOTSUPP });
    expect(a.allocNested(parent, E.IOMMU_HWPT_DATA_AMD_GUEST, new Uint8Array(16), dev, 0, vi)).toEqual({ errno: EINVAL });
    expect(a.allocNested(parent, E.IOMMU_HWPT_DATA_AMD_GUEST, u64s(0n, 0n, 0n, 0n), dev)).toEqual({ errno: EOPNOTSUPP });
    expect(amdModel(iommu('amd', { nesting: false })).allocViommu(IOMMU_VIOMMU_TYPE_AMD, parent, dev)).toEqual({ errno: EOPNOTSUPP });
  });
});

describe('AMD invalidation, attach and reserved regions', () => {
  it('no user invalidation op at all', () => {
    const n = must<{ domain: NestedDomainParams }>(gdte(V)).domain;
    expect(a.invalidateHwpt(n, invalReq(0, [])).errno).toBe(EOPNOTSUPP);
    expect(a.invalidateViommu(vi, invalReq(0, [])).errno).toBe(EOPNOTSUPP);
    expect(vi.hasCacheInvalidate).toBe(false);
  });
  it('nested attach refuses a device with PASIDs in use', () => {
    const n = must<{ domain: NestedDomainParams }>(gdte(V)).domain;
    expect(a.canAttach(n, dev)).toBe(0);
    expect(a.canAttach(n, dev, { pasidsAttached: 1 })).toBe(EINVAL);
  });
  it('PASID attach takes v2 domains', () => {
    expect(a.canAttach(paging(E.IOMMU_HWPT_ALLOC_PASID), pasidDev, { pasid: 1 })).toBe(0);
    expect(a.canAttach({ ...paging(), pasidCapable: true }, pasidDev, { pasid: 1 })).toBe(EINVAL);
  });
  it('MSI window and HyperTransport hole', () => {
    expect(a.reservedRegions(dev)).toEqual([
      { start: MSI_RANGE_START, last: 0xfeefffffn, type: 'msi' },
      { start: HT_RANGE_START, last: 0xffffffffffn, type: 'reserved' },
    ]);
  });
});
