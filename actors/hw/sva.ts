/**
 * Shared virtual addressing: the kernel's iommu-sva core (bind/unbind, the
 * SVA domains' MMU notifiers, the SVA page-fault handler) and a device
 * driver model on top of it (an accelerator with user work queues, like
 * idxd: a process binds the device to its own address space and submits
 * work that the device performs with the process's PASID).
 *
 * System calls (registered with the kernel actor):
 *   sva.bind   {dev}                        iommu_sva_bind_device(dev, current->mm); ret = PASID
 *   sva.unbind {dev, pid?}                  iommu_sva_unbind_device of pid's bond (default: the caller's)
 *   sva.submit {dev, va, length, write, data?, pasid?}
 *                                           a work descriptor (ENQCMD: the PASID is the caller's mm's);
 *                                           the device performs the DMA on its own time
 *
 * Ordering follows Linux: the PASID is allocated on an mm's first bind and
 * kept until the mm is gone (exited and no SVA domain left holding it);
 * exit_mmap calls each SVA domain's notifier release, which blocks DMA on
 * the PASID before the tables go; bonds stay until the driver unbinds.
 * Everything runs inside the kernel delivery that makes the call (the
 * kernel holds iommu_sva_lock across bind and unbind); page requests are
 * handled by the `iommu-sva` actor (the IOPF workqueue).
 *
 * Variants (world.config.variant), each a race the explorer must find:
 *   S01  the SVA domain's release callback does nothing: after exit the
 *        IOMMU still walks the freed CPU tables for the PASID (unbind racing exit)
 *   S02  bind finds the mm's SVA domain under the lock but takes its user
 *        reference in a later step: an unbind of the last bond in between
 *        frees the domain under the new bond
 *   S03  munmap's secondary-TLB flush is deferred to the SVA workqueue:
 *        the page is freed (and reusable) while the IOTLB still maps it
 */
import type { DeliveryContext, SimActor } from '../runtime/actor.ts';
import type { Envelope } from '../runtime/envelope.ts';
import type { World } from '../world.ts';
import type { Mm } from '../mm/process.ts';
import { findVma, handleMmFault, PROT_READ, PROT_WRITE } from '../mm/process.ts';
import { cptEnable, mmuNotifierRegister, mmuNotifierUnregister, registerMmExitHook, registerMmuNotifierOps } from '../mm/cpu-mm.ts';
import { registerSyscall, syscallScope, type SyscallResult } from '../kernel.ts';
import { allocDomainId, deviceSpec, hw, modelOf } from './state.ts';
import { translation, type TranslationActor } from './translation.ts';
import { deviceActorId } from './device.ts';
import { TAG_DOMAIN, iotlbInvalidate } from '../../hardware/iotlb.ts';
import { atcInvalidate } from '../../hardware/iotlb.ts';
import type { DeviceSpec } from '../../hardware/topology.ts';
import type { IommuModel } from '../../hardware/models/index.ts';
import { EBUSY, EINVAL, ENODEV, ENOENT, ENOMEM, ENOSPC, EOPNOTSUPP, EOVERFLOW, ESRCH } from '../../uapi/errno.ts';
import { IOMMU_PGFAULT_PERM_WRITE } from '../../uapi/enums.ts';
import {
  handleKey, kasan, SVA_ACTOR, SVA_KIND, svaPrqTake, svaState, type SvaBond, type SvaDomain, type SvaPrq, type SvaState,
} from './sva-state.ts';

export { SVA_ACTOR, SVA_KIND, svaState, svaView } from './sva-state.ts';

/** Page response codes (IOMMU_PAGE_RESP_*). */
export const IOMMU_PAGE_RESP_SUCCESS = 0;
export const IOMMU_PAGE_RESP_INVALID = 1;

/** The notifier kind SVA domains register on their mm. */
const NOTIFIER = 'sva';

const err = (errno: number): SyscallResult => ({ errno, ret: -1 });

