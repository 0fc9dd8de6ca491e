// The DMA burst engine the translation actor drives: IOTLB/ATC first, walk on
// miss and fill, move the bytes through PhysMemPort, set dirty state on
// writes, and record stale uses (a cache hit whose translation the current
// tables no longer give) so the simulator can catch missing invalidations.
//
// All state is plain data plus typed arrays (EngineState); engineSnapshot()
// turns it into plain objects with Uint8Array fields for any msgpack codec.
// No clocks, no randomness.

import {
  ACC_PRIV, ACC_READ, ACC_UPDATE, ACC_WRITE, FAULT_CONFIG, PROT_WRITE, faultKindName, type FaultKind, type FormatId,
} from './pagetable/format.ts';
import { poolCreate, poolRestore, poolSnapshot, type PoolState } from './pagetable/pool.ts';
import {
  ptCreate, ptDestroy, ptMap, ptSetTracking, ptTouch, ptUnmap, ptWalk, toAddr, WalkOut, type TableOptions, type TableState,
} from './pagetable/radix.ts';
import { PORT_BLOCK_BYTES, PORT_BLOCK_FRAMES, PORT_FRAME_SIZE, smmuFetchCd, vtdStage1, walkNested, type PhysMemPort, type Stage1Config } from './pagetable/nested.ts';
import {
  ANY, NO_TAG2, TAG_ASID, TAG_DEVICE, TlbOut, atcInsert, atcInvalidate, atcLookup, iotlbCreate, iotlbEntries, iotlbInsert,
  iotlbContext, iotlbFrontLookup, iotlbInvalidate, iotlbLookup, iotlbLookupIn, iotlbStamp, l0Arrays, type InvalidateFilter, type IotlbState,
} from './iotlb.ts';

import { burstSize, DMA_PRIV, DMA_WRITE, type DmaBurst } from './burst.ts';

export type { PhysMemPort } from './pagetable/nested.ts';
export type { DmaAccess, DmaBurst } from './burst.ts';

/** Where a domain is cached: one tag on one IOMMU instance, plus the ATS devices using it. */
export interface Attachment {
  iommu: number;
  /** TAG_DOMAIN / TAG_ASID / TAG_VMID */
  kind: number;
  /** DID / AMD domain id / mock id / VMID (stage-2-only); for SMMU nested the ASID comes from the CD */
  tag: number;
  /** stage-2 tag for nested domains (SMMU VMID, VT-d parent DID); NO_TAG2 otherwise */
  tag2: number;
  atsDevices: number[];
}

export interface PagingDomain {
  kind: 'paging';
  table: TableState;
  attachments: Attachment[];
}

export type NestedStage1 =
  /** `ats`: the vSTE's EATS allows ATS (arm_smmu_validate_vste); absent = no ATS */
  | { type: 'smmuv3'; cdTable: number; s1cdmax: number; ats?: true }
  | { type: 'vtd'; flptr: number; flpm: number };

export interface NestedDomain {
  kind: 'nested';
  parent: number;
  s1: NestedStage1;
  attachments: Attachment[];
  /** SMMU CD cache by SSID (context cache, §1.3); dropped by engineInvalidateCd */
  cdCache: Record<number, { asid: number; cfg: Stage1Config }>;
}

export type DomainState = PagingDomain | NestedDomain;

export interface StaleUse {
  iova: number;
  cache: 'iotlb' | 'atc';
  iommu: number;
  kind: number;
  tag: number;
  tag2: number;
  pasid: number;
  device: number;
  write: boolean;
  cachedPa: number;
  /** -1 when the current tables fault */
  tablePa: number;
  tableFault: FaultKind | null;
  /** nested domain: the difference may be a legal, not-yet-invalidated guest stage-1 change (§8) */
  nested: boolean;
}

export interface EngineBugs {
  /** unmap clears PTEs but never flushes the IOTLB (the classic missing-invalidation bug) */
  skipIotlbFlushOnUnmap: boolean;
  /** unmap flushes the IOTLB but not the ATC of ATS devices */
  skipAtcFlushOnUnmap: boolean;
  /** unmapping a nest parent does not drop combined stage-1+2 entries built on it */
  skipNestedFlushOnParentUnmap: boolean;
}

export interface EngineStats {
  accesses: number;
  pages: number;
  bytes: number;
  iotlbHits: number;
  atcHits: number;
  walks: number;
  faults: number;
  staleUses: number;
}

export interface EngineState {
  pool: PoolState;
  domains: Record<number, DomainState>;
  iotlbs: IotlbState[];
  atcs: Record<number, IotlbState>;
  atcCapacity: number;
  checkStale: boolean;
  /** most recent stale uses, capped at maxStaleRecords (stats.staleUses counts all) */
  staleUses: StaleUse[];
  maxStaleRecords: number;
  bugs: EngineBugs;
  stats: EngineStats;
}

export interface EngineOptions {
  iommus?: number;
  iotlbCapacity?: number;
  iotlbWays?: number;
  atcCapacity?: number;
  checkStale?: boolean;
  bugs?: Partial<EngineBugs>;
}

export function engineCreate(o: EngineOptions = {}): EngineState {
  const iotlbs: IotlbState[] = [];
  for (let i = 0; i < (o.iommus ?? 1); i++) iotlbs.push(iotlbCreate(o.iotlbCapacity ?? 4096, o.iotlbWays ?? 8));
  return {
    pool: poolCreate(),
    domains: {},
    iotlbs,
    atcs: {},
    atcCapacity: o.atcCapacity ?? 512,
    checkStale: o.checkStale ?? true,
    staleUses: [],
    maxStaleRecords: 10000,
    bugs: { skipIotlbFlushOnUnmap: false, skipAtcFlushOnUnmap: false, skipNestedFlushOnParentUnmap: false, ...o.bugs },
    stats: { accesses: 0, pages: 0, bytes: 0, iotlbHits: 0, atcHits: 0, walks: 0, faults: 0, staleUses: 0 },
  };
}

// ---- domain management ----

function domainOf(s: EngineState, id: number): DomainState {
  const d = s.domains[id];
  if (!d) throw new RangeError(`engine: no domain ${id}`);
  return d;
}

function pagingOf(s: EngineState, id: number): PagingDomain {
  const d = domainOf(s, id);
  if (d.kind !== 'paging') throw new RangeError(`engine: domain ${id} is not a paging domain`);
  return d;
}

