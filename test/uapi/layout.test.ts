import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  array, bytes, decode, decodeArray, embed, encode, encodeArray, fieldSize, interpretDecode, interpretEncode, layoutProblems, offsetofend, pack, s32, sizeOf,
  struct, u16, u32, u64, u8, type AnyLayout, type Field,
} from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';

// ---------------------------------------------------------------- arbitraries per layout

function scalarArb(type: string): fc.Arbitrary<unknown> {
  switch (type) {
    case 'u8':
      return fc.integer({ min: 0, max: 0xff });
    case 'u16':
      return fc.integer({ min: 0, max: 0xffff });
    case 'u32':
      return fc.integer({ min: 0, max: 0xffffffff });
    case 's32':
      return fc.integer({ min: -0x80000000, max: 0x7fffffff });
    case 'u64':
      return fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    default:
      throw new Error(type);
  }
}

function fieldArb(f: Field): fc.Arbitrary<unknown> {
  switch (f.type) {
    case 'bytes':
      return fc.uint8Array({ minLength: f.length, maxLength: f.length });
    case 'array': {
      const elem = typeof f.of === 'string' ? scalarArb(f.of) : layoutArb(f.of);
      return fc.array(elem, { minLength: f.count, maxLength: f.count });
    }
    case 'struct':
      return layoutArb(f.of);
    default:
      return scalarArb(f.type);
  }
}

/** A random value for every field under its primary name (aliases are views of the same storage). */
function layoutArb(layout: AnyLayout): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(Object.fromEntries(layout.fields.map((f) => [f.name, fieldArb(f)])));
}

function primaryOnly(layout: AnyLayout, obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(layout.fields.map((f) => [f.name, obj[f.name]]));
}

const ALL: Array<[string, AnyLayout]> = [
  ...Object.entries(S.ALL_STRUCTS),
  ...Object.entries(S.iommu_test_cmd_views).map(([k, v]) => [`iommu_test_cmd.${k}`, v] as [string, AnyLayout]),
];

describe('decode(encode(x)) == x for every struct', () => {
  it.each(ALL)('%s', (_name, layout) => {
    fc.assert(
      fc.property(layoutArb(layout), fc.integer({ min: 0, max: 24 }), (value, offset) => {
        const buf = new Uint8Array(offset + layout.size + 8);
        encode(layout, value as never, buf, offset);
        const back = decode(layout, buf, offset) as Record<string, unknown>;
        expect(primaryOnly(layout, back)).toEqual(value);
        // Nothing outside the struct was touched.
        expect(buf.subarray(0, offset).every((b) => b === 0)).toBe(true);
        expect(buf.subarray(offset + layout.size).every((b) => b === 0)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

describe('compiled codecs agree with the reference interpreter', () => {
  it.each(ALL)('%s', (_name, layout) => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: layout.size, maxLength: layout.size }), layoutArb(layout), (raw, value) => {
        const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        expect(decode(layout, raw)).toEqual(interpretDecode(layout, dv, raw, 0));
        const a = raw.slice();
        const b = raw.slice();
        encode(layout, value as never, a);
        interpretEncode(layout, new DataView(b.buffer), b, 0, value);
        expect(a).toEqual(b);
      }),
      { numRuns: 20 },
    );
  });
});

describe('encode(decode(bytes)) reproduces every field byte', () => {
  it.each(ALL)('%s', (_name, layout) => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: layout.size, maxLength: layout.size }), (raw) => {
        const copy = raw.slice();
        encode(layout, decode(layout, raw) as never, copy);
        expect(copy).toEqual(raw);
        const fresh = pack(layout, decode(layout, raw) as never);
        // Bytes not covered by any field (padding) come out zero in a fresh pack.
        const covered = coveredMask(layout);
        for (let i = 0; i < layout.size; i++) expect(fresh[i]).toBe(covered[i] ? raw[i] : 0);
      }),
      { numRuns: 30 },
    );
  });
});

function coveredMask(layout: AnyLayout, mask = new Array<boolean>(layout.size).fill(false), base = 0): boolean[] {
  for (const f of layout.fields) {
    if (f.type === 'struct') {
      coveredMask(f.of, mask, base + f.offset);
      continue;
    }
    if (f.type === 'array' && typeof f.of !== 'string') {
      for (let i = 0; i < f.count; i++) coveredMask(f.of, mask, base + f.offset + i * f.of.size);
      continue;
    }
    for (let i = 0; i < fieldSize(f); i++) mask[base + f.offset + i] = true;
  }
  return mask;
}

