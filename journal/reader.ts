/**
 * Journal reader.  Every path that hands out a record has checked its
 * framing and CRC and decoded it strictly; anything wrong becomes a
 * JournalError naming the byte offset.  Random access (readAt, backwards
 * iteration, seeking) rests on a light index of record offsets that is
 * built on first use from the length fields alone.
 */
import { readFileSync } from 'node:fs';
import type { Envelope } from '../actors/runtime/envelope.ts';
import { decodeRange } from './codec.ts';
import { JournalError } from './errors.ts';
import {
  FILE_HEADER_BYTES, TAG_SNAP, checkFileHeader, newFrame, previousRecordOffset, probeFrame, type Frame,
} from './frame.ts';
import {
  FixedStrings, StringResolver, decodeEndRow, decodeEnvelopeRow, decodeHeaderRow, decodeSnapRow, recordType,
  type JournalHeader, type JournalRecord, type Snapshot,
} from './records.ts';

export interface SnapshotRef {
  seq: number;
  offset: number;
}

export interface SeekResult {
  /** The nearest snapshot at or before the wanted seq, or null to start from the beginning. */
  snapshot: (Snapshot & { offset: number }) | null;
  /** Envelopes after the snapshot (or all of them), in order, to the end of the journal. */
  envelopes: Generator<Envelope>;
}

/** Where a forward walk starts and what it knows at that point. */
interface WalkStart {
  offset: number;
  strings: StringResolver;
  /** Index of the record at `offset`, when the walk starts from a known place. */
  index: number | undefined;
}

interface Index {
  offsets: number[];
  snapshots: SnapshotRef[];
}

