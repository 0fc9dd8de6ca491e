import { describe, expect, it } from 'vitest';
import { mockModel } from '../../hardware/models/mock.ts';
import type { DomainParams, NestedDomainParams } from '../../hardware/models/types.ts';
import { E2BIG, EINVAL, ENOENT, EOPNOTSUPP } from '../../uapi/errno.ts';
import * as E from '../../uapi/enums.ts';
import { decode, pack } from '../../uapi/layout.ts';
import {
  iommu_hwpt_invalidate_selftest, iommu_hwpt_selftest, iommu_test_hw_info, iommu_viommu_invalidate_selftest,
} from '../../uapi/structs.ts';
import { invalReq, iommu, mockDev, must } from './helpers.ts';

const m = mockModel(iommu('mock', {}, 'm0'));
const dev = mockDev();
const noDirty = mockDev({ id: 'mock1', mockFlags: E.MOCK_FLAGS_DEVICE_NO_DIRTY });
const pasidDev = mockDev({ id: 'mock2', mockFlags: E.MOCK_FLAGS_DEVICE_PASID, pasid: 1 << 20 });

const paging = (flags = 0, d = dev) => must<{ domain: DomainParams }>(m.allocPaging(flags, d)).domain;
const parent = paging(E.IOMMU_HWPT_ALLOC_NEST_PARENT);
const selftestData = (iotlb: number, pagetable_type = 0) => pack(iommu_hwpt_selftest, { iotlb, pagetable_type });

describe('mock hw_info', () => {
  it('returns iommu_test_hw_info with test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL', () => {
    const r = m.hwInfo(dev);
    expect(r.errno).toBe(0);
    expect(r.type).toBe(E.IOMMU_HW_INFO_TYPE_SELFTEST);
    expect(r.data.length).toBe(8);
    expect(decode(iommu_test_hw_info, r.data)).toEqual({ flags: 0, test_reg: 0xdeadbeef });
    expect(r.capabilities).toBe(E.IOMMU_HW_CAP_DIRTY_TRACKING);
    expect(r.maxPasidLog2).toBe(0);
  });
  it('accepts DEFAULT and SELFTEST as requested type, refuses others', () => {
    expect(m.hwInfo(dev, E.IOMMU_HW_INFO_TYPE_SELFTEST).errno).toBe(0);
    expect(m.hwInfo(dev, E.IOMMU_HW_INFO_TYPE_INTEL_VTD).errno).toBe(EOPNOTSUPP);
  });
  it('NO_DIRTY clears the dirty capability; PASID devices report 20 bits', () => {
    expect(m.hwInfo(noDirty).capabilities).toBe(0);
    expect(m.hwInfo(pasidDev).maxPasidLog2).toBe(E.MOCK_PASID_WIDTH);
    // a mock device is not PCI: no PASID exec/priv bits
    expect(m.hwInfo({ ...pasidDev, pasidPriv: true }).capabilities).toBe(E.IOMMU_HW_CAP_DIRTY_TRACKING);
  });
});

describe('mock allocPaging', () => {
  it('default domain: 2 KiB pages, the mock aperture', () => {
    const d = paging();
    expect(d.pgsizeBitmap).toBe(2048n);
    expect(d.apertureStart).toBe(0x1000000n);
    expect(d.apertureEnd).toBe(0x7fffffffn);
    expect(d.format).toBe('mock');
    expect(d.dirty).toBeNull();
  });
  it('accepts DIRTY_TRACKING | NEST_PARENT | PASID, refuses other bits', () => {
    const d = paging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING | E.IOMMU_HWPT_ALLOC_NEST_PARENT | E.IOMMU_HWPT_ALLOC_PASID);
    expect([d.dirtyTracking, d.nestParent, d.pasidCapable]).toEqual([true, true, true]);
    expect(d.dirty).toMatchObject({ hwUpdates: false, readWhileDisabled: 'einval' });
    expect(m.allocPaging(1 << 4, dev)).toEqual({ errno: EOPNOTSUPP });
  });
  it('FAULT_ID_VALID is the core\'s and ignored', () => {
    expect('domain' in m.allocPaging(E.IOMMU_HWPT_FAULT_ID_VALID, dev)).toBe(true);
  });
  it('DIRTY_TRACKING on a NO_DIRTY device → EOPNOTSUPP', () => {
    expect(m.allocPaging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING, noDirty)).toEqual({ errno: EOPNOTSUPP });
  });
  it('typed paging: HUGE widens sizes and aperture, unknown types fail', () => {
    const huge = must<{ domain: DomainParams }>(
      m.allocPaging(0, dev, { type: E.IOMMU_HWPT_DATA_SELFTEST, bytes: selftestData(0, E.MOCK_IOMMUPT_HUGE) })).domain;
    expect(huge.pgsizeBitmap).toBe(BigInt(E.MOCK_HUGE_PAGE_SIZE | 4096));
    expect(huge.apertureStart <= BigInt(E.MOCK_APERTURE_START)).toBe(true);
    expect(m.allocPaging(0, dev, { type: E.IOMMU_HWPT_DATA_SELFTEST, bytes: selftestData(0, E.MOCK_IOMMUPT_AMDV1) }))
      .toEqual({ errno: EOPNOTSUPP });
    expect(m.allocPaging(0, dev, { type: E.IOMMU_HWPT_DATA_VTD_S1, bytes: new Uint8Array(24) })).toEqual({ errno: EOPNOTSUPP });
    // the 4-byte first version of the struct is accepted: pagetable_type reads as DEFAULT
    const old = must<{ domain: DomainParams }>(
      m.allocPaging(0, dev, { type: E.IOMMU_HWPT_DATA_SELFTEST, bytes: new Uint8Array(4) })).domain;
    expect(old.pgsizeBitmap).toBe(2048n);
  });
});

