/**
 * Model invariants as plain functions over a Simulation (or a copy of its
 * state), checkable after any delivery.  Each returns violation messages;
 * [] means the state is consistent.  They only read.
 *
 * (a) hardware = IOAS: every mapping in a paging HWPT's hardware domain
 *     (translation actor `dump`) is a mapping of its IOAS (area filled into
 *     the domain, same physical address), and every filled area is in the
 *     domain (`checkDomains`).
 * (b) reference counts: for every object, users = 1 (table) + short-term
 *     references of calls in flight + long-term holders (HWPT → IOAS/fault,
 *     nested HWPT → parent/vIOMMU, attach → HWPT, driver → DEVICE, vIOMMU →
 *     parent, vDEVICE/vEVENTQ/HW queue → vIOMMU, ...) + holders whose
 *     release is still in flight (a pending 'unref' request); never negative
 *     (`checkRefcounts`).  iopt_pages: each page's users = filled areas +
 *     access pins covering it, pinned iff used (`checkPages`).
 * (c) nothing is freed while referenced: no message to a freed actor (dead
 *     letter), no table slot whose object actor is gone or being destroyed,
 *     no KASAN report (`checkNoUseAfterFree`).
 *
 * explore/invariants.ts (the race explorer's registry) has incremental
 * variants of some of these; these are whole-state and stand-alone.
 */
import type { Simulation } from './sim.ts';
import type { World } from './world.ts';
import type { IctxData } from './iommufd/ioctl.ts';
import type { IoasData } from './iommufd/ioas.ts';
import type { ObjEntry } from './iommufd/object.ts';
import { IOMMU_READ, IOMMU_WRITE, ioptDomainMappings, type IoPagetable } from './iommufd/io_pagetable.ts';
import type { IoptPages } from './iommufd/pages.ts';
import { TRANSLATION_ACTOR, type TranslationActor } from './hw/translation.ts';
import { totalPins } from '../hardware/physmem.ts';

/** What the checks read: the runtime's actors and world, the scheduler's pending messages, dead letters. */
export interface InvariantView {
  world: World;
  actorIds(): string[];
  actor(id: string): unknown;
  isRetired(id: string): boolean;
  pending(): readonly { src: string; dst: string; type: string; body: unknown }[];
  deadLetters: readonly { env: { src: string; dst: string; type: string; seq: number; body: unknown }; retired: boolean }[];
}

export function viewOf(sim: Simulation): InvariantView {
  const rt = sim.rt;
  return {
    world: rt.world,
    actorIds: () => rt.actorIds(),
    actor: (id) => rt.actor(id),
    isRetired: (id) => rt.isRetired(id),
    pending: () => rt.scheduler.pendingMessages(),
    deadLetters: rt.deadLetters,
  };
}

type Src = Simulation | InvariantView;
const asView = (s: Src): InvariantView => ('rt' in s ? viewOf(s) : s);

interface Live<T> {
  context?: { data: T };
  status(): string;
  kind?: string;
}

function dataOf<T>(v: InvariantView, id: string): T | null {
  const a = v.actor(id) as Live<T> | undefined;
  return a?.context?.data ?? null;
}

function statusOf(v: InvariantView, id: string): string | null {
  const a = v.actor(id) as Live<unknown> | undefined;
  return a ? a.status() : null;
}

/** Every live iommufd context actor and its data. */
function contexts(v: InvariantView): { id: string; d: IctxData }[] {
  const out: { id: string; d: IctxData }[] = [];
  for (const id of v.actorIds()) {
    if (!id.startsWith('iommufd:')) continue;
    const d = dataOf<IctxData>(v, id);
    if (d && d.table) out.push({ id, d });
  }
  return out;
}

/** An object whose destroy has begun: its references are being (or were) dropped by messages. */
function destroying(data: any): boolean {
  return data !== null && typeof data === 'object' && ('destroyCall' in data || data.aborted === true);
}

// ---------------------------------------------------------------- (a) hardware domains = IOAS mappings

