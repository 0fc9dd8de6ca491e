/**
 * A journal opened for replay and time travel.  The journal is the whole bug
 * report: its header rebuilds the simulation, its input records are injected
 * again at the same points, its choice records answer the scheduler, and
 * every delivery and snapshot the replay produces is compared, byte for
 * byte, with what was recorded.
 */
import { JournalReader, encodeValue, type JournalRecord } from '../journal/index.ts';
import type { Envelope } from '../actors/runtime/envelope.ts';
import type { RuntimeSnapshot } from '../actors/runtime/runtime.ts';
import { Simulation, SIMULATOR_VERSION, journalSnapshot, type SimHeader } from '../actors/sim.ts';
import type { World } from '../actors/world.ts';
import { FeedStrategy } from './feed-strategy.ts';

export type DivergenceKind = 'delivery' | 'missing-delivery' | 'extra-delivery' | 'state' | 'choice' | 'input-timing' | 'model-error';

export interface Divergence {
  kind: DivergenceKind;
  /** The delivery seq where the replay and the journal part ways. */
  step: number;
  message: string;
  expected?: Envelope;
  actual?: Envelope;
  /** Journal deliveries that caused the expected one, oldest first (cause links). */
  chain: Envelope[];
}

export interface ReplayProgress {
  (done: number, total: number): void;
}

export class ReplayError extends Error {}

/**
 * Structural equality with the journal codec's notion of "the same bytes":
 * same types (a number is not a bigint, -0 is not 0), same keys in the same
 * order, typed arrays of the same class and contents.  Much cheaper than
 * encoding both sides, which is what made replay slower than recording.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return typeof a !== 'number' || a !== 0 || Object.is(a, b);
  const ta = typeof a;
  if (ta !== typeof b || ta !== 'object' || a === null || b === null) return ta === 'number' && Number.isNaN(a) && Number.isNaN(b);
  if (ArrayBuffer.isView(a)) {
    if (!ArrayBuffer.isView(b) || a.constructor !== b.constructor || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || ArrayBuffer.isView(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i] || !sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The simulation options a journal header describes. */
export function headerOptions(reader: JournalReader): SimHeader {
  const c = reader.header.configuration as SimHeader | null;
  if (!c || typeof c !== 'object' || !('config' in c)) {
    throw new ReplayError('the journal header carries no simulation configuration (was it written by iommufd-sim?)');
  }
  return c;
}

/**
 * The part of a snapshot the model determines: everything but the
 * scheduling strategy's own memory, which a replay replaces with the
 * journal's recorded choices.
 */
export function modelState(s: RuntimeSnapshot<World>): unknown {
  // in the journal's form, so a live snapshot and a recorded one compare alike
  const j = journalSnapshot(s);
  return { ...j, scheduler: { ...j.scheduler, strategy: null } };
}

export class ReplaySession {
  readonly reader: JournalReader;
  readonly header: SimHeader;
  /** Deliveries in the journal (the last seq). */
  readonly total: number;
  private sim!: Simulation;
  private feed!: FeedStrategy;
  private records!: Generator<JournalRecord>;
  /** Per delivery seq: its cause and the journal offset of its record (for causal chains). */
  private readonly causeOf: Int32Array;
  private readonly offsetOf: Float64Array;
  /** Set once the replay parted from the journal; stepping stops there. */
  divergence: Divergence | null = null;
  readonly versionNote: string | null;

  constructor(reader: JournalReader) {
    this.reader = reader;
    this.header = headerOptions(reader);
    const v = reader.header.simulatorVersion;
    this.versionNote = v === SIMULATOR_VERSION ? null : `journal recorded by simulator ${v}; this is ${SIMULATOR_VERSION}`;
    let total = 0;
    for (const r of reader.recordsBackward()) {
      if (r.type === 'env' && r.value.kind !== 'choice') {
        total = r.value.seq;
        break;
      }
    }
    this.total = total;
    this.causeOf = new Int32Array(total + 1);
    this.offsetOf = new Float64Array(total + 1);
    this.reset(null);
  }

  static fromBytes(bytes: Uint8Array): ReplaySession {
    return new ReplaySession(JournalReader.fromBytes(bytes));
  }

  /** Where the replay is: the number of deliveries made. */
  get position(): number {
    return this.sim.rt.seq;
  }

  get simulation(): Simulation {
    return this.sim;
  }

  private options() {
    const h = this.header;
    return { seed: h.seed, strategy: h.strategy, config: h.config, totalPages: h.totalPages, snapshotEvery: h.snapshotEvery, topology: h.topology, hwBugs: h.hwBugs };
  }

  /** Start over from the beginning, or from a journaled snapshot. */
  private reset(snap: { seq: number; state: unknown } | null): void {
    this.feed = new FeedStrategy();
    this.divergence = null;
    if (snap) {
      // The decoded snapshot is ours alone, so the runtime may adopt it.
      this.sim = new Simulation(this.options(), { snapshot: snap.state as RuntimeSnapshot<World>, strategy: this.feed });
      this.records = this.reader.seekRecords(snap.seq).records;
    } else {
      this.sim = new Simulation(this.options(), { strategy: this.feed });
      this.records = this.reader.seekRecords(-1).records;
    }
  }

