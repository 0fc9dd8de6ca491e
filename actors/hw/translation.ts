/**
 * The translation actor: sole owner of every hardware domain's page tables
 * (typed arrays, hardware/pagetable), the IOTLBs and device ATCs
 * (hardware/iotlb.ts), and the DMA engine (hardware/translate.ts).
 *
 * Two ways in, matching the kernel:
 * - driver calls (domain alloc/free, iommu_map/unmap with their IOTLB
 *   flushes, attach/detach, dirty read-and-clear, cache invalidation) are
 *   synchronous calls made from the delivery of the kernel object that
 *   issues them, because iommu_map()/iommu_unmap() complete before the caller
 *   goes on (an unmap has flushed the IOTLB before the pages are unpinned);
 * - DMA bursts from devices are messages ('dma'), so the scheduler can put a
 *   device's access anywhere between the kernel's steps.
 */
import type { DeliveryContext, SimActor } from '../runtime/actor.ts';
import type { Envelope } from '../runtime/envelope.ts';
import type { World } from '../world.ts';
import {
  BurstResults, engineAddNestedDomain, engineAddPagingDomain, engineAttach, engineCreate, engineDestroyDomain,
  engineAtsOn, engineDetach, engineFlushAtc, engineFlushIotlb, engineMap, engineRestore, engineSetAts, engineSetDirtyTracking, engineSnapshot,
  engineUnmap, translateBurst,
  type Attachment, type EngineSnapshot, type EngineState, type NestedStage1, type PhysMemPort,
} from '../../hardware/translate.ts';
import { burstAccess, burstOf, burstPick, burstSize, burstSlice, type DmaAccess, type DmaBurst } from '../../hardware/burst.ts';
import { ptDump, ptMarkDirty, ptReadAndClearDirty } from '../../hardware/pagetable/radix.ts';
import { TAG_ASID, TAG_DOMAIN, iotlbEntries, type InvalidateFilter } from '../../hardware/iotlb.ts';
import { faultKindName, type FormatId } from '../../hardware/pagetable/format.ts';
import type { PhysMem } from '../../hardware/physmem.ts';
import { physMemPort } from './physmem-port.ts';
import type { DomainEffect } from '../iommufd/io_pagetable.ts';
import type { HwState } from './state.ts';
import { SVA_ACTOR, svaDomainOf, svaPrqReported } from './sva-state.ts';
import { svaAccess, svaFaultOwner } from './sva-walk.ts';
import { IOMMU_PGFAULT_PERM_READ, IOMMU_PGFAULT_PERM_WRITE, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 } from '../../uapi/enums.ts';

export const TRANSLATION_ACTOR = 'translation';

export interface TranslationState {
  engine: EngineState;
  /** IOMMU instance id → engine index, device id → engine device number (topology order). */
  iommuIndex: Record<string, number>;
  deviceIndex: Record<string, number>;
  /** Which domain serves each (device, pasid): the IOMMU's context/stream tables. */
  contexts: Record<string, Record<number, number>>;
  /** Domain id → IOMMU instance it was allocated on. */
  domainIommu: Record<number, string>;
  /** Last PRI group index per device. */
  nextGrpid: Record<string, number>;
}

/** A 'dma' message: a device's burst. */
export interface DmaRequest {
  device: string;
  burst: DmaBurst;
  /** the thread waiting for this burst (the dma system call), answered by the device */
  reply?: string;
}

/**
 * The burst of a 'dma' message body. Journals written before bursts were
 * packed carry an `accesses` list instead (journal/format.md); they replay
 * as the same burst.
 */
export function requestBurst(body: { burst?: DmaBurst; accesses?: readonly DmaAccess[] }): DmaBurst {
  if (body.burst) return body.burst;
  if (body.accesses) return burstOf(body.accesses);
  throw new RangeError('dma message without a burst');
}

