/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78) — the checksum every
 * journal record carries.  Pure JS, slice-by-8: the writer computes one CRC
 * per record on its hot path, so the inner loop consumes eight bytes per
 * iteration with eight table lookups instead of eight dependent ones.
 */

const POLY = 0x82f63b78;

/** 8 tables × 256 entries in one flat array so the loop touches one object. */
const TABLE: Int32Array = buildTables();

function buildTables(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    let c = t[i]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + i] = c;
    }
  }
  return t;
}

/**
 * CRC32C of `buf[start, end)`.  Pass a previous result as `prior` to
 * continue a running checksum over several chunks.
 */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, prior = 0): number {
  const T = TABLE;
  let crc = ~prior;
  let i = start;
  for (const last = end - 8; i <= last; i += 8) {
    const a = crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    const b = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    crc =
      T[1792 + (a & 0xff)]! ^
      T[1536 + ((a >>> 8) & 0xff)]! ^
      T[1280 + ((a >>> 16) & 0xff)]! ^
      T[1024 + (a >>> 24)]! ^
      T[768 + (b & 0xff)]! ^
      T[512 + ((b >>> 8) & 0xff)]! ^
      T[256 + ((b >>> 16) & 0xff)]! ^
      T[b >>> 24]!;
  }
  for (; i < end; i++) crc = T[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