export function engineAddPagingDomain(s: EngineState, id: number, format: FormatId, opts: TableOptions = {}): TableState {
  if (s.domains[id]) throw new RangeError(`engine: domain ${id} exists`);
  const table = ptCreate(s.pool, format, opts);
  s.domains[id] = { kind: 'paging', table, attachments: [] };
  return table;
}

export function engineAddNestedDomain(s: EngineState, id: number, parent: number, s1: NestedStage1): void {
  if (s.domains[id]) throw new RangeError(`engine: domain ${id} exists`);
  pagingOf(s, parent);
  s.domains[id] = { kind: 'nested', parent, s1, attachments: [], cdCache: {} };
}

export function engineAttach(s: EngineState, domain: number, a: Partial<Attachment> & { iommu: number; kind: number; tag: number }): Attachment {
  const att: Attachment = { tag2: NO_TAG2, atsDevices: [], ...a };
  for (const dev of att.atsDevices) if (!s.atcs[dev]) s.atcs[dev] = iotlbCreate(s.atcCapacity, 4);
  domainOf(s, domain).attachments.push(att);
  return att;
}

/**
 * ATS on or off for `device` behind `domain` on `iommu`: its ATC is filled by
 * the domain's DMA and flushed with the domain's invalidations while it is
 * one of the attachment's atsDevices. Turning it off drops nothing by
 * itself: the caller flushes the ATC for the context it changed.
 */
export function engineSetAts(s: EngineState, domain: number, iommu: number, device: number, on: boolean): void {
  const att = attachmentFor(domainOf(s, domain), iommu);
  if (!att) return;
  const k = att.atsDevices.indexOf(device);
  if (on && k < 0) {
    att.atsDevices.push(device);
    s.atcs[device] ??= iotlbCreate(s.atcCapacity, 4);
  } else if (!on && k >= 0) att.atsDevices.splice(k, 1);
}

/** Whether `device` uses its ATC for `domain` on `iommu` (engineSetAts). */
export function engineAtsOn(s: EngineState, domain: number, iommu: number, device: number): boolean {
  const d = s.domains[domain];
  const att = d ? attachmentFor(d, iommu) : undefined;
  return att !== undefined && att.atsDevices.includes(device);
}

/** Detach: the tag is flushed so it may be reused (I8). */
export function engineDetach(s: EngineState, domain: number, iommu: number): void {
  const d = domainOf(s, domain);
  for (const a of d.attachments.filter((x) => x.iommu === iommu)) flushAttachment(s, d, a, undefined, undefined);
  d.attachments = d.attachments.filter((x) => x.iommu !== iommu);
}

export function engineSetDirtyTracking(s: EngineState, domain: number, on: boolean): void {
  ptSetTracking(s.pool, pagingOf(s, domain).table, on);
}

export function engineMap(s: EngineState, domain: number, iova: number | bigint, pa: number | bigint, size: number | bigint, prot: number): number {
  return ptMap(s.pool, pagingOf(s, domain).table, toAddr(iova), toAddr(pa), toAddr(size), prot);
}

function flushAttachment(s: EngineState, d: DomainState, a: Attachment, iova: number | undefined, size: number | undefined): void {
  const tlb = s.iotlbs[a.iommu]!;
  if (!s.bugs.skipIotlbFlushOnUnmap) {
    const f: InvalidateFilter = d.kind === 'nested' && a.kind === TAG_ASID ? { kind: TAG_ASID, tag2: a.tag2 } : { kind: a.kind, tag: a.tag };
    if (iova !== undefined) {
      f.iova = iova;
      f.size = size;
    }
    iotlbInvalidate(tlb, f);
  }
  // ATC after IOTLB (§1.3 step 3), or a refill could come from a stale IOTLB entry.
  if (!s.bugs.skipAtcFlushOnUnmap) for (const dev of a.atsDevices) atcInvalidate(s.atcs[dev]!, dev, ANY, iova, size);
}

/**
 * iommu_unmap + the flushes the kernel must do before returning (§1.3): the
 * domain's tags over the range, every combined entry built on it when it is a
 * nest parent, then the ATCs. Returns bytes unmapped.
 */
export function engineUnmap(s: EngineState, domain: number, iova: number | bigint, size: number | bigint): number {
  const d = pagingOf(s, domain);
  const lo = toAddr(iova);
  const n = ptUnmap(s.pool, d.table, lo, toAddr(size));
  if (n === 0) return 0;
  for (const a of d.attachments) flushAttachment(s, d, a, lo, Math.max(n, toAddr(size)));
  if (!s.bugs.skipNestedFlushOnParentUnmap) {
    for (const key of Object.keys(s.domains)) {
      const nd = s.domains[Number(key)]!;
      if (nd.kind !== 'nested' || nd.parent !== domain) continue;
      // Stage-2 changes invalidate whole combined tags: the GPA range says nothing about stage-1 IOVAs.
      for (const a of nd.attachments) flushAttachment(s, nd, a, undefined, undefined);
    }
  }
  return n;
}

/** Guest/driver-issued IOTLB invalidation on one IOMMU (TLBI, VT-d IOTLB descriptor, INVALIDATE_IOMMU_PAGES). */
export function engineFlushIotlb(s: EngineState, iommu: number, f: InvalidateFilter = {}): number {
  return iotlbInvalidate(s.iotlbs[iommu]!, f);
}

export function engineFlushAtc(s: EngineState, device: number, pasid = ANY, iova?: number, size?: number): number {
  const atc = s.atcs[device];
  return atc ? atcInvalidate(atc, device, pasid, iova, size) : 0;
}

/** CMD_CFGI_CD / CFGI_CD_ALL: the next walk re-reads the CD from guest memory. */
export function engineInvalidateCd(s: EngineState, domain: number, ssid = ANY): void {
  const d = domainOf(s, domain);
  if (d.kind !== 'nested') return;
  if (ssid === ANY) d.cdCache = {};
  else delete d.cdCache[ssid];
}

export function engineDestroyDomain(s: EngineState, domain: number): void {
  const d = domainOf(s, domain);
  for (const a of d.attachments) flushAttachment(s, d, a, undefined, undefined);
  if (d.kind === 'paging') ptDestroy(s.pool, d.table);
  delete s.domains[domain];
}

// ---- translation ----