/** A 'dma.ret' message: the burst's outcomes, back to its device. */
export interface DmaReturn {
  results: DmaOutcome[];
  /** results that are not ok */
  faults: number;
  /** the page-request group the device retries on a SUCCESS response */
  prq?: { grpid: number; pasid: number; burst: DmaBurst };
  /** DmaRequest.reply */
  reply?: string;
}

/** Plain-data per-access outcome sent back to the device. */
export interface DmaOutcome {
  ok: boolean;
  fault?: string;
  stage?: number;
  data?: Uint8Array;
  /** Address of the page that faulted, when not the access's start (SVA walks). */
  addr?: number;
}

export const NO_PASID = 0;

export class TranslationActor implements SimActor<World> {
  readonly id = TRANSLATION_ACTOR;
  readonly kind = 'translation';
  private readonly results = new BurstResults();
  /** Faulted accesses of the last burst `dma` ran (scratch, not state): none means no fault to report. */
  private faults = 0;

  constructor(readonly st: TranslationState) {}

  static create(iommus: string[], devices: string[], opts: { checkStale?: boolean; bugs?: EngineState['bugs'] } = {}): TranslationActor {
    return new TranslationActor({
      engine: engineCreate({ iommus: Math.max(1, iommus.length), checkStale: opts.checkStale ?? true, ...(opts.bugs ? { bugs: opts.bugs } : {}) }),
      iommuIndex: Object.fromEntries(iommus.map((id, i) => [id, i])),
      deviceIndex: Object.fromEntries(devices.map((id, i) => [id, i])),
      contexts: {},
      domainIommu: {},
      nextGrpid: {},
    });
  }

  static restore(_id: string, state: unknown): TranslationActor {
    const s = state as Omit<TranslationState, 'engine'> & { engine: EngineSnapshot };
    return new TranslationActor({ ...s, engine: engineRestore(s.engine) });
  }

  persist(): unknown {
    return { ...this.st, engine: engineSnapshot(this.st.engine) };
  }

  status(): string {
    return `${Object.keys(this.st.engine.domains).length} domains`;
  }

  // ---------------------------------------------------------------- driver calls (synchronous)

  allocPaging(domain: number, iommu: string, format: FormatId, opts: { levels?: number; tracking?: boolean } = {}): void {
    engineAddPagingDomain(this.st.engine, domain, format, opts);
    this.st.domainIommu[domain] = iommu;
  }

  allocNested(domain: number, iommu: string, parent: number, s1: NestedStage1): void {
    engineAddNestedDomain(this.st.engine, domain, parent, s1);
    this.st.domainIommu[domain] = iommu;
  }

  free(domain: number): void {
    if (!this.st.engine.domains[domain]) return;
    engineDestroyDomain(this.st.engine, domain);
    delete this.st.domainIommu[domain];
  }

  /** iommu_map / iommu_unmap for what an IOAS changed (byte k of a map lands at pfns[(off+k)>>12]). */
  apply(effects: readonly DomainEffect[]): void {
    for (const e of effects) {
      if (!this.st.engine.domains[e.domainId]) continue;
      if (e.op === 'unmap') {
        engineUnmap(this.st.engine, e.domainId, e.iova, e.length);
        continue;
      }
      this.mapRuns(e);
    }
  }

  /** Map physically contiguous runs in one call each so the table can use large leaves. */
  private mapRuns(e: Extract<DomainEffect, { op: 'map' }>): void {
    const len = Number(e.length);
    const iova = Number(e.iova);
    let runStart = 0;
    let runPa = -1;
    let k = 0;
    const paAt = (off: number) => e.pfns[(e.pageOffset + off) >> 12]! * 4096 + ((e.pageOffset + off) & 4095);
    while (k < len) {
      const pa = paAt(k);
      const step = Math.min(4096 - ((e.pageOffset + k) & 4095), len - k);
      if (runPa < 0) {
        runStart = k;
        runPa = pa;
      } else if (pa !== runPa + (k - runStart)) {
        engineMap(this.st.engine, e.domainId, iova + runStart, runPa, k - runStart, e.prot);
        runStart = k;
        runPa = pa;
      }
      k += step;
    }
    if (runPa >= 0) engineMap(this.st.engine, e.domainId, iova + runStart, runPa, len - runStart, e.prot);
  }

