/**
 * The time-travel view of a simulation state: what `inspect`, `diff`,
 * `bisect` and `tt` show and what predicates are written against.  It is
 * built from a RuntimeSnapshot, so a live state and one restored from a
 * journal give the same view (the test suite checks exactly that).
 */
import type { RuntimeSnapshot } from '../actors/runtime/runtime.ts';
import type { World } from '../actors/world.ts';
import type { IctxData } from '../actors/iommufd/ioctl.ts';
import type { ObjEntry } from '../actors/iommufd/object.ts';
import { totalPins, framesInUse } from '../hardware/physmem.ts';
import { translationView } from '../actors/hw/translation.ts';
import { svaView } from '../actors/hw/sva-state.ts';

export interface ObjectView {
  id: number;
  type: string;
  /** Slot in the table: reserved, live or tombstone. */
  slot: string;
  users: number;
  shortterm: number;
  actor: string;
  /** The object's lifecycle machine state (e.g. 'live', 'bound.attached'). */
  lifecycle: string;
  /** Ids this object holds references on (edges of the object graph). */
  refs: number[];
  detail: Record<string, unknown>;
}

export interface ContextView {
  actor: string;
  file: number;
  lifecycle: string;
  fileRefs: number;
  rlimitMode: number;
  vfioIoas: number;
  callsInFlight: number;
  objects: ObjectView[];
}

export interface InspectView {
  seq: number;
  t: number;
  contexts: ContextView[];
  processes: { pid: number; uid: number; lockedVm: number; pinnedVm: number; vmas: number; fds: Record<string, number>; exited: boolean }[];
  threads: { id: string; status: string; calls: number; lastErrno: number | null; failures: number }[];
  pages: { id: number; kind: string; pid: number; npages: number; npinned: number; writable: boolean; kref: number }[];
  memory: { framesInUse: number; pinnedFrames: number; lockedVmByUser: Record<string, number> };
  queued: { id: number; src: string; dst: string; kind: string; type: string; cause: number }[];
  /** Hardware state contributed by hardware actors (domains, page tables, IOTLB), by actor id. */
  hardware: Record<string, unknown>;
  retired: number;
}

/** Per object type: what the detail shows and which ids the object references. */
export type ObjectDescriber = (data: any) => { detail: Record<string, unknown>; refs: number[] };

const describers: Record<string, ObjectDescriber> = {
  ioas: (d) => ({
    detail: {
      areas: (d.iopt?.areas ?? []).map((a: any) => ({ iova: a.iova, last: a.last, prot: a.iommuProt, pages: a.pagesId, ...(a.creating ? { creating: true } : {}), ...(a.numAccesses ? { accesses: a.numAccesses } : {}) })),
      allowed: d.iopt?.allowed ?? [],
      reserved: d.iopt?.reserved ?? [],
      domains: (d.iopt?.domains ?? []).map((x: any) => x.id),
      iovaAlignment: d.iopt?.iovaAlignment,
    },
    refs: [],
  }),
};

describers.device = (d) => ({
  detail: { dev: d.dev, iommu: d.iommu, group: d.group, attach: d.attach, ...(d.mock ? { mock: true } : {}), ...(d.vdevice ? { vdevice: d.vdevice } : {}) },
  refs: Object.values(d.attach as Record<string, number>),
});
describers.hwpt_paging = (d) => ({
  detail: { domain: d.domain, ioas: d.ioas, auto: d.auto, attached: d.attached, format: d.params?.format, nestParent: d.params?.nestParent, dirtyTracking: d.params?.dirtyTracking, dirtyEnabled: d.dirtyEnabled, ...(d.fault ? { fault: d.fault } : {}) },
  refs: [d.ioas, ...(d.fault ? [d.fault] : [])],
});
describers.hwpt_nested = (d) => ({
  detail: { domain: d.domain, parent: d.parent, viommu: d.viommu, attached: d.attached, config: d.params?.config?.kind },
  refs: [d.viommu || d.parent, ...(d.fault ? [d.fault] : [])],
});

/** Object types register how they are shown (hardware and later objects add theirs). */
export function registerDescriber(type: string, fn: ObjectDescriber): void {
  describers[type] = fn;
}

/** Hardware actors contribute a section of the view (keyed by actor kind). */
const hardwareViews: Record<string, (state: any, world: World) => unknown> = { translation: translationView, sva: svaView };
export function registerHardwareView(kind: string, fn: (state: any, world: World) => unknown): void {
  hardwareViews[kind] = fn;
}

