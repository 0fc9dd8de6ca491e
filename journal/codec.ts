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
 * - Uint8Array (the ioctl argument bytes, page contents, sparse snapshot
 *   runs) is plain msgpack `bin` and decodes to a fresh plain Uint8Array; a
 *   Node `Buffer` or other Uint8Array subclass is stored as its bytes the
 *   same way.  Journals written before this used msgpackr's 't' extension
 *   for Uint8Array too; that still decodes to a Uint8Array (format.md).
 * - other typed arrays (`moreTypes`) travel as msgpackr's 't' extension
 *   (type code + raw bytes, host byte order — little-endian on every
 *   platform Node supports), and decode to a fresh, aligned array of the
 *   same class.  ArrayBuffer and DataView round-trip too.
 * - `copyBuffers`: decoded binary never aliases the journal bytes, so
 *   mutating a replayed ioctl arg cannot corrupt the journal in memory.
 * - -0: msgpackr would write it as the integer 0; the encoder writes it
 *   as a zero-length extension 0x2d so it comes back as -0.
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
 * The encoder every journal record goes through (envelopes, snapshots,
 * header, trailer, and encodeValue).  It writes msgpack straight into a
 * caller's buffer, validating as it goes (no pre-pass, no copy): the output
 * is byte for byte what msgpackr would write with the options above, except
 * that a Uint8Array (or a Buffer / other Uint8Array subclass) is plain msgpack
 * `bin` — the common ioctl-argument body, and the fastest thing both to
 * write and to read.  Everything that is not plain data of the common kinds
 * (other typed arrays, ArrayBuffer, DataView, bigints beyond 64 bits) is
 * handed to msgpackr so it keeps its extension encodings.
 */
export class Encoder {
  buf: Uint8Array;
  pos = 0;
  private dv: DataView;

  constructor(size = 8192) {
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
  }