describe('layout mechanics', () => {
  const demo = struct('demo', 24, [
    u8('a', 0),
    u16('b', 2),
    s32('c', 4),
    u64('d', 8),
    bytes('e', 16, 3),
    u32('f', 20, ['g']),
  ]);

  it('is little-endian', () => {
    const buf = pack(demo, { b: 0x1234, c: -2, d: 0x0102030405060708n });
    expect([...buf.subarray(2, 4)]).toEqual([0x34, 0x12]);
    expect([...buf.subarray(4, 8)]).toEqual([0xfe, 0xff, 0xff, 0xff]);
    expect([...buf.subarray(8, 16)]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('decodes u64 as bigint, the rest as number; aliases share storage', () => {
    const v = decode(demo, pack(demo, { a: 1, d: 5n, g: 7 }));
    expect(v.a).toBe(1);
    expect(v.d).toBe(5n);
    expect(v.f).toBe(7);
    expect(v.g).toBe(7);
    expect(v.e).toBeInstanceOf(Uint8Array);
  });

  it('encode leaves absent fields untouched (handlers write out-fields only)', () => {
    const buf = new Uint8Array(24).fill(0xaa);
    encode(demo, { b: 0 }, buf);
    expect(buf[0]).toBe(0xaa);
    expect([...buf.subarray(2, 4)]).toEqual([0, 0]);
    expect(buf[4]).toBe(0xaa);
  });

  it('accepts numbers for u64 fields and truncates like a C store', () => {
    const v = decode(demo, pack(demo, { d: 4096, f: 0x1_0000_0001 }));
    expect(v.d).toBe(4096n);
    expect(v.f).toBe(1);
    expect(() => pack(demo, { d: 1.5 })).toThrow(RangeError);
    expect(decode(demo, pack(demo, { d: -1n })).d).toBe(0xffffffffffffffffn);
  });

  it('refuses buffers that cannot hold the struct', () => {
    expect(() => decode(demo, new Uint8Array(23))).toThrow(RangeError);
    expect(() => encode(demo, {}, new Uint8Array(30), 7)).toThrow(RangeError);
    expect(() => pack(demo, { e: new Uint8Array(4) })).toThrow(RangeError);
  });

  it('arrays of scalars and of sub-structs, and embedded structs', () => {
    const pair = struct('pair', 16, [u64('start', 0), u64('last', 8)]);
    const inner = struct('in', 8, [u32('x', 0), u32('y', 4)]);
    const outer = struct('outer', 48, [u32('n', 0), array('r', 8, pair, 2), embed('inner', 40, inner)]);
    const v = decode(outer, pack(outer, { n: 2, r: [{ start: 1n, last: 2n }, { last: 9n }], inner: { y: 3 } }));
    expect(v.r).toEqual([{ start: 1n, last: 2n }, { start: 0n, last: 9n }]);
    expect(v.inner).toEqual({ x: 0, y: 3 });
    expect(offsetofend(outer, 'r')).toBe(40);
    expect(sizeOf(outer)).toBe(48);
  });

  it('decodeArray/encodeArray walk consecutive elements (user iova_range arrays)', () => {
    const buf = new Uint8Array(8 + 3 * 16);
    encodeArray(S.iommu_iova_range, [{ start: 0n, last: 1n }, { start: 2n, last: 3n }, { start: 4n, last: 5n }], buf, 8);
    expect(decodeArray(S.iommu_iova_range, buf, 3, 8).map((r) => r.last)).toEqual([1n, 3n, 5n]);
    expect(() => decodeArray(S.iommu_iova_range, buf, 4, 8)).toThrow(RangeError);
  });

  it('iommu_hw_info in_data_type / out_data_type are one union slot', () => {
    const d = decode(S.iommu_hw_info, pack(S.iommu_hw_info, { in_data_type: 0xfeedbeef }));
    const inType: number = d.in_data_type;
    expect([inType, d.out_data_type]).toEqual([0xfeedbeef, 0xfeedbeef]);
  });

  it('typed decode exposes kernel field names', () => {
    const m = decode(S.iommu_ioas_map, pack(S.iommu_ioas_map, { size: 40, iova: 0x1000n }));
    const iova: bigint = m.iova;
    const size: number = m.size;
    expect([iova, size]).toEqual([0x1000n, 40]);
    const t = decode(S.iommu_test_cmd_views.check_iotlb, pack(S.iommu_test_cmd_views.check_iotlb, { id: 5, check_iotlb: { id: 2, iotlb: 9 } }));
    expect([t.id, t.check_iotlb.id, t.check_iotlb.iotlb]).toEqual([5, 2, 9]);
  });
});

describe('layoutProblems finds broken layouts', () => {
  it('overlap, misalignment, overflow, bad size, duplicate names', () => {
    const bad = struct('bad', 12, [u32('a', 0), u32('b', 2), u64('c', 8), u32('a', 4)]);
    const p = layoutProblems(bad).join('\n');
    expect(p).toMatch(/b: offset 2 not 4-aligned/);
    expect(p).toMatch(/overlaps/);
    expect(p).toMatch(/c: ends at 16 beyond size 12/);
    expect(p).toMatch(/size 12 not a multiple of alignment 8/);
    expect(p).toMatch(/duplicate field name a/);
  });

  it('alignment below the widest field', () => {
    expect(layoutProblems(struct('x', 8, [u64('a', 0)], 4)).join()).toMatch(/below widest/);
  });
});
