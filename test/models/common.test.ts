import { describe, expect, it } from 'vitest';
import {
  copyStructFromUser, ioasReservedRegions, iommuCopyStructFromFullUserArray, iommuCopyStructFromUser,
  iommuCopyStructFromUserArray,
} from '../../hardware/models/common.ts';
import { createModel, createModels, invalidateEntry, modelForDevice } from '../../hardware/models/index.ts';
import * as E from '../../uapi/enums.ts';
import { pack } from '../../uapi/layout.ts';
import { iommu_hwpt_invalidate_selftest } from '../../uapi/structs.ts';
import { defaultTopology } from '../../hardware/topology.ts';
import { E2BIG, EINVAL } from '../../uapi/errno.ts';
import { iommu_hwpt_selftest, iommu_viommu_invalidate_selftest } from '../../uapi/structs.ts';
import { invalReq } from './helpers.ts';

describe('driver-data copy helpers (include/linux/iommu.h)', () => {
  it('copy_struct_from_user: zero-extends short input, E2BIG on a non-zero tail', () => {
    expect(copyStructFromUser(8, new Uint8Array([1, 2]))).toEqual({ errno: 0, bytes: new Uint8Array([1, 2, 0, 0, 0, 0, 0, 0]) });
    expect(copyStructFromUser(2, new Uint8Array([1, 2, 0, 0])).errno).toBe(0);
    expect(copyStructFromUser(2, new Uint8Array([1, 2, 0, 9])).errno).toBe(E2BIG);
  });
  it('iommu_copy_struct_from_user: type, min length and max length are EINVAL', () => {
    const T = 0xdead;
    expect(iommuCopyStructFromUser(iommu_hwpt_selftest, T, T + 1, new Uint8Array(8), 4).errno).toBe(EINVAL);
    expect(iommuCopyStructFromUser(iommu_hwpt_selftest, T, T, new Uint8Array(3), 4).errno).toBe(EINVAL);
    expect(iommuCopyStructFromUser(iommu_hwpt_selftest, T, T, new Uint8Array(9), 4).errno).toBe(EINVAL);
    const r = iommuCopyStructFromUser(iommu_hwpt_selftest, T, T, new Uint8Array([5, 0, 0, 0]), 4);
    expect(r.value).toEqual({ iotlb: 5, pagetable_type: 0 });
  });
  it('the per-entry array copy uses the same rules', () => {
    const req = invalReq(1, [new Uint8Array(8), new Uint8Array(8)]);
    expect(iommuCopyStructFromUserArray(iommu_hwpt_selftest, req, 1, 1, 4).errno).toBe(0);
    expect(iommuCopyStructFromUserArray(iommu_hwpt_selftest, req, 1, 2, 4).errno).toBe(EINVAL);
    expect(iommuCopyStructFromUserArray(iommu_hwpt_selftest, req, 2, 0, 4).errno).toBe(EINVAL);
  });
  it('the full-array copy zero-extends short entries and refuses zero entries', () => {
    const short = invalReq(3, [new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0])]);
    expect(iommuCopyStructFromFullUserArray(iommu_viommu_invalidate_selftest, short, 3).values)
      .toEqual([{ flags: 1, vdev_id: 2, cache_id: 0 }]);
    expect(iommuCopyStructFromFullUserArray(iommu_viommu_invalidate_selftest, invalReq(3, []), 3).errno).toBe(EINVAL);
  });
});