  /** Write into `buf` from `pos` on; the encoder may replace `buf` with a larger copy (read it back from `.buf`). */
  attach(buf: Uint8Array, pos: number): void {
    if (buf !== this.buf) {
      this.buf = buf;
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    this.pos = pos;
  }

  private grow(need: number): void {
    let size = Math.max(this.buf.length * 2, 256);
    while (size < need) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }

  /** Room for `n` more bytes at `pos`. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(this.pos + n);
  }

  arrayHeader(n: number): void {
    this.ensure(5);
    const b = this.buf;
    if (n < 0x10) b[this.pos++] = 0x90 | n;
    else if (n < 0x10000) {
      b[this.pos] = 0xdc;
      b[this.pos + 1] = n >> 8;
      b[this.pos + 2] = n & 0xff;
      this.pos += 3;
    } else {
      b[this.pos] = 0xdd;
      this.dv.setUint32(this.pos + 1, n);
      this.pos += 5;
    }
  }

  private mapHeader(n: number): void {
    this.ensure(5);
    const b = this.buf;
    if (n < 0x10) b[this.pos++] = 0x80 | n;
    else if (n < 0x10000) {
      b[this.pos] = 0xde;
      b[this.pos + 1] = n >> 8;
      b[this.pos + 2] = n & 0xff;
      this.pos += 3;
    } else {
      b[this.pos] = 0xdf;
      this.dv.setUint32(this.pos + 1, n);
      this.pos += 5;
    }
  }

  number(v: number): void {
    this.ensure(9);
    const b = this.buf;
    let p = this.pos;
    if (v >>> 0 === v) {
      if (v === 0 && 1 / v < 0) {
        // -0: msgpackr would write the integer 0; extension 0x2d keeps the sign
        b[p] = 0xc7;
        b[p + 1] = 0;
        b[p + 2] = NEG_ZERO_EXT;
        this.pos = p + 3;
        return;
      }
      if (v < 0x80) b[p++] = v;
      else if (v < 0x100) {
        b[p++] = 0xcc;
        b[p++] = v;
      } else if (v < 0x10000) {
        b[p++] = 0xcd;
        b[p++] = v >> 8;
        b[p++] = v & 0xff;
      } else {
        b[p] = 0xce;
        this.dv.setUint32(p + 1, v);
        p += 5;
      }
    } else if (v >> 0 === v) {
      if (v >= -0x20) b[p++] = 0x100 + v;
      else if (v >= -0x80) {
        b[p++] = 0xd0;
        b[p++] = v + 0x100;
      } else if (v >= -0x8000) {
        b[p] = 0xd1;
        this.dv.setInt16(p + 1, v);
        p += 3;
      } else {
        b[p] = 0xd2;
        this.dv.setInt32(p + 1, v);
        p += 5;
      }
    } else {
      b[p] = 0xcb;
      this.dv.setFloat64(p + 1, v);
      p += 9;
    }
    this.pos = p;
  }

  string(s: string): void {
    const n = s.length;
    const head = n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    this.ensure(head + n * 3);
    const b = this.buf;
    const at = this.pos;
    let len: number;
    if (n < 0x40) {
      let q = at + head;
      for (let i = 0; i < n; i++) {
        let c = s.charCodeAt(i);
        if (c < 0x80) b[q++] = c;
        else if (c < 0x800) {
          b[q++] = (c >> 6) | 0xc0;
          b[q++] = (c & 0x3f) | 0x80;
        } else if ((c & 0xfc00) === 0xd800 && ((s.charCodeAt(i + 1) & 0xfc00) === 0xdc00)) {
          c = 0x10000 + ((c & 0x03ff) << 10) + (s.charCodeAt(i + 1) & 0x03ff);
          i++;
          b[q++] = (c >> 18) | 0xf0;
          b[q++] = ((c >> 12) & 0x3f) | 0x80;
          b[q++] = ((c >> 6) & 0x3f) | 0x80;
          b[q++] = (c & 0x3f) | 0x80;
        } else if ((c & 0xf800) === 0xd800) {
          // a lone surrogate: U+FFFD, as TextEncoder (and msgpackr) write it
          b[q++] = 0xef;
          b[q++] = 0xbf;
          b[q++] = 0xbd;
        } else {
          b[q++] = (c >> 12) | 0xe0;
          b[q++] = ((c >> 6) & 0x3f) | 0x80;
          b[q++] = (c & 0x3f) | 0x80;
        }
      }
      len = q - at - head;
    } else {
      len = UTF8.encodeInto(s, b.subarray(at + head)).written;
    }
    const need = len < 0x20 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
    if (need !== head) b.copyWithin(at + need, at + head, at + head + len);
    if (need === 1) b[at] = 0xa0 | len;
    else if (need === 2) {
      b[at] = 0xd9;
      b[at + 1] = len;
    } else if (need === 3) {
      b[at] = 0xda;
      b[at + 1] = len >> 8;
      b[at + 2] = len & 0xff;
    } else {
      b[at] = 0xdb;
      this.dv.setUint32(at + 1, len);
    }
    this.pos = at + need + len;
  }

  /** Plain msgpack bin of the viewed bytes. */
  bytes(u: Uint8Array): void {
    const n = u.length;
    this.ensure(n + 5);
    const b = this.buf;
    let p = this.pos;
    if (n < 0x100) {
      b[p++] = 0xc4;
      b[p++] = n;
    } else if (n < 0x10000) {
      b[p++] = 0xc5;
      b[p++] = n >> 8;
      b[p++] = n & 0xff;
    } else {
      b[p] = 0xc6;
      this.dv.setUint32(p + 1, n);
      p += 5;
    }
    if (n < 32) for (let i = 0; i < n; i++) b[p + i] = u[i]!;
    else b.set(u, p);
    this.pos = p + n;
  }

  private bigint(v: bigint): void {
    if (v < 0x8000000000000000n && v >= -0x8000000000000000n) {
      this.ensure(9);
      this.buf[this.pos] = 0xd3;
      this.dv.setBigInt64(this.pos + 1, v);
      this.pos += 9;
    } else if (v < 0x10000000000000000n && v > 0n) {
      this.ensure(9);
      this.buf[this.pos] = 0xcf;
      this.dv.setBigUint64(this.pos + 1, v);
      this.pos += 9;
    } else this.raw(packr.pack(v, RESET_BUFFER_MODE)); // extension 0x42
  }

  private raw(enc: Uint8Array): void {
    this.ensure(enc.length);
    this.buf.set(enc, this.pos);
    this.pos += enc.length;
  }

  value(v: unknown, depth = 0): void {
    switch (typeof v) {
      case 'number':
        return this.number(v);
      case 'string':
        return this.string(v);
      case 'object':
        if (v === null) {
          this.ensure(1);
          this.buf[this.pos++] = 0xc0;
          return;
        }
        return this.object(v, depth);
      case 'boolean':
        this.ensure(1);
        this.buf[this.pos++] = v ? 0xc3 : 0xc2;
        return;
      case 'bigint':
        return this.bigint(v);
      case 'undefined':
        this.ensure(3);
        this.buf[this.pos] = 0xd4;
        this.buf[this.pos + 1] = 0;
        this.buf[this.pos + 2] = 0;
        this.pos += 3;
        return;
      default:
        throw new CodecError(`cannot journal a ${typeof v}`);
    }
  }

  private object(v: object, depth: number): void {
    if (depth > MAX_DEPTH) throw new CodecError(`value nested deeper than ${MAX_DEPTH} levels (cyclic?)`);
    if (Array.isArray(v)) {
      const n = v.length;
      this.arrayHeader(n);
      for (let i = 0; i < n; i++) this.value(v[i], depth + 1);
      return;
    }
    if (v instanceof Uint8Array) return this.bytes(v); // also Buffer and other subclasses: their bytes
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      // for-in, not Object.keys: the same keys in the same order for a plain
      // object, without an array per object on the journal's hot path
      const o = v as Record<string, unknown>;
      let n = 0;
      for (const _ in o) n++;
      this.mapHeader(n);
      for (const k in o) {
        this.string(k);
        this.value(o[k], depth + 1);
      }
      return;
    }
    const ctor = (v as { constructor?: unknown }).constructor;
    if (TYPED_ARRAY_CLASSES.has(ctor) || ctor === ArrayBuffer) return this.raw(packr.pack(v, RESET_BUFFER_MODE));
    throw new CodecError(`cannot journal an instance of ${describe(v)}; bodies must be plain data`);
  }
}