export interface BurstRequest {
  iommu: number;
  domain: number;
  /** requester; needed for ATS */
  device?: number;
  /** use (and fill) the device ATC */
  ats?: boolean;
  burst: DmaBurst;
}

/** Per-access results, struct-of-arrays and reusable across bursts. */
export class BurstResults {
  count = 0;
  /** accesses whose status is not 0 */
  faults = 0;
  /** 0 ok, else FAULT_* */
  status = new Int32Array(0);
  stage = new Uint8Array(0);
  level = new Int8Array(0);
  faultAddr = new Float64Array(0);
  chunkFirst = new Int32Array(0);
  chunkCount = new Int32Array(0);
  nChunks = 0;
  chunkIova = new Float64Array(0);
  chunkPa = new Float64Array(0);
  chunkLen = new Float64Array(0);
  readData: (Uint8Array | null)[] = [];
  /**
   * A paging domain's deferred move of access i in one copy, set by the
   * burst loop: the frame (pa >> 12, -1 = moved chunk by chunk) and the byte
   * in its PhysMemPort block. Kept per access so the move loop reads no
   * chunk index first: a shorter chain of loads lets more of the copies'
   * cache and TLB misses overlap.
   */
  movePfn = new Float64Array(0);
  moveOff = new Int32Array(0);

  reset(n: number): void {
    if (this.status.length < n) {
      const c = Math.max(n, this.status.length * 2, 16);
      this.status = new Int32Array(c);
      this.stage = new Uint8Array(c);
      this.level = new Int8Array(c);
      this.faultAddr = new Float64Array(c);
      this.chunkFirst = new Int32Array(c);
      this.chunkCount = new Int32Array(c);
      this.movePfn = new Float64Array(c);
      this.moveOff = new Int32Array(c);
    }
    this.count = n;
    this.faults = 0;
    this.nChunks = 0;
    // stage, level and faultAddr mean something only where status is not 0, and every fault writes all three
    if (this.readData.length) this.readData.length = 0;
  }

  /** Room for `n` more chunks without growing. */
  reserveChunks(n: number): void {
    if (this.nChunks + n > this.chunkIova.length) this.growChunks(this.nChunks + n);
  }

  private growChunks(min: number): void {
    const c = Math.max(64, this.chunkIova.length * 2, min);
    const grow = (a: Float64Array) => { const b = new Float64Array(c); b.set(a); return b; };
    this.chunkIova = grow(this.chunkIova);
    this.chunkPa = grow(this.chunkPa);
    this.chunkLen = grow(this.chunkLen);
  }

  pushChunk(iova: number, pa: number, len: number): void {
    const k = this.nChunks;
    if (k >= this.chunkIova.length) this.growChunks(k + 1);
    this.chunkIova[k] = iova;
    this.chunkPa[k] = pa;
    this.chunkLen[k] = len;
    this.nChunks = k + 1;
  }
}

export type AccessResult =
  | { ok: true; chunks: { iova: number; pa: number; len: number }[]; data?: Uint8Array }
  | { ok: false; chunks: { iova: number; pa: number; len: number }[]; fault: { kind: FaultKind; stage: number; level: number; addr: number } };

/** Object view of a BurstResults (tests, journal, inspect). */
export function burstResultObjects(r: BurstResults): AccessResult[] {
  const outList: AccessResult[] = [];
  for (let i = 0; i < r.count; i++) {
    const chunks = [];
    for (let k = r.chunkFirst[i]!; k < r.chunkFirst[i]! + r.chunkCount[i]!; k++) {
      chunks.push({ iova: r.chunkIova[k]!, pa: r.chunkPa[k]!, len: r.chunkLen[k]! });
    }
    const st = r.status[i]!;
    if (st === 0) {
      const data = r.readData[i];
      outList.push(data ? { ok: true, chunks, data } : { ok: true, chunks });
    } else {
      outList.push({ ok: false, chunks, fault: { kind: faultKindName(st), stage: r.stage[i]!, level: r.level[i]!, addr: r.faultAddr[i]! } });
    }
  }
  return outList;
}

/** Translation of one page, shared scratch (the engine is single-threaded by design). */
const T = { pa: 0, pageSize: 0, prot: 0, code: 0, stage: 0, level: 0, faultAddr: 0 };
const tout = new TlbOut();
const wout = new WalkOut();
const vout = new WalkOut();

/** Current tag context of one access (the SMMU nested ASID depends on the CD). */
const C = { kind: 0, tag: 0, tag2: 0 };

function resolveStage1(s: EngineState, d: NestedDomain, parent: TableState, mem: PhysMemPort, pasid: number, out: WalkOut): Stage1Config | null {
  if (d.s1.type === 'vtd') return vtdStage1(d.s1.flptr, d.s1.flpm);
  const hit = d.cdCache[pasid];
  if (hit) return hit.cfg;
  const r = smmuFetchCd(s.pool, parent, mem, d.s1.cdTable, d.s1.s1cdmax, pasid, out);
  if (r.code !== 0 || !r.s1 || !r.cd) return null;
  d.cdCache[pasid] = { asid: r.cd.asid, cfg: r.s1 };
  return r.s1;
}

/** Fresh walk of the current tables (no caches). UPDATE in `access` makes it a hardware walk. */
function walkDomain(s: EngineState, d: DomainState, mem: PhysMemPort, iova: number, access: number, pasid: number, out: WalkOut): number {
  if (d.kind === 'paging') {
    out.stage = 0;
    return ptWalk(s.pool, d.table, iova, access, out);
  }
  const parent = pagingOf(s, d.parent).table;
  const cfg = resolveStage1(s, d, parent, mem, pasid, out);
  if (!cfg) return out.fault || FAULT_CONFIG;
  if (d.s1.type === 'smmuv3') C.tag = d.cdCache[pasid]!.asid;
  return walkNested(s.pool, parent, cfg, mem, iova, access, out);
}

/**
 * Stale-use check of the cache hit in `tout` (slot tout.index of `cache`):
 * the current tables must still give the cached pa. A hit whose stamp is
 * the domain's current table generation (B.gen) needs no walk: nothing
 * changed the table since a walk agreed with the entry (TableState.gen).
 * Otherwise a fresh walk decides; when it agrees with the whole entry (pa,
 * page size, permissions), the entry is re-stamped with the current
 * generation so the next hits are cheap again. Returns the entry's stamp
 * afterwards (0 when the use was stale or cannot be stamped), for an ATC
 * fill from this hit.
 */