  /**
   * Point (device, pasid) at a domain (context entry / STE / DTE write + the
   * tag's caches). `ats`: the device has ATS; the kernel enables it behind a
   * translating domain (for an SMMUv3 nested one only if the guest's vSTE
   * sets EATS), and the device's ATC then caches the domain's translations.
   */
  attach(device: string, pasid: number, domain: number, ats = false): void {
    const ctxs = (this.st.contexts[device] ??= {});
    const old = ctxs[pasid];
    if (old === domain) return;
    ctxs[pasid] = domain;
    const iommu = this.iommuOf(domain);
    const d = this.st.engine.domains[domain];
    // A domain the engine does not hold (e.g. an abort vSTE) leaves the context pointing nowhere: DMA faults (config).
    if (d && !d.attachments.some((a) => a.iommu === iommu)) engineAttach(this.st.engine, domain, this.tagOf(domain, iommu));
    const dev = this.st.deviceIndex[device];
    const atsOn = d !== undefined && dev !== undefined && ats && (d.kind === 'paging' || d.s1.type === 'vtd' || d.s1.ats === true);
    if (atsOn) engineSetAts(this.st.engine, domain, iommu, dev!, true);
    if (old === undefined) return;
    // ATS switched off with this context: arm_smmu_attach_commit invalidates the entire ATC
    const atsOff = !atsOn && dev !== undefined && this.st.engine.domains[old] !== undefined && engineAtsOn(this.st.engine, old, this.iommuOf(old), dev);
    this.contextGone(device, pasid, old, atsOff);
  }

  private iommuOf(domain: number): number {
    return this.st.iommuIndex[this.st.domainIommu[domain] ?? ''] ?? 0;
  }

  /**
   * (device, pasid) no longer uses `old`: the kernel invalidates the
   * device's ATC for the context it changed (arm_smmu_attach_commit calls
   * arm_smmu_atc_inv_master: "the translation has changed"), the device
   * leaves the old domain's ATS devices once none of its PASIDs use it, and
   * a domain no device uses is detached. `wholeAtc`: ATS went off with the
   * change, and the whole ATC is invalidated instead.
   */
  private contextGone(device: string, pasid: number, old: number, wholeAtc = false): void {
    const dev = this.st.deviceIndex[device];
    if (dev !== undefined) {
      if (wholeAtc) engineFlushAtc(this.st.engine, dev);
      else engineFlushAtc(this.st.engine, dev, pasid);
      const stillUsed = Object.values(this.st.contexts[device] ?? {}).includes(old);
      if (!stillUsed && this.st.engine.domains[old]) engineSetAts(this.st.engine, old, this.iommuOf(old), dev, false);
    }
    this.dropIfUnused(old);
  }

  /**
   * The IOTLB tag a domain's entries carry (§1.4 item 6): SMMUv3 nested =
   * (ASID from the guest CD, VMID of the stage-2 parent), so a stage-2 flush
   * by VMID drops the combined entries; everything else its own id.
   */
  private tagOf(domain: number, iommu: number): Pick<Attachment, 'iommu' | 'kind' | 'tag'> & { tag2?: number } {
    const d = this.st.engine.domains[domain]!;
    if (d.kind === 'nested' && d.s1.type === 'smmuv3') return { iommu, kind: TAG_ASID, tag: 0, tag2: d.parent };
    return { iommu, kind: TAG_DOMAIN, tag: domain };
  }

  detach(device: string, pasid: number): void {
    const ctxs = this.st.contexts[device];
    const old = ctxs?.[pasid];
    if (old === undefined) return;
    delete ctxs![pasid];
    this.contextGone(device, pasid, old);
  }