const UTF8 = new TextEncoder();
const scratch = new Encoder(1 << 16);

/**
 * Encode into a reused scratch buffer.  The returned view is only valid
 * until the next call; the journal writer copies it straight into its frame.
 */
export function encodeView(v: unknown): Uint8Array {
  const e = scratch;
  e.pos = 0;
  e.value(v);
  return e.buf.subarray(0, e.pos);
}

/** Encode `v` into a fresh byte array it owns. */
export function encodeValue(v: unknown): Uint8Array {
  return encodeView(v).slice();
}

const range = { start: 0, end: 0 };

/** Decode exactly one value filling `buf[start, end)`; throws on trailing bytes or truncation. */
export function decodeValue(buf: Uint8Array, start = 0, end = buf.length): unknown {
  // msgpackr caches a DataView as an expando on its source; give it our own (plain) view, not the caller's array
  return decodeRange(new Uint8Array(buf.buffer, buf.byteOffset + start, end - start), 0, end - start);
}

/** Plain-Uint8Array views of Buffers, so decoded `bin` values are plain Uint8Arrays (copies are made with the source's class). */
const plainViews = new WeakMap<Uint8Array, Uint8Array>();

function plainView(view: Uint8Array): Uint8Array {
  if (view.constructor === Uint8Array) return view;
  let p = plainViews.get(view);
  if (!p) plainViews.set(view, (p = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)));
  return p;
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
  return unpackr.unpack(plainView(view), range);
}

const TYPED_ARRAY_CLASSES: ReadonlySet<unknown> = new Set([
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView,
]);

function describe(v: object): string {
  const ctor = (v as { constructor?: { name?: unknown } }).constructor;
  return typeof ctor?.name === 'string' ? ctor.name : 'an unknown class';
}