function checkHit(
  s: EngineState, d: DomainState, mem: PhysMemPort, cache: 'iotlb' | 'atc', tlb: IotlbState, iommu: number, device: number,
  pasid: number, iova: number, access: number, priv: boolean,
): number {
  const gen = B.gen;
  if (gen !== 0 && tlb.gen[tout.index] === gen && (priv || tout.userOk !== 0)) return gen;
  const cachedPa = tout.pa;
  const code = walkDomain(s, d, mem, iova, access & ~ACC_UPDATE, pasid, vout);
  if (code === 0 && vout.pa === cachedPa) {
    if (gen === 0 || vout.pageSize !== tout.pageSize || vout.prot !== tout.prot) return 0;
    const userOk = priv ? 0 : 1;
    iotlbStamp(tlb, tout.index, gen, userOk);
    tout.info = tlb.info[tout.index]!;
    return gen;
  }
  s.stats.staleUses++;
  if (s.staleUses.length >= s.maxStaleRecords) s.staleUses.shift();
  s.staleUses.push({
    iova, cache, iommu, kind: C.kind, tag: C.tag, tag2: C.tag2, pasid, device,
    write: (access & ACC_WRITE) !== 0, cachedPa,
    tablePa: code === 0 ? vout.pa : -1, tableFault: code === 0 ? null : faultKindName(code), nested: d.kind === 'nested',
  });
  return 0;
}

function cachedOk(write: boolean): boolean {
  return write ? (tout.prot & PROT_WRITE) !== 0 && tout.dirtyOk === 1 : (tout.prot & 1) !== 0;
}

/**
 * iotlbLookup of `iova` in the current tag context (C) and `pasid`: the
 * IOTLB's context number is resolved once per burst and PASID, not per page.
 */
function tlbLookup(tlb: IotlbState, pasid: number, iova: number): number {
  if (pasid !== B.ctxPasid || C.tag !== B.ctxTag) {
    B.ctxPasid = pasid;
    B.ctxTag = C.tag;
    B.ctxId = iotlbContext(tlb, C.kind, C.tag, C.tag2, pasid);
  }
  const id = B.ctxId;
  return id !== 0 ? iotlbLookupIn(tlb, id, iova, tout) : iotlbLookup(tlb, C.kind, C.tag, C.tag2, pasid, iova, tout);
}

/** Per-burst context of translatePage, set once by translateBurst. */
const B = {
  /** tlbLookup's context number (iotlbContext) for ctxPasid and ctxTag; ctxPasid -1 = none yet */
  ctxPasid: -1,
  ctxTag: 0,
  ctxId: 0,
  tlb: null as unknown as IotlbState,
  atc: undefined as IotlbState | undefined,
  device: -1,
  iommu: 0,
  /** the paging domain's table generation (stale-check stamps); 0 for nested domains, whose stage 1 lives in memory */
  gen: 0,
  /** translateBurst's IOTLB context for PASID 0 when its fast path applies, else 0 */
  fastCtx: 0,
};

/**
 * One page through the caches and tables. `looked`: translateBurst's fast
 * path already looked the IOTLB up (no ATC, PASID 0) and got this index, so
 * neither cache is asked again (a second lookup would count twice); -2 = not.
 * `atcLooked`: the same for the ATC of an ATS device (its lookup left `tout`
 * as it found it); the IOTLB is then asked as usual.
 */
function translatePage(
  s: EngineState, d: DomainState, mem: PhysMemPort, iova: number, write: boolean, pasid: number, priv: boolean, looked: number,
  atcLooked = -2,
): number {
  const access = (write ? ACC_WRITE : ACC_READ) | (priv ? ACC_PRIV : 0);
  const tlb = B.tlb;
  const device = B.device;
  const atc = B.atc;
  if (looked === -2 && atc && (atcLooked !== -2 ? atcLooked : atcLookup(atc, device, pasid, iova, tout)) >= 0 && cachedOk(write)) {
    s.stats.atcHits++;
    if (s.checkStale) checkHit(s, d, mem, 'atc', atc, B.iommu, device, pasid, iova, access, priv);
    T.pa = tout.pa;
    T.pageSize = tout.pageSize;
    return 0;
  }
  let cacheable = true;
  if (d.kind === 'nested' && d.s1.type === 'smmuv3') {
    // The SMMU nested ASID lives in the CD; a cached CD gives it without a walk.
    const cd = d.cdCache[pasid];
    if (cd) C.tag = cd.asid;
    else cacheable = false;
  }
  const hit = looked !== -2 ? looked : cacheable ? tlbLookup(tlb, pasid, iova) : -1;
  if (hit >= 0 && cachedOk(write)) {
    s.stats.iotlbHits++;
    let stamp = 0;
    if (s.checkStale) {
      // checkHit's own first test, here so that a current stamp costs no call
      const gen = B.gen;
      stamp = gen !== 0 && tlb.gen[tout.index] === gen && (priv || tout.userOk !== 0) ? gen : checkHit(s, d, mem, 'iotlb', tlb, B.iommu, device, pasid, iova, access, priv);
    }
    T.pa = tout.pa;
    T.pageSize = tout.pageSize;
    if (atc) {
      atcInsert(atc, device, pasid, iova, tout.pageSize, tout.pa - offsetIn(iova, tout.pageSize), tout.prot, tout.dirtyOk, stamp, stamp !== 0 ? tout.userOk : 0);
    }
    return 0;
  }
  s.stats.walks++;
  const code = walkDomain(s, d, mem, iova, access | ACC_UPDATE, pasid, wout);
  if (code !== 0) {
    T.code = code;
    T.stage = wout.stage;
    T.level = wout.level;
    T.faultAddr = wout.stage === 2 ? wout.faultAddr : iova;
    return code;
  }
  const base = wout.pa - offsetIn(iova, wout.pageSize);
  const dirtyOk = write ? 1 : wout.dirtyOk;
  // The fill walk agrees with the entry by construction: stamp it with the table's generation.
  const gen = B.gen;
  const userOk = priv ? 0 : 1;
  iotlbInsert(tlb, C.kind, C.tag, C.tag2, pasid, iova, wout.pageSize, base, wout.prot, dirtyOk, gen, userOk);
  if (atc) atcInsert(atc, device, pasid, iova, wout.pageSize, base, wout.prot, dirtyOk, gen, userOk);
  T.pa = wout.pa;
  T.pageSize = wout.pageSize;
  return 0;
}

