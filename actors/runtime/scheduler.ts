/**
 * The scheduler owns every mailbox.  Actors only ever *post*; nothing is
 * delivered until the scheduler picks it.  Messages travel in channels, one
 * per (src, dst) pair, FIFO inside a channel (as a thread's or a device's
 * messages to one object stay in order), and any channel head may go next:
 * that choice is the concurrency the explorer searches.
 */
import type { Envelope, EnvelopeKind } from './envelope.ts';
import { createClock, tick, type ClockState } from './clock.ts';
import { createStrategy, restoreStrategy, type Candidate, type Strategy, type StrategySpec, type StrategyState } from './strategy.ts';

export interface Pending extends Candidate {
  readonly kind: EnvelopeKind;
  readonly body: unknown;
  readonly cause: number;
}

interface Channel {
  readonly q: Pending[];
  head: number;
}

export interface SchedulerState {
  nextId: number;
  seq: number;
  clock: ClockState;
  strategy: StrategyState;
  /** Every undelivered message, in posting order. */
  pending: Pending[];
}

export interface Pick {
  env: Envelope;
  /** Present when there was a real choice (two or more deliverable messages). */
  choice?: { index: number; of: number; pendingId: number };
}

export class Scheduler {
  /** src → dst → channel (two lookups on strings that are already hashed, no key to build). */
  private readonly channels = new Map<string, Map<string, Channel>>();
  /** Non-empty channels; kept small (one per concurrently talking pair). */
  private active: Channel[] = [];
  private nextId = 1;
  private seq = 0;
  private clock: ClockState = createClock();
  private strategy: Strategy;
  private readonly scratch: Pending[] = [];
  /** next()'s answer, reused: valid until the following call. */
  private readonly pick: Pick = { env: null as unknown as Envelope, choice: undefined };

  constructor(strategy: Strategy | StrategySpec = { name: 'fifo' }) {
    this.strategy = 'pick' in strategy ? strategy : createStrategy(strategy);
  }

  get strategyName(): string {
    return this.strategy.name;
  }
  get deliveries(): number {
    return this.seq;
  }
  get now(): number {
    return this.clock.now;
  }
  get pendingCount(): number {
    let n = 0;
    for (const c of this.active) n += c.q.length - c.head;
    return n;
  }

  post(src: string, dst: string, kind: EnvelopeKind, type: string, body: unknown, cause: number): Pending {
    const p: Pending = { id: this.nextId++, src, dst, kind, type, body, cause };
    this.enqueue(p);
    return p;
  }

  private enqueue(p: Pending): void {
    let bySrc = this.channels.get(p.src);
    if (!bySrc) this.channels.set(p.src, (bySrc = new Map()));
    let ch = bySrc.get(p.dst);
    if (!ch) bySrc.set(p.dst, (ch = { q: [], head: 0 }));
    if (ch.head === ch.q.length) {
      clear(ch.q);
      ch.head = 0;
      this.active.push(ch);
    }
    ch.q.push(p);
  }

  /** The deliverable messages, oldest first (the order strategies index into). */
  candidates(): Pending[] {
    const out: Pending[] = [];
    for (const c of this.active) out.push(c.q[c.head]!);
    out.sort((a, b) => a.id - b.id);
    return out;
  }

  /**
   * Pick, dequeue and stamp the next delivery; null when nothing is pending.
   * The returned object is reused by the next call (its `env` is not).
   */
  next(): Pick | null {
    const act = this.active;
    if (act.length === 0) return null;
    let chosen: Pending;
    let choice: Pick['choice'];
    if (act.length === 1) {
      // one talking pair: no choice, and its head leaves the channel directly
      const c = act[0]!;
      chosen = c.q[c.head++]!;
      if (c.head === c.q.length) {
        clear(act);
        clear(c.q);
        c.head = 0;
      }
    } else {
      const cands = this.scratch;
      clear(cands);
      for (const c of act) cands.push(c.q[c.head]!);
      cands.sort((a, b) => a.id - b.id);
      const index = this.strategy.pick(cands, this.seq + 1);
      chosen = cands[index]!;
      choice = { index, of: cands.length, pendingId: chosen.id };
      this.dequeue(chosen);
    }
    const env: Envelope = {
      seq: ++this.seq,
      t: tick(this.clock),
      src: chosen.src,
      dst: chosen.dst,
      kind: chosen.kind,
      type: chosen.type,
      body: chosen.body,
      cause: chosen.cause,
    };
    const pick = this.pick;
    pick.env = env;
    pick.choice = choice;
    return pick;
  }

  private dequeue(p: Pending): void {
    const act = this.active;
    for (let i = 0; i < act.length; i++) {
      const c = act[i]!;
      if (c.q[c.head] === p) {
        c.head++;
        if (c.head === c.q.length) {
          act.splice(i, 1);
          clear(c.q);
          c.head = 0;
        }
        return;
      }
    }
    throw new Error(`scheduler: pending message ${p.id} is not at a channel head`);
  }

  /** Drop every pending message addressed to `dst` (its actor is gone); returns them. */
  dropFor(dst: string): Pending[] {
    const dropped: Pending[] = [];
    this.active = this.active.filter((c) => {
      const head = c.q[c.head]!;
      if (head.dst !== dst) return true;
      dropped.push(...c.q.slice(c.head));
      clear(c.q);
      c.head = 0;
      return false;
    });
    return dropped;
  }

  pendingMessages(): Pending[] {
    const all: Pending[] = [];
    for (const c of this.active) for (let i = c.head; i < c.q.length; i++) all.push(c.q[i]!);
    return all.sort((a, b) => a.id - b.id);
  }

  persist(): SchedulerState {
    return {
      nextId: this.nextId,
      seq: this.seq,
      clock: { now: this.clock.now },
      strategy: this.strategy.persist(),
      pending: this.pendingMessages(),
    };
  }

  static restore(st: SchedulerState, strategy?: Strategy): Scheduler {
    const s = new Scheduler(strategy ?? restoreStrategy(st.strategy));
    s.nextId = st.nextId;
    s.seq = st.seq;
    s.clock = { now: st.clock.now };
    for (const p of st.pending) s.enqueue({ ...p });
    return s;
  }
}

/**
 * Empties `a`. These queues hold a message or two when emptied, and V8
 * inlines pop() while `length = 0` is a call into the runtime (on every
 * delivery that empties a channel).
 */
function clear(a: unknown[]): void {
  while (a.length !== 0) a.pop();
}
