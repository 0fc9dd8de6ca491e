/**
 * Streaming journal writer.  Records are encoded straight into one reused,
 * growing buffer, framed in place and handed to the sink in large chunks;
 * the per-envelope path writes the positional row field by field (no row
 * array, no copy), so the only per-record work is the encoding and one CRC.
 */
import type { Envelope } from '../actors/runtime/envelope.ts';
import { Encoder } from './codec.ts';
import { crc32c } from './crc32c.ts';
import { MAX_PAYLOAD, TAG_ENV, TAG_INPUT, fileHeaderBytes, writeU32 } from './frame.ts';
import { KIND_INDEX, StringInterner, endRow, headerRow, snapRow, type JournalHeaderInit } from './records.ts';
import type { JournalSink } from './sinks.ts';

export { fileSink, memorySink, type JournalSink, type MemorySink, type FileSinkOptions } from './sinks.ts';

export interface JournalWriterOptions {
  /** Buffered bytes that trigger a write to the sink (default 1 MiB). */
  flushBytes?: number;
  /**
   * Write the records that follow a point inside an existing journal, with
   * the string table in force there: no file header and no header record
   * (a replay re-records its deliveries this way and compares the bytes).
   */
  continueWith?: { strings: readonly string[] };
}

type Phase = 'awaiting-header' | 'open' | 'ended' | 'closed';

export class JournalWriter {
  private readonly sink: JournalSink;
  private readonly flushBytes: number;
  private out: Uint8Array;
  private pos = 0;
  private flushed = 0;
  private phase: Phase = 'awaiting-header';
  private readonly strings = new StringInterner();
  private readonly enc = new Encoder(0);
  private envelopes = 0;
  private snapshots = 0;
  private records = 0;

  constructor(sink: JournalSink, options: JournalWriterOptions = {}) {
    this.sink = sink;
    this.flushBytes = options.flushBytes ?? 1 << 20;
    this.out = new Uint8Array(Math.max(this.flushBytes, 4096) + 4096);
    if (options.continueWith) {
      for (const s of options.continueWith.strings) this.strings.ref(s);
      this.phase = 'open';
      return;
    }
    const fh = fileHeaderBytes();
    this.out.set(fh, 0);
    this.pos = fh.length;
  }

  /** The string table so far (live: it grows as records define strings). */
  get stringTable(): readonly string[] {
    return this.strings.strings;
  }

  /** File bytes produced so far, buffered or not: also the offset the next record will get. */
  get bytesWritten(): number {
    return this.flushed + this.pos;
  }

  get recordCount(): number {
    return this.records;
  }

  /** Returns the record's byte offset in the file. */
  writeHeader(h: JournalHeaderInit): number {
    if (this.phase !== 'awaiting-header') throw new Error(`writeHeader: the header is written once, first (writer is ${this.phase})`);
    const at = this.frameValue(headerRow(h));
    this.phase = 'open';
    return at;
  }

  writeEnvelope(e: Envelope): number {
    return this.writeEnvelopeRow(e, TAG_ENV, 'writeEnvelope');
  }

  /**
   * A message injected from outside the model.  `e.seq` is the number of
   * deliveries made before it was injected, so a replay can inject it again
   * at the same point.  Not counted in the trailer's envelope count.
   */
  writeInput(e: Envelope): number {
    return this.writeEnvelopeRow(e, TAG_INPUT, 'writeInput');
  }

  private writeEnvelopeRow(e: Envelope, tag: number, what: string): number {
    this.expectOpen(what);
    checkEnvelope(e);
    const strings = this.strings;
    const mark = strings.size;
    try {
      // [tag, seq, t, src, dst, kind, type, body, cause] (format.md), written in place
      const enc = this.begin();
      enc.ensure(2);
      enc.buf[enc.pos++] = 0x99;
      enc.buf[enc.pos++] = tag;
      enc.number(e.seq);
      enc.number(e.t);
      this.ref(enc, e.src);
      this.ref(enc, e.dst);
      const k = KIND_INDEX.get(e.kind);
      if (k !== undefined) enc.number(k);
      else enc.string(e.kind);
      this.ref(enc, e.type);
      enc.value(e.body, 1);
      enc.number(e.cause);
      const at = this.commit();
      if (tag === TAG_ENV) this.envelopes++;
      return at;
    } catch (err) {
      // the strings this record would have defined never reached the file
      strings.truncate(mark);
      throw err;
    }
  }

  private ref(enc: Encoder, s: string): void {
    const r = this.strings.ref(s);
    if (typeof r === 'number') enc.number(r);
    else enc.string(r);
  }

  /** A snapshot of all actor state after delivery `seq`; carries the string table so readers can start here. */
  writeSnapshot(seq: number, state: unknown): number {
    this.expectOpen('writeSnapshot');
    checkSeq(seq, 'snapshot seq');
    const at = this.frameValue(snapRow(seq, state, this.strings.strings));
    this.snapshots++;
    return at;
  }

  writeEnd(info?: unknown): number {
    this.expectOpen('writeEnd');
    const at = this.frameValue(endRow(this.envelopes, this.snapshots, info));
    this.phase = 'ended';
    return at;
  }

  flush(): void {
    if (this.pos === 0) return;
    this.sink.write(this.out.subarray(0, this.pos));
    this.flushed += this.pos;
    this.pos = 0;
  }

  /** Flushes and closes the sink.  Does not write an `end` record: call writeEnd first for a complete journal. */
  close(): void {
    if (this.phase === 'closed') return;
    this.flush();
    this.phase = 'closed';
    this.sink.close?.();
  }

  private expectOpen(what: string): void {
    if (this.phase !== 'open') {
      throw new Error(`${what}: writer is ${this.phase}${this.phase === 'awaiting-header' ? ' (call writeHeader first)' : ''}`);
    }
  }

  private frameValue(row: unknown[]): number {
    this.begin().value(row);
    return this.commit();
  }

  /** Start a record: the encoder writes its payload in place, after room for the length and CRC. */
  private begin(): Encoder {
    const enc = this.enc;
    enc.attach(this.out, this.pos + 8);
    return enc;
  }

  /** Frame the payload the encoder just wrote; nothing counts as written until this succeeds. */
  private commit(): number {
    const enc = this.enc;
    const o = this.pos;
    const start = o + 8;
    const n = enc.pos - start;
    if (n > MAX_PAYLOAD) throw new RangeError(`journal record of ${n} bytes exceeds the ${MAX_PAYLOAD}-byte limit`);
    enc.ensure(4);
    const b = (this.out = enc.buf); // the encoder may have grown the buffer
    writeU32(b, o, n);
    writeU32(b, o + 4, crc32c(b, start, start + n));
    writeU32(b, start + n, n);
    this.pos = start + n + 4;
    this.records++;
    const at = this.flushed + o;
    if (this.pos >= this.flushBytes) this.flush();
    return at;
  }
}

function checkSeq(x: number, what: string): void {
  if (!Number.isSafeInteger(x) || x < 0) throw new TypeError(`${what} must be a non-negative safe integer, got ${String(x)}`);
}

/** The reader refuses malformed envelopes, so refuse them here, where the caller can still see why. */
function checkEnvelope(e: Envelope): void {
  checkSeq(e.seq, 'envelope seq');
  checkSeq(e.cause, 'envelope cause');
  if (typeof e.t !== 'number') throw new TypeError(`envelope t must be a number, got ${typeof e.t}`);
  if (typeof e.src !== 'string' || typeof e.dst !== 'string' || typeof e.type !== 'string' || typeof e.kind !== 'string') {
    throw new TypeError('envelope src, dst, kind and type must be strings');
  }
}