/** Byte granularity of the comparison: the smallest IO page of any model (the mock's 2 KiB). */
const GRAIN = 2048;

function ioptOfActor(v: InvariantView, actor: string): IoPagetable | null {
  const d = dataOf<IoasData>(v, actor);
  return d && typeof d === 'object' && 'iopt' in d ? d.iopt : null;
}

export function checkDomains(s: Src): string[] {
  const v = asView(s);
  const tr = v.actor(TRANSLATION_ACTOR) as TranslationActor | undefined;
  if (!tr) return [];
  const env = { world: v.world.mem, pagesTable: v.world.pages };
  const out: string[] = [];
  for (const { id: ctx, d } of contexts(v)) {
    for (const k of Object.keys(d.table.entries)) {
      const e = d.table.entries[Number(k)]!;
      if (e.type !== 'hwpt_paging' || e.state !== 'live') continue;
      const h = dataOf<{ ioas: number; domain: number }>(v, e.actor);
      if (!h || destroying(h)) continue;
      const ioasE = d.table.entries[h.ioas];
      if (!ioasE) {
        out.push(`${ctx}: HWPT ${e.id} refers to IOAS ${h.ioas}, which is not in the table`);
        continue;
      }
      const iopt = ioptOfActor(v, ioasE.actor);
      if (!iopt) continue;
      if (!iopt.domains.some((x) => x.id === h.domain)) {
        out.push(`${ctx}: HWPT ${e.id}'s domain ${h.domain} is not attached to IOAS ${h.ioas}`);
        continue;
      }
      const want = new Map<number, number>();
      for (const m of ioptDomainMappings(iopt, env, h.domain)) {
        // A mapping with neither READ nor WRITE (VFIO MAP_DMA with no flag) has no IOPTE to look for.
        if (!(m.prot & (IOMMU_READ | IOMMU_WRITE))) continue;
        const iova = Number(m.iova);
        for (let off = 0; off < Number(m.length); off += GRAIN) {
          const byte = m.pageOffset + off;
          want.set(iova + off, m.pfns[byte >> 12]! * 4096 + (byte & 4095));
        }
      }
      const have = new Map<number, number>();
      for (const r of tr.dump(h.domain)) for (let off = 0; r.iova + off <= r.last; off += GRAIN) have.set(r.iova + off, r.pa + off);
      for (const [iova, pa] of have) {
        const w = want.get(iova);
        if (w === undefined) {
          out.push(`${ctx}: domain ${h.domain} (HWPT ${e.id}) maps IOVA 0x${iova.toString(16)} → 0x${pa.toString(16)}, which IOAS ${h.ioas} does not map`);
          break;
        }
        if (w !== pa) {
          out.push(`${ctx}: domain ${h.domain} maps IOVA 0x${iova.toString(16)} → 0x${pa.toString(16)}, IOAS ${h.ioas} says 0x${w.toString(16)}`);
          break;
        }
      }
      for (const [iova, pa] of want) {
        if (!have.has(iova)) {
          out.push(`${ctx}: IOAS ${h.ioas} maps IOVA 0x${iova.toString(16)} → 0x${pa.toString(16)} into domain ${h.domain}, which does not have it`);
          break;
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- (b) reference counts

/**
 * Long-term references an object holds on others (ids in the same context),
 * by type.  `self` counts a reference on the object itself held by something
 * outside the table (the driver's hold on a DEVICE).  Types not listed here
 * may hold references this module cannot see: while one exists, counts are
 * only checked as lower bounds.
 */
const HOLDS: Record<string, (data: any, id: number) => number[]> = {
  ioas: () => [],
  hwpt_paging: (d) => [d.ioas, d.fault],
  hwpt_nested: (d) => [d.viommu || d.parent, d.fault],
  device: (d, id) => [id, ...Object.values(d.attach as Record<number, number>)],
  viommu: (d) => [d.parent],
  vdevice: (d) => [d.viommu],
  veventq: (d) => [d.viommu],
  fault: () => [],
  hw_queue: (d) => [d.viommu, d.prev],
  // IOMMU_TEST_CMD objects (selftest.ts): the mock device's own hold is the DEVICE's driver hold.
  selftest: () => [],
  access: (d) => [d.ioas],
};

/** Objects whose users also count open fds (and their in-flight closes): lower bound only. */
const FD_HELD = new Set(['fault', 'veventq', 'access']);

export function checkRefcounts(s: Src): string[] {
  const v = asView(s);
  const out: string[] = [];
  const pending = v.pending();
  for (const { id: ctx, d } of contexts(v)) {
    const expected: Record<number, number> = {};
    const add = (id: number, n = 1) => {
      if (id) expected[id] = (expected[id] ?? 0) + n;
    };
    // Short-term: each in-flight call's lookups.
    const shortterm: Record<number, number> = {};
    for (const k in d.calls) for (const id of d.calls[k]!.refs) shortterm[id] = (shortterm[id] ?? 0) + 1;
    // Long-term: every object actor of this context that has not begun its destroy.
    let exact = true;
    const file = ctx.slice('iommufd:'.length);
    for (const aid of v.actorIds()) {
      if (!aid.startsWith(`obj:${file}:`)) continue;
      const a = v.actor(aid) as Live<any> & { context?: { data: any; id?: number; type?: string } };
      const c = a?.context as { data: any; id: number } | undefined;
      if (!c) continue;
      const kind = (a as { kind?: string }).kind ?? '';
      const type = kind.startsWith('obj.') ? kind.slice(4) : kind;
      const rule = HOLDS[type];
      if (!rule) {
        exact = false;
        continue;
      }
      if (destroying(c.data)) continue;
      for (const id of rule(c.data, c.id)) add(id);
    }
    // Releases posted but not yet applied by the context.
    for (const p of pending) {
      if (p.dst !== ctx || p.type !== 'request') continue;
      const b = p.body as { op?: string; id?: number };
      if (b.op === 'unref' && b.id) add(b.id);
      if (b.op === 'ref' && b.id) add(b.id, -1);
    }
    for (const k of Object.keys(d.table.entries)) {
      const e: ObjEntry = d.table.entries[Number(k)]!;
      if (e.users < 0 || e.shortterm < 0) {
        out.push(`${ctx}: object ${e.id} has users ${e.users}, shortterm ${e.shortterm} (negative)`);
        continue;
      }
      if (e.state === 'tombstone') continue;
      const st = shortterm[e.id] ?? 0;
      if (e.shortterm !== st) out.push(`${ctx}: object ${e.id} (${e.type}) has shortterm ${e.shortterm} but ${st} call(s) in flight hold it`);
      const want = 1 + st + (expected[e.id] ?? 0);
      if (exact && !FD_HELD.has(e.type) && e.users !== want) {
        out.push(`${ctx}: object ${e.id} (${e.type}) has users ${e.users}, holders account for ${want} (1 table + ${st} short-term + ${expected[e.id] ?? 0} long-term)`);
      } else if (e.users < want) {
        out.push(`${ctx}: object ${e.id} (${e.type}) has users ${e.users} < ${want} known holders`);
      }
    }
  }
  return out;
}

/** iopt_pages users: filled areas and access pins covering each page; a page is pinned iff it has users. */
export function checkPages(s: Src): string[] {
  const v = asView(s);
  const out: string[] = [];
  const want: Record<number, Record<number, number>> = {};
  const filledAreas: Record<number, number[]> = {};
  const add = (pagesId: number, a: number, b: number) => {
    const m = (want[pagesId] ??= {});
    for (let i = a; i <= b; i++) m[i] = (m[i] ?? 0) + 1;
  };
  for (const aid of v.actorIds()) {
    if (!aid.startsWith('obj:')) continue;
    const iopt = ioptOfActor(v, aid);
    if (!iopt) continue;
    for (const area of iopt.areas) {
      if (!area.filled) continue;
      add(area.pagesId, area.firstIndex, area.lastIndex);
      (filledAreas[area.pagesId] ??= []).push(area.id);
    }
    for (const pin of iopt.accessPins) {
      for (const area of iopt.areas) {
        if (area.last < pin.iova || area.iova > pin.last) continue;
        const lo = pin.iova > area.iova ? pin.iova : area.iova;
        const hi = pin.last < area.last ? pin.last : area.last;
        add(area.pagesId, Number((area.startByte + (lo - area.iova)) / 4096n), Number((area.startByte + (hi - area.iova)) / 4096n));
      }
    }
  }
  let pinned = 0;
  for (const k of Object.keys(v.world.pages.pages)) {
    const p: IoptPages = v.world.pages.pages[Number(k)]!;
    const w = want[p.id] ?? {};
    const idx = new Set([...Object.keys(p.users), ...Object.keys(w)].map(Number));
    let n = 0;
    for (const i of [...idx].sort((a, b) => a - b)) {
      const have = p.users[i] ?? 0;
      if (have !== (w[i] ?? 0)) {
        out.push(`iopt_pages ${p.id} page ${i}: users ${have}, but ${w[i] ?? 0} area(s)/pin(s) use it`);
        break;
      }
      if (have > 0 !== (p.pfns[i] !== undefined)) {
        out.push(`iopt_pages ${p.id} page ${i}: users ${have} but ${p.pfns[i] === undefined ? 'not pinned' : 'pinned'}`);
        break;
      }
      if (have > 0) n++;
    }
    if (n !== p.npinned) out.push(`iopt_pages ${p.id}: npinned ${p.npinned}, ${n} page(s) in use`);
    if (p.kref <= 0) out.push(`iopt_pages ${p.id}: kref ${p.kref} but still in the table`);
    const tree = (p.domainAreas ?? []).join(',');
    const filled = (filledAreas[p.id] ?? []).sort((a, b) => a - b).join(',');
    if (tree !== filled) out.push(`iopt_pages ${p.id}: domains tree holds areas [${tree}], but the areas filled into domains are [${filled}]`);
    pinned += p.npinned;
  }
  const frames = totalPins(v.world.mem.pm);
  if (pinned !== frames) out.push(`iopt_pages pin ${pinned} page(s) but physical memory has ${frames} pin(s)`);
  return out;
}

// ---------------------------------------------------------------- (c) nothing freed while referenced

export function checkNoUseAfterFree(s: Src): string[] {
  const v = asView(s);
  const out: string[] = [];
  for (const dl of v.deadLetters) {
    const op = (dl.env.body as { op?: string } | null)?.op;
    out.push(`${dl.env.type}${op ? ` (${op})` : ''} from ${dl.env.src} reached ${dl.retired ? 'freed' : 'unknown'} actor ${dl.env.dst} (seq ${dl.env.seq})`);
  }
  for (const { id: ctx, d } of contexts(v)) {
    for (const k of Object.keys(d.table.entries)) {
      const e = d.table.entries[Number(k)]!;
      if (e.state !== 'live') continue;
      const st = statusOf(v, e.actor);
      if (st === null) out.push(`${ctx}: object ${e.id} (${e.type}) is live in the table but its actor ${e.actor} is ${v.isRetired(e.actor) ? 'freed' : 'missing'}`);
      else if (st === 'destroying' || destroying(dataOf(v, e.actor))) out.push(`${ctx}: object ${e.id} (${e.type}) is live in the table while its actor ${e.actor} is being destroyed`);
    }
  }
  const kasan: string[] | undefined = v.world.kobj.kasan;
  for (const k of kasan ?? []) out.push(`KASAN: ${k}`);
  return out;
}

/** Every invariant; [] when the state is consistent. */
export function checkInvariants(s: Src): string[] {
  const v = asView(s);
  return [...checkDomains(v), ...checkRefcounts(v), ...checkPages(v), ...checkNoUseAfterFree(v)];
}
