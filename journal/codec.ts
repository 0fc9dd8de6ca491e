/**
 * Value codec for everything the journal stores: msgpack via msgpackr, set up
 * so that plain data round-trips bit-exactly and encodes deterministically.
 *
 * Decisions (and why):
 * - `useRecords: false`: msgpackr's record extension learns object shapes
 *   from history, so the same value could encode differently depending on
 *   what was packed before.  Plain msgpack maps encode a value the same way
 *   every time (keys in the object's own property order).
 * - bigint vs number: msgpackr writes every bigint as int64/uint64 (0xd3 /
 *   0xcf, 9 bytes) and never writes a `number` that way (integers beyond 32
 *   bits become float64), and the unpacker decodes int64/uint64 as bigint
 *   (`int64AsType: 'bigint'`).  So 5 stays a number and 5n stays a bigint,
 *   and -2^63 .. 2^64-1 are covered natively.  `moreTypes` adds msgpackr's
 *   0x42 extension for bigints outside that range.
 * - typed arrays (`moreTypes`): every typed array, including Uint8Array,
 *   travels as msgpackr's 't' extension (type code + raw bytes, host byte
 *   order — little-endian on every platform Node supports), and decodes to
 *   a fresh, aligned array of the same class.  A Node `Buffer` is stored as
 *   its bytes and decodes as a plain Uint8Array.  ArrayBuffer and DataView
 *   round-trip too.
 * - `copyBuffers`: decoded binary never aliases the journal bytes, so
 *   mutating a replayed ioctl arg cannot corrupt the journal in memory.
 * - -0: msgpackr would write it as the integer 0.  The pre-pass below
 *   swaps it for a one-byte extension so it comes back as -0.
 * - values that would NOT round-trip (functions, symbols, Map, class
 *   instances, Date, Set, ...) are rejected with a CodecError at write
 *   time: a journal that silently changed a value would make replay
 *   diverge far from the cause.  Known lossy corners that are accepted:
 *   array holes read back as undefined, and an own `__proto__` key is
 *   renamed by msgpackr (it refuses to create one on decode).
 */
import { Packr, Unpackr, addExtension } from 'msgpackr';
import { CodecError } from './errors.ts';

/** msgpackr's "start at the same spot next time" flag: the caller copies the bytes out immediately. */
const RESET_BUFFER_MODE = 1024;

/** Extension type code for negative zero ('-'). */
const NEG_ZERO_EXT = 0x2d;

/** Deeper than this is treated as a cycle rather than data. */
const MAX_DEPTH = 256;

class NegZero {}
const NEG_ZERO = new NegZero();
const EMPTY = new Uint8Array(0);
addExtension({
  Class: NegZero,
  type: NEG_ZERO_EXT,
  pack: () => EMPTY,
  unpack: () => -0,
});

const packr = new Packr({
  useRecords: false,
  moreTypes: true,
  variableMapSize: true,
  useToJSON: false,
} as ConstructorParameters<typeof Packr>[0]);

const unpackr = new Unpackr({
  useRecords: false,
  moreTypes: true,
  copyBuffers: true,
  mapsAsObjects: true,
  int64AsType: 'bigint',
});

/**
 * Encode into msgpackr's scratch buffer.  The returned view is only valid
 * until the next call; the journal writer copies it straight into its frame.
 */
export function encodeView(v: unknown): Uint8Array {
  return packr.pack(prepare(v), RESET_BUFFER_MODE);
}

/** Encode `v` into a fresh byte array it owns. */
export function encodeValue(v: unknown): Uint8Array {
  return new Uint8Array(encodeView(v));
}

const range = { start: 0, end: 0 };

/** Decode exactly one value filling `buf[start, end)`; throws on trailing bytes or truncation. */
export function decodeValue(buf: Uint8Array, start = 0, end = buf.length): unknown {
  // msgpackr caches a DataView as an expando on its source; give it our own view, not the caller's array
  return decodeRange(buf.subarray(start, end), 0, end - start);
}

/**
 * decodeValue for a buffer the caller owns and decodes from many times (the
 * reader's private view of a journal): msgpackr's cached DataView on it is
 * then built once, not once per record.
 */
export function decodeRange(view: Uint8Array, start: number, end: number): unknown {
  if (start >= end) throw new Error('empty msgpack value');
  range.start = start;
  range.end = end;
  return unpackr.unpack(view, range);
}

/** Returns `v` itself unless it holds a -0 or a Buffer, which are rewritten into a copy. */
function prepare(v: unknown): unknown {
  return needsRewrite(v, 0) ? rewrite(v) : v;
}

const TYPED_ARRAY_CLASSES: ReadonlySet<unknown> = new Set([
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView,
]);

/** Validates `v` as journalable plain data; true if it contains something `rewrite` must fix. */
function needsRewrite(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'number':
      return v === 0 && 1 / v < 0;
    case 'string':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return false;
    case 'object':
      return v === null ? false : objectNeedsRewrite(v, depth);
    default:
      throw new CodecError(`cannot journal a ${typeof v}`);
  }
}

function objectNeedsRewrite(v: object, depth: number): boolean {
  if (depth > MAX_DEPTH) throw new CodecError(`value nested deeper than ${MAX_DEPTH} levels (cyclic?)`);
  if (Array.isArray(v)) {
    let found = false;
    for (let i = 0; i < v.length; i++) if (needsRewrite(v[i], depth + 1)) found = true;
    return found;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    let found = false;
    for (const k in v) if (needsRewrite((v as Record<string, unknown>)[k], depth + 1)) found = true;
    return found;
  }
  const ctor = (v as { constructor?: unknown }).constructor;
  if (TYPED_ARRAY_CLASSES.has(ctor) || ctor === ArrayBuffer) return false;
  if (v instanceof Uint8Array) return true; // Buffer and other Uint8Array subclasses
  throw new CodecError(`cannot journal an instance of ${describe(v)}; bodies must be plain data`);
}

function describe(v: object): string {
  const ctor = (v as { constructor?: { name?: unknown } }).constructor;
  return typeof ctor?.name === 'string' ? ctor.name : 'an unknown class';
}

function rewrite(v: unknown): unknown {
  if (typeof v === 'number') return v === 0 && 1 / v < 0 ? NEG_ZERO : v;
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(rewrite);
  if (v instanceof Uint8Array) return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return v;
  const out: Record<string, unknown> = Object.getPrototypeOf(v) === null ? Object.create(null) : {};
  for (const k in v) out[k] = rewrite((v as Record<string, unknown>)[k]);
  return out;
}