function offsetIn(iova: number, pageSize: number): number {
  // page sizes are powers of two of at most 1 GiB: the offset is in the low 32 bits
  return ((iova | 0) & ((pageSize - 1) | 0)) >>> 0;
}

function attachmentFor(d: DomainState, iommu: number): Attachment | undefined {
  const atts = d.attachments;
  for (let i = 0; i < atts.length; i++) if (atts[i]!.iommu === iommu) return atts[i];
  return undefined;
}

function failAll(r: BurstResults, from: number, code: number): void {
  r.faults += r.count - from;
  for (let i = from; i < r.count; i++) {
    r.status[i] = code;
    r.stage[i] = 0;
    r.level[i] = 0;
    r.faultAddr[i] = 0;
    r.chunkFirst[i] = r.nChunks;
    r.chunkCount[i] = 0;
  }
}

/**
 * One DMA burst: every access is translated page by page (IOTLB/ATC first),
 * and its bytes are really moved. A fault stops that access (earlier pages of
 * it stay done, as earlier TLPs would) and never changes tables or caches
 * (I10). Results go to `results` (reused when given).
 */
export function translateBurst(s: EngineState, req: BurstRequest, mem: PhysMemPort, results: BurstResults = new BurstResults()): BurstResults {
  const burst = req.burst;
  const n = burstSize(burst);
  const r = results;
  r.reset(n);
  const d = s.domains[req.domain];
  const att = d ? attachmentFor(d, req.iommu) : undefined;
  if (!d || !att) {
    failAll(r, 0, FAULT_CONFIG);
    s.stats.faults += n;
    return r;
  }
  C.kind = att.kind;
  C.tag = att.tag;
  C.tag2 = att.tag2;
  B.tlb = s.iotlbs[req.iommu]!;
  B.ctxPasid = -1;
  B.iommu = req.iommu;
  B.device = req.device ?? -1;
  B.atc = req.ats && B.device >= 0 ? s.atcs[B.device] : undefined;
  B.gen = d.kind === 'paging' ? d.table.gen : 0;
  const zeroCopy = mem.frameBlock !== undefined;
  // A paging domain's translation never reads physical memory (its tables
  // are in the pool), so the burst is translated first and its bytes moved
  // after, in the same order: the copies then run back to back and their
  // cache misses overlap (1.45x on random pages of a 64 MiB buffer when
  // memory was slow; moving as it went was 10% better only while the pages
  // stayed in cache). A nested walk reads guest tables the burst itself may
  // write: it moves as it goes.
  const deferMoves = d.kind === 'paging';
  // Fast path (paging domain, PASID 0, not privileged): an access inside
  // one page whose IOTLB front entry allows it, with a current stamp, is done
  // in the burst loop; anything else goes on in translateAccess from that
  // lookup (a hit is passed on, as a second lookup would count twice; a
  // front miss counted nothing and is looked up again there, sets included).
  // An ATS device asks its ATC first (translatePage's order): the fast path
  // looks there instead, and a miss goes on to the IOTLB in translateAccess.
  const tlb = B.tlb;
  const atc = B.atc;
  const fastCtx = (B.fastCtx = deferMoves && atc === undefined ? iotlbContext(tlb, C.kind, C.tag, C.tag2, 0) : 0);
  const first = deferMoves ? atc ?? tlb : tlb;
  const firstCtx = atc === undefined ? fastCtx : deferMoves ? iotlbContext(atc, TAG_DEVICE, B.device, NO_TAG2, 0) : 0;
  const tlbGen = first.gen;
  const checkStale = s.checkStale;
  const gen = B.gen;
  r.reserveChunks(n);
  const iovas = burst.iova;
  const lengths = burst.length;
  const flags = burst.flags;
  const pasids = burst.pasid;
  const datas = burst.data;
  const status = r.status;
  const chunkFirst = r.chunkFirst;
  const chunkCount = r.chunkCount;
  const movePfn = r.movePfn;
  const moveOff = r.moveOff;
  // translateAccess may grow the chunk arrays: these are reloaded after it
  let chunkIova = r.chunkIova;
  let chunkPa = r.chunkPa;
  let chunkLen = r.chunkLen;
  let k = r.nChunks;
  let fast = 0;
  let bytes = 0;
  // module constants read once, not per access (each read is a context load and a hole check)
  const out = tout;
  let i = 0;
  for (;;) {
    // A run of accesses the fast path takes. This loop calls nothing (the
    // front lookup is call-free), so V8 keeps every array's base and length
    // in registers; the first access it cannot take ends the run.
    let h = -2;
    for (; i < n; i++) {
      const iova = iovas[i]!;
      const len = lengths[i]!;
      const fl = flags[i]!;
      h = -2;
      // literals: DMA_PRIV 2, DMA_WRITE 1
      if (firstCtx === 0 || pasids[i] !== 0 || (fl & 2) !== 0) break;
      h = iotlbFrontLookup(first, firstCtx, iova, out);
      if (h < 0) break;
      const info = out.info;
      const need = (fl & 1) !== 0 ? 6 : 1; // write: PROT_WRITE and INFO_DIRTY_OK; read: PROT_READ (cachedOk)
      // pages are at most 1 GiB (offsetIn): the offset is in the low 30 bits, which ToInt32 keeps
      // (a 2 GiB entry, which no format makes, would give a negative room and take the slow way)
      const l2 = out.l2;
      const room = (1 << l2) - (iova & ((1 << l2) - 1));
      const data = datas[i];
      if (!hitUsable(tlbGen, h, info, need, 8, checkStale, gen) || len > room || len === 0 || !data) break;
      const pa = out.pa;
      chunkIova[k] = iova;
      chunkPa[k] = pa;
      chunkLen[k] = len;
      chunkFirst[i] = k++;
      chunkCount[i] = 1;
      status[i] = 0;
      // one copy of the whole buffer inside one port block (the literals: PORT_FRAME_SIZE, PORT_BLOCK_FRAMES, PORT_BLOCK_BYTES)
      const fo = (pa | 0) & 4095;
      const pfn = (pa - fo) / 4096;
      const bo = ((pfn & 15) << 12) + fo;
      movePfn[i] = zeroCopy && len === data.length && len <= 65536 - bo ? pfn : -1;
      moveOff[i] = bo;
      fast++;
      bytes += len;
    }
    if (i >= n) break;
    // Access i goes page by page; a front miss (h = -1) is looked up again there, sets included.
    movePfn[i] = -1;
    r.nChunks = k;
    const looked = h >= 0 ? h : -2;
    translateAccess(s, d, mem, r, burst, i, atc === undefined ? looked : -2, atc === undefined ? -2 : looked, deferMoves, zeroCopy);
    k = r.nChunks;
    chunkIova = r.chunkIova;
    chunkPa = r.chunkPa;
    chunkLen = r.chunkLen;
    i++;
  }
  r.nChunks = k;
  const stats = s.stats;
  stats.accesses += n;
  stats.pages += fast;
  stats.bytes += bytes;
  if (atc === undefined) stats.iotlbHits += fast;
  else stats.atcHits += fast;
  if (deferMoves) moveBurst(r, burst, mem, zeroCopy);
  return r;
}