function tr(ctx: DeliveryContext<World>): TranslationActor {
  const t = translation(ctx);
  if (!t) throw new Error('sva: no translation actor');
  return t;
}

function ensureActor(ctx: DeliveryContext<World>): void {
  if (!ctx.has(SVA_ACTOR)) ctx.spawn(new SvaActor(SVA_ACTOR, { iopfGroups: 0, deferred: 0 }));
}

// ---------------------------------------------------------------- PASIDs

/** iommu_alloc_global_pasid: lowest free in [1, max_pasids - 1]; -1 if none. */
function allocPasid(st: SvaState, maxPasids: number): number {
  let p = 1;
  for (const q of st.pasids) {
    if (q > p) break;
    if (q === p) p++;
  }
  if (p >= maxPasids) return -1;
  st.pasids.push(p);
  st.pasids.sort((a, b) => a - b);
  return p;
}

/** mm_pasid_drop at __mmdrop: the mm is gone and no SVA domain holds it any more. */
function maybeDropMm(st: SvaState, mm: Mm | undefined, pid: number): void {
  const m = st.mms[pid];
  if (!m || m.domains.length > 0 || !(mm?.exited ?? true)) return;
  st.pasids = st.pasids.filter((p) => p !== m.pasid);
  delete st.mms[pid];
}

export function pidOfPasid(st: SvaState, pasid: number): number {
  for (const k of Object.keys(st.mms)) if (st.mms[Number(k)]!.pasid === pasid) return Number(k);
  return -1;
}

// ---------------------------------------------------------------- domains

/** domain_alloc_sva exists: VT-d, SMMUv3 and AMD-Vi drivers with PASID support; the mock has none. */
function svaCapable(model: IommuModel): boolean {
  return model.kind !== 'mock' && model.caps.maxPasids > 0;
}

/** iommu_attach_device_pasid + the driver's set_dev_pasid refusals; 0 = attached. */
function attachErrno(model: IommuModel, spec: DeviceSpec, d: SvaDomain, pasid: number): number {
  // domain_iommu_ops_compatible / the driver's "domain of another IOMMU instance" check.
  if (d.iommu !== spec.iommu) return EINVAL;
  const max = model.devMaxPasids(spec);
  if (max > 0 && pasid >= max) return EINVAL;
  // The driver enables IOPF for the SVA domain: a device without PRI cannot (intel_iommu_enable_iopf).
  if (!spec.pri || !model.caps.pri) return ENODEV;
  return 0;
}

function flushDomain(t: TranslationActor, d: SvaDomain, start?: number, size?: number): void {
  const e = t.st.engine;
  const iommu = t.st.iommuIndex[d.iommu] ?? 0;
  const range = start !== undefined ? { iova: start, size: size ?? 1 } : {};
  iotlbInvalidate(e.iotlbs[iommu]!, { kind: TAG_DOMAIN, tag: d.id, ...range });
  // The device TLBs after the IOTLB (hardware.md §1.3 step 3).
  for (const a of d.attached) {
    const dev = t.st.deviceIndex[a.dev];
    const atc = dev === undefined ? undefined : e.atcs[dev];
    if (atc) atcInvalidate(atc, dev!, a.pasid, start, size);
  }
}

function commitBond(ctx: DeliveryContext<World>, st: SvaState, d: SvaDomain, spec: DeviceSpec, pid: number, pasid: number): SvaBond {
  d.users++;
  d.attached.push({ dev: spec.id, pasid });
  tr(ctx).attach(spec.id, pasid, d.id);
  const b: SvaBond = { id: st.nextBond++, dev: spec.id, group: spec.group, pid, pasid, domain: d.id, users: 1 };
  st.bonds[b.id] = b;
  st.handles[handleKey(spec.group, pasid)] = b.id;
  return b;
}

