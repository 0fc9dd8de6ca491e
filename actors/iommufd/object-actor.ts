/**
 * Binds an object type's lifecycle machine (machines/<type>.ts) to its
 * behaviour (actors/iommufd/<type>.ts).  The behaviour is a table of
 * operations plus destroy hooks; this file supplies them to the machine as
 * xstate actions once per type, and gives them a small `ObjSelf` handle to
 * reply, post and reach the shared world.
 */
import type { AnyStateMachine } from 'xstate';
import type { DeliveryContext, SimActor } from '../runtime/actor.ts';
import type { Envelope } from '../runtime/envelope.ts';
import { XStateActor, currentDelivery, hostPost } from '../runtime/xstate-actor.ts';
import type { ObjContext } from '../../machines/common.ts';
import type { World } from '../world.ts';
import { ENOENT } from '../../uapi/errno.ts';
import type { ObjType } from './object.ts';

/** An operation's result; `out` goes back to the ioctl that asked. */
export interface OpResult {
  errno: number;
  out?: Record<string, unknown>;
}

/** The message an object receives for an operation. */
export interface OpBody {
  /** Id of the ioctl call in the context (0 when not part of a call). */
  call: number;
  op: string;
  args: any;
  /** Invoked synchronously by invokeOp: the result is returned, not posted. */
  sync?: boolean;
}

export interface ObjSelf {
  readonly context: ObjContext;
  readonly data: any;
  readonly env: Envelope<any>;
  readonly c: DeliveryContext<World>;
  readonly world: World;
  /** This object's actor id. */
  readonly actorId: string;
  post(dst: string, kind: Envelope['kind'], type: string, body: unknown): void;
  /** Ask the owning context for something (drop a reference, tombstone...). */
  request(op: string, args: Record<string, unknown>): void;
  /** Count a teardown reply we must wait for before being freed. */
  expect(n?: number): void;
}

/** Returning `null` means the operation answers later (it started a conversation). */
export type OpFn = (o: ObjSelf, args: any, body: OpBody) => OpResult | null;

export interface ObjectBehaviour {
  type: ObjType;
  ops: Record<string, OpFn>;
  /** Type destroy: release what the object holds; call `o.expect()` per reply to wait for. */
  destroy?(o: ObjSelf): void;
  /** A reply during teardown; the count of outstanding replies drops by one afterwards. */
  destroyStep?(o: ObjSelf, body: any): void;
  /** Just before the object is freed. */
  finish?(o: ObjSelf): void;
  /** Hardware or sibling traffic ('event'). */
  event?(o: ObjSelf, body: any): void;
  /** The errno for an op that reaches the object while it is being destroyed. */
  lateOpErrno?: number;
}

/** One per delivery; methods on the prototype so making it allocates no closures. */
class ObjSelfImpl implements ObjSelf {
  readonly data: any;
  readonly world: World;
  readonly actorId: string;
  constructor(
    readonly context: ObjContext,
    readonly env: Envelope<any>,
    readonly c: DeliveryContext<World>,
  ) {
    this.data = context.data;
    this.world = c.world;
    this.actorId = env.dst;
  }
  post(dst: string, kind: Envelope['kind'], type: string, body: unknown): void {
    this.c.post(dst, kind, type, body);
  }
  request(op: string, args: Record<string, unknown>): void {
    this.c.post(this.context.ctx, 'internal', 'request', { op, from: this.context.id, ...args });
  }
  expect(n = 1): void {
    const td = (this.context.data.teardown ??= { outstanding: 0 });
    td.outstanding += n;
  }
}

function self(context: ObjContext, env: Envelope<any>): ObjSelf {
  return new ObjSelfImpl(context, env, currentDelivery<World>());
}

/** Where a synchronous invocation's result lands (see invokeOp). */
let syncResult: OpResult | null = null;

/** Reply to the context for the call that sent `env` (or hand it to a synchronous caller). */
export function replyOp(o: ObjSelf, call: number, r: OpResult, sync = false): void {
  if (sync) {
    syncResult = r;
    return;
  }
  // Call 0: nobody waits (an fd close, a hardware notification).
  if (call === 0) return;
  o.c.post(o.context.ctx, 'internal', 'op.ret', { call, from: o.context.id, errno: r.errno, out: r.out });
}

/**
 * Run an object's operation synchronously, inside the current delivery: a
 * kernel function calling into another object while holding the locks that
 * make the whole sequence atomic (e.g. device attach under the group and
 * IOAS mutexes).  It goes through the object's machine like any event, so a
 * state that refuses the op answers with its errno, and lifecycle guards
 * are re-evaluated afterwards.  Nothing is journaled: it is part of the
 * caller's delivery.
 */
export function invokeOp(c: DeliveryContext<World>, actorId: string, op: string, args: unknown): OpResult {
  const actor = c.peek(actorId);
  if (!actor) throw new Error(`invoke '${op}' on ${actorId}, which does not exist`);
  syncResult = null;
  actor.deliver({ ...c.env, src: c.env.dst, dst: actorId, kind: 'internal', type: 'op', body: { call: 0, op, args, sync: true } }, c);
  const r = syncResult as OpResult | null;
  syncResult = null;
  if (!r) throw new Error(`${actorId}: operation '${op}' cannot run synchronously`);
  return r;
}

type Args = { context: ObjContext; event: { type: string; env: Envelope<any> } };

function provide(machine: AnyStateMachine, b: ObjectBehaviour): AnyStateMachine {
  return machine.provide({
    actions: {
      post: hostPost as never,
      handleOp: ({ context, event }: Args) => {
        const o = self(context, event.env);
        const body = event.env.body as OpBody;
        const fn = b.ops[body.op];
        if (!fn) throw new Error(`${b.type}: no operation '${body.op}'`);
        const r = fn(o, body.args, body);
        if (r) replyOp(o, body.call, r, body.sync);
      },
      rejectOp: ({ context, event }: Args) => {
        const body = event.env.body as OpBody;
        replyOp(self(context, event.env), body.call, { errno: b.lateOpErrno ?? ENOENT }, body.sync);
      },
      beginDestroy: ({ context, event }: Args) => {
        context.data.destroyCall = (event.env.body as { call?: number })?.call ?? 0;
        b.destroy?.(self(context, event.env));
      },
      destroyStep: ({ context, event }: Args) => {
        b.destroyStep?.(self(context, event.env), event.env.body);
        context.data.teardown.outstanding--;
      },
      finishDestroy: ({ context, event }: Args) => {
        const o = self(context, event.env);
        b.finish?.(o);
        o.c.post(context.ctx, 'internal', 'destroy.done', { id: context.id, call: context.data.destroyCall ?? 0 });
        o.c.retire(o.actorId);
      },
      handleEvent: ({ context, event }: Args) => {
        b.event?.(self(context, event.env), event.env.body);
      },
    } as never,
  });
}

export interface ObjectKind {
  readonly type: ObjType;
  /** Actor kind name, for the restore registry. */
  readonly kind: string;
  create(actorId: string, input: ObjContext): SimActor<World>;
  restore(actorId: string, state: unknown): SimActor<World>;
}

/** One per object type: the machine with its behaviour, and how to make or restore an actor. */
export function defineObjectKind(machine: AnyStateMachine, b: ObjectBehaviour): ObjectKind {
  const m = provide(machine, b);
  const kind = `obj.${b.type}`;
  return {
    type: b.type,
    kind,
    create: (id, input) => new XStateActor<World>(id, kind, m, { input, direct: true }),
    restore: (id, state) => new XStateActor<World>(id, kind, m, { snapshot: state, direct: true }),
  };
}
