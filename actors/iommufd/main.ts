/**
 * The iommufd context actor (Linux main.c): one per open of /dev/iommu.  It
 * owns the object table, runs the dispatcher's generic checks, drives every
 * ioctl's conversation with the object actors, and tears everything down in
 * the kernel's order when the file is released.
 */
import type { DeliveryContext, SimActor } from '../runtime/actor.ts';
import type { Envelope } from '../runtime/envelope.ts';
import { XStateActor, currentDelivery, hostPost } from '../runtime/xstate-actor.ts';
import { ictxMachine, type IctxContext } from '../../machines/ictx.ts';
import { shouldFail, type World } from '../world.ts';
import { registerDeviceNode, registerFileKind, registerFileMmap } from '../kernel.ts';
import { dispatchIoctl, respond, respondField, type IoctlEntry } from '../../uapi/dispatch.ts';
import { decode } from '../../uapi/layout.ts';
import { EINVAL, ENOMEM, ENOTTY, ENXIO, EPERM } from '../../uapi/errno.ts';
import {
  createObjTable, objDecUsers, objFinalize, objGet, objIncUsers, objLiveIds, objPut, objRelease, objRemove, objReserve,
  type ObjEntry,
} from './object.ts';
import type { ObjectKind } from './object-actor.ts';
import type { Call, Ictx, IctxData, IoctlHandler, OpRet, Step } from './ioctl.ts';
import { IOCTL_HANDLERS } from './handlers.ts';
import { OBJECT_KINDS } from './kinds.ts';

export const ICTX_KIND = 'iommufd';

export function ictxActorId(file: number): string {
  return `iommufd:${file}`;
}

interface IoctlBody {
  cmd: number;
  arg: Uint8Array;
  pid: number;
}

type Args = { context: IctxContext; event: { type: string; env: Envelope<any> } };

/** The handler-facing view of one context during one delivery. */
class IctxImpl implements Ictx {
  constructor(
    readonly c: DeliveryContext<World>,
    readonly d: IctxData,
    readonly actorId: string,
  ) {}

  get(call: Call, id: number, type: Parameters<Ictx['get']>[2]): ObjEntry | number {
    const e = objGet(this.d.table, id, type);
    if (typeof e !== 'number') call.refs.push(id);
    return e;
  }

  send(call: Call, id: number, op: string, args: unknown): void {
    const e = this.d.table.entries[id];
    if (!e) throw new Error(`iommufd: send '${op}' to id ${id} that is not in the table`);
    this.c.post(e.actor, 'internal', 'op', { call: call.id, op, args });
  }

  alloc(kind: ObjectKind, data: Record<string, unknown>): ObjEntry | number {
    // _iommufd_object_alloc: kzalloc of the object, then xa_alloc of its id (two fail_nth points).
    if (shouldFail(this.c.world, 'obj_kzalloc') || shouldFail(this.c.world, 'obj_xa_alloc')) return ENOMEM;
    const e = objReserve(this.d.table, this.d.file, kind.type);
    if (typeof e === 'number') return e;
    const gen = (this.d.gens[e.id] = (this.d.gens[e.id] ?? 0) + 1);
    if (gen > 1) e.actor = `${e.actor}~${gen}`;
    this.c.spawn(kind.create(e.actor, { id: e.id, ctx: this.actorId, data }));
    return e;
  }

  finalize(id: number): void {
    objFinalize(this.d.table, id);
  }

  abort(call: Call, id: number): void {
    const e = this.d.table.entries[id];
    if (!e) return;
    // The half-built object tears down what it holds, then the id is reusable.
    (this.d.destroying ??= []).push(e.actor);
    this.c.post(e.actor, 'internal', 'destroy', { call: 0, abort: true });
    objRelease(this.d.table, id);
    call.refs = call.refs.filter((r) => r !== id);
  }

  destroy(call: Call | null, entry: ObjEntry): void {
    (this.d.destroying ??= []).push(entry.actor);
    this.c.post(entry.actor, 'internal', 'destroy', { call: call?.id ?? 0 });
  }

  incUsers(id: number): void {
    objIncUsers(this.d.table, id);
  }

  decUsers(id: number): void {
    objDecUsers(this.d.table, id);
  }
}

function view(context: IctxContext, env: Envelope): IctxImpl {
  return new IctxImpl(currentDelivery<World>(), context.data as IctxData, env.dst);
}

