import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CodecError, decodeValue, encodeValue } from '../../journal/index.ts';
import { plainData } from './helpers.ts';

const roundTrip = (v: unknown) => decodeValue(encodeValue(v));

describe('codec', () => {
  it('keeps numbers numbers and bigints bigints', () => {
    expect(roundTrip(5)).toBe(5);
    expect(roundTrip(5n)).toBe(5n);
    expect(roundTrip(2 ** 53)).toBe(2 ** 53);
    expect(roundTrip(-(2 ** 40))).toBe(-(2 ** 40));
    expect(roundTrip(0xffffffffffffffffn)).toBe(0xffffffffffffffffn);
    expect(roundTrip(-(1n << 63n))).toBe(-(1n << 63n));
    expect(roundTrip(1n << 100n)).toBe(1n << 100n);
    expect(roundTrip(-(1n << 100n) - 1n)).toBe(-(1n << 100n) - 1n);
    expect(typeof roundTrip(0)).toBe('number');
    expect(typeof roundTrip(0n)).toBe('bigint');
  });

  it('keeps -0, NaN, infinities and fractions exact', () => {
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
    expect(Object.is((roundTrip({ a: [-0] }) as { a: number[] }).a[0], -0)).toBe(true);
    expect(roundTrip(NaN)).toBeNaN();
    expect(roundTrip(-Infinity)).toBe(-Infinity);
    expect(roundTrip(0.1)).toBe(0.1);
    expect(roundTrip(Number.MIN_VALUE)).toBe(Number.MIN_VALUE);
  });

  it('round-trips typed arrays with their class and bytes', () => {
    const u8 = Uint8Array.from({ length: 40 }, (_, i) => i * 5);
    const values = [
      u8,
      new Uint32Array([0, 1, 0xffffffff]),
      new BigUint64Array([0n, 0xffffffffffffffffn]),
      new BigInt64Array([-(1n << 63n)]),
      new Float64Array([-0, NaN, 1.5]),
      new Float32Array([3.25]),
      new Int8Array([-128, 127]),
      new Uint8ClampedArray([255]),
    ];
    for (const v of values) {
      const back = roundTrip(v) as ArrayBufferView;
      expect(back.constructor).toBe(v.constructor);
      expect(new Uint8Array(back.buffer, back.byteOffset, back.byteLength)).toEqual(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
  });

  it('stores only the viewed bytes of a subarray and never aliases the encoded bytes', () => {
    const base = Uint8Array.from({ length: 16 }, (_, i) => i);
    const enc = encodeValue(base.subarray(4, 8));
    const back = decodeValue(enc) as Uint8Array;
    expect(back).toStrictEqual(new Uint8Array([4, 5, 6, 7]));
    back[0] = 99;
    expect(decodeValue(enc)).toStrictEqual(new Uint8Array([4, 5, 6, 7]));
  });

  it('turns a Node Buffer into a plain Uint8Array with the same bytes', () => {
    const back = roundTrip(Buffer.from([1, 2, 3]));
    expect(back).toStrictEqual(new Uint8Array([1, 2, 3]));
  });

  it('encodes the same value to the same bytes every time', () => {
    const v = { cmd: 0x3b85, arg: new Uint8Array(40), iova: 1n << 40n, list: [1, 'a', { b: null }] };
    const a = encodeValue(v);
    encodeValue({ other: 'history', x: [1, 2, 3] });
    expect(encodeValue(structuredClone(v))).toEqual(a);
  });

  it('rejects values that would not round-trip', () => {
    expect(() => encodeValue(new Map([[1, 2]]))).toThrow(CodecError);
    expect(() => encodeValue({ f: () => 1 })).toThrow(CodecError);
    expect(() => encodeValue([Symbol('s')])).toThrow(CodecError);
    expect(() => encodeValue(new Date(0))).toThrow(CodecError);
    class Thing { x = 1; }
    expect(() => encodeValue({ t: new Thing() })).toThrow(/Thing/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encodeValue(cyclic)).toThrow(CodecError);
  });

  it('refuses truncated or padded input', () => {
    const enc = encodeValue({ a: 1, b: 'two' });
    expect(() => decodeValue(enc.subarray(0, enc.length - 1))).toThrow();
    const padded = new Uint8Array(enc.length + 1);
    padded.set(enc);
    expect(() => decodeValue(padded)).toThrow();
  });

  it('round-trips arbitrary plain data bit-exactly and deterministically (property)', () => {
    fc.assert(
      fc.property(plainData, (v) => {
        const enc = encodeValue(v);
        expect(decodeValue(enc)).toStrictEqual(v);
        expect(encodeValue(v)).toEqual(enc);
      }),
      { numRuns: 400 },
    );
  });
});