function lifecycleOf(state: any): string {
  const v = state?.value;
  if (v === undefined) return state?.status ?? '?';
  if (typeof v === 'string') return v;
  const flat = (x: any): string => (typeof x === 'string' ? x : Object.entries(x).map(([k, s]) => `${k}.${flat(s)}`).join(','));
  return flat(v);
}

function objectView(e: ObjEntry, actorState: any): ObjectView {
  const data = actorState?.context?.data;
  const d = data !== undefined ? describers[e.type]?.(data) : undefined;
  return {
    id: e.id,
    type: e.type,
    slot: e.state,
    users: e.users,
    shortterm: e.shortterm,
    actor: e.actor,
    lifecycle: actorState ? lifecycleOf(actorState) : 'freed',
    refs: d?.refs ?? [],
    detail: d?.detail ?? {},
  };
}

export function inspectState(snap: RuntimeSnapshot<World>): InspectView {
  const byId = new Map(snap.actors.map((a) => [a.id, a]));
  const contexts: ContextView[] = [];
  const threads: InspectView['threads'] = [];
  const hardware: Record<string, unknown> = {};
  for (const a of snap.actors) {
    if (a.kind === 'iommufd') {
      const st = a.state as any;
      const d = st.context.data as IctxData;
      const ids = Object.keys(d.table.entries).map(Number).sort((x, y) => x - y);
      contexts.push({
        actor: a.id,
        file: d.file,
        lifecycle: lifecycleOf(st),
        fileRefs: d.fileRefs,
        rlimitMode: d.rlimitMode,
        vfioIoas: d.vfioIoas,
        callsInFlight: Object.keys(d.calls).length,
        objects: ids.map((id) => {
          const e = d.table.entries[id]!;
          return objectView(e, byId.get(e.actor)?.state);
        }),
      });
    } else if (a.kind === 'thread') {
      const st = a.state as any;
      threads.push({ id: a.id, status: st.waiting ? 'in-syscall' : 'idle', calls: st.completed, lastErrno: st.last ? st.last.errno : null, failures: st.failures.length });
    } else if (hardwareViews[a.kind]) {
      hardware[a.id] = hardwareViews[a.kind]!(a.state, snap.world);
    }
  }
  const w = snap.world;
  const users: Record<string, number> = {};
  for (const [uid, u] of Object.entries(w.mem.users)) users[uid] = u.lockedVm;
  return {
    seq: snap.seq,
    t: snap.scheduler.clock.now,
    contexts,
    processes: Object.values(w.mem.mms).map((mm) => ({
      pid: mm.pid,
      uid: mm.uid,
      lockedVm: mm.lockedVm,
      pinnedVm: mm.pinnedVm,
      vmas: mm.vmas.length,
      fds: Object.fromEntries(Object.entries(w.procs[mm.pid]?.fds ?? {}).map(([fd, file]) => [fd, file])),
      exited: mm.exited,
    })),
    threads,
    pages: Object.values(w.pages.pages).map((p) => ({ id: p.id, kind: p.kind, pid: p.pid, npages: p.npages, npinned: p.npinned, writable: p.writable, kref: p.kref })),
    memory: { framesInUse: framesInUse(w.mem.pm), pinnedFrames: totalPins(w.mem.pm), lockedVmByUser: users },
    queued: snap.scheduler.pending.map((p) => ({ id: p.id, src: p.src, dst: p.dst, kind: p.kind, type: p.type, cause: p.cause })),
    hardware,
    retired: snap.retired.length,
  };
}

/** Every object of every context, flat (what predicates usually want). */
export function allObjects(v: InspectView): (ObjectView & { ctx: string })[] {
  return v.contexts.flatMap((c) => c.objects.map((o) => ({ ...o, ctx: c.actor })));
}

/** The object graph in Graphviz DOT: contexts own objects; objects reference objects. */
export function toDot(v: InspectView): string {
  const lines = ['digraph iommufd {', '  rankdir=LR;', '  node [shape=box, fontname="monospace"];'];
  for (const c of v.contexts) {
    const cn = `"${c.actor}"`;
    lines.push(`  ${cn} [shape=folder, label="${c.actor}\\n${c.lifecycle}"];`);
    for (const o of c.objects) {
      const n = `"${c.actor}/${o.id}"`;
      lines.push(`  ${n} [label="#${o.id} ${o.type}\\n${o.lifecycle}\\nusers=${o.users}${o.shortterm ? ` st=${o.shortterm}` : ''}"${o.slot !== 'live' ? ', style=dashed' : ''}];`);
      lines.push(`  ${cn} -> ${n} [style=dotted, arrowhead=none];`);
      for (const r of o.refs) lines.push(`  ${n} -> "${c.actor}/${r}";`);
    }
  }
  lines.push('}');
  return lines.join('\n');
}