/** iommu_sva_bind_device(dev, mm of pid). */
export function svaBind(ctx: DeliveryContext<World>, pid: number, dev: string, replyTo: string): SyscallResult | null {
  const world = ctx.world;
  const spec = deviceSpec(world, dev);
  if (!spec) return err(ENODEV);
  const mm = world.mem.mms[pid];
  if (!mm || mm.exited) return err(ESRCH);
  ensureActor(ctx);
  const st = svaState(world);
  const model = modelOf(world, spec.iommu);
  const max = model.devMaxPasids(spec);
  // iommu_alloc_mm_data: the mm's PASID, allocated once and kept.
  let m = st.mms[pid];
  if (m) {
    if (m.pasid >= max) return err(EOVERFLOW);
  } else {
    const pasid = allocPasid(st, max);
    if (pasid < 0) return err(ENOSPC);
    if (cptEnable(world.mem, mm)) {
      st.pasids = st.pasids.filter((p) => p !== pasid);
      return err(ENOMEM);
    }
    m = st.mms[pid] = { pasid, domains: [] };
  }
  const pasid = m.pasid;
  // A bond already exists: take a reference (iommu_attach_handle_get of type SVA).
  const h = st.handles[handleKey(spec.group, pasid)];
  if (h !== undefined) {
    const b = st.bonds[h]!;
    if (st.domains[b.domain]?.pid !== pid) return err(EBUSY);
    b.users++;
    return { errno: 0, ret: pasid };
  }
  // The PASID carries another (non-SVA) domain on this group.
  if (hw(world).groups[spec.group]?.[pasid]) return err(EBUSY);
  // An existing domain of this mm that the device's IOMMU accepts.
  for (const id of m.domains) {
    const d = st.domains[id]!;
    if (attachErrno(model, spec, d, pasid)) continue;
    if (world.config.variant === 'S02') {
      // BUG (S02): the lock is dropped between finding the domain and taking its user reference.
      ctx.post(SVA_ACTOR, 'internal', 'bind.attach', { domain: id, dev, pid, pasid, replyTo });
      return null;
    }
    commitBond(ctx, st, d, spec, pid, pasid);
    return { errno: 0, ret: pasid };
  }
  // A new SVA domain for (mm, this IOMMU).
  if (!svaCapable(model)) return err(EOPNOTSUPP);
  const d: SvaDomain = { id: allocDomainId(world), pid, cr3: mm.cpt!.cr3, iommu: spec.iommu, users: 0, attached: [], released: false };
  const e = attachErrno(model, spec, d, pasid);
  if (e) return err(e);
  st.domains[d.id] = d;
  m.domains.push(d.id);
  mmuNotifierRegister(mm, NOTIFIER, d.id);
  commitBond(ctx, st, d, spec, pid, pasid);
  return { errno: 0, ret: pasid };
}

/** iommu_sva_unbind_device of pid's bond on dev. */
export function svaUnbind(ctx: DeliveryContext<World>, pid: number, dev: string): SyscallResult {
  const world = ctx.world;
  const spec = deviceSpec(world, dev);
  if (!spec) return err(ENODEV);
  const st = svaState(world);
  const m = st.mms[pid];
  const h = m ? st.handles[handleKey(spec.group, m.pasid)] : undefined;
  const b = h === undefined ? undefined : st.bonds[h];
  if (!m || !b || b.pid !== pid) return err(ENOENT);
  if (--b.users > 0) return { errno: 0, ret: 0 };
  delete st.bonds[b.id];
  delete st.handles[handleKey(b.group, b.pasid)];
  const t = tr(ctx);
  t.detach(b.dev, b.pasid);
  const d = st.domains[b.domain];
  if (!d) {
    kasan(world, `unbind of ${dev} PASID ${b.pasid} put SVA domain ${b.domain}, which was already freed`);
    return { errno: 0, ret: 0 };
  }
  // The PASID entry is gone; before its domain can go, every page request still queued for this
  // group and PASID is run by the IOPF handler and answered (intel_iommu_drain_pasid_prq +
  // iopf_queue_flush_dev): none may be answered later, in whatever mm the PASID belongs to then.
  for (const g of [...(st.prq ?? [])]) {
    if (g.pasid !== b.pasid || deviceSpec(world, g.dev)?.group !== b.group) continue;
    svaPrqTake(st, g.dev, g.grpid);
    answerGroup(ctx, st, g);
  }
  d.attached = d.attached.filter((a) => !(a.dev === b.dev && a.pasid === b.pasid));
  if (--d.users === 0) {
    // The last bond: the domain leaves the mm's list and is freed (its notifier unregistered).
    flushDomain(t, d);
    delete st.domains[d.id];
    st.freed.push(d.id);
    m.domains = m.domains.filter((x) => x !== d.id);
    const mm = world.mem.mms[pid];
    if (mm) mmuNotifierUnregister(mm, NOTIFIER, d.id);
    maybeDropMm(st, mm, pid);
  }
  return { errno: 0, ret: 0 };
}