  /** A domain no device uses any more is detached from its IOMMU (its tag flushed). */
  private dropIfUnused(domain: number): void {
    for (const c of Object.values(this.st.contexts)) for (const d of Object.values(c)) if (d === domain) return;
    const iommu = this.iommuOf(domain);
    if (this.st.engine.domains[domain]) engineDetach(this.st.engine, domain, iommu);
  }

  domainOf(device: string, pasid = NO_PASID): number | undefined {
    return this.st.contexts[device]?.[pasid];
  }

  /**
   * SSADE / HD on or off.  The IOTLB of the domain is flushed afterwards
   * (§2.8): an entry cached writable before tracking was on would let the next
   * write through without setting D, and the page would never be reported.
   */
  setDirtyTracking(domain: number, on: boolean): void {
    engineSetDirtyTracking(this.st.engine, domain, on);
    this.flushDomain(domain);
  }

  /** read_and_clear_dirty over [iova, iova+size): the dirty leaves (whole leaves, as hardware keeps them). */
  readDirty(domain: number, iova: number, size: number, noClear: boolean): { iova: number; size: number }[] {
    const d = this.st.engine.domains[domain];
    if (!d || d.kind !== 'paging') return [];
    const r = ptReadAndClearDirty(this.st.engine.pool, d.table, iova, size, noClear);
    // Clearing D must be followed by an IOTLB flush, or a cached writable entry would not set it again.
    if (!noClear && r.length) this.flushDomain(domain);
    return r;
  }

  /**
   * Flush every cached translation of a domain: its own tag(s), and for a
   * nest parent the combined stage-1+2 entries of the nested domains on it
   * (a VMID-wide flush, as the SMMU's TLBI by VMID does).
   */
  flushDomain(domain: number): void {
    const iommu = this.iommuOf(domain);
    engineFlushIotlb(this.st.engine, iommu, { kind: TAG_DOMAIN, tag: domain });
    const doms = this.st.engine.domains;
    // the ATCs after the IOTLBs (hardware.md §1.3 step 3), as the drivers' domain-wide flushes do
    const flushAtcs = (a: Attachment) => {
      for (const dev of a.atsDevices) engineFlushAtc(this.st.engine, dev);
    };
    const flush = (a: Attachment) => {
      const f: InvalidateFilter = a.kind === TAG_ASID ? { kind: TAG_ASID, tag2: a.tag2 } : { kind: a.kind, tag: a.tag };
      engineFlushIotlb(this.st.engine, a.iommu, f);
      flushAtcs(a);
    };
    const d = doms[domain];
    if (!d) return;
    for (const a of d.attachments) {
      if (a.kind !== TAG_DOMAIN || a.iommu !== iommu) flush(a);
      else flushAtcs(a);
    }
    if (d.kind !== 'paging') return;
    for (const k of Object.keys(doms)) {
      const nd = doms[Number(k)]!;
      if (nd.kind === 'nested' && nd.parent === domain) for (const a of nd.attachments) flush(a);
    }
  }

  /** The mock driver's set_dirty (IOMMU_TEST_OP_DIRTY): mark the leaf covering `iova`; false when unmapped. */
  markDirty(domain: number, iova: number): boolean {
    const d = this.st.engine.domains[domain];
    if (!d || d.kind !== 'paging') return false;
    return ptMarkDirty(this.st.engine.pool, d.table, iova);
  }

  /** The domain's mappings as merged ranges (for inspect and the hardware ⊆ IOAS invariant). */
  dump(domain: number): { iova: number; last: number; pa: number; prot: number; pageSize: number }[] {
    const d = this.st.engine.domains[domain];
    if (!d || d.kind !== 'paging') return [];
    return ptDump(this.st.engine.pool, d.table);
  }

  // ---------------------------------------------------------------- DMA (messages)