function reply(x: IctxImpl, thread: string, errno: number, arg?: Uint8Array, ret?: number | bigint): void {
  const body: { errno: number; arg?: Uint8Array; ret?: number | bigint } = { errno };
  if (arg) body.arg = arg;
  if (ret !== undefined) body.ret = ret;
  x.c.post(thread, 'reply', 'ioctl.ret', body);
}

/** Drop the call's short-term references and answer the thread. */
function finish(x: IctxImpl, call: Call, step: Exclude<Step, 'wait'>, entry: IoctlEntry): void {
  delete x.d.calls[call.id];
  for (const id of call.refs) if (x.d.table.entries[id]) objPut(x.d.table, id);
  call.refs = [];
  const errno = typeof step === 'number' ? step : step.errno;
  // Requests from other kernel actors (VFIO device files) get their results as data.
  if (call.name.startsWith('request:')) {
    // A fire-and-forget request from an object's destroy (veventq.gone): the requester is already freed, nobody to answer.
    if (!x.c.has(call.thread)) return;
    return void x.c.post(call.thread, 'reply', 'request.ret', { errno, out: call.s.out ?? null, tag: call.s.tag ?? null });
  }
  // VFIO compat ioctls write the user's bytes themselves (call.s.compatArg) and may return a value (call.s.ret).
  if (call.name === 'VFIO_COMPAT') return reply(x, call.thread, errno, call.s.compatArg, errno ? undefined : call.s.ret);
  const writeBack = errno === 0 || typeof step !== 'number';
  // A handler may return a value too (IOMMU_TEST_OP_DMABUF_GET returns the new fd).
  const ret = errno ? undefined : call.s.ret;
  if (!writeBack || entry.writeback === 'none') return reply(x, call.thread, errno, undefined, ret);
  const out = call.arg.slice();
  const wb = entry.writeback;
  const fault = typeof wb === 'object' ? respondField(entry, call.kbuf, out, wb.field) : respond(entry, call.kbuf, out, call.userSize);
  reply(x, call.thread, fault || errno, out, fault ? undefined : ret);
}

function settle(x: IctxImpl, call: Call, step: Step, entry: IoctlEntry): void {
  if (step === 'wait') {
    x.d.calls[call.id] = call;
    return;
  }
  finish(x, call, step, entry);
}

/**
 * The table entry of each command the dispatcher accepted, per build (a pure
 * function of cmd and testBuild): a resumed call finds its entry here instead
 * of being dispatched again.  After a restore the first resume fills it.
 */
const ENTRIES: [Map<number, IoctlEntry>, Map<number, IoctlEntry>] = [new Map(), new Map()];

const entryOf = (call: Call, testBuild: boolean): IoctlEntry => {
  const known = ENTRIES[testBuild ? 1 : 0].get(call.cmd >>> 0);
  if (known) return known;
  const d = dispatchIoctl(call.cmd, call.arg, { testBuild });
  if (d.route !== 'iommufd' || !d.ok) throw new Error(`iommufd: call ${call.id} lost its table entry`);
  ENTRIES[testBuild ? 1 : 0].set(call.cmd >>> 0, d.entry);
  return d.entry;
};

function onIoctl(x: IctxImpl, env: Envelope<IoctlBody>): void {
  const { cmd, arg, pid } = env.body;
  const d = dispatchIoctl(cmd, arg, { testBuild: x.c.world.config.testBuild });
  if (d.route === 'compat') {
    const compat = IOCTL_HANDLERS.VFIO_COMPAT;
    if (!compat) return reply(x, env.src, ENOTTY);
    const call = newCall(x, env, cmd, arg, pid, 'VFIO_COMPAT', arg.length, arg.slice());
    const step = compat.start(x, call, null, COMPAT_ENTRY);
    return settle(x, call, step, COMPAT_ENTRY);
  }
  if (!d.ok) return reply(x, env.src, d.errno);
  const h: IoctlHandler | undefined = IOCTL_HANDLERS[d.entry.name];
  if (!h) return reply(x, env.src, ENOTTY);
  ENTRIES[x.c.world.config.testBuild ? 1 : 0].set(cmd >>> 0, d.entry);
  const call = newCall(x, env, cmd, arg, pid, d.entry.name, d.userSize, d.kbuf);
  const step = h.start(x, call, decode(d.entry.layout, d.kbuf) as Record<string, unknown>, d.entry);
  settle(x, call, step, d.entry);
}

