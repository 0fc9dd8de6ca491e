/**
 * Whole-journal checks and torn-tail recovery.  A torn tail — the file stops
 * inside its last record, as after a crash mid-write — is the one damage
 * that is repaired, by cutting the file back to the last whole record.
 * Everything else (a bad CRC, lengths that disagree, a record that does not
 * decode, a bad magic) is corruption and is reported, never repaired: it
 * means the bytes before the tail cannot be trusted either.
 */
import { openSync, closeSync, ftruncateSync, readFileSync } from 'node:fs';
import { JournalError } from './errors.ts';
import { FILE_HEADER_BYTES, isFileHeaderPrefix } from './frame.ts';
import { JournalReader } from './reader.ts';

export type VerifyResult =
  | { ok: true; records: number; envelopes: number; snapshots: number; bytes: number }
  | {
      ok: false;
      /** Byte offset of the bad record (or of the file header). */
      offset: number;
      message: string;
      /** True when the damage is a torn tail that recoverTornTail can repair. */
      torn: boolean;
      /** Offset of the last whole, valid record, or null if there is none. */
      lastGoodOffset: number | null;
      /** Length of the valid prefix: where the last good record ends. */
      goodBytes: number;
    };

export interface RecoveryReport {
  /** The journal cut back to its last whole record (a view of the input). */
  bytes: Uint8Array;
  droppedBytes: number;
  /** Offset of the last whole record kept, or null if none was. */
  lastGoodOffset: number | null;
  recordsKept: number;
  /** Why bytes were dropped, or null if the journal was already whole. */
  reason: string | null;
}

interface Scan {
  records: number;
  envelopes: number;
  snapshots: number;
  lastGoodOffset: number | null;
  goodBytes: number;
  error: JournalError | null;
}

function scan(buf: Uint8Array): Scan {
  const s: Scan = { records: 0, envelopes: 0, snapshots: 0, lastGoodOffset: null, goodBytes: 0, error: null };
  if (buf.length < FILE_HEADER_BYTES && isFileHeaderPrefix(buf)) {
    s.error = new JournalError(0, `file header cut off: ${buf.length} of ${FILE_HEADER_BYTES} bytes present`, undefined, true);
    return s;
  }
  try {
    const reader = JournalReader.fromBytes(buf);
    for (const r of reader.records()) {
      s.records++;
      if (r.type === 'env') s.envelopes++;
      else if (r.type === 'snap') s.snapshots++;
      s.lastGoodOffset = r.offset;
    }
    s.goodBytes = buf.length;
  } catch (err) {
    if (!(err instanceof JournalError)) throw err;
    s.error = err;
    // the walk is sequential, so everything before the bad record (or bad file header) checked out
    s.goodBytes = err.offset < FILE_HEADER_BYTES ? 0 : err.offset;
  }
  return s;
}


export function verifyJournal(buf: Uint8Array): VerifyResult {
  const s = scan(buf);
  if (!s.error) return { ok: true, records: s.records, envelopes: s.envelopes, snapshots: s.snapshots, bytes: buf.length };
  return {
    ok: false,
    offset: s.error.offset,
    message: s.error.message,
    torn: s.error.torn,
    lastGoodOffset: s.lastGoodOffset,
    goodBytes: s.goodBytes,
  };
}

/**
 * Cuts a torn tail back to the last whole record.  Throws the JournalError
 * for any other damage.
 */
export function recoverTornTail(buf: Uint8Array): RecoveryReport {
  const s = scan(buf);
  if (s.error && !s.error.torn) throw s.error;
  const keep = s.goodBytes;
  const dropped = buf.length - keep;
  return {
    bytes: buf.subarray(0, keep),
    droppedBytes: dropped,
    lastGoodOffset: s.lastGoodOffset,
    recordsKept: s.records,
    reason: s.error && dropped > 0 ? s.error.message : null,
  };
}

/** recoverTornTail on a file, truncating it in place when bytes are dropped. */
export function recoverFile(path: string): RecoveryReport {
  const report = recoverTornTail(readFileSync(path));
  if (report.droppedBytes > 0) {
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, report.bytes.length);
    } finally {
      closeSync(fd);
    }
  }
  return report;
}
