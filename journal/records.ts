/**
 * Payload shapes of the four record types (see frame.ts for the layout) and
 * the per-journal string table that keeps envelopes small.
 */
import { ENVELOPE_KINDS, type Envelope, type EnvelopeKind } from '../actors/runtime/envelope.ts';
import { TAG_END, TAG_ENV, TAG_HEADER, TAG_INPUT, TAG_SNAP, FORMAT_VERSION, type RecordType } from './frame.ts';

/** What the caller supplies for the header; every field but the version is opaque to the journal. */
export interface JournalHeaderInit {
  simulatorVersion: string;
  seed: unknown;
  topology?: unknown;
  configuration?: unknown;
  scenario?: unknown;
}

export interface JournalHeader extends JournalHeaderInit {
  formatVersion: number;
}

export interface Snapshot<S = unknown> {
  seq: number;
  state: S;
}

/** The trailer: counts as the writer saw them, plus whatever the caller adds. */
export interface JournalEnd {
  envelopes: number;
  snapshots: number;
  info: unknown;
}

export type JournalRecord =
  | { offset: number; type: 'header'; value: JournalHeader }
  | { offset: number; type: 'env'; value: Envelope }
  | { offset: number; type: 'input'; value: Envelope }
  | { offset: number; type: 'snap'; value: Snapshot }
  | { offset: number; type: 'end'; value: JournalEnd };

export const KIND_INDEX: ReadonlyMap<string, number> = new Map(ENVELOPE_KINDS.map((k, i) => [k, i]));

/**
 * Writer side of the string table: the first use of a string is written
 * inline and takes the next index; later uses write the index.
 */
export class StringInterner {
  private readonly index = new Map<string, number>();
  readonly strings: string[] = [];

  ref(s: string): string | number {
    const i = this.index.get(s);
    if (i !== undefined) return i;
    this.index.set(s, this.strings.length);
    this.strings.push(s);
    return s;
  }

  get size(): number {
    return this.strings.length;
  }

  /** Forget definitions made after `size` was `n` (their record was never written). */
  truncate(n: number): void {
    for (let i = n; i < this.strings.length; i++) this.index.delete(this.strings[i]!);
    this.strings.length = n;
  }
}

/**
 * Reader side: rebuilds the table from inline definitions, or starts from a
 * snapshot's copy of it.
 */
export class StringResolver {
  readonly strings: string[];

  constructor(initial: readonly string[] = []) {
    this.strings = initial.slice();
  }

  resolve(x: unknown): string {
    if (typeof x === 'string') {
      this.strings.push(x);
      return x;
    }
    if (typeof x === 'number' && x >= 0 && x < this.strings.length) return this.strings[x]!;
    throw new Error(`string reference ${describe(x)} is not in the table (${this.strings.length} entries)`);
  }
}

/** Resolver for a reader that already holds a table at least as long as this point in the file needs. */
export class FixedStrings extends StringResolver {
  override resolve(x: unknown): string {
    if (typeof x === 'string') return x;
    if (typeof x === 'number' && x >= 0 && x < this.strings.length) return this.strings[x]!;
    throw new Error(`string reference ${describe(x)} is not in the table (${this.strings.length} entries)`);
  }
}

/** A resolver over a table someone else keeps (a replay's re-recording writer): nothing is copied or added. */
export class LiveStrings extends StringResolver {
  constructor(private readonly table: readonly string[]) {
    super();
  }

  override resolve(x: unknown): string {
    if (typeof x === 'string') return x;
    if (typeof x === 'number' && x >= 0 && x < this.table.length) return this.table[x]!;
    throw new Error(`string reference ${describe(x)} is not in the table (${this.table.length} entries)`);
  }
}

function describe(x: unknown): string {
  return typeof x === 'bigint' ? `${x}n` : typeof x === 'number' ? String(x) : typeof x;
}

export function headerRow(h: JournalHeaderInit): unknown[] {
  return [TAG_HEADER, FORMAT_VERSION, h.simulatorVersion, h.seed, h.topology, h.configuration, h.scenario];
}

export function snapRow(seq: number, state: unknown, strings: readonly string[]): unknown[] {
  return [TAG_SNAP, seq, state, strings];
}

export function endRow(envelopes: number, snapshots: number, info: unknown): unknown[] {
  return [TAG_END, envelopes, snapshots, info];
}

/** Thrown by the row decoders; the reader wraps it with the record's offset. */
export class MalformedRecord extends Error {}

export function recordType(row: unknown): RecordType {
  if (!Array.isArray(row) || row.length === 0) throw new MalformedRecord('payload is not a tagged array');
  switch (row[0]) {
    case TAG_HEADER: return 'header';
    case TAG_ENV: return 'env';
    case TAG_SNAP: return 'snap';
    case TAG_END: return 'end';
    case TAG_INPUT: return 'input';
    default: throw new MalformedRecord(`unknown record tag ${describe(row[0])}`);
  }
}

function expectLength(row: unknown[], n: number, what: string): void {
  if (row.length !== n) throw new MalformedRecord(`${what} record has ${row.length} fields, expected ${n}`);
}

function expectSeq(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new MalformedRecord(`${what} is not a non-negative integer`);
  return x;
}

export function decodeEnvelopeRow(row: unknown[], strings: StringResolver): Envelope {
  expectLength(row, 9, row[0] === TAG_INPUT ? 'input' : 'env');
  const t = row[2];
  if (typeof t !== 'number') throw new MalformedRecord('envelope time is not a number');
  return {
    seq: expectSeq(row[1], 'envelope seq'),
    t,
    src: strings.resolve(row[3]),
    dst: strings.resolve(row[4]),
    kind: decodeKind(row[5]),
    type: strings.resolve(row[6]),
    body: row[7],
    cause: expectSeq(row[8], 'envelope cause'),
  };
}

function decodeKind(x: unknown): EnvelopeKind {
  if (typeof x === 'string') return x as EnvelopeKind;
  const k = typeof x === 'number' ? ENVELOPE_KINDS[x] : undefined;
  if (k === undefined) throw new MalformedRecord(`unknown envelope kind ${describe(x)}`);
  return k;
}

export function decodeHeaderRow(row: unknown[]): JournalHeader {
  expectLength(row, 7, 'header');
  if (row[1] !== FORMAT_VERSION) throw new MalformedRecord(`header format version ${describe(row[1])}, expected ${FORMAT_VERSION}`);
  if (typeof row[2] !== 'string') throw new MalformedRecord('header simulator version is not a string');
  return {
    formatVersion: FORMAT_VERSION,
    simulatorVersion: row[2],
    seed: row[3],
    topology: row[4],
    configuration: row[5],
    scenario: row[6],
  };
}

export function decodeSnapRow(row: unknown[]): { snap: Snapshot; strings: string[] } {
  expectLength(row, 4, 'snap');
  const strings = row[3];
  if (!Array.isArray(strings) || !strings.every((s) => typeof s === 'string')) {
    throw new MalformedRecord('snapshot string table is not a list of strings');
  }
  return { snap: { seq: expectSeq(row[1], 'snapshot seq'), state: row[2] }, strings };
}

export function decodeEndRow(row: unknown[]): JournalEnd {
  expectLength(row, 4, 'end');
  return { envelopes: expectSeq(row[1], 'end envelope count'), snapshots: expectSeq(row[2], 'end snapshot count'), info: row[3] };
}