  deliver(env: Envelope, ctx: DeliveryContext<World>): void {
    if (env.type !== 'dma') throw new Error(`translation: unexpected message ${env.type}`);
    const body = env.body as DmaRequest;
    const req = body.burst ? body : { ...body, burst: requestBurst(body) };
    const results = this.dma(ctx.world, req);
    const prq = this.faults !== 0 ? this.reportFaults(ctx, req, results) : null;
    // `faults`: how many results are not ok, so the device need not count them
    const ret: DmaReturn = prq ? { results, faults: this.faults, prq } : { results, faults: this.faults };
    // a burst a thread waits for (the dma system call) carries the thread to answer
    if (req.reply) ret.reply = req.reply;
    ctx.post(env.src, 'dma', 'dma.ret', ret);
  }

  /**
   * What the IOMMU does with the faults of a burst: a device attached to a
   * fault-capable HWPT sends one page-request group (PRI) for all its faulting
   * accesses of the burst; a stage-1 fault under a vIOMMU becomes an event
   * for the guest's vEVENTQ.  Returns the group for the device to retry on
   * a SUCCESS response.
   */
  private reportFaults(ctx: DeliveryContext<World>, req: DmaRequest, results: DmaOutcome[]): { grpid: number; pasid: number; burst: DmaBurst } | null {
    const hws = ctx.world.kobj.hw as HwState | undefined;
    if (!hws) return null;
    let group: { grpid: number; pasid: number; picked: number[]; records: { addr: bigint; perm: number }[]; faultActor: string; hwpt: number } | null = null;
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (r.ok || r.fault === 'blocked') continue;
      const a = burstAccess(req.burst, i);
      const pasid = a.pasid ?? NO_PASID;
      const domain = this.domainOf(req.device, pasid)!;
      const owner = hws.domainOwner[domain] ?? svaFaultOwner(svaDomainOf(ctx.world, domain));
      if (!owner) continue;
      const spec = hws.topology.devices.find((d) => d.id === req.device);
      const canPri = spec ? spec.pri || spec.mockFlags !== undefined : false;
      if (owner.faultActor && canPri) {
        if (!group) {
          const grpid = (this.st.nextGrpid[req.device] = (this.st.nextGrpid[req.device] ?? 0) + 1);
          group = { grpid, pasid, picked: [], records: [], faultActor: owner.faultActor, hwpt: owner.hwpt };
        }
        group.picked.push(i);
        group.records.push({ addr: BigInt(r.addr ?? a.iova), perm: a.write ? IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE : IOMMU_PGFAULT_PERM_READ });
        r.fault = 'iopf';
      } else if (owner.viommuActor && r.stage === 1) {
        ctx.post(owner.viommuActor, 'hw', 'event', { type: 'vevent', veventqType: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, data: smmuEvent(ctx, owner, req.device, a, r) });
      }
    }
    if (!group) return null;
    const g = group;
    const devId = hws.bound[req.device]?.devId ?? 0;
    ctx.post(g.faultActor, 'hw', 'event', { type: 'iopf', group: { dev: req.device, devId, pasid: g.pasid, grpid: g.grpid, hwpt: g.hwpt, records: g.records } });
    // An SVA request stays in the PRQ until answered: an unbind drains it (actors/hw/sva.ts).
    if (g.faultActor === SVA_ACTOR) svaPrqReported(ctx.world, { dev: req.device, pasid: g.pasid, grpid: g.grpid, domain: this.domainOf(req.device, g.pasid)!, records: g.records });
    return { grpid: g.grpid, pasid: g.pasid, burst: burstPick(req.burst, g.picked) };
  }

  /**
   * Translate and perform one burst.  Consecutive accesses whose PASID
   * selects the same domain go to the engine as one translateBurst (in
   * order, so the result is the same as one call per access); outcomes are
   * read straight from the engine's reusable struct-of-arrays results.
   */
  dma(world: World, req: DmaRequest): DmaOutcome[] {
    const mem = memPortOf(world.mem.pm);
    const burst = req.burst;
    const n = burstSize(burst);
    const pasids = burst.pasid;
    // every access succeeds without read data until the engine says otherwise: the outcomes are
    // made (one fill, no per-access store) only for a burst with a fault, read data or an SVA access
    // (no closure for that: run through tsx, every closure made is named by a defineProperty, ~0.4 µs a burst)
    let out: DmaOutcome[] | undefined;
    const ctxs = this.st.contexts[req.device];
    const device = this.st.deviceIndex[req.device] ?? 0;
    // the context of an access without a PASID, looked up once: most bursts have no other
    const noPasid = ctxs?.[NO_PASID];
    this.faults = 0;
    let i = 0;
    while (i < n) {
      const pasid = pasids[i]!;
      const domain = pasid === NO_PASID ? noPasid : ctxs?.[pasid];
      if (domain === undefined) {
        // No context entry: the IOMMU blocks the request (DMA to a blocked / unattached device).
        (out ??= okOutcomes(n))[i++] = { ok: false, fault: 'blocked' };
        this.faults++;
        continue;
      }
      const sva = svaDomainOf(world, domain);
      if (sva) {
        // An SVA domain: the walk is the process's CPU page table (actors/hw/sva-walk.ts).
        const ats = (world.kobj.hw as HwState | undefined)?.topology.devices.find((d) => d.id === req.device)?.ats ?? false;
        const o = ((out ??= okOutcomes(n))[i] = svaAccess(world, { engine: this.st.engine, iommu: this.st.iommuIndex[sva.iommu] ?? 0, device, ats }, sva, burstAccess(burst, i)));
        if (!o.ok) this.faults++;
        i++;
        continue;
      }
      // the run with this access's PASID first (the common burst is one run), then any PASID with the same domain
      let j = i + 1;
      while (j < n && pasids[j] === pasid) j++;
      for (; j < n; j++) {
        const p = pasids[j]!;
        if ((p === NO_PASID ? noPasid : ctxs![p]) !== domain) break;
      }
      const group = i === 0 && j === n ? burst : burstSlice(burst, i, j);
      const iommu = this.iommuOf(domain);
      const ats = engineAtsOn(this.st.engine, domain, iommu, device);
      const r = translateBurst(this.st.engine, { iommu, domain, device, ats, burst: group }, mem, this.results);
      const readData = r.readData;
      if (r.faults !== 0 || readData.length !== 0) {
        const o = (out ??= okOutcomes(n));
        const status = r.status;
        this.faults += r.faults;
        for (let k = 0; k < r.count; k++) if (status[k] !== 0 || readData[k]) o[i + k] = outcomeAt(r, k);
      }
      i = j;
    }
    return out ?? allOk(n);
  }
}

