/**
 * Hosts an xstate machine as a simulator actor.
 *
 * A machine never talks to another actor itself (no sendTo, no delays, no
 * invoked promises): its outgoing messages go through the `post` action,
 * whose implementation the host provides here and which hands them to the
 * scheduler.  One envelope is one `actor.send()`; the event is
 * `{ type: env.type, env }` so actions see the whole envelope.
 */
import { createActor, type Actor, type AnyStateMachine } from 'xstate';
import type { DeliveryContext, SimActor } from './actor.ts';
import type { Envelope, EnvelopeKind } from './envelope.ts';

let current: DeliveryContext<any> | null = null;

/** The delivery being handled; only valid inside a machine action. */
export function currentDelivery<W = unknown>(): DeliveryContext<W> {
  if (!current) throw new Error('machine action ran outside a delivery');
  return current as DeliveryContext<W>;
}

export interface PostParams {
  dst: string;
  kind: EnvelopeKind;
  type: string;
  body: unknown;
}

/** The host's implementation of the `post` action every machine declares. */
export function hostPost(_args: unknown, params: PostParams): void {
  currentDelivery().post(params.dst, params.kind, params.type, params.body);
}

/**
 * Objects are created while another actor's action runs (an ioctl allocating
 * an IOAS).  They are independent actors, not children, but xstate's
 * development build sees a context factory resolved inside a custom action
 * and warns about an imperative assign(); that one warning is muted here.
 */
function quietCreate<T>(make: () => T): T {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('Custom actions should not call `assign()`')) return;
    warn(...args);
  };
  try {
    return make();
  } finally {
    console.warn = warn;
  }
}

export interface MachineEvent<B = unknown> {
  type: string;
  env: Envelope<B>;
}

type ActionFn = (args: unknown, params: unknown) => void;
/** State value → event type → the actions of a plain targetless transition. */
type DirectTable = Map<string, Map<string, ActionFn[]>>;

const directTables = new WeakMap<AnyStateMachine, DirectTable>();

/**
 * The transitions of `machine` that may run without xstate's macrostep:
 * in a top-level atomic state with no `always` (and none on the root), an
 * event whose only transition has no target, no guard and only named custom
 * actions (no assign or other built-ins).  Taking such a transition changes
 * neither the state value nor any other part of the snapshot but what the
 * actions do to the context, so running the actions directly is the same
 * step.  Anything else (a target, a guard, an eventless transition to
 * re-check) goes through `actor.send`.
 */
function directTable(machine: AnyStateMachine): DirectTable {
  let t = directTables.get(machine);
  if (t) return t;
  t = new Map();
  const root = machine.root as any;
  const impl = (machine.implementations?.actions ?? {}) as Record<string, unknown>;
  if (!root.always?.length) {
    for (const [name, node] of Object.entries(root.states ?? {}) as [string, any][]) {
      if (node.type !== 'atomic' || node.always?.length || node.entry?.length || node.exit?.length) continue;
      const events = new Map<string, ActionFn[]>();
      const transitions = node.transitions as Map<string, any[]>;
      if ([...transitions.keys()].some((k) => k.includes('*'))) continue;
      for (const [type, list] of transitions) {
        if (list.length !== 1 || type.startsWith('xstate.')) continue;
        const tr = list[0];
        if (tr.target !== undefined || tr.guard !== undefined || tr.reenter) continue;
        const fns: ActionFn[] = [];
        for (const a of tr.actions as unknown[]) {
          const fn = typeof a === 'string' ? impl[a] : undefined;
          if (typeof fn !== 'function' || 'resolve' in fn) break;
          fns.push(fn as ActionFn);
        }
        if (fns.length === (tr.actions as unknown[]).length) events.set(type, fns);
      }
      t.set(name, events);
    }
  }
  directTables.set(machine, t);
  return t;
}

export interface XStateActorOptions {
  input?: unknown;
  snapshot?: unknown;
  /**
   * Run plain targetless transitions (see directTable) without xstate's
   * macrostep: for actors that handle many messages in one steady state
   * (the iommufd file context, an object's ops while it is live), where
   * xstate's per-send bookkeeping would dominate: it was a third of an
   * IOAS_MAP's cost.  Lifecycle transitions still go through the machine.
   */
  direct?: boolean;
}

export class XStateActor<W = unknown> implements SimActor<W> {
  private readonly actor: Actor<AnyStateMachine>;
  private failure: unknown = undefined;
  private readonly direct: DirectTable | null;

  constructor(
    readonly id: string,
    readonly kind: string,
    machine: AnyStateMachine,
    opts: XStateActorOptions,
  ) {
    this.direct = opts.direct ? directTable(machine) : null;
    this.actor = quietCreate(() =>
      opts.snapshot !== undefined
        ? createActor(machine, { id, snapshot: opts.snapshot as never })
        : createActor(machine, { id, input: opts.input as never }),
    );
    // xstate reports action errors asynchronously; capture them so a model
    // bug surfaces at the delivery that caused it, deterministically.
    this.actor.subscribe({ error: (e) => void (this.failure = e) });
    this.actor.start();
  }

  deliver(env: Envelope, ctx: DeliveryContext<W>): void {
    const prev = current;
    current = ctx;
    try {
      const fns = this.direct ? this.directActions(env.type) : undefined;
      if (fns) {
        const snap = this.actor.getSnapshot();
        const args = { context: snap.context, event: { type: env.type, env }, self: this.actor, system: this.actor.system };
        for (let i = 0; i < fns.length; i++) fns[i]!(args, undefined);
      } else this.actor.send({ type: env.type, env });
    } finally {
      current = prev;
    }
    if (this.failure !== undefined) {
      const f = this.failure;
      this.failure = undefined;
      throw f instanceof Error ? f : new Error(String(f));
    }
  }

  private directActions(type: string): ActionFn[] | undefined {
    const snap = this.actor.getSnapshot();
    if (snap.status !== 'active' || typeof snap.value !== 'string') return undefined;
    return this.direct!.get(snap.value)?.get(type);
  }

  persist(): unknown {
    return this.actor.getPersistedSnapshot();
  }

  status(): string {
    const v = this.actor.getSnapshot().value;
    return typeof v === 'string' ? v : JSON.stringify(v);
  }

  get done(): boolean {
    return this.actor.getSnapshot().status === 'done';
  }

  /** The machine's context (live object: read, do not mutate outside actions). */
  get context(): any {
    return this.actor.getSnapshot().context;
  }
}
