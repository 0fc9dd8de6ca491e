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

export class XStateActor<W = unknown> implements SimActor<W> {
  private readonly actor: Actor<AnyStateMachine>;
  private failure: unknown = undefined;

  constructor(
    readonly id: string,
    readonly kind: string,
    machine: AnyStateMachine,
    opts: { input?: unknown; snapshot?: unknown },
  ) {
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
      this.actor.send({ type: env.type, env });
    } finally {
      current = prev;
    }
    if (this.failure !== undefined) {
      const f = this.failure;
      this.failure = undefined;
      throw f instanceof Error ? f : new Error(String(f));
    }
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
