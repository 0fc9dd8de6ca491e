/**
 * The physical-IOMMU driver models: one factory per kind, and the lookups
 * the iommufd core and the translation actor use.  A model is rebuilt from
 * its IommuSpec whenever needed (it holds no state), so actors keep only the
 * spec and the plain-data results in their snapshots.
 */
import type { IommuKind, IommuSpec, TopologySpec } from '../topology.ts';
import type { FlushOp, InvalidateContext, IommuModel, NestedDomainParams, ViommuParams } from './types.ts';
import { mockModel } from './mock.ts';
import { vtdModel } from './vtd.ts';
import { smmuv3Model } from './smmuv3.ts';
import { amdModel } from './amd.ts';

export type * from './types.ts';
export { ioasReservedRegions, iommuCopyStructFromUser, iommuCopyStructFromUserArray, iommuCopyStructFromFullUserArray } from './common.ts';
export { mockModel, vtdModel, smmuv3Model, amdModel };

const FACTORIES: Readonly<Record<IommuKind, (spec: IommuSpec) => IommuModel>> = {
  mock: mockModel,
  vtd: vtdModel,
  smmuv3: smmuv3Model,
  amd: amdModel,
};

/** The model for one IOMMU of the topology; throws on an unknown kind (validateTopology reports it first). */
export function createModel(spec: IommuSpec): IommuModel {
  const f = FACTORIES[spec.kind];
  if (!f) throw new Error(`iommu '${spec.id}': no model for kind '${String(spec.kind)}'`);
  return f(spec);
}

/** Every IOMMU's model keyed by id (a plain record; insertion order = topology order). */
export function createModels(topo: TopologySpec): Record<string, IommuModel> {
  const out: Record<string, IommuModel> = {};
  for (const m of topo.iommus) out[m.id] = createModel(m);
  return out;
}

/** The model a device sits behind. */
export function modelForDevice(models: Readonly<Record<string, IommuModel>>, dev: { id: string; iommu: string }): IommuModel {
  const m = Object.hasOwn(models, dev.iommu) ? models[dev.iommu] : undefined;
  if (!m) throw new Error(`device '${dev.id}': unknown iommu '${dev.iommu}'`);
  return m;
}

/**
 * One invalidation entry on its own (a one-element array), routed to the
 * HWPT or vIOMMU op by the target's shape.  Handy for callers that validate
 * entry by entry; IOMMU_HWPT_INVALIDATE itself should pass the whole array
 * to invalidateHwpt / invalidateViommu, because array-level rules (SMMUv3
 * and mock vIOMMU copy everything first; SMMUv3 issues in batches) differ.
 */
export function invalidateEntry(
  model: IommuModel, target: NestedDomainParams | ViommuParams, dataType: number, entry: Uint8Array, ctx?: InvalidateContext,
): { errno: number; flushes: FlushOp[] } {
  const req = { dataType, entryLen: entry.length, entryNum: 1, entries: entry };
  const r = 'config' in target ? model.invalidateHwpt(target, req, ctx) : model.invalidateViommu(target, req, ctx);
  return { errno: r.errno, flushes: r.flushes };
}