export class JournalReader {
  readonly bytes: Uint8Array;
  readonly header: JournalHeader;
  /** Offset of the first record after the header record. */
  readonly bodyOffset: number;
  /** Our own view of `bytes` for the decoder, which hangs a cached DataView on its source. */
  private readonly view: Uint8Array;
  private index: Index | undefined;
  private fullTable: string[] | undefined;

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = bytes.subarray(0);
    checkFileHeader(bytes);
    const first = this.readFrame(FILE_HEADER_BYTES, 0, true, newFrame(), 'no header record');
    const row = this.decodeRow(first, 0);
    if (recordType(row) !== 'header') throw new JournalError(FILE_HEADER_BYTES, 'first record is not a header', 0);
    this.header = this.guard(first.offset, 0, () => decodeHeaderRow(row));
    this.bodyOffset = first.next;
  }

  static fromBytes(buf: Uint8Array): JournalReader {
    return new JournalReader(buf);
  }

  static fromFile(path: string): JournalReader {
    return new JournalReader(readFileSync(path));
  }

  /** Every record from the header on, strictly checked. */
  *records(): Generator<JournalRecord> {
    yield { offset: FILE_HEADER_BYTES, type: 'header', value: this.header };
    yield* this.walk({ offset: this.bodyOffset, strings: new StringResolver(), index: 1 });
  }

  *envelopes(): Generator<Envelope> {
    for (const r of this.records()) if (r.type === 'env') yield r.value;
  }

  /** Every record from the last to the header, found through the length suffixes. */
  *recordsBackward(): Generator<JournalRecord> {
    const strings = new FixedStrings(this.fullStrings());
    const frame = newFrame();
    let end = this.bytes.length;
    let n = this.recordIndex().offsets.length;
    while (end > FILE_HEADER_BYTES) {
      n--;
      const at = previousRecordOffset(this.bytes, end);
      if (typeof at !== 'number') throw new JournalError(end, at.reason, n);
      this.readFrame(at, n, true, frame);
      if (frame.next !== end) throw new JournalError(at, `record found through the suffix at byte ${end - 4} does not end there`, n);
      yield this.decodeRecord(frame, n, strings);
      end = at;
    }
  }

  /** Snapshots in file order. */
  snapshots(): SnapshotRef[] {
    return this.recordIndex().snapshots.slice();
  }

  /** Byte offsets of every record, header first. */
  recordOffsets(): number[] {
    return this.recordIndex().offsets.slice();
  }

  /** The record that starts at `offset`. */
  readAt(offset: number): JournalRecord {
    const n = this.indexOfOffset(offset);
    if (n === 0) return { offset, type: 'header', value: this.header };
    const frame = this.readFrame(offset, n, true, newFrame());
    return this.decodeRecord(frame, n, new FixedStrings(this.fullStrings()));
  }

  /** Nearest snapshot at or before `seq`, and the envelopes that follow it. */
  seekSnapshot(seq: number): SeekResult {
    const r = this.seekRecords(seq);
    return { snapshot: r.snapshot, envelopes: onlyEnvelopes(r.records) };
  }

  /**
   * Like seekSnapshot, but yields every record after the snapshot (inputs
   * and the snapshots further on as well), which is what a replay needs.
   */
  seekRecords(seq: number): { snapshot: (Snapshot & { offset: number }) | null; records: Generator<JournalRecord> } {
    const snaps = this.recordIndex().snapshots;
    let best: SnapshotRef | undefined;
    for (const s of snaps) if (s.seq <= seq && (!best || s.seq >= best.seq)) best = s;
    if (!best) return { snapshot: null, records: this.walk(this.walkFromStart()) };
    const n = this.indexOfOffset(best.offset);
    const frame = this.readFrame(best.offset, n, true, newFrame());
    const row = this.decodeRow(frame, n);
    const { snap, strings } = this.guard(best.offset, n, () => decodeSnapRow(row));
    const start = { offset: frame.next, strings: new StringResolver(strings), index: n + 1 };
    return { snapshot: { ...snap, offset: best.offset }, records: this.walk(start) };
  }

  /**
   * Where a byte-comparing replay starts (replay/session.ts): the nearest
   * snapshot at or before `seq` (or none), the string table in force right
   * after it, and the offset of the record after it.
   */
  seekRaw(seq: number): { snapshot: (Snapshot & { offset: number }) | null; strings: string[]; next: number } {
    const snaps = this.recordIndex().snapshots;
    let best: SnapshotRef | undefined;
    for (const s of snaps) if (s.seq <= seq && (!best || s.seq >= best.seq)) best = s;
    if (!best) return { snapshot: null, strings: [], next: this.bodyOffset };
    const n = this.indexOfOffset(best.offset);
    const frame = this.readFrame(best.offset, n, true, newFrame());
    const { snap, strings } = this.guard(best.offset, n, () => decodeSnapRow(this.decodeRow(frame, n)));
    return { snapshot: { ...snap, offset: best.offset }, strings, next: frame.next };
  }

  /** The framing of the record at `offset` (and its CRC if `checkCrc`); a JournalError names what is wrong. */
  frameAt(offset: number, checkCrc: boolean, frame: Frame): Frame {
    const problem = probeFrame(this.bytes, offset, checkCrc, frame);
    if (problem) throw new JournalError(offset, problem.reason, this.recordNumber(offset), problem.torn, problem.detail);
    return frame;
  }

  /**
   * Decode the record in `frame` against a string table that already holds
   * every string it may refer to (strings it defines inline are not added).
   */
  decodeFrame(frame: Frame, strings: StringResolver): JournalRecord {
    return this.decodeRecord(frame, this.recordNumber(frame.offset), strings);
  }

  /** The record's index for error messages, if `offset` starts one. */
  private recordNumber(offset: number): number | undefined {
    try {
      return this.indexOfOffset(offset);
    } catch {
      return undefined;
    }
  }

  private walkFromStart(): WalkStart {
    return { offset: this.bodyOffset, strings: new StringResolver(), index: 1 };
  }


  /**
   * Strict forward walk to the end of the file.  Also enforces the ordering
   * rules (no second header, nothing after `end`), that each snapshot's
   * string table matches the one rebuilt so far, and, when the walk started
   * at the beginning, the trailer's counts.
   */
  private *walk(start: WalkStart): Generator<JournalRecord> {
    const buf = this.bytes;
    const frame = newFrame();
    const strings = start.strings;
    const fromStart = start.offset === this.bodyOffset;
    let index = start.index;
    let envelopes = 0;
    let snapshots = 0;
    for (let offset = start.offset; offset < buf.length; offset = frame.next) {
      const n = index;
      this.readFrame(offset, n, true, frame);
      const rec = this.decodeRecord(frame, n, strings);
      if (rec.type === 'env') envelopes++;
      else if (rec.type === 'snap') {
        snapshots++;
        this.checkSnapStrings(offset, n, frame, strings);
      } else if (rec.type === 'header') throw new JournalError(offset, 'second header record', n);
      else if (rec.type === 'end') {
        if (frame.next !== buf.length) throw new JournalError(frame.next, 'data after the end record', n === undefined ? undefined : n + 1);
        if (fromStart && (rec.value.envelopes !== envelopes || rec.value.snapshots !== snapshots)) {
          throw new JournalError(offset, `end record counts ${rec.value.envelopes} envelopes and ${rec.value.snapshots} snapshots, the journal holds ${envelopes} and ${snapshots}`, n);
        }
      }
      if (index !== undefined) index++;
      yield rec;
    }
  }

  private checkSnapStrings(offset: number, n: number | undefined, frame: Frame, strings: StringResolver): void {
    const row = this.decodeRow(frame, n);
    const table = this.guard(offset, n, () => decodeSnapRow(row)).strings;
    const mine = strings.strings;
    if (table.length !== mine.length || table.some((s, i) => s !== mine[i])) {
      throw new JournalError(offset, `snapshot string table (${table.length} entries) disagrees with the journal's (${mine.length})`, n);
    }
  }

  private decodeRecord(frame: Frame, n: number | undefined, strings: StringResolver): JournalRecord {
    const row = this.decodeRow(frame, n);
    const offset = frame.offset;
    return this.guard(offset, n, (): JournalRecord => {
      switch (recordType(row)) {
        case 'env': return { offset, type: 'env', value: decodeEnvelopeRow(row, strings) };
        case 'input': return { offset, type: 'input', value: decodeEnvelopeRow(row, strings) };
        case 'snap': return { offset, type: 'snap', value: decodeSnapRow(row).snap };
        case 'end': return { offset, type: 'end', value: decodeEndRow(row) };
        case 'header': return { offset, type: 'header', value: decodeHeaderRow(row) };
      }
    });
  }

  private decodeRow(frame: Frame, n: number | undefined): unknown[] {
    let row: unknown;
    try {
      row = decodeRange(this.view, frame.start, frame.end);
    } catch (err) {
      throw new JournalError(frame.offset, `undecodable payload (${(err as Error)?.message ?? String(err)})`, n);
    }
    if (!Array.isArray(row)) throw new JournalError(frame.offset, 'payload is not a tagged array', n);
    return row;
  }

  private guard<T>(offset: number, n: number | undefined, f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof JournalError) throw err;
      throw new JournalError(offset, `malformed record: ${(err as Error)?.message ?? String(err)}`, n);
    }
  }

  private readFrame(offset: number, n: number | undefined, checkCrc: boolean, frame: Frame, missing?: string): Frame {
    if (missing && offset >= this.bytes.length) throw new JournalError(offset, missing, n, true);
    const problem = probeFrame(this.bytes, offset, checkCrc, frame);
    if (problem) throw new JournalError(offset, problem.reason, n, problem.torn, problem.detail);
    return frame;
  }

  /**
   * Record offsets from the length fields alone (an envelope's CRC is checked
   * when it is read), plus each snapshot's seq, for which the snapshot is read
   * in full.
   */
  private recordIndex(): Index {
    if (this.index) return this.index;
    const offsets = [FILE_HEADER_BYTES];
    const snapshots: SnapshotRef[] = [];
    const frame = newFrame();
    for (let offset = this.bodyOffset; offset < this.bytes.length; offset = frame.next) {
      this.readFrame(offset, offsets.length, false, frame);
      if (this.bytes[frame.start + 1] === TAG_SNAP) snapshots.push({ seq: this.peekSnapSeq(frame, offsets.length), offset });
      offsets.push(offset);
    }
    this.index = { offsets, snapshots };
    return this.index;
  }

  private peekSnapSeq(frame: Frame, n: number): number {
    this.readFrame(frame.offset, n, true, frame);
    const row = this.decodeRow(frame, n);
    if (recordType(row) !== 'snap') throw new JournalError(frame.offset, 'payload is not a snapshot', n);
    return this.guard(frame.offset, n, () => decodeSnapRow(row)).snap.seq;
  }

  private indexOfOffset(offset: number): number {
    const offsets = this.recordIndex().offsets;
    let lo = 0;
    let hi = offsets.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = offsets[mid]!;
      if (v === offset) return mid;
      if (v < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    throw new RangeError(`byte ${offset} is not the start of a record`);
  }

  /** The complete string table: the last snapshot's copy plus every definition after it. */
  private fullStrings(): string[] {
    if (this.fullTable) return this.fullTable;
    const snaps = this.recordIndex().snapshots;
    const last = snaps[snaps.length - 1];
    let start = this.walkFromStart();
    if (last) {
      const n = this.indexOfOffset(last.offset);
      const frame = this.readFrame(last.offset, n, true, newFrame());
      const row = this.decodeRow(frame, n);
      start = { offset: last.offset, strings: new StringResolver(this.guard(last.offset, n, () => decodeSnapRow(row)).strings), index: n };
    }
    for (const _ of this.walk(start));
    this.fullTable = start.strings.strings;
    return this.fullTable;
  }
}

function* onlyEnvelopes(records: Generator<JournalRecord>): Generator<Envelope> {
  for (const r of records) if (r.type === 'env') yield r.value;
}