// ---------------------------------------------------------------- MMU notifier of an SVA domain

function scope(): DeliveryContext<World> {
  const ctx = syscallScope.ctx;
  if (!ctx) throw new Error('sva: an MMU notifier ran outside a kernel delivery');
  return ctx;
}

registerMmuNotifierOps(NOTIFIER, {
  invalidate(_mw, _mm, id, start, end, event) {
    const ctx = scope();
    const d = svaState(ctx.world).domains[id];
    if (!d) {
      kasan(ctx.world, `MMU notifier of freed SVA domain ${id} called`);
      return;
    }
    if (event === 'unmap' && ctx.world.config.variant === 'S03') {
      // BUG (S03): the flush goes to a workqueue; munmap frees the pages first.
      ctx.post(SVA_ACTOR, 'internal', 'flush', { domain: id, start, size: end - start });
      return;
    }
    flushDomain(tr(ctx), d, start, end - start);
  },
  release(_mw, _mm, id) {
    const ctx = scope();
    const d = svaState(ctx.world).domains[id];
    if (!d) return;
    // BUG (S01): the release callback leaves the PASID entries pointing at the dying tables.
    if (ctx.world.config.variant === 'S01') return;
    // The PASID entries go to blocking (faults not reported) before exit_mmap frees anything.
    d.released = true;
    const t = tr(ctx);
    for (const a of d.attached) t.detach(a.dev, a.pasid);
    flushDomain(t, d);
  },
});

registerMmExitHook((_mw, mm) => {
  const ctx = syscallScope.ctx;
  if (!ctx || !ctx.world.kobj.sva) return;
  maybeDropMm(svaState(ctx.world), mm, mm.pid);
});

// ---------------------------------------------------------------- page requests

/**
 * iommu_sva_iopf_handler's work: each request of the group through
 * iommu_sva_handle_mm (mmget_not_zero on the attach handle's mm, vma lookup,
 * access check, handle_mm_fault); the first failure answers the whole group
 * INVALID (iopf_group_response).
 */
function answerGroup(ctx: DeliveryContext<World>, st: SvaState, g: SvaPrq): number {
  const world = ctx.world;
  const d = st.domains[g.domain];
  const pid = d ? d.pid : g.domain < 0 ? pidOfPasid(st, g.pasid) : -1;
  const mm = pid < 0 ? undefined : world.mem.mms[pid];
  let code = IOMMU_PAGE_RESP_SUCCESS;
  for (const r of g.records) {
    const write = (r.perm & IOMMU_PGFAULT_PERM_WRITE) !== 0;
    const vma = mm && !mm.exited ? findVma(mm, r.addr) : undefined;
    const need = PROT_READ | (write ? PROT_WRITE : 0);
    if (!mm || !vma || (vma.prot & need) !== need || handleMmFault(world.mem, mm, r.addr, write) !== 0) {
      code = IOMMU_PAGE_RESP_INVALID;
      break;
    }
  }
  if (code === IOMMU_PAGE_RESP_SUCCESS) st.pageRequests.success++;
  else st.pageRequests.invalid++;
  ctx.post(deviceActorId(g.dev), 'hw', 'page.response', { grpid: g.grpid, pasid: g.pasid, code });
  return code;
}