/**
 * Whether cache slot `h` (its info bits) serves an access as it is: it
 * allows the access (`need`: 6 for a write, PROT_WRITE and INFO_DIRTY_OK; 1
 * for a read), and with stale checks on its stamp is the table's current
 * generation, for non-privileged accesses too when `userBit` is 8.
 */
function hitUsable(gens: Float64Array, h: number, info: number, need: number, userBit: number, checkStale: boolean, gen: number): boolean {
  return (info & need) === need && (!checkStale || (gen !== 0 && gens[h] === gen && (info & userBit) === userBit));
}

/**
 * translateBurst for one access outside its fast path: page by page through
 * translatePage. `looked` / `atcLooked`: the IOTLB / ATC index the fast
 * path's lookup of the first page gave (-1 none), -2 = not looked up.
 */
function translateAccess(
  s: EngineState, d: DomainState, mem: PhysMemPort, r: BurstResults, b: DmaBurst, i: number, looked: number, atcLooked: number,
  deferMoves: boolean, zeroCopy: boolean,
): void {
  const iova0 = b.iova[i]!;
  const write = (b.flags[i]! & DMA_WRITE) !== 0;
  const pasid = b.pasid[i]!;
  const priv = (b.flags[i]! & DMA_PRIV) !== 0;
  const len = b.length[i]!;
  const own = b.data[i] ?? undefined;
  let data = own;
  if (!write && !data) {
    data = new Uint8Array(len);
    r.readData[i] = data;
  }
  r.chunkFirst[i] = r.nChunks;
  let status = 0;
  let off = 0;
  let pages = 0;
  let hits = 0;
  // write: prot has PROT_WRITE and the entry INFO_DIRTY_OK; read: PROT_READ (cachedOk)
  const need = write ? 6 : 1;
  const userBit = priv ? 0 : 8;
  const tlb = B.tlb;
  const gen = B.gen;
  const fastCtx = B.fastCtx;
  while (off < len) {
    const cur = iova0 + off;
    let pa: number;
    let pageSize: number;
    const h = off === 0 && looked !== -2 ? looked : fastCtx !== 0 && pasid === 0 ? iotlbLookupIn(tlb, fastCtx, cur, tout) : -2;
    if (h >= 0 && hitUsable(tlb.gen, h, tout.info, need, userBit, s.checkStale, gen)) {
      hits++;
      pa = tout.pa;
      pageSize = tout.pageSize;
    } else {
      const code = translatePage(s, d, mem, cur, write, pasid, priv, h, off === 0 ? atcLooked : -2);
      if (code !== 0) {
        status = code;
        break;
      }
      pa = T.pa;
      pageSize = T.pageSize;
    }
    const inPage = pageSize - offsetIn(cur, pageSize);
    const n = len - off < inPage ? len - off : inPage;
    if (!deferMoves) moveChunk(mem, zeroCopy, pa, data, off, n, write, own === undefined);
    r.pushChunk(cur, pa, n);
    pages++;
    s.stats.bytes += n;
    off += n;
  }
  s.stats.pages += pages;
  s.stats.iotlbHits += hits;
  r.chunkCount[i] = r.nChunks - r.chunkFirst[i]!;
  r.status[i] = status;
  if (status !== 0) {
    s.stats.faults++;
    r.faults++;
    r.stage[i] = T.stage;
    r.level[i] = T.level;
    r.faultAddr[i] = T.faultAddr;
  }
}

/** The deferred moves of a paging domain's burst, access by access in order. */
function moveBurst(r: BurstResults, b: DmaBurst, mem: PhysMemPort, zeroCopy: boolean): void {
  const chunkFirst = r.chunkFirst;
  const chunkCount = r.chunkCount;
  const chunkPa = r.chunkPa;
  const chunkLen = r.chunkLen;
  const movePfn = r.movePfn;
  const moveOff = r.moveOff;
  const flags = b.flags;
  const datas = b.data;
  const n = burstSize(b);
  for (let i = 0; i < n; i++) {
    const pfn = movePfn[i]!;
    const write = (flags[i]! & 1) !== 0; // DMA_WRITE
    if (pfn >= 0) {
      // the burst loop's one copy: the whole buffer, inside one port block
      const data = datas[i]!;
      const f = mem.frameBlock!(pfn, write);
      if (write) f!.set(data, moveOff[i]!);
      else if (f) copyInto(data, 0, f, moveOff[i]!, data.length);
      else data.fill(0);
      continue;
    }
    const cnt = chunkCount[i]!;
    if (cnt === 0) continue;
    const own = datas[i] ?? undefined;
    const buf = own ?? r.readData[i] ?? undefined;
    const first = chunkFirst[i]!;
    const end = first + cnt;
    let off = 0;
    for (let k = first; k < end; k++) {
      moveChunk(mem, zeroCopy, chunkPa[k]!, buf, off, chunkLen[k]!, write, own === undefined);
      off += chunkLen[k]!;
    }
  }
}

/**
 * Moves one translated chunk: `n` bytes between `data[off..]` and physical
 * memory at `pa` (a write without data writes zeros; `fresh`: `data` is a
 * new zeroed read buffer).
 */
