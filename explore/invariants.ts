/**
 * Invariants checked after every delivery of an explored run, and oracles
 * checked once the run is quiet.  Each has a name (what the shrinker keeps
 * failing) and returns null or a message saying what is wrong.  Users add
 * their own with `registerInvariant` / `registerOracle`.
 *
 * Checks read the model's state; they never change it.  After a delivery
 * only the state that delivery could have changed is looked at (the object
 * tables of the context involved, the IOAS it touched), and everything at
 * the end, so checking stays cheap enough for hundreds of schedules a second.
 */
import type { Simulation } from '../actors/sim.ts';
import type { Envelope } from '../actors/runtime/envelope.ts';
import type { IctxData } from '../actors/iommufd/ioctl.ts';
import type { IoasData } from '../actors/iommufd/ioas.ts';
import type { HwptPagingData } from '../actors/iommufd/hw_pagetable.ts';
import type { FaultData } from '../actors/iommufd/eventq.ts';
import { totalPins } from '../hardware/physmem.ts';
import { decode } from '../uapi/layout.ts';
import * as S from '../uapi/structs.ts';
import { EBUSY, EINVAL, ENOENT, EOVERFLOW, EMSGSIZE, ENODEV, EOPNOTSUPP, EFAULT, EEXIST, ENOSPC, ENOMEM, EDEADLK, EBADF } from '../uapi/errno.ts';
import type { CallOp, Scenario } from './scenario.ts';

/** One finished call of a scenario thread. */
export interface CallResult {
  op: CallOp;
  errno: number;
  arg?: Uint8Array;
}

export interface CheckView {
  sim: Simulation;
  scenario: Scenario;
  /** The delivery just made (null for the end-of-run check). */
  env: Envelope | null;
  /** Results so far, per scenario thread, in program order. */
  results: CallResult[][];
  /** Per-run scratch space for invariants that remember (e.g. dead letters seen). */
  memo: Record<string, any>;
}

export interface Invariant {
  name: string;
  description: string;
  check(v: CheckView): string | null;
}

export type Oracle = (results: CallResult[][], params: Record<string, unknown>, scenario: Scenario) => string | null;

const invariants: Invariant[] = [];
const oracles: Record<string, Oracle> = {};

export function registerInvariant(inv: Invariant): void {
  const i = invariants.findIndex((x) => x.name === inv.name);
  if (i >= 0) invariants[i] = inv;
  else invariants.push(inv);
}

export function registerOracle(name: string, o: Oracle): void {
  oracles[name] = o;
}

export function allInvariants(): readonly Invariant[] {
  return invariants;
}

export function oracle(name: string): Oracle | undefined {
  return oracles[name];
}

// ---------------------------------------------------------------- helpers

interface Live<T> {
  context?: { data: T };
  status(): string;
}

function ictxIds(sim: Simulation, memo: Record<string, any>): string[] {
  // Every context ever opened (its file desc goes away at close, the actor later).
  const seen: Set<string> = (memo.ictx ??= new Set<string>());
  for (const k in sim.world.files) {
    const f = sim.world.files[k]!;
    if (f.kind === 'iommufd') seen.add(f.actor);
  }
  return [...seen];
}

function ictxData(sim: Simulation, id: string): IctxData | null {
  const a = sim.rt.actor(id) as Live<IctxData> | undefined;
  return a?.context?.data ?? null;
}

/** The context a delivery concerns: its dst, or the context of the object it went to. */
function ictxOf(env: Envelope): string | null {
  const d = env.dst;
  if (d.startsWith('iommufd:')) return d;
  if (d.startsWith('obj:')) return `iommufd:${d.split(':')[1]}`;
  if (env.src.startsWith('iommufd:')) return env.src;
  return null;
}

/**
 * The contexts a per-context check looks at, with their data: the one the
 * delivery concerns, or every context ever opened when there is no delivery.
 */
function contextsToCheck(v: CheckView): { id: string; d: IctxData }[] {
  const out: { id: string; d: IctxData }[] = [];
  const one = v.env ? ictxOf(v.env) : null;
  for (const id of v.env ? (one ? [one] : []) : ictxIds(v.sim, v.memo)) {
    const d = ictxData(v.sim, id);
    if (d) out.push({ id, d });
  }
  return out;
}

