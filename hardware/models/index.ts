/**
 * The physical-IOMMU driver models: one factory per kind, and the lookups
 * the iommufd core and the translation actor use.  A model is rebuilt from
 * its IommuSpec whenever needed (it holds no state), so actors keep only the
 * spec and the plain-data results in their snapshots.
 */
import type { IommuKind, IommuSpec, TopologySpec } from '../topology.ts';
import type { IommuModel } from './types.ts';
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