// ---------------------------------------------------------------- system calls

registerSyscall('sva.bind', (ctx, b, replyTo) => svaBind(ctx, b.pid, String(b.args.dev), replyTo));
registerSyscall('sva.unbind', (ctx, b) => svaUnbind(ctx, b.args.pid === undefined ? b.pid : Number(b.args.pid), String(b.args.dev)));
registerSyscall('sva.submit', (ctx, b) => {
  const dev = String(b.args.dev);
  if (!deviceSpec(ctx.world, dev)) return err(ENODEV);
  const m = ctx.world.kobj.sva ? svaState(ctx.world).mms[b.pid] : undefined;
  const pasid = b.args.pasid !== undefined ? Number(b.args.pasid) : m?.pasid;
  // ENQCMD with no PASID in the thread's IA32_PASID: the instruction faults.
  if (pasid === undefined) return err(EINVAL);
  const access = { iova: BigInt(b.args.va), length: Number(b.args.length), write: b.args.write === true, pasid, ...(b.args.data ? { data: b.args.data as Uint8Array } : {}) };
  ctx.post(deviceActorId(dev), 'dma', 'submit', { accesses: [access] });
  return { errno: 0, ret: 0 };
});

// ---------------------------------------------------------------- the SVA IOPF workqueue

export interface SvaActorState {
  iopfGroups: number;
  deferred: number;
}

interface IopfGroup {
  dev: string;
  pasid: number;
  grpid: number;
  records: { addr: bigint; perm: number }[];
}

export class SvaActor implements SimActor<World> {
  readonly kind = SVA_KIND;
  constructor(
    readonly id: string,
    readonly st: SvaActorState,
  ) {}

  persist(): SvaActorState {
    return this.st;
  }

  status(): string {
    return `${this.st.iopfGroups} page-request groups`;
  }

  deliver(env: Envelope, ctx: DeliveryContext<World>): void {
    const b = env.body as any;
    if (env.type === 'event' && b.type === 'iopf') return this.iopf(ctx, b.group as IopfGroup);
    if (env.type === 'flush') return this.deferredFlush(ctx, b);
    if (env.type === 'bind.attach') return this.bindAttach(ctx, b);
    throw new Error(`${this.id}: unexpected message ${env.type}`);
  }

  /** The IOPF work for a reported group, unless an unbind has drained (answered) it already. */
  private iopf(ctx: DeliveryContext<World>, g: IopfGroup): void {
    const st = svaState(ctx.world);
    // Groups reported before the PRQ was tracked (older snapshots) are all still pending.
    const pending = st.prq ? svaPrqTake(st, g.dev, g.grpid) : undefined;
    if (st.prq && !pending) return;
    this.st.iopfGroups++;
    answerGroup(ctx, st, pending ?? { ...g, domain: -1 });
  }

  /** S03's late flush. */
  private deferredFlush(ctx: DeliveryContext<World>, b: { domain: number; start: number; size: number }): void {
    this.st.deferred++;
    const d = svaState(ctx.world).domains[b.domain];
    if (d) flushDomain(tr(ctx), d, b.start, b.size);
  }

  /** S02's second half of bind: the reference taken on a domain found earlier. */
  private bindAttach(ctx: DeliveryContext<World>, b: { domain: number; dev: string; pid: number; pasid: number; replyTo: string }): void {
    this.st.deferred++;
    const st = svaState(ctx.world);
    const d = st.domains[b.domain];
    const spec = deviceSpec(ctx.world, b.dev)!;
    if (!d) {
      kasan(ctx.world, `bind of ${b.dev} PASID ${b.pasid} took a reference on SVA domain ${b.domain} after it was freed`);
      ctx.post(b.replyTo, 'reply', 'syscall.ret', { errno: 0, ret: b.pasid });
      return;
    }
    commitBond(ctx, st, d, spec, b.pid, b.pasid);
    ctx.post(b.replyTo, 'reply', 'syscall.ret', { errno: 0, ret: b.pasid });
  }
}