/** Types whose objects hold no users reference on another object. */
const NO_HOLDERS = new Set(['ioas']);

export function checkTable(d: IctxData, where: string): string | null {
  const held: Record<number, number> = {};
  for (const k in d.calls) for (const id of d.calls[k]!.refs) held[id] = (held[id] ?? 0) + 1;
  // An object whose destroy is still running holds its references until its destroy hook drops them.
  let onlyLeaves = !(d.destroying ?? []).length;
  for (const k in d.table.entries) if (!NO_HOLDERS.has(d.table.entries[k]!.type)) onlyLeaves = false;
  for (const k in d.table.entries) {
    const e = d.table.entries[k]!;
    if (e.users < 0 || e.shortterm < 0) return `${where}: object ${e.id} has users ${e.users}, shortterm ${e.shortterm} (negative)`;
    if (e.state === 'tombstone') continue;
    const inFlight = held[e.id] ?? 0;
    if (e.shortterm !== inFlight) return `${where}: object ${e.id} has shortterm ${e.shortterm} but ${inFlight} in-flight calls hold it`;
    const longterm = e.users - 1 - e.shortterm;
    if (longterm < 0) return `${where}: object ${e.id} has users ${e.users} < 1 (table) + ${e.shortterm} (short-term holders)`;
    if (onlyLeaves && longterm !== 0) return `${where}: object ${e.id} has users ${e.users} but only the table and ${e.shortterm} calls hold it (${longterm} reference(s) with no holder)`;
  }
  return null;
}

function ioasOf(sim: Simulation, actor: string): IoasData | null {
  const a = sim.rt.actor(actor) as Live<IoasData> | undefined;
  const d = a?.context?.data;
  return d && typeof d === 'object' && 'iopt' in d ? d : null;
}

export function checkAreas(sim: Simulation, actor: string): string | null {
  const d = ioasOf(sim, actor);
  if (!d) return null;
  const areas = d.iopt.areas;
  for (let i = 0; i < areas.length; i++) {
    const a = areas[i]!;
    if (a.iova > a.last) return `${actor}: area ${a.id} has iova 0x${a.iova.toString(16)} > last 0x${a.last.toString(16)}`;
    if (i > 0 && areas[i - 1]!.last >= a.iova) return `${actor}: areas ${areas[i - 1]!.id} and ${a.id} overlap at 0x${a.iova.toString(16)}`;
    if (a.creating) continue;
    const p = sim.world.pages.pages[a.pagesId];
    if (!p) return `${actor}: area ${a.id} refers to iopt_pages ${a.pagesId}, which does not exist`;
    if (a.lastIndex >= p.npages || a.firstIndex > a.lastIndex) return `${actor}: area ${a.id} spans pages ${a.firstIndex}..${a.lastIndex} of a ${p.npages}-page iopt_pages`;
  }
  return null;
}

// ---------------------------------------------------------------- built-in invariants

registerInvariant({
  name: 'refcount',
  description: 'object users = 1 (table) + short-term holders (in-flight calls) + long-term holders, never negative',
  check(v) {
    for (const { id, d } of contextsToCheck(v)) {
      const m = checkTable(d, id);
      if (m) return m;
    }
    return null;
  },
});

registerInvariant({
  name: 'use-after-free',
  description: 'no message reaches a freed actor, no op reaches an object being destroyed, no model code reads freed memory (KASAN)',
  check(v) {
    const dl = v.sim.rt.deadLetters;
    const seen = v.memo.deadLetters ?? 0;
    if (dl.length > seen) {
      v.memo.deadLetters = dl.length;
      const d = dl[seen]!;
      return `${d.env.type} (${(d.env.body as { op?: string })?.op ?? ''}) from ${d.env.src} delivered to ${d.retired ? 'freed' : 'unknown'} actor ${d.env.dst} at seq ${d.env.seq}`;
    }
    const kasan: string[] | undefined = v.sim.world.kobj.kasan;
    const k = v.memo.kasan ?? 0;
    if (kasan && kasan.length > k) {
      v.memo.kasan = kasan.length;
      return `KASAN: ${kasan[k]}`;
    }
    const env = v.env;
    if (env && env.type === 'op' && env.dst.startsWith('obj:')) {
      const a = v.sim.rt.actor(env.dst);
      if (a && a.status() === 'destroying') return `op '${(env.body as { op: string }).op}' from ${env.src} reached ${env.dst} while it was being destroyed (seq ${env.seq})`;
    }
    return null;
  },
});