function moveChunk(mem: PhysMemPort, zeroCopy: boolean, pa: number, data: Uint8Array | undefined, off: number, n: number, write: boolean, fresh: boolean): void {
  // ToInt32 keeps the low 32 bits exactly, so this is the frame offset even above 4 GiB
  const fo = (pa | 0) & (PORT_FRAME_SIZE - 1);
  const pfn = (pa - fo) / PORT_FRAME_SIZE;
  const bo = ((pfn & (PORT_BLOCK_FRAMES - 1)) << 12) + fo;
  if (zeroCopy && data !== undefined && n <= PORT_BLOCK_BYTES - bo) {
    // inside one block, the common DMA case
    const f = mem.frameBlock!(pfn, write);
    if (write) copyInto(f!, bo, data, off, n);
    else if (f) copyInto(data, off, f, bo, n);
    else if (!fresh) data.fill(0, off, off + n);
  } else if (zeroCopy) {
    moveFrames(mem, pa, data, off, n, write, fresh);
  } else if (write) {
    // the whole buffer in one chunk (the common DMA case) needs no subarray view
    if (data) mem.writePhys(pa, off === 0 && n === data.length ? data : data.subarray(off, off + n));
    else mem.writePhys(pa, new Uint8Array(n));
  } else {
    data!.set(mem.readPhys(pa, n), off);
  }
}

/**
 * Below this many bytes a byte loop beats `set` on a subarray view (the
 * view is an allocation). A whole buffer always goes by `set`: it is one
 * memmove, and a byte loop into a cold line of memory stalls on every store
 * (64 one-byte stores to a random line of 64 MiB took 115 ns, `set` 32 ns).
 */
const SMALL_COPY = 32;

/**
 * Moves `n` bytes between `data[off..]` and physical memory at `pa` through
 * the port's blocks (PhysMemPort.frameBlock): one copy per block, no
 * intermediate buffers. Same bytes as writePhys / readPhys: a write without
 * data writes zeros; a read of a block never written gives zeros (`fresh`:
 * `data` is a new zeroed buffer already).
 */
function moveFrames(mem: PhysMemPort, pa: number, data: Uint8Array | undefined, off: number, n: number, write: boolean, fresh: boolean): void {
  let k = 0;
  while (k < n) {
    const p = pa + k;
    // ToInt32 keeps the low 32 bits exactly, so this is the offset even above 4 GiB
    const fo = (p | 0) & (PORT_FRAME_SIZE - 1);
    const pfn = (p - fo) / PORT_FRAME_SIZE;
    const bo = ((pfn & (PORT_BLOCK_FRAMES - 1)) << 12) + fo;
    const m = n - k < PORT_BLOCK_BYTES - bo ? n - k : PORT_BLOCK_BYTES - bo;
    const at = off + k;
    if (write) {
      const f = mem.frameBlock!(pfn, true)!;
      if (!data) f.fill(0, bo, bo + m);
      else copyInto(f, bo, data, at, m);
    } else {
      const f = mem.frameBlock!(pfn, false);
      const dst = data!;
      if (!f) {
        if (!fresh) dst.fill(0, at, at + m);
      } else copyInto(dst, at, f, bo, m);
    }
    k += m;
  }
}

function copyInto(dst: Uint8Array, at: number, src: Uint8Array, from: number, m: number): void {
  if (from === 0 && m === src.length) dst.set(src, at);
  else if (m <= SMALL_COPY) for (let j = 0; j < m; j++) dst[at + j] = src[from + j]!;
  else dst.set(src.subarray(from, from + m), at);
}

/** Cache-free probe of what the tables give now (I1 checks): pa or a fault. */
export function probeTranslate(
  s: EngineState, domain: number, mem: PhysMemPort, iova: number | bigint, write: boolean, pasid = 0,
): { ok: boolean; pa: number; pageSize: number; fault: FaultKind | null; stage: number } {
  const d = domainOf(s, domain);
  const c = walkDomain(s, d, mem, toAddr(iova), write ? ACC_WRITE : ACC_READ, pasid, vout);
  return c === 0
    ? { ok: true, pa: vout.pa, pageSize: vout.pageSize, fault: null, stage: 0 }
    : { ok: false, pa: -1, pageSize: 0, fault: faultKindName(c), stage: vout.stage };
}

export interface CacheMismatch {
  iommu: number;
  entry: ReturnType<typeof iotlbEntries>[number];
  tablePa: number;
  tableFault: FaultKind | null;
}

/**
 * I2 audit: every IOTLB entry whose tag belongs to an attached paging domain
 * must equal a fresh walk of that domain's table.
 */
export function auditIotlb(s: EngineState, mem: PhysMemPort): CacheMismatch[] {
  const bad: CacheMismatch[] = [];
  s.iotlbs.forEach((tlb, iommu) => {
    for (const e of iotlbEntries(tlb)) {
      const dom = Object.keys(s.domains).map(Number).find((id) => {
        const d = s.domains[id]!;
        return d.kind === 'paging' && d.attachments.some((a) => a.iommu === iommu && a.kind === e.kind && a.tag >>> 0 === e.tag);
      });
      if (dom === undefined) continue;
      const c = walkDomain(s, s.domains[dom]!, mem, e.iova, ACC_READ, e.pasid, vout);
      if (c !== 0 || vout.pa !== e.pa) bad.push({ iommu, entry: e, tablePa: c === 0 ? vout.pa : -1, tableFault: c === 0 ? null : faultKindName(c) });
    }
  });
  return bad;
}

// ---- snapshot ----

export interface IotlbSnapshot {
  [k: string]: unknown;
}
export interface EngineSnapshot {
  /**
   * 3: tables carry `gen`, the pool's generation counter is `genSeq`, cache
   * entries carry their stale-check stamps (`gen`). 2: cache arrays stored
   * sparse, IOTLB keys in the set-major layout (still restored).
   */
  version: 3 | 2;
  pool: Uint8Array;
  /** PoolState.genSeq (version 3) */
  genSeq?: number;
  domains: Record<number, DomainState>;
  iotlbs: IotlbSnapshot[];
  atcs: Record<number, IotlbSnapshot>;
  atcCapacity: number;
  checkStale: boolean;
  staleUses: StaleUse[];
  maxStaleRecords: number;
  bugs: EngineBugs;
  stats: EngineStats;
}

const bytesOf = (a: Uint32Array | Float64Array | Uint8Array | Int32Array): Uint8Array =>
  new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/**
 * Cache arrays are mostly empty (invalid slots are zero), and a snapshot is
 * taken every few hundred deliveries: keep only the non-zero stretches.
 */