/**
 * The outcome of every successful access without read data: one frozen
 * object shared by all of them (nothing ever changes a successful outcome;
 * reportFaults only rewrites faults), so a write burst allocates none.
 */
const OK_OUTCOME: DmaOutcome = Object.freeze({ ok: true });

/**
 * The outcomes of a burst of `n` successful accesses without read data: one
 * frozen array per length, shared (nobody may change outcomes: the device
 * keeps them as they came), so such a burst allocates nothing.
 */
const allOkRuns = new Map<number, readonly DmaOutcome[]>();
function allOk(n: number): DmaOutcome[] {
  let run = allOkRuns.get(n);
  if (run === undefined) {
    run = Object.freeze(okOutcomes(n));
    if (allOkRuns.size < 64) allOkRuns.set(n, run);
  }
  return run as DmaOutcome[];
}

/** Outcomes of `n` successful accesses without read data, for a burst's outcomes to be written into. */
function okOutcomes(n: number): DmaOutcome[] {
  return new Array<DmaOutcome>(n).fill(OK_OUTCOME);
}

/** Plain-data outcome of access k of a burst (reads and faults: a fresh object, the device keeps it). */
function outcomeAt(r: BurstResults, k: number): DmaOutcome {
  const st = r.status[k]!;
  if (st === 0) {
    const data = r.readData[k];
    return data ? { ok: true, data } : OK_OUTCOME;
  }
  return { ok: false, fault: faultKindName(st), stage: r.stage[k]! };
}

