import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32c } from '../../journal/crc32c.ts';

const ascii = (s: string) => new TextEncoder().encode(s);

/** Bit-at-a-time reference, slow but obviously right. */
function reference(buf: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('matches the standard check value', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
  });

  it('matches the RFC 3720 (iSCSI) test vectors', () => {
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('is 0 for no bytes', () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('honours start/end and continues from a prior value', () => {
    const data = ascii('xx123456789yy');
    expect(crc32c(data, 2, 11)).toBe(0xe3069283);
    const whole = ascii('123456789');
    expect(crc32c(whole, 4, 9, crc32c(whole, 0, 4))).toBe(0xe3069283);
  });

  it('agrees with a bitwise reference for every length and alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(16), (bytes, skip) => {
        const start = Math.min(skip, bytes.length);
        expect(crc32c(bytes, start)).toBe(reference(bytes.subarray(start)));
      }),
      { numRuns: 500 },
    );
  });
});