describe('mock allocNested', () => {
  it('fills all 4 IOTLB slots with the user value', () => {
    const n = must<{ domain: NestedDomainParams }>(m.allocNested(parent, E.IOMMU_HWPT_DATA_SELFTEST, selftestData(E.IOMMU_TEST_IOTLB_DEFAULT), dev)).domain;
    expect(n.config).toEqual({ kind: 'mock', iotlb: [0xbadbeef, 0xbadbeef, 0xbadbeef, 0xbadbeef] });
    expect(n.parent).toEqual(parent);
  });
  it('error paths', () => {
    expect(m.allocNested(parent, E.IOMMU_HWPT_DATA_VTD_S1, selftestData(1), dev)).toEqual({ errno: EOPNOTSUPP });
    expect(m.allocNested(parent, E.IOMMU_HWPT_DATA_SELFTEST, selftestData(1), dev, E.IOMMU_HWPT_ALLOC_NEST_PARENT)).toEqual({ errno: EOPNOTSUPP });
    expect(m.allocNested({ ...parent, kind: 'vtd' }, E.IOMMU_HWPT_DATA_SELFTEST, selftestData(1), dev)).toEqual({ errno: EINVAL });
    // shorter than offsetofend(iotlb), longer than the struct
    expect(m.allocNested(parent, E.IOMMU_HWPT_DATA_SELFTEST, new Uint8Array(3), dev)).toEqual({ errno: EINVAL });
    expect(m.allocNested(parent, E.IOMMU_HWPT_DATA_SELFTEST, new Uint8Array(12), dev)).toEqual({ errno: EINVAL });
    expect('domain' in m.allocNested(parent, E.IOMMU_HWPT_DATA_SELFTEST, selftestData(1), dev, E.IOMMU_HWPT_ALLOC_PASID)).toBe(true);
  });
});

describe('mock HWPT invalidation', () => {
  const nested = must<{ domain: NestedDomainParams }>(m.allocNested(parent, E.IOMMU_HWPT_DATA_SELFTEST, selftestData(1), dev)).domain;
  const entry = (flags: number, iotlb_id: number) => pack(iommu_hwpt_invalidate_selftest, { flags, iotlb_id });

  it('per-slot and FLAG_ALL flushes', () => {
    const r = m.invalidateHwpt(nested, invalReq(E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [entry(0, 2), entry(1, 0)]));
    expect(r).toEqual({
      errno: 0, processed: 2,
      flushes: [{ scope: 'mock-iotlb', all: false, index: 2 }, { scope: 'mock-iotlb', all: true, index: 0 }],
    });
  });
  it('wrong array type → EINVAL, nothing processed', () => {
    expect(m.invalidateHwpt(nested, invalReq(E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, [entry(0, 0)])))
      .toEqual({ errno: EINVAL, processed: 0, flushes: [] });
  });
  it('stops at the first bad entry and reports what went before', () => {
    const r = m.invalidateHwpt(nested, invalReq(E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [entry(0, 1), entry(2, 0), entry(0, 0)]));
    expect(r.errno).toBe(EOPNOTSUPP);
    expect(r.processed).toBe(1);
    expect(r.flushes).toHaveLength(1);
    // the id is checked before FLAG_ALL is looked at
    expect(m.invalidateHwpt(nested, invalReq(E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [entry(1, 4)])).errno).toBe(EINVAL);
  });
  it('entry_len other than 8 → EINVAL; zero entries succeed', () => {
    expect(m.invalidateHwpt(nested, invalReq(E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [new Uint8Array(12)])).errno).toBe(EINVAL);
    expect(m.invalidateHwpt(nested, invalReq(E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [new Uint8Array(4)])).errno).toBe(EINVAL);
    expect(m.invalidateHwpt(nested, invalReq(E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, []))).toEqual({ errno: 0, processed: 0, flushes: [] });
  });
});

