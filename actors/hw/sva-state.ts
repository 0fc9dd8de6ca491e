/**
 * Shared virtual addressing, the kernel's bookkeeping (drivers/iommu/
 * iommu-sva.c): one PASID per address space (mm->iommu_mm), one SVA domain
 * per (mm, physical IOMMU) on the mm's sva_domains list, and one bond
 * (struct iommu_sva, the attach handle of a group's PASID) per (device
 * group, mm) with a use count.  Plain data in the world (`world.kobj.sva`),
 * read by the translation actor's SVA walk and by inspect.
 */
import type { World } from '../world.ts';

export const SVA_ACTOR = 'iommu-sva';
export const SVA_KIND = 'sva';

export interface SvaDomain {
  id: number;
  /** The address space: its pid (domain->mm) and the CR3 the IOMMU walks (mm->pgd). */
  pid: number;
  cr3: number;
  /** Physical IOMMU (instance id) the domain was allocated on. */
  iommu: string;
  /** Bonds attached through this domain (domain->users). */
  users: number;
  /** (device, PASID) pairs whose PASID entry points at this domain. */
  attached: { dev: string; pasid: number }[];
  /** The mm notifier's release ran (process exit): PASID entries blocked, tables no longer walked. */
  released: boolean;
}

export interface SvaBond {
  id: number;
  /** First device of the group that bound (handle->dev). */
  dev: string;
  group: number;
  pid: number;
  pasid: number;
  domain: number;
  users: number;
}

export interface SvaMm {
  pasid: number;
  /** mm->iommu_mm->sva_domains, in list order. */
  domains: number[];
}

export interface SvaState {
  /** Allocated global PASIDs (iommu_global_pasid_ida), ascending. */
  pasids: number[];
  mms: Record<number, SvaMm>;
  domains: Record<number, SvaDomain>;
  bonds: Record<number, SvaBond>;
  /** group:pasid → bond (the group's pasid_array entries of type SVA). */
  handles: Record<string, number>;
  nextBond: number;
  /** Domains freed so far (a later use of one is a use-after-free). */
  freed: number[];
  /** Page requests resolved, by response code. */
  pageRequests: { success: number; invalid: number };
  /**
   * Page-request groups the IOMMU has reported for SVA domains and nobody
   * has answered yet (the PRQ entries and fault_param->faults): what an
   * unbind must drain before the PASID entry's domain goes.
   */
  prq?: SvaPrq[];
}

export interface SvaPrq {
  dev: string;
  pasid: number;
  grpid: number;
  /** The SVA domain the request was reported against (the attach handle's domain). */
  domain: number;
  records: { addr: bigint; perm: number }[];
}

export function svaState(world: World): SvaState {
  return (world.kobj.sva ??= {
    pasids: [], mms: {}, domains: {}, bonds: {}, handles: {}, nextBond: 1, freed: [], pageRequests: { success: 0, invalid: 0 },
  } satisfies SvaState) as SvaState;
}

/**
 * The IOMMU queued a page request for an SVA domain (iommu_report_device_fault):
 * it stays pending until the IOPF work answers it or an unbind drains it.
 */
export function svaPrqReported(world: World, g: SvaPrq): void {
  (svaState(world).prq ??= []).push({ ...g, records: g.records.map((r) => ({ ...r })) });
}

/** Take the pending group (dev, grpid) off the queue; undefined when it was answered already. */
export function svaPrqTake(st: SvaState, dev: string, grpid: number): SvaPrq | undefined {
  const q = st.prq ?? [];
  const i = q.findIndex((g) => g.dev === dev && g.grpid === grpid);
  return i < 0 ? undefined : q.splice(i, 1)[0];
}

/**
 * The group's pasid_array holds an SVA attach handle at `pasid`: any other
 * domain's attach there (iommu_attach_device_pasid's xa_insert) is EBUSY.
 */
export function svaHandleAt(world: World, group: number, pasid: number): boolean {
  const st = world.kobj.sva as SvaState | undefined;
  return st?.handles[handleKey(group, pasid)] !== undefined;
}

/** The SVA domain behind a translation-context domain id, if it is one. */
export function svaDomainOf(world: World, domain: number): SvaDomain | undefined {
  return (world.kobj.sva as SvaState | undefined)?.domains[domain];
}

export function handleKey(group: number, pasid: number): string {
  return `${group}:${pasid}`;
}

/** KASAN: model code touched something freed (the use-after-free invariant reports it). */
export function kasan(world: World, message: string): void {
  ((world.kobj.kasan ??= []) as string[]).push(message);
}

/** What inspect shows: PASIDs, SVA domains and bonds. */
export function svaView(_state: unknown, world?: World): unknown {
  const s = world?.kobj.sva as SvaState | undefined;
  if (!s) return { pasids: [], mms: {}, domains: {}, bonds: {}, prq: [] };
  return {
    pasids: s.pasids,
    mms: s.mms,
    domains: Object.fromEntries(Object.values(s.domains).map((d) => [d.id, { pid: d.pid, iommu: d.iommu, cr3: d.cr3, users: d.users, attached: d.attached, released: d.released }])),
    bonds: Object.fromEntries(Object.values(s.bonds).map((b) => [b.id, { dev: b.dev, group: b.group, pid: b.pid, pasid: b.pasid, domain: b.domain, users: b.users }])),
    pageRequests: s.pageRequests,
    prq: (s.prq ?? []).map((g) => ({ dev: g.dev, pasid: g.pasid, grpid: g.grpid, domain: g.domain, records: g.records.length })),
  };
}
