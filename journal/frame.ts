/**
 * Journal file format, version 1.  (Also described in journal/format.md.)
 *
 *   file    := magic "IOMMUFDJ" (8 bytes) · u32le format version · record*
 *   record  := u32le length · u32le CRC32C(payload) · payload · u32le length
 *   payload := one msgpack array whose first element is the record tag
 *
 * The length is the payload's byte length and appears twice so the file can
 * be walked backwards from its end (suffix → start of record) and so a
 * damaged length is caught by the disagreement.  The CRC covers the payload
 * only; the lengths are covered by that redundancy.
 *
 *   header  [0, formatVersion, simulatorVersion, seed, topology, configuration, scenario]
 *   env     [1, seq, t, src, dst, kind, type, body, cause]
 *   snap    [2, seq, state, strings]
 *   end     [3, envelopes, snapshots, info]
 *
 * In `env`, src/dst/type are interned: a string defines the next index of the
 * journal's string table (first use defines it, so the same run gives the
 * same table) and an integer refers to an earlier definition.  `kind` is the
 * index into ENVELOPE_KINDS, or the literal string for a kind outside it.
 * A `snap` carries the whole string table as it stands at that point, so a
 * reader that starts at a snapshot can resolve every index after it.
 * The header record is always first; `end`, if present, is always last.
 */
import { crc32c } from './crc32c.ts';
import { JournalError } from './errors.ts';

export const MAGIC = 'IOMMUFDJ';
export const FORMAT_VERSION = 1;
export const FILE_HEADER_BYTES = 12;
/** Length prefix + CRC before the payload, length suffix after it. */
export const FRAME_OVERHEAD = 12;
/** Larger lengths are treated as corruption, never as a torn tail or an allocation size. */
export const MAX_PAYLOAD = 0x40000000;

export const TAG_HEADER = 0;
export const TAG_ENV = 1;
export const TAG_SNAP = 2;
export const TAG_END = 3;
/** A message that entered the model from outside, with the delivery count at the time (see format.md). */
export const TAG_INPUT = 4;

export type RecordType = 'header' | 'env' | 'snap' | 'end' | 'input';
export const RECORD_TYPES: readonly RecordType[] = ['header', 'env', 'snap', 'end', 'input'];

const MAGIC_BYTES = new TextEncoder().encode(MAGIC);

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

export function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export function fileHeaderBytes(): Uint8Array {
  const b = new Uint8Array(FILE_HEADER_BYTES);
  b.set(MAGIC_BYTES, 0);
  writeU32(b, 8, FORMAT_VERSION);
  return b;
}

/** True if `buf` is a (possibly partial) prefix of a valid file header. */
export function isFileHeaderPrefix(buf: Uint8Array): boolean {
  const want = fileHeaderBytes();
  const n = Math.min(buf.length, FILE_HEADER_BYTES);
  for (let i = 0; i < n; i++) if (buf[i] !== want[i]) return false;
  return true;
}

export function checkFileHeader(buf: Uint8Array): void {
  if (buf.length < FILE_HEADER_BYTES) throw new JournalError(0, `file is ${buf.length} bytes, shorter than the ${FILE_HEADER_BYTES}-byte file header`);
  for (let i = 0; i < MAGIC_BYTES.length; i++) {
    if (buf[i] !== MAGIC_BYTES[i]) throw new JournalError(0, `bad magic (not an iommufd-sim journal)`);
  }
  const version = readU32(buf, 8);
  if (version !== FORMAT_VERSION) throw new JournalError(8, `unsupported format version ${version} (this reader knows ${FORMAT_VERSION})`);
}

/** Where one record's payload lies; `next` is the offset of the following record. */
export interface Frame {
  offset: number;
  start: number;
  end: number;
  next: number;
}

export function newFrame(): Frame {
  return { offset: 0, start: 0, end: 0, next: 0 };
}

/** Why a frame could not be read: `torn` means the bytes simply stop, anything else is damage. */
export interface FrameProblem {
  torn: boolean;
  reason: string;
  detail?: string;
}

/**
 * Checks the framing of the record at `offset` (lengths, bounds and, unless
 * `checkCrc` is false, the CRC) without decoding it.  Fills `out` and returns
 * null, or returns the problem.  Lengths are only compared, never allocated.
 */
export function probeFrame(buf: Uint8Array, offset: number, checkCrc: boolean, out: Frame): FrameProblem | null {
  const size = buf.length;
  if (size - offset < 8) return { torn: true, reason: `record header cut off: ${size - offset} of 8 bytes present` };
  const len = readU32(buf, offset);
  if (len === 0) return { torn: false, reason: 'bad length 0' };
  if (len > MAX_PAYLOAD) return { torn: false, reason: `bad length ${len}`, detail: `limit ${MAX_PAYLOAD}` };
  const start = offset + 8;
  const end = start + len;
  if (end + 4 > size) return { torn: true, reason: `length ${len} runs past the end of the file`, detail: `${size - start} bytes left` };
  const suffix = readU32(buf, end);
  if (suffix !== len) return { torn: false, reason: `length prefix ${len} disagrees with suffix ${suffix}` };
  if (checkCrc) {
    const stored = readU32(buf, offset + 4);
    const actual = crc32c(buf, start, end);
    if (stored !== actual) return { torn: false, reason: 'CRC mismatch', detail: `stored 0x${hex(stored)}, computed 0x${hex(actual)}` };
  }
  out.offset = offset;
  out.start = start;
  out.end = end;
  out.next = end + 4;
  return null;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/**
 * Offset of the record that ends just before `end`, found through its length
 * suffix.  Only the bounds are checked here; the caller then probes the frame.
 */
export function previousRecordOffset(buf: Uint8Array, end: number): number | FrameProblem {
  if (end - FILE_HEADER_BYTES < FRAME_OVERHEAD + 1) return { torn: false, reason: `${end - FILE_HEADER_BYTES} bytes before this point cannot hold a record` };
  const len = readU32(buf, end - 4);
  if (len === 0 || len > MAX_PAYLOAD || len + FRAME_OVERHEAD > end - FILE_HEADER_BYTES) {
    return { torn: false, reason: `length suffix ${len} does not fit before byte ${end}` };
  }
  return end - FRAME_OVERHEAD - len;
}