describe('reserved regions as iommufd applies them', () => {
  it('skips DIRECT_RELAXABLE and names the software MSI window', () => {
    const r = ioasReservedRegions([
      { start: 0x8000000n, last: 0x80fffffn, type: 'sw-msi' },
      { start: 0x1000n, last: 0x1fffn, type: 'direct-relaxable' },
      { start: 0x2000n, last: 0x2fffn, type: 'direct' },
    ]);
    expect(r.errno).toBe(0);
    expect(r.swMsiStart).toBe(0x8000000n);
    expect(r.reserve.map((x) => x.type)).toEqual(['sw-msi', 'direct']);
  });
  it('hardware and software MSI together, or two SW_MSI windows, are refused', () => {
    const sw = { start: 0x8000000n, last: 0x80fffffn, type: 'sw-msi' as const };
    expect(ioasReservedRegions([sw, { start: 0xfee00000n, last: 0xfeefffffn, type: 'msi' }]).errno).toBe(EINVAL);
    expect(ioasReservedRegions([sw, { ...sw, start: 0x9000000n, last: 0x90fffffn }]).errno).toBe(EINVAL);
  });
  it('every model reports regions the core accepts', () => {
    const t = defaultTopology();
    const models = createModels(t);
    for (const d of t.devices) expect(ioasReservedRegions(modelForDevice(models, d).reservedRegions(d)).errno).toBe(0);
  });
});

describe('model registry', () => {
  it('builds one model per kind and agrees with itself (no hidden state)', () => {
    for (const kind of ['mock', 'vtd', 'smmuv3', 'amd'] as const) {
      const a = createModel({ id: 'x', kind });
      const b = createModel({ id: 'x', kind });
      expect(a.kind).toBe(kind);
      expect(a.caps).toEqual(b.caps);
      expect(a.registers).toEqual(b.registers);
    }
    expect(() => createModel({ id: 'x', kind: 'ppc' as never })).toThrow(/no model for kind 'ppc'/);
    expect(() => modelForDevice({}, { id: 'd', iommu: 'nope' })).toThrow(/unknown iommu 'nope'/);
  });
  it('default-domain geometry per kind', () => {
    const g = (kind: 'mock' | 'vtd' | 'smmuv3' | 'amd') => createModel({ id: 'x', kind }).caps.defaultDomain;
    expect(g('mock')).toEqual({ format: 'mock', pgsizeBitmap: 2048n, apertureStart: 0x1000000n, apertureEnd: 0x7fffffffn });
    expect(g('vtd').format).toBe('vtd-fl');
    expect(g('smmuv3').format).toBe('smmuv3-s1');
    expect(g('amd').format).toBe('amd-v1');
  });
  it('every allocated domain is plain data (structuredClone round-trips it)', () => {
    for (const kind of ['mock', 'vtd', 'smmuv3', 'amd'] as const) {
      const m = createModel({ id: 'x', kind });
      const dev = { id: 'd', iommu: 'x', bdf: '0000:00:01.0', group: 0, pasid: 0, pri: false, ats: false, reservedRegions: [], cacheCoherent: true, msiIsolated: true };
      const r = m.allocPaging(0, kind === 'mock' ? { ...dev, bdf: undefined } : dev);
      expect('domain' in r).toBe(true);
      if ('domain' in r) expect(structuredClone(r.domain)).toEqual(r.domain);
    }
  });
});

describe('invalidateEntry', () => {
  it('routes one entry to the HWPT op of a nested domain', () => {
    const m = createModel({ id: 'm0', kind: 'mock' });
    const dev = { id: 'k', iommu: 'm0', group: 0, pasid: 0, pri: false, ats: false, reservedRegions: [], cacheCoherent: true, msiIsolated: true };
    const p = m.allocPaging(E.IOMMU_HWPT_ALLOC_NEST_PARENT, dev);
    if (!('domain' in p)) throw new Error('alloc');
    const n = m.allocNested(p.domain, E.IOMMU_HWPT_DATA_SELFTEST, new Uint8Array(4), dev);
    if (!('domain' in n)) throw new Error('nested');
    const e = pack(iommu_hwpt_invalidate_selftest, { flags: 0, iotlb_id: 1 });
    expect(invalidateEntry(m, n.domain, E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, e))
      .toEqual({ errno: 0, flushes: [{ scope: 'mock-iotlb', all: false, index: 1 }] });
    expect(invalidateEntry(m, n.domain, E.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, pack(iommu_hwpt_invalidate_selftest, { iotlb_id: 9 })).errno)
      .toBe(EINVAL);
  });
});