/** The VFIO type1 container ioctls have their own argsz rules; their handler writes back itself. */
const COMPAT_ENTRY = { name: 'VFIO_COMPAT', writeback: 'none' } as unknown as IoctlEntry;

function newCall(x: IctxImpl, env: Envelope, cmd: number, arg: Uint8Array, pid: number, name: string, userSize: number, kbuf: Uint8Array): Call {
  return { id: x.d.nextCall++, thread: env.src, pid, cmd, name, arg, userSize, kbuf, refs: [], s: {} };
}

function onResume(x: IctxImpl, env: Envelope<OpRet>): void {
  const call = x.d.calls[env.body.call];
  if (!call) throw new Error(`iommufd: answer for unknown call ${env.body.call} from id ${env.body.from}`);
  // Requests (an unbind waiting for short-term users) resume too; they have no table entry.
  const entry = call.name === 'VFIO_COMPAT' || call.name.startsWith('request:') ? COMPAT_ENTRY : entryOf(call, x.c.world.config.testBuild);
  const h = IOCTL_HANDLERS[call.name]!;
  if (!h.resume) throw new Error(`iommufd: ${call.name} got an answer but has no resume`);
  settle(x, call, h.resume(x, call, env.body), entry);
}

/** Requests from objects: reference changes they make as they are built or torn down. */
function onRequest(x: IctxImpl, env: Envelope<any>): void {
  const b = env.body;
  switch (b.op) {
    case 'unref':
      objDecUsers(x.d.table, b.id);
      return;
    case 'ref':
      objIncUsers(x.d.table, b.id);
      return;
    default: {
      const h = IOCTL_HANDLERS[`request:${b.op}`];
      if (!h) throw new Error(`iommufd: unknown request '${b.op}' from id ${b.from}`);
      const call = newCall(x, env, 0, new Uint8Array(0), b.pid ?? x.d.pid, `request:${b.op}`, 0, new Uint8Array(0));
      call.s.tag = b.tag ?? null;
      settle(x, call, h.start(x, call, b, COMPAT_ENTRY), COMPAT_ENTRY);
    }
  }
}

function onDestroyed(x: IctxImpl, env: Envelope<{ id: number; call: number }>): void {
  const { call: callId } = env.body;
  if (callId) {
    const call = x.d.calls[callId];
    if (call) {
      const h = IOCTL_HANDLERS[call.name]!;
      const entry = call.name.startsWith('request:') || call.name === 'VFIO_COMPAT' ? COMPAT_ENTRY : entryOf(call, x.c.world.config.testBuild);
      const step = h.resume ? h.resume(x, call, { call: callId, from: env.body.id, errno: 0, out: { destroyed: true } }) : 0;
      settle(x, call, step, entry);
    }
  }
  // Teardown still running anywhere keeps the context alive (its objects report back here).
  const inflight = x.d.destroying ?? [];
  const at = inflight.indexOf(env.src);
  if (at >= 0) inflight.splice(at, 1);
  const rel = x.d.releasing;
  if (!rel) return;
  const mine = rel.pending.indexOf(env.src);
  if (mine >= 0) rel.pending.splice(mine, 1);
  // A finished destroy may have made other objects leaves: run the next pass.
  if (rel.pending.length === 0 && inflight.length === 0) releasePass(x);
}

/**
 * One pass of iommufd_fops_release: destroy, in ascending id order, every
 * object nobody else references.  Passes repeat until the table is empty; a
 * pass that frees nothing while objects remain would be a kernel bug (leak).
 */
function releasePass(x: IctxImpl): void {
  const rel = x.d.releasing!;
  rel.pass++;
  const ids = objLiveIds(x.d.table);
  for (const id of ids) {
    const e = objRemove(x.d.table, id);
    if (typeof e === 'number') continue;
    rel.pending.push(e.actor);
    x.destroy(null, e);
  }
  rel.live = rel.pending.length;
  if (rel.pending.length || (x.d.destroying ?? []).length) return;
  if (ids.length > 0) rel.leaked = ids;
  // Tombstones are freed at the very end.
  for (const k of Object.keys(x.d.table.entries)) objRelease(x.d.table, Number(k));
}

/** No ioctl of this context is still running (each one holds the file, like fdget in the kernel). */
function noCallsInFlight(d: IctxData): boolean {
  for (const _ in d.calls) return false;
  return true;
}