registerInvariant({
  name: 'pins-after-close',
  description: 'once every iommufd context is released, no page is pinned and no locked/pinned memory stays charged',
  check(v) {
    if (v.env && !(v.env.dst.startsWith('iommufd:') || v.env.dst.startsWith('obj:'))) return null;
    const ids = ictxIds(v.sim, v.memo);
    if (ids.length === 0 || ids.some((id) => v.sim.rt.actor(id) !== undefined)) return null;
    const mem = v.sim.world.mem;
    const pins = totalPins(mem.pm);
    if (pins !== 0) return `every iommufd is released but ${pins} page pin(s) remain`;
    for (const k in mem.mms) {
      const mm = mem.mms[k]!;
      if (mm.lockedVm !== 0 || mm.pinnedVm !== 0) return `every iommufd is released but process ${k} still has lockedVm ${mm.lockedVm}, pinnedVm ${mm.pinnedVm}`;
    }
    for (const k in mem.users) if (mem.users[k]!.lockedVm !== 0) return `every iommufd is released but uid ${k} still has lockedVm ${mem.users[k]!.lockedVm}`;
    return null;
  },
});

registerInvariant({
  name: 'iopt-areas',
  description: 'IOAS areas never overlap and every area refers to pages that exist',
  check(v) {
    if (v.env) return v.env.dst.startsWith('obj:') ? checkAreas(v.sim, v.env.dst) : null;
    for (const id of ictxIds(v.sim, v.memo)) {
      const d = ictxData(v.sim, id);
      if (!d) continue;
      for (const k in d.table.entries) {
        const m = checkAreas(v.sim, d.table.entries[k]!.actor);
        if (m) return m;
      }
    }
    return null;
  },
});

registerInvariant({
  name: 'hw-stale-iotlb',
  description: 'no DMA used a stale IOTLB entry (translation actor stale-use counter); a no-op without a translation actor',
  check(v) {
    if (v.env && v.env.dst !== 'translation' && !v.env.dst.startsWith('obj:')) return null;
    const t = v.sim.rt.actor('translation') as { st?: { engine?: { stats?: { staleUses: number } } } } | undefined;
    const n = t?.st?.engine?.stats?.staleUses ?? 0;
    return n > 0 ? `the translation engine recorded ${n} stale IOTLB use(s)` : null;
  },
});

registerInvariant({
  name: 'auto-hwpt-populated',
  description: "a device that reused an automatic HWPT from an IOAS's list (the HWPT has ≥ 2 attachments) is on a domain that has joined the IOAS (mirrors its mappings)",
  check(v) {
    for (const { id, d } of contextsToCheck(v)) {
      for (const k in d.table.entries) {
        const e = d.table.entries[k]!;
        if (e.type !== 'hwpt_paging' || e.state !== 'live') continue;
        const h = (v.sim.rt.actor(e.actor) as Live<HwptPagingData> | undefined)?.context?.data;
        if (!h || !h.auto || h.attached < 2) continue;
        const ioasE = d.table.entries[h.ioas];
        const io = ioasE ? ioasOf(v.sim, ioasE.actor) : null;
        if (!io) continue;
        if (!io.iopt.domains.some((x) => x.id === h.domain)) {
          return `${id}: auto HWPT ${e.id} of IOAS ${h.ioas} has ${h.attached} devices attached but its domain ${h.domain} has not joined the IOAS (it maps none of its ${io.iopt.areas.length} area(s))`;
        }
      }
    }
    return null;
  },
});

