/**
 * The runtime ties the scheduler, the actors and the bus together: one
 * `step()` is one delivery.  It is the only place that calls an actor.
 */
import type { ActorRestorer, DeliveryContext, SimActor } from './actor.ts';
import { Bus } from './bus.ts';
import type { Envelope, EnvelopeKind } from './envelope.ts';
import { Scheduler, type SchedulerState } from './scheduler.ts';
import type { Strategy, StrategySpec } from './strategy.ts';

export interface RuntimeOptions<W> {
  world: W;
  /** How to rebuild each kind of actor from its persisted state. */
  restorers?: Record<string, ActorRestorer<W>>;
  strategy?: Strategy | StrategySpec;
  /** Emit a snapshot on the bus every this many deliveries (0: never). */
  snapshotEvery?: number;
}

export interface ActorRecord {
  id: string;
  kind: string;
  state: unknown;
}

export interface RuntimeSnapshot<W = unknown> {
  seq: number;
  scheduler: SchedulerState;
  /** In spawn order, which is deterministic. */
  actors: ActorRecord[];
  retired: string[];
  world: W;
}

/** A message addressed to an actor that does not exist (or no longer does). */
export interface DeadLetter {
  env: Envelope;
  retired: boolean;
}

export class ModelError extends Error {
  constructor(
    message: string,
    readonly env: Envelope,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

class Delivery<W> implements DeliveryContext<W> {
  env!: Envelope;
  now = 0;
  constructor(private readonly rt: Runtime<W>) {}
  get world(): W {
    return this.rt.world;
  }
  post(dst: string, kind: EnvelopeKind, type: string, body: unknown): void {
    this.rt.scheduler.post(this.env.dst, dst, kind, type, body, this.env.seq);
  }
  spawn(actor: SimActor<W>): void {
    this.rt.spawn(actor);
  }
  retire(id: string): void {
    this.rt.retire(id);
  }
  has(id: string): boolean {
    return this.rt.actor(id) !== undefined;
  }
  peek(id: string): SimActor<W> | undefined {
    return this.rt.actor(id);
  }
}

export class Runtime<W = unknown> {
  readonly bus = new Bus();
  scheduler: Scheduler;
  world: W;
  readonly deadLetters: DeadLetter[] = [];
  private readonly actors = new Map<string, SimActor<W>>();
  private readonly retired = new Set<string>();
  private readonly delivery = new Delivery<W>(this);
  private readonly restorers: Record<string, ActorRestorer<W>>;
  private readonly snapshotEvery: number;

  constructor(opts: RuntimeOptions<W>) {
    this.world = opts.world;
    this.restorers = opts.restorers ?? {};
    this.scheduler = new Scheduler(opts.strategy ?? { name: 'fifo' });
    this.snapshotEvery = opts.snapshotEvery ?? 0;
  }

  spawn(actor: SimActor<W>): void {
    if (this.actors.has(actor.id)) throw new Error(`runtime: actor ${actor.id} already exists`);
    this.retired.delete(actor.id);
    this.actors.set(actor.id, actor);
  }

  retire(id: string): void {
    if (this.actors.delete(id)) this.retired.add(id);
  }

  actor(id: string): SimActor<W> | undefined {
    return this.actors.get(id);
  }

  actorIds(): string[] {
    return [...this.actors.keys()];
  }

  isRetired(id: string): boolean {
    return this.retired.has(id);
  }

  /** A scenario input: a message from outside the model (cause 0). */
  inject(src: string, dst: string, kind: EnvelopeKind, type: string, body: unknown): void {
    this.scheduler.post(src, dst, kind, type, body, 0);
    if (this.bus.input$.observed) {
      this.bus.input$.next({ seq: this.seq, t: this.scheduler.now, src, dst, kind, type, body, cause: 0 });
    }
  }

  get seq(): number {
    return this.scheduler.deliveries;
  }

  /** Deliver one message; null when nothing is pending. */
  step(): Envelope | null {
    const pick = this.scheduler.next();
    if (!pick) return null;
    const env = pick.env;
    if (pick.choice) {
      this.bus.choice$.next({
        seq: env.seq,
        t: env.t,
        src: 'scheduler',
        dst: env.dst,
        kind: 'choice',
        type: 'pick',
        body: { index: pick.choice.index, of: pick.choice.of },
        cause: env.cause,
      });
    }
    const actor = this.actors.get(env.dst);
    if (actor) {
      const d = this.delivery;
      d.env = env;
      d.now = env.t;
      try {
        actor.deliver(env, d);
      } catch (e) {
        throw new ModelError(`model error in ${env.dst} handling ${env.type} (seq ${env.seq}): ${(e as Error).message}`, env, e);
      }
    } else {
      this.deadLetters.push({ env, retired: this.retired.has(env.dst) });
    }
    // only when observed, as input$: an rxjs Subject.next makes a closure and an iterator even with no observer
    if (this.bus.delivered$.observed) this.bus.delivered$.next(env);
    if (this.snapshotEvery > 0 && env.seq % this.snapshotEvery === 0) {
      this.bus.snapshot$.next({ seq: env.seq, state: this.snapshot() });
    }
    return env;
  }

  /** Deliver until nothing is pending or `maxSteps` deliveries were made; returns how many. */
  run(maxSteps = Number.POSITIVE_INFINITY): number {
    let n = 0;
    while (n < maxSteps && this.step()) n++;
    return n;
  }

  /**
   * The whole state.  It references live objects: encode it (journal codec)
   * before the next step if it must be kept.
   */
  snapshot(): RuntimeSnapshot<W> {
    const actors: ActorRecord[] = [];
    for (const a of this.actors.values()) actors.push({ id: a.id, kind: a.kind, state: a.persist() });
    return { seq: this.seq, scheduler: this.scheduler.persist(), actors, retired: [...this.retired], world: this.world };
  }

  /** Rebuild from a snapshot that is not shared with anything else (e.g. freshly decoded). */
  static restore<W>(snap: RuntimeSnapshot<W>, opts: Omit<RuntimeOptions<W>, 'world'> & { strategy?: Strategy }): Runtime<W> {
    const rt = new Runtime<W>({ ...opts, world: snap.world });
    rt.scheduler = Scheduler.restore(snap.scheduler, opts.strategy);
    for (const rec of snap.actors) {
      const restore = rt.restorers[rec.kind];
      if (!restore) throw new Error(`runtime: no restorer for actor kind '${rec.kind}' (actor ${rec.id})`);
      rt.actors.set(rec.id, restore(rec.id, rec.state));
    }
    for (const id of snap.retired) rt.retired.add(id);
    return rt;
  }
}