  /**
   * Advance by one delivery, applying the inputs and choices recorded before
   * it and checking it (and any snapshot after it) against the journal.
   * Returns false at the end of the journal or at a divergence.
   */
  step(): boolean {
    if (this.divergence) return false;
    for (;;) {
      const n = this.records.next();
      if (n.done) return this.finish();
      const rec = n.value;
      switch (rec.type) {
        case 'input':
          if (rec.value.seq !== this.position) {
            return this.diverge('input-timing', `input recorded after delivery ${rec.value.seq} arrives after ${this.position}`, rec.value);
          }
          this.sim.rt.inject(rec.value.src, rec.value.dst, rec.value.kind, rec.value.type, rec.value.body);
          continue;
        case 'snap':
          if (!this.checkSnapshot(rec.value.seq, rec.value.state)) return false;
          continue;
        case 'header':
        case 'end':
          continue;
        case 'env':
          if (rec.value.kind === 'choice') {
            this.feed.push((rec.value.body as { index: number }).index);
            continue;
          }
          return this.deliver(rec.value, rec.offset);
      }
    }
  }

  private deliver(expected: Envelope, offset: number): boolean {
    let actual: Envelope | null;
    try {
      actual = this.sim.rt.step();
    } catch (e) {
      return this.diverge('model-error', `the model threw while replaying delivery ${expected.seq}: ${(e as Error).message}`, expected);
    }
    if (this.feed.mismatch) {
      const m = this.feed.mismatch;
      return this.diverge('choice', `at step ${m.step} the model had ${m.candidates} deliverable messages but the journal ${m.recorded === undefined ? 'recorded no choice' : `chose #${m.recorded}`}`, expected, actual ?? undefined);
    }
    if (!actual) return this.diverge('missing-delivery', `the journal has delivery ${expected.seq} but the replay had nothing left to deliver`, expected);
    if (expected.seq <= this.total) {
      this.causeOf[expected.seq] = expected.cause;
      this.offsetOf[expected.seq] = offset;
    }
    if (!sameValue(actual, expected)) {
      return this.diverge('delivery', `delivery ${expected.seq} differs from the journal`, expected, actual);
    }
    return true;
  }

  private checkSnapshot(seq: number, state: unknown): boolean {
    if (seq !== this.position) return true; // a snapshot we restored from
    const live = encodeValue(modelState(this.sim.rt.snapshot()));
    if (sameBytes(live, encodeValue(modelState(state as RuntimeSnapshot<World>)))) return true;
    return this.diverge('state', `the state after delivery ${seq} differs from the journaled snapshot`);
  }

  /** End of the journal: the replay must have made every recorded delivery. */
  private finish(): boolean {
    if (this.position < this.total) return this.diverge('missing-delivery', `journal ends early at delivery ${this.position}`);
    return false;
  }

  private diverge(kind: DivergenceKind, message: string, expected?: Envelope, actual?: Envelope): false {
    const note = this.versionNote ? ` (${this.versionNote})` : '';
    this.divergence = {
      kind,
      step: expected?.seq ?? this.position,
      message: message + note,
      ...(expected ? { expected } : {}),
      ...(actual ? { actual } : {}),
      chain: expected ? this.chain(expected.cause) : [],
    };
    return false;
  }

  /** The journal deliveries that led to `cause`, oldest first. */
  chain(cause: number, limit = 32): Envelope[] {
    const out: Envelope[] = [];
    let c = cause;
    while (c > 0 && c <= this.total && out.length < limit) {
      const off = this.offsetOf[c];
      if (!off) break;
      const rec = this.reader.readAt(off);
      if (rec.type !== 'env') break;
      out.push(rec.value);
      c = this.causeOf[c]!;
    }
    return out.reverse();
  }

  /** Replay to the end (or the first divergence). */
  runToEnd(progress?: ReplayProgress): Divergence | null {
    let n = 0;
    while (this.step()) {
      if (progress && ++n % 4096 === 0) progress(this.position, this.total);
    }
    progress?.(this.position, this.total);
    return this.divergence;
  }

  /** Put the simulation at the state right after delivery `target` (0 = initial). */
  seek(target: number, progress?: ReplayProgress): void {
    if (target < 0 || target > this.total) throw new ReplayError(`step ${target} is outside the journal (0..${this.total})`);
    if (target < this.position || this.divergence) {
      const snap = this.reader.seekRecords(target).snapshot;
      this.reset(snap);
    } else {
      // Going forward: a snapshot closer to the target than where we are saves replaying.
      const snap = this.reader.seekRecords(target).snapshot;
      if (snap && snap.seq > this.position) this.reset(snap);
    }
    const from = this.position;
    while (this.position < target && this.step()) {
      if (progress && (this.position - from) % 4096 === 0) progress(this.position - from, target - from);
    }
    if (this.position !== target && !this.divergence) throw new ReplayError(`could not reach step ${target} (stopped at ${this.position})`);
  }

  /** The live state at the current position (references live objects; encode to keep). */
  state(): RuntimeSnapshot<World> {
    return this.sim.rt.snapshot();
  }
}