registerInvariant({
  name: 'fault-once',
  description: 'a page-request group is answered at most once: none the device has had a response for is still queued or awaiting a response on a FAULT, and no device gets two responses for one group',
  check(v) {
    if (v.env && !v.env.dst.startsWith('obj:') && !v.env.dst.startsWith('device:')) return null;
    if (v.env?.dst.startsWith('device:')) {
      const st = (v.sim.rt.actor(v.env.dst) as { st?: { responses?: Record<string, number> } } | undefined)?.st;
      for (const [grp, n] of Object.entries(st?.responses ?? {})) if (n > 1) return `${v.env.dst} got ${n} responses for page-request group ${grp}`;
      return null;
    }
    for (const { id, d } of contextsToCheck(v)) {
      for (const k in d.table.entries) {
        const e = d.table.entries[k]!;
        if (e.type !== 'fault') continue;
        const f = (v.sim.rt.actor(e.actor) as Live<FaultData> | undefined)?.context?.data;
        if (!f) continue;
        const pending = [...f.deliver.map((g) => ['queued', g] as const), ...Object.values(f.response).map((g) => ['awaiting a response', g] as const)];
        for (const [where, g] of pending) {
          const n = (v.sim.rt.actor(`device:${g.dev}`) as { st?: { responses?: Record<string, number> } } | undefined)?.st?.responses?.[String(g.grpid)] ?? 0;
          if (n > 0) return `FAULT ${e.id}: group ${g.grpid} of device ${g.devId} is ${where} but was already answered (${n} response(s))`;
        }
      }
    }
    return null;
  },
});

registerInvariant({
  name: 'file-object-lifetime',
  description: "an object an open FAULT/vEVENTQ file refers to is not freed while the file exists: its id still names that object in its context's table (the file's release drops a users reference on it)",
  check(v) {
    if (v.env && !v.env.dst.startsWith('iommufd:') && !v.env.dst.startsWith('obj:')) return null;
    const files = v.sim.world.files;
    for (const k in files) {
      const f = files[k]!;
      if (f.kind !== 'eventfd') continue;
      const e = ictxData(v.sim, f.ctx)?.table.entries[f.objId];
      if (!e || e.actor !== f.actor) return `file ${k} (${f.actor}) is still open but object ${f.objId} of ${f.ctx} was freed${e ? ` (the id now names ${e.actor})` : ''}: its release will touch freed memory`;
    }
    return null;
  },
});

registerInvariant({
  name: 'kernel-warn',
  description: 'the kernel hits no WARN_ON or oops (e.g. a driver unbind whose iommufd_object_destroy_user failed, a divide error)',
  check(v) {
    const warn: string[] | undefined = v.sim.world.kobj.warn;
    const seen = v.memo.warn ?? 0;
    if (!warn || warn.length <= seen) return null;
    v.memo.warn = warn.length;
    return `WARN: ${warn[seen]}`;
  },
});

registerInvariant({
  name: 'lockdep',
  description: 'no kernel mutex stays held past the delivery that took it',
  check(v) {
    const held: string[] | undefined = v.sim.world.kobj.locks;
    return held && held.length ? `still held after delivery ${v.env?.seq ?? 'end'}: ${held.join(', ')}` : null;
  },
});

registerInvariant({
  name: 'ioctl-errno',
  description: "each ioctl's errno is one the kernel can return for that ioctl",
  check(v) {
    if (v.env && !(v.env.type === 'ioctl.ret' || v.env.type === 'syscall.ret')) return null;
    for (let t = 0; t < v.results.length; t++) {
      const rs = v.results[t]!;
      const r = rs[rs.length - 1];
      if (!r) continue;
      const ok = ALLOWED[r.op.op];
      if (ok && !ok.has(r.errno)) return `thread ${t}: ${r.op.op} returned errno ${r.errno}, which the kernel never returns for it`;
    }
    return null;
  },
});

const common = [0, ENOENT, EINVAL, EOPNOTSUPP, EFAULT, ENOMEM, EBADF];
const ALLOWED: Record<string, Set<number>> = {
  destroy: new Set([...common, EBUSY]),
  ioasAlloc: new Set([...common, ENOSPC]),
  map: new Set([...common, EEXIST, EOVERFLOW, EBUSY, ENOSPC]),
  unmap: new Set([...common, EBUSY, EOVERFLOW, EDEADLK]),
  unmapAll: new Set([...common, EBUSY, EDEADLK]),
  iovaRanges: new Set([...common, EMSGSIZE]),
  vfioIoas: new Set([...common, ENODEV]),
  close: new Set([0, EBADF]),
  mockDomain: new Set([...common, EBUSY, ENODEV, EEXIST, ENOSPC]),
  vfioSetIommu: new Set([...common, EBUSY, ENODEV]),
  vfioUnmapDma: new Set([...common, EBUSY]),
};