interface SparseBytes {
  length: number;
  runs: [number, Uint8Array][];
}

function sparseOf(a: Uint32Array | Float64Array | Uint8Array | Int32Array): SparseBytes {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const runs: [number, Uint8Array][] = [];
  // Scan 32-bit words (every cache array is word-sized and aligned): this runs at every snapshot.
  if (a.byteOffset % 4 !== 0 || a.byteLength % 4 !== 0) {
    runs.push([0, u.slice()]);
    return { length: u.length, runs };
  }
  const w = new Uint32Array(a.buffer, a.byteOffset, a.byteLength >> 2);
  const n = w.length;
  let i = 0;
  while (i < n) {
    // skip zeros eight words at a time: most of every cache array is empty
    while (i + 8 <= n && (w[i]! | w[i + 1]! | w[i + 2]! | w[i + 3]! | w[i + 4]! | w[i + 5]! | w[i + 6]! | w[i + 7]!) === 0) i += 8;
    while (i < n && w[i] === 0) i++;
    if (i >= n) break;
    const start = i;
    // A run ends after 4 zero words (16 bytes), so short gaps do not split it.
    let zeros = 0;
    while (i < w.length && zeros < 4) {
      zeros = w[i] === 0 ? zeros + 1 : 0;
      i++;
    }
    runs.push([start * 4, u.slice(start * 4, (i - zeros) * 4)]);
  }
  return { length: u.length, runs };
}

function denseOf(s: SparseBytes): ArrayBuffer {
  const u = new Uint8Array(s.length);
  for (const [at, bytes] of s.runs) u.set(bytes, at);
  return u.buffer;
}

/** The sparse arrays of an IOTLB's last snapshot, reused while its `writes` count has not moved. */
const tlbArraysSnapped = new WeakMap<IotlbState, { writes: number; arrays: Record<'keys' | 'pa' | 'info' | 'gen' | 'victim' | 'sizeCount', unknown> }>();

function tlbArrays(t: IotlbState): Record<'keys' | 'pa' | 'info' | 'gen' | 'victim' | 'sizeCount', unknown> {
  const last = tlbArraysSnapped.get(t);
  if (last && last.writes === t.writes) return last.arrays;
  const arrays = { keys: sparseOf(t.keys), pa: sparseOf(t.pa), info: sparseOf(t.info), gen: sparseOf(t.gen), victim: sparseOf(t.victim), sizeCount: bytesOf(t.sizeCount) };
  tlbArraysSnapped.set(t, { writes: t.writes, arrays });
  return arrays;
}

function tlbSnap(t: IotlbState): IotlbSnapshot {
  // most snapshots find most caches as the last one left them (scanning them was a tenth of an ioctl's cost)
  const a = tlbArrays(t);
  return {
    capacity: t.capacity, ways: t.ways, sets: t.sets, keys: a.keys, pa: a.pa, info: a.info,
    gen: a.gen, victim: a.victim, sizeCount: a.sizeCount, sizes: [...t.sizes],
    hits: t.hits, misses: t.misses, fills: t.fills, evictions: t.evictions,
  };
}

function tlbRestore(o: IotlbSnapshot): IotlbState {
  const b = (k: string) => (o[k] as Uint8Array).slice().buffer;
  const d = (k: string) => denseOf(o[k] as SparseBytes);
  const t: IotlbState = {
    capacity: o.capacity as number, ways: o.ways as number, sets: o.sets as number,
    keys: new Int32Array(d('keys')), pa: new Float64Array(d('pa')), info: new Uint8Array(d('info')),
    // version 2 had no stamps: every entry unknown, so its next hit is checked by a walk
    gen: o.gen ? new Float64Array(d('gen')) : new Float64Array(o.capacity as number),
    victim: new Uint8Array(d('victim')), sizeCount: new Int32Array(b('sizeCount')), sizes: [...(o.sizes as number[])],
    hits: o.hits as number, misses: o.misses as number, fills: o.fills as number, evictions: o.evictions as number, writes: 0,
    ...l0Arrays(o.capacity as number),
  };
  // the front's hit window starts now (IotlbState.l0Stats)
  t.l0Stats[0] = t.hits;
  t.l0L2 = t.sizes.length ? t.sizes[0]! : 0;
  return t;
}

/** Plain objects + Uint8Array only: safe for any msgpack codec, restores bit-exactly. */
export function engineSnapshot(s: EngineState): EngineSnapshot {
  const atcs: Record<number, IotlbSnapshot> = {};
  for (const k of Object.keys(s.atcs)) atcs[Number(k)] = tlbSnap(s.atcs[Number(k)]!);
  return {
    version: 3,
    pool: poolSnapshot(s.pool),
    genSeq: s.pool.genSeq,
    domains: structuredClone(s.domains),
    iotlbs: s.iotlbs.map(tlbSnap),
    atcs,
    atcCapacity: s.atcCapacity,
    checkStale: s.checkStale,
    staleUses: structuredClone(s.staleUses),
    maxStaleRecords: s.maxStaleRecords,
    bugs: { ...s.bugs },
    stats: { ...s.stats },
  };
}

export function engineRestore(snap: EngineSnapshot): EngineState {
  if (snap.version !== 3 && snap.version !== 2) {
    throw new Error(`engine snapshot version ${String(snap.version)} is not supported (this simulator writes version 3, reads 2 and 3)`);
  }
  const atcs: Record<number, IotlbState> = {};
  for (const k of Object.keys(snap.atcs)) atcs[Number(k)] = tlbRestore(snap.atcs[Number(k)]!);
  const pool = poolRestore(snap.pool);
  const domains = structuredClone(snap.domains);
  if (snap.version === 3) pool.genSeq = snap.genSeq ?? 0;
  else {
    // Version 2 tables have no generation: hand out fresh ones in domain order (deterministic).
    for (const k of Object.keys(domains)) {
      const d = domains[Number(k)]!;
      if (d.kind === 'paging') ptTouch(pool, d.table);
    }
  }
  return {
    pool,
    domains,
    iotlbs: snap.iotlbs.map(tlbRestore),
    atcs,
    atcCapacity: snap.atcCapacity,
    checkStale: snap.checkStale,
    staleUses: structuredClone(snap.staleUses),
    maxStaleRecords: snap.maxStaleRecords,
    bugs: { ...snap.bugs },
    stats: { ...snap.stats },
  };
}
