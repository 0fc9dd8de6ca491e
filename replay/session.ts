/**
 * A journal opened for replay and time travel.  The journal is the whole bug
 * report: its header rebuilds the simulation, its input records are injected
 * again at the same points, its choice records answer the scheduler, and
 * every delivery and snapshot the replay produces is compared, byte for
 * byte, with what was recorded.
 *
 * The replay records itself again, with a writer that continues the
 * journal's string table, and compares the bytes it writes with the
 * journal's: a delivery that matches is never decoded, so replaying costs
 * what recording did.  Only inputs, choices and snapshots are decoded, and
 * a record that differs is decoded to say how.
 */
import { JournalError, JournalReader, JournalWriter, encodeValue, type JournalRecord, type JournalSink } from '../journal/index.ts';
import { newFrame, TAG_END, TAG_ENV, TAG_HEADER, TAG_INPUT, TAG_SNAP, type Frame } from '../journal/frame.ts';
import { KIND_INDEX, LiveStrings } from '../journal/records.ts';
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
  /** The replay's own journal, compared as it is written (see compare). */
  private shadow!: JournalWriter;
  private strings!: LiveStrings;
  /** The next journal record to read, and how far the shadow's bytes have matched the journal's. */
  private jpos = 0;
  private matched = 0;
  /** Where the shadow first wrote something else than the journal holds (-1: nowhere yet). */
  private mismatchAt = -1;
  private fromStart = false;
  private envRecords = 0;
  private snapRecords = 0;
  private readonly frame: Frame = newFrame();
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
    this.reset(-1);
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

  /** Start over from the journaled snapshot nearest at or before `seq`, or from the beginning. */
  private reset(seq: number): void {
    const at = this.reader.seekRaw(seq);
    this.feed = new FeedStrategy();
    this.divergence = null;
    // The decoded snapshot is ours alone, so the runtime may adopt it.
    this.sim = at.snapshot
      ? new Simulation(this.options(), { snapshot: at.snapshot.state as RuntimeSnapshot<World>, strategy: this.feed })
      : new Simulation(this.options(), { strategy: this.feed });
    const sink: JournalSink = { write: (chunk) => this.compare(chunk) };
    this.shadow = new JournalWriter(sink, { continueWith: { strings: at.strings }, flushBytes: 1 << 16 });
    this.strings = new LiveStrings(this.shadow.stringTable);
    // the subscriptions Simulation.attachJournal makes, minus snapshots (compared as values)
    const bus = this.sim.rt.bus;
    bus.input$.subscribe((e) => this.shadow.writeInput(e));
    bus.choice$.subscribe((e) => this.shadow.writeEnvelope(e));
    bus.delivered$.subscribe((e) => this.shadow.writeEnvelope(e));
    this.jpos = this.matched = at.next;
    this.mismatchAt = -1;
    this.fromStart = at.snapshot === null;
    this.envRecords = this.snapRecords = 0;
  }

  /** The shadow writer's sink: its bytes must be the journal's, from `matched` on. */
  private compare(chunk: Uint8Array): void {
    if (this.mismatchAt >= 0) return;
    const j = this.reader.bytes;
    const at = this.matched;
    const n = chunk.length;
    let same = at + n <= j.length;
    for (let i = 0; same && i < n; i++) same = j[at + i] === chunk[i];
    if (same) this.matched = at + n;
    else this.mismatchAt = at;
  }

  /** Go on comparing from `end`, after a record that matched as a value but not as bytes. */
  private resync(end: number): void {
    this.matched = end;
    this.mismatchAt = -1;
  }

  /** Everything written so far matches and ends exactly at `end`. */
  private caughtUp(end: number): boolean {
    this.shadow.flush();
    return this.mismatchAt < 0 && this.matched === end;
  }


  /**
   * Advance by one delivery, applying the inputs and choices recorded before
   * it and checking it (and any snapshot after it) against the journal.
   * Returns false at the end of the journal or at a divergence.
   */
  step(): boolean {
    if (this.divergence) return false;
    const bytes = this.reader.bytes;
    const f = this.frame;
    for (;;) {
      if (this.jpos >= bytes.length) return this.finish();
      this.reader.frameAt(this.jpos, false, f);
      switch (bytes[f.start + 1]) {
        case TAG_ENV: {
          this.envRecords++;
          const choice = isChoiceRow(bytes, f.start);
          if (choice === false) return this.deliver(f.offset, f.next);
          const rec = this.decoded(f);
          if (rec.type !== 'env') throw new JournalError(f.offset, `record tagged as an envelope decodes as ${rec.type}`);
          if (rec.value.kind !== 'choice') return this.deliver(f.offset, f.next);
          this.feed.push((rec.value.body as { index: number }).index);
          this.jpos = f.next;
          continue;
        }
        case TAG_INPUT: {
          const rec = this.decoded(f);
          if (rec.type !== 'input') throw new JournalError(f.offset, `record tagged as an input decodes as ${rec.type}`);
          if (rec.value.seq !== this.position) {
            return this.diverge('input-timing', `input recorded after delivery ${rec.value.seq} arrives after ${this.position}`, rec.value);
          }
          this.jpos = f.next;
          this.sim.rt.inject(rec.value.src, rec.value.dst, rec.value.kind, rec.value.type, rec.value.body);
          // what was injected is the journal's value by definition; other bytes mean an older encoding of it
          if (!this.caughtUp(this.jpos)) this.resync(this.jpos);
          continue;
        }
        case TAG_SNAP: {
          const rec = this.decoded(f);
          if (rec.type !== 'snap') throw new JournalError(f.offset, `record tagged as a snapshot decodes as ${rec.type}`);
          this.snapRecords++;
          this.jpos = this.matched = f.next;
          if (!this.checkSnapshot(rec.value.seq, rec.value.state)) return false;
          continue;
        }
        case TAG_END: {
          const rec = this.decoded(f);
          if (rec.type !== 'end') throw new JournalError(f.offset, `record tagged as the end decodes as ${rec.type}`);
          if (f.next !== bytes.length) throw new JournalError(f.next, 'data after the end record');
          if (this.fromStart && (rec.value.envelopes !== this.envRecords || rec.value.snapshots !== this.snapRecords)) {
            throw new JournalError(f.offset, `end record counts ${rec.value.envelopes} envelopes and ${rec.value.snapshots} snapshots, the journal holds ${this.envRecords} and ${this.snapRecords}`);
          }
          this.jpos = this.matched = f.next;
          continue;
        }
        case TAG_HEADER:
          throw new JournalError(f.offset, 'second header record');
        default:
          this.decoded(f); // the reader names what is wrong with it
          throw new JournalError(f.offset, 'record of an unknown type');
      }
    }
  }

  /** A record the replay needs the value of: CRC checked, decoded against the shadow's string table. */
  private decoded(f: Frame): JournalRecord {
    this.reader.frameAt(f.offset, true, f);
    return this.reader.decodeFrame(f, this.strings);
  }

  /** Make the next delivery; it must journal as exactly the bytes up to `next` (its choice, if any, and itself). */
  private deliver(offset: number, next: number): boolean {
    let actual: Envelope | null;
    try {
      actual = this.sim.rt.step();
    } catch (e) {
      return this.diverge('model-error', `the model threw while replaying delivery ${this.position + 1}: ${(e as Error).message}`, this.expectedAt(offset));
    }
    if (this.feed.mismatch) {
      const m = this.feed.mismatch;
      return this.diverge('choice', `at step ${m.step} the model had ${m.candidates} deliverable messages but the journal ${m.recorded === undefined ? 'recorded no choice' : `chose #${m.recorded}`}`, this.expectedAt(offset), actual ?? undefined);
    }
    if (!actual) {
      const expected = this.expectedAt(offset);
      return this.diverge('missing-delivery', `the journal has delivery ${expected?.seq ?? this.position + 1} but the replay had nothing left to deliver`, expected);
    }
    if (!this.caughtUp(next)) {
      // damage in the journal is a journal error, not a divergence
      this.reader.frameAt(offset, true, newFrame());
      const expected = this.expectedAt(offset);
      if (this.mismatchAt >= 0 && this.mismatchAt < offset) {
        return this.diverge('choice', `the scheduler's choice before delivery ${actual.seq} differs from the journal's`, expected, actual);
      }
      // The same envelope written by an older codec (journal/format.md, Compatibility) is no divergence.
      if (!expected || !sameBytes(encodeValue(expected), encodeValue(actual))) {
        return this.diverge('delivery', `delivery ${expected?.seq ?? actual.seq} differs from the journal`, expected, actual);
      }
      this.resync(next);
    }
    if (actual.seq <= this.total) {
      this.causeOf[actual.seq] = actual.cause;
      this.offsetOf[actual.seq] = offset;
    }
    this.jpos = next;
    return true;
  }

  /** The journal's envelope at `offset`, decoded with the whole journal's string table (for messages). */
  private expectedAt(offset: number): Envelope | undefined {
    const rec = this.reader.readAt(offset);
    return rec.type === 'env' || rec.type === 'input' ? rec.value : undefined;
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
    if (target < this.position || this.divergence) this.reset(target);
    else {
      // Going forward: a snapshot closer to the target than where we are saves replaying.
      const snap = this.reader.seekRaw(target).snapshot;
      if (snap && snap.seq > this.position) this.reset(target);
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

/**
 * Whether the envelope row at `p` is a scheduler choice, read from its kind
 * field without decoding the row; null when the row is not in the shape the
 * writer produces (then it is decoded, and the reader says what is wrong).
 */
function isChoiceRow(b: Uint8Array, p: number): boolean | null {
  if (b[p] !== 0x99) return null;
  let q = p + 2; // array header, tag
  for (let field = 0; field < 4 && q >= 0; field++) q = skipScalar(b, q); // seq, t, src, dst
  if (q < 0) return null;
  const k = b[q]!;
  return k < 0x80 ? k === CHOICE_KIND : null;
}

const CHOICE_KIND = KIND_INDEX.get('choice')!;

/** Offset just past the msgpack number or string at `p`, or -1 for anything else. */
function skipScalar(b: Uint8Array, p: number): number {
  const c = b[p]!;
  if (c < 0x80 || c >= 0xe0) return p + 1;
  if ((c & 0xe0) === 0xa0) return p + 1 + (c & 0x1f);
  switch (c) {
    case 0xcc: case 0xd0: return p + 2;
    case 0xcd: case 0xd1: return p + 3;
    case 0xce: case 0xd2: case 0xca: return p + 5;
    case 0xcf: case 0xd3: case 0xcb: return p + 9;
    case 0xd9: return p + 2 + b[p + 1]!;
    case 0xda: return p + 3 + ((b[p + 1]! << 8) | b[p + 2]!);
    default: return -1;
  }
}