// ---------------------------------------------------------------- oracles

/** Two concurrent DESTROYs of one otherwise idle object: exactly one 0 and one ENOENT. */
registerOracle('destroy-pair', (results, params) => {
  const target = params.id;
  const rs = results.flat().filter((r) => r.op.op === 'destroy' && r.op.id === target);
  if (rs.length !== 2) return null;
  const got = rs.map((r) => r.errno).sort((a, b) => a - b);
  if (got[0] === 0 && got[1] === ENOENT) return null;
  return `two concurrent DESTROYs of idle ${String(target)} returned errno ${got.join(' and ')} (the kernel returns exactly one 0 and one ENOENT)`;
});

/** Concurrent UNMAPs of one mapped range: the range is reported unmapped exactly once. */
registerOracle('unmap-once', (results, params) => {
  const rs = results.flat().filter((r) => r.op.op === 'unmap' || r.op.op === 'unmapAll');
  if (rs.length < 2) return null;
  let total = 0n;
  for (const r of rs) if (r.errno === 0 && r.arg) total += (decode(S.iommu_ioas_unmap, r.arg) as { length: bigint }).length;
  const want = BigInt(params.length as bigint | number);
  return total === want ? null : `concurrent UNMAPs reported 0x${total.toString(16)} bytes unmapped in total; 0x${want.toString(16)} were mapped`;
});

/**
 * VFIO type1 semantics on the compat IOAS: UNMAP_DMA of a range nothing maps
 * succeeds with size 0 written back; native IOMMU_IOAS_UNMAP of an empty
 * range is still ENOENT (spec/bugs.md B14).
 */
registerOracle('compat-unmap-empty', (results) => {
  for (const r of results.flat()) {
    if (r.op.op === 'vfioUnmapDma') {
      // Other errnos (no compat IOAS: ENODEV) are not this oracle's business.
      if (r.errno === ENOENT) return `compat UNMAP_DMA of the empty range 0x${r.op.iova.toString(16)}+0x${r.op.size.toString(16)} failed with errno ${r.errno} (type1 returns 0, size 0)`;
      if (r.errno !== 0) continue;
      const size = r.arg ? (decode(S.vfio_iommu_type1_dma_unmap, r.arg) as { size: bigint }).size : 0n;
      if (size !== 0n) return `compat UNMAP_DMA of an empty range reported size 0x${size.toString(16)}`;
    }
    if (r.op.op === 'unmap' && r.errno !== ENOENT) return `native IOAS_UNMAP of an empty range returned errno ${r.errno} (ENOENT expected)`;
  }
  return null;
});

/** A named ioctl call of the scenario returns exactly this errno (params: name, errno). */
registerOracle('ioctl-errno-is', (results, params) => {
  for (const r of results.flat()) {
    if (r.op.op !== 'ioctl' || r.op.name !== params.name) continue;
    if (r.errno !== params.errno) return `${r.op.name} returned errno ${r.errno}; the kernel returns ${String(params.errno)}`;
  }
  return null;
});

/** A named system call of the scenario fails with exactly this errno (params: call, errno). */
registerOracle('syscall-errno-is', (results, params) => {
  for (const r of results.flat()) {
    if (r.op.op !== 'syscall' || r.op.call !== params.call) continue;
    if (r.errno !== params.errno) return `${r.op.call} returned errno ${r.errno}; the kernel returns ${String(params.errno)}`;
  }
  return null;
});

/** Run a scenario's oracles over the finished results. */
export function checkOracles(s: Scenario, results: CallResult[][]): { name: string; message: string } | null {
  for (const o of s.oracles ?? []) {
    const fn = oracles[o.name];
    if (!fn) throw new Error(`no oracle named '${o.name}'`);
    const m = fn(results, o.params ?? {}, s);
    if (m) return { name: `oracle:${o.name}`, message: m };
  }
  return null;
}