describe('mock vIOMMU', () => {
  const v = must<{ viommu: import('../../hardware/models/types.ts').ViommuParams }>(m.allocViommu(E.IOMMU_VIOMMU_TYPE_SELFTEST, parent, dev)).viommu;
  const cmd = (flags: number, vdev_id: number, cache_id: number) => pack(iommu_viommu_invalidate_selftest, { flags, vdev_id, cache_id });
  const ctx = { vdevs: { '7': dev } };

  it('allocation rules', () => {
    expect(m.allocViommu(0x1234, parent, dev)).toEqual({ errno: EOPNOTSUPP });
    expect(m.allocViommu(E.IOMMU_VIOMMU_TYPE_SELFTEST, paging(), dev)).toEqual({ errno: EINVAL });
    expect(v.mock).toEqual({ inData: 0, mmapLength: 8192 });
  });
  it('invalidates per-device cache slots through vdev ids', () => {
    const r = m.invalidateViommu(v, invalReq(E.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, [cmd(0, 7, 3), cmd(1, 7, 0)]), ctx);
    expect(r).toEqual({
      errno: 0, processed: 2,
      flushes: [
        { scope: 'mock-dev-cache', device: 'mock0', all: false, index: 3 },
        { scope: 'mock-dev-cache', device: 'mock0', all: true, index: 0 },
      ],
    });
  });
  it('error paths with their processed counts', () => {
    const T = E.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST;
    expect(m.invalidateViommu(v, invalReq(E.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID, [cmd(0, 7, 0)]), ctx).errno).toBe(EINVAL);
    expect(m.invalidateViommu(v, invalReq(T, [cmd(0, 7, 0), cmd(2, 7, 0)]), ctx)).toMatchObject({ errno: EOPNOTSUPP, processed: 1 });
    expect(m.invalidateViommu(v, invalReq(T, [cmd(0, 7, 4)]), ctx)).toMatchObject({ errno: EINVAL, processed: 0 });
    expect(m.invalidateViommu(v, invalReq(T, [cmd(0, 7, 0), cmd(0, 8, 0)]), ctx)).toMatchObject({ errno: EINVAL, processed: 1 });
    expect(m.invalidateViommu(v, invalReq(T, []), ctx)).toEqual({ errno: 0, processed: 0, flushes: [] });
  });
  it('the whole array is copied first: a non-zero tail anywhere fails E2BIG before anything runs', () => {
    const long = (c: Uint8Array, tail: number) => { const b = new Uint8Array(16); b.set(c); b[15] = tail; return b; };
    const r = m.invalidateViommu(v, invalReq(E.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, [long(cmd(0, 7, 0), 0), long(cmd(0, 7, 1), 1)]), ctx);
    expect(r).toEqual({ errno: E2BIG, processed: 0, flushes: [] });
    const ok = m.invalidateViommu(v, invalReq(E.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, [long(cmd(0, 7, 0), 0)]), ctx);
    expect(ok.processed).toBe(1);
  });
});

describe('mock attach rules', () => {
  it('dirty-tracking domain on a NO_DIRTY device → EINVAL', () => {
    const d = paging(E.IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    expect(m.canAttach(d, dev)).toBe(0);
    expect(m.canAttach(d, noDirty)).toBe(EINVAL);
  });
  it('vIOMMU nested domain needs a vDEVICE → ENOENT', () => {
    const v = must<{ viommu: import('../../hardware/models/types.ts').ViommuParams }>(m.allocViommu(E.IOMMU_VIOMMU_TYPE_SELFTEST, parent, dev)).viommu;
    const n = must<{ domain: NestedDomainParams }>(m.allocNested(parent, E.IOMMU_HWPT_DATA_SELFTEST, selftestData(0), dev, 0, v)).domain;
    expect(m.canAttach(n, dev)).toBe(ENOENT);
    expect(m.canAttach(n, dev, { hasVdevice: true })).toBe(0);
  });
  it('PASID rules: PASID-capable HWPT and device, pasid below max', () => {
    const plain = paging();
    const pas = paging(E.IOMMU_HWPT_ALLOC_PASID);
    expect(m.canAttach(pas, pasidDev, { pasid: 5 })).toBe(0);
    expect(m.canAttach(plain, pasidDev, { pasid: 5 })).toBe(EINVAL);
    expect(m.canAttach(pas, dev, { pasid: 5 })).toBe(EINVAL);
    expect(m.canAttach(pas, pasidDev, { pasid: 1 << 20 })).toBe(EINVAL);
  });
  it('different IOMMU instance → EINVAL', () => {
    expect(m.canAttach(paging(), { ...dev, iommu: 'm1' })).toBe(EINVAL);
  });
  it('dirty tracking enable needs dirty ops; no reserved regions of its own', () => {
    expect(m.setDirtyTracking(paging(), true)).toBe(EINVAL);
    expect(m.setDirtyTracking(paging(), false)).toBe(0);
    expect(m.reservedRegions(dev)).toEqual([]);
  });
});