/** The engine's port onto the world's frames, made once per physical memory. */
const memPorts = new WeakMap<PhysMem, PhysMemPort>();
function memPortOf(pm: PhysMem): PhysMemPort {
  let p = memPorts.get(pm);
  if (!p) memPorts.set(pm, (p = physMemPort(pm)));
  return p;
}

/** The translation actor, for kernel code making driver calls. */
export function translation(ctx: DeliveryContext<World>): TranslationActor | undefined {
  return ctx.peek(TRANSLATION_ACTOR) as TranslationActor | undefined;
}

/** What inspect shows of the hardware: every domain's mappings, the context tables, the cache statistics. */
export function translationView(state: unknown): unknown {
  const a = TranslationActor.restore(TRANSLATION_ACTOR, state);
  const domains: Record<string, unknown> = {};
  for (const k of Object.keys(a.st.engine.domains)) {
    const id = Number(k);
    const d = a.st.engine.domains[id]!;
    domains[k] = d.kind === 'paging'
      ? { kind: 'paging', iommu: a.st.domainIommu[id], mappings: a.dump(id).map((m) => ({ iova: m.iova, last: m.last, pa: m.pa, prot: m.prot, pageSize: m.pageSize })) }
      : { kind: 'nested', iommu: a.st.domainIommu[id], parent: d.parent };
  }
  return {
    domains,
    contexts: a.st.contexts,
    iotlb: a.st.engine.iotlbs.map((t, i) => ({ iommu: i, entries: iotlbEntries(t).length })),
    // the ATCs of ATS devices, by device name
    atc: Object.fromEntries(Object.entries(a.st.deviceIndex).flatMap(([dev, i]) => {
      const atc = a.st.engine.atcs[i];
      return atc ? [[dev, { entries: iotlbEntries(atc).length }]] : [];
    })),
    stats: a.st.engine.stats,
    staleUses: a.st.engine.staleUses.length,
  };
}

/**
 * An SMMUv3 event record as the guest sees it (hardware.md §3.6): the
 * stream id replaced by the device's virtual id on the vIOMMU.
 */
function smmuEvent(ctx: DeliveryContext<World>, owner: { ctx: string }, dev: string, a: DmaAccess, r: DmaOutcome): Uint8Array {
  const hws = ctx.world.kobj.hw as HwState;
  const vsid = virtIdOf(ctx, owner.ctx, hws.bound[dev]?.devId ?? 0);
  const id = r.fault === 'permission' ? 0x13n : 0x10n;
  const pasid = BigInt(a.pasid ?? 0);
  const w0 = id | (pasid ? 1n << 11n : 0n) | (pasid << 12n) | (BigInt(vsid) << 32n);
  const w1 = (a.write ? 0n : 1n << 35n);
  const out = new Uint8Array(32);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt.asUintN(64, w0), true);
  dv.setBigUint64(8, w1, true);
  dv.setBigUint64(16, BigInt(a.iova), true);
  return out;
}

/** The virt_id of a DEVICE's vDEVICE in context `ctxActor` (0 if none). */
function virtIdOf(ctx: DeliveryContext<World>, ctxActor: string, devId: number): number | bigint {
  const c = ctx.peek(ctxActor) as unknown as { context?: { data: { table: { entries: Record<number, { actor: string }> } } } } | undefined;
  const entries = c?.context?.data.table.entries ?? {};
  const dev = entries[devId] && (ctx.peek(entries[devId]!.actor) as unknown as { context?: { data: { vdevice: number } } } | undefined);
  const v = dev?.context?.data.vdevice;
  if (!v || !entries[v]) return 0;
  const vd = ctx.peek(entries[v]!.actor) as unknown as { context?: { data: { virtId: bigint } } } | undefined;
  return vd?.context?.data.virtId ?? 0;
}
