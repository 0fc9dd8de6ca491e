import type { DeviceSpec, IommuSpec } from '../../hardware/topology.ts';
import type { InvalidateRequest } from '../../hardware/models/types.ts';

export function pciDev(over: Partial<DeviceSpec> & { iommu: string }): DeviceSpec {
  return {
    id: 'dev0', bdf: '0000:00:03.0', rid: 0x18, group: 0, pasid: 0, pri: false, ats: false,
    reservedRegions: [], cacheCoherent: true, msiIsolated: true, ...over,
  };
}

export function mockDev(over: Partial<DeviceSpec> = {}): DeviceSpec {
  return {
    id: 'mock0', iommu: 'm0', group: 0, pasid: 0, pri: false, ats: false, reservedRegions: [],
    cacheCoherent: true, msiIsolated: true, mockFlags: 0, ...over,
  };
}

export function iommu(kind: IommuSpec['kind'], caps: IommuSpec['caps'] = {}, id = 'i0'): IommuSpec {
  return { id, kind, caps };
}

/** An invalidation array of equally sized entries. */
export function invalReq(dataType: number, entries: Uint8Array[], entryLen = entries[0]?.length ?? 0): InvalidateRequest {
  const buf = new Uint8Array(entryLen * entries.length);
  entries.forEach((e, i) => buf.set(e.subarray(0, entryLen), i * entryLen));
  return { dataType, entryLen, entryNum: entries.length, entries: buf };
}

export function u64s(...v: bigint[]): Uint8Array {
  const out = new Uint8Array(v.length * 8);
  const dv = new DataView(out.buffer);
  v.forEach((x, i) => dv.setBigUint64(i * 8, x, true));
  return out;
}

/** Narrow an alloc result in tests. */
export function must<T>(r: { errno: number } | T): T {
  if (typeof r === 'object' && r !== null && 'errno' in r) throw new Error(`unexpected errno ${(r as { errno: number }).errno}`);
  return r as T;
}