export const ictxKindMachine = ictxMachine.provide({
  guards: {
    // Release waits for the ioctls issued before the last close: they hold the file.
    noFileRefs: ({ context }: { context: IctxContext }) => {
      const d = context.data as IctxData;
      return d.fileRefs === 0 && noCallsInFlight(d);
    },
  } as never,
  actions: {
    post: hostPost as never,
    ioctl: ({ context, event }: Args) => onIoctl(view(context, event.env), event.env),
    resume: ({ context, event }: Args) => onResume(view(context, event.env), event.env),
    request: ({ context, event }: Args) => onRequest(view(context, event.env), event.env),
    destroyed: ({ context, event }: Args) => onDestroyed(view(context, event.env), event.env),
    fileRef: ({ context, event }: Args) => {
      (context.data as IctxData).fileRefs += (event.env.body as { delta: number }).delta;
    },
    userClose: ({ context }: Args) => {
      (context.data as IctxData).userOpen = false;
    },
    beginRelease: ({ context, event }: Args) => {
      const x = view(context, event.env);
      x.d.releasing = { live: 0, pass: 0, leaked: [], pending: [] };
      releasePass(x);
    },
    finishRelease: ({ event }: Args) => {
      currentDelivery().retire(event.env.dst);
    },
  } as never,
});

export function createIctxActor(file: number, pid: number): SimActor<World> {
  const data: IctxData = {
    file,
    table: createObjTable(),
    gens: {},
    calls: {},
    nextCall: 1,
    fileRefs: 0,
    userOpen: true,
    rlimitMode: 0,
    vfioIoas: 0,
    pid,
  };
  return new XStateActor<World>(ictxActorId(file), ICTX_KIND, ictxKindMachine, { input: { file, data }, direct: true });
}

export function restoreIctxActor(id: string, state: unknown): SimActor<World> {
  return new XStateActor<World>(id, ICTX_KIND, ictxKindMachine, { snapshot: state, direct: true });
}

/** Every actor kind the iommufd core makes, for Runtime.restore. */
export function iommufdRestorers(): Record<string, (id: string, st: unknown) => SimActor<World>> {
  const r: Record<string, (id: string, st: unknown) => SimActor<World>> = { [ICTX_KIND]: restoreIctxActor };
  for (const k of OBJECT_KINDS) r[k.kind] = k.restore;
  return r;
}

registerDeviceNode('/dev/iommu', (ctx, file, pid) => {
  // iommufd_fops_open's kzalloc is deliberately not a fail_nth point: test/core counts IOAS_ALLOC as the first one after open.
  ctx.spawn(createIctxActor(file, pid));
  return { kind: 'iommufd', actor: ictxActorId(file), refs: 1 };
});

/**
 * iommufd_fops_mmap: only an exported region, exactly (offset and length),
 * shared and not executable.  The mapping holds a users reference on the
 * region's owner, so DESTROY of it is EBUSY until munmap.
 */
registerFileMmap(
  'iommufd',
  (ctx, desc, a) => {
    if (desc.kind !== 'iommufd') return { errno: ENXIO };
    const data = (ctx.peek(desc.actor) as unknown as { context?: { data: IctxData } } | undefined)?.context?.data;
    const length = BigInt(a.length);
    if (length % 4096n !== 0n) return { errno: EINVAL };
    if (!a.shared) return { errno: EINVAL };
    if (a.prot & PROT_EXEC) return { errno: EPERM };
    const region = data?.mmaps?.[BigInt(a.offset ?? 0).toString()];
    const owner = region && data!.table.entries[region.obj];
    if (!region || region.length !== length || !owner || owner.state !== 'live' || owner.users === 0) return { errno: ENXIO };
    objIncUsers(data!.table, region.obj);
    return { memfd: region.memfd, release: { ctx: desc.actor, obj: region.obj } };
  },
  (ctx, tag) => {
    const t = tag as { ctx: string; obj: number };
    const data = (ctx.peek(t.ctx) as unknown as { context?: { data: IctxData } } | undefined)?.context?.data;
    if (data?.table.entries[t.obj]) objDecUsers(data.table, t.obj);
  },
);

/** PROT_EXEC of mmap(2). */
const PROT_EXEC = 4;

registerFileKind('iommufd', (ctx, _file, desc) => {
  if (desc.kind === 'iommufd') ctx.post(desc.actor, 'internal', 'close', {});
});

