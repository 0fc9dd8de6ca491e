/**
 * The machine's hardware as the kernel sees it: the topology (IOMMUs and
 * devices, including mock devices created at run time), which iommufd each
 * device is bound to, the group attachments, and every hardware domain's
 * driver parameters.  Plain data in the world; the page tables themselves
 * belong to the translation actor.
 */
import type { DeviceSpec, TopologySpec } from '../../hardware/topology.ts';
import { createModel, type AnyDomain, type IommuModel } from '../../hardware/models/index.ts';
import type { World } from '../world.ts';

export interface GroupAttach {
  /** The HWPT object attached to this (group, pasid), in context `file`. */
  file: number;
  hwpt: number;
  domain: number;
  /** DEVICE object ids of the group that attached. */
  devices: number[];
}

export interface HwState {
  topology: TopologySpec;
  /** Physical device → the iommufd binding it (null when unbound). */
  bound: Record<string, { file: number; devId: number } | null>;
  /** iommu_group → pasid → what is attached. */
  groups: Record<number, Record<number, GroupAttach>>;
  domains: Record<number, AnyDomain>;
  /**
   * Who a hardware domain belongs to, for routing what the hardware reports:
   * page requests to the HWPT's FAULT, stage-1 events to its vIOMMU.
   */
  domainOwner: Record<number, { ctx: string; hwpt: number; faultActor: string; viommuActor: string }>;
  nextDomain: number;
  nextMockDevice: number;
}

export function createHwState(topology: TopologySpec): HwState {
  return {
    topology: structuredClone(topology),
    bound: Object.fromEntries(topology.devices.map((d) => [d.id, null])),
    groups: {},
    domains: {},
    domainOwner: {},
    nextDomain: 1,
    nextMockDevice: 0,
  };
}

export function hw(world: World): HwState {
  const h = world.kobj.hw as HwState | undefined;
  if (!h) throw new Error('the simulation has no hardware topology');
  return h;
}

export function deviceSpec(world: World, id: string): DeviceSpec | undefined {
  return hw(world).topology.devices.find((d) => d.id === id);
}

/** Driver models are pure and rebuilt from the spec (nothing of them is state). */
const modelCache = new Map<string, IommuModel>();
export function modelOf(world: World, iommuId: string): IommuModel {
  const spec = hw(world).topology.iommus.find((m) => m.id === iommuId);
  if (!spec) throw new Error(`no iommu '${iommuId}'`);
  const key = JSON.stringify(spec);
  let m = modelCache.get(key);
  if (!m) modelCache.set(key, (m = createModel(spec)));
  return m;
}

export function allocDomainId(world: World): number {
  return hw(world).nextDomain++;
}
