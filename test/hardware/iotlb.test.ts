import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ANY, NO_TAG2, TAG_ASID, TAG_DOMAIN, TAG_VMID, TlbOut, atcCreate, atcInsert, atcInvalidate, atcLookup, iotlbCreate,
  iotlbEntries, iotlbInsert, iotlbInvalidate, iotlbInvalidateAll, iotlbInvalidatePasid, iotlbInvalidateRange,
  iotlbInvalidateTag, iotlbInvalidateTag2, iotlbLookup, iotlbContext, iotlbFrontLookup, iotlbLookupIn, iotlbStamp, type IotlbState,
} from '../../hardware/iotlb.ts';

const K4 = 4096;
const M2 = 2 ** 21;
const out = new TlbOut();

describe('IOTLB', () => {
  it('hits need an exact tag, tag2 and PASID match (I8)', () => {
    const s = iotlbCreate(64, 4);
    iotlbInsert(s, TAG_ASID, 5, 1, 0, 0x1234, K4, 0x9000, 3, 1);
    expect(iotlbLookup(s, TAG_ASID, 5, 1, 0, 0x1ff8, out)).toBeGreaterThanOrEqual(0);
    expect(out.pa).toBe(0x9ff8);
    expect(out.prot).toBe(3);
    expect(iotlbLookup(s, TAG_ASID, 5, 2, 0, 0x1000, out)).toBe(-1);
    expect(iotlbLookup(s, TAG_ASID, 6, 1, 0, 0x1000, out)).toBe(-1);
    expect(iotlbLookup(s, TAG_ASID, 5, 1, 7, 0x1000, out)).toBe(-1);
    expect(iotlbLookup(s, TAG_DOMAIN, 5, 1, 0, 0x1000, out)).toBe(-1);
    expect(iotlbLookup(s, TAG_ASID, 5, 1, 0, 0x2000, out)).toBe(-1);
  });

  it('large entries translate every address inside them, above 4 GiB too', () => {
    const s = iotlbCreate(64, 4);
    iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 0, 2 ** 40 + M2 + 77, M2, 2 ** 35, 1, 0);
    expect(iotlbLookup(s, TAG_DOMAIN, 1, NO_TAG2, 0, 2 ** 40 + M2 + M2 - 1, out)).toBeGreaterThanOrEqual(0);
    expect(out.pa).toBe(2 ** 35 + M2 - 1);
    expect(out.pageSize).toBe(M2);
    expect(out.dirtyOk).toBe(0);
    expect(iotlbEntries(s)[0]!.iova).toBe(2 ** 40 + M2);
  });

  it('range invalidation drops overlapping entries even when larger than the range (I11)', () => {
    const s = iotlbCreate(256, 8);
    iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 0, 0, M2, 0x4000_0000, 3, 1);
    for (let i = 0; i < 8; i++) iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 0, M2 + i * K4, K4, i * K4, 3, 1);
    iotlbInsert(s, TAG_DOMAIN, 2, NO_TAG2, 0, M2, K4, 0, 3, 1);
    expect(iotlbInvalidateRange(s, TAG_DOMAIN, 1, 0x1000, 0x1000)).toBe(1);
    expect(iotlbInvalidateRange(s, TAG_DOMAIN, 1, M2 + 2 * K4, 3 * K4)).toBe(3);
    expect(iotlbLookup(s, TAG_DOMAIN, 1, NO_TAG2, 0, M2 + K4, out)).toBeGreaterThanOrEqual(0);
    expect(iotlbLookup(s, TAG_DOMAIN, 1, NO_TAG2, 0, M2 + 3 * K4, out)).toBe(-1);
    expect(iotlbLookup(s, TAG_DOMAIN, 2, NO_TAG2, 0, M2, out)).toBeGreaterThanOrEqual(0);
  });

  it('invalidates by tag, by stage-2 tag, by PASID, and all', () => {
    const s = iotlbCreate(256, 8);
    for (let i = 0; i < 4; i++) {
      iotlbInsert(s, TAG_ASID, 10 + i, 7, 0, i * K4, K4, 0, 3, 1);
      iotlbInsert(s, TAG_ASID, 10 + i, 8, 0, i * K4, K4, 0, 3, 1);
      iotlbInsert(s, TAG_VMID, 7, NO_TAG2, 0, i * K4, K4, 0, 3, 1);
      iotlbInsert(s, TAG_DOMAIN, 3, NO_TAG2, i, 0, K4, 0, 3, 1);
    }
    expect(iotlbInvalidateTag(s, TAG_ASID, 10)).toBe(2);
    expect(iotlbInvalidateTag2(s, 7)).toBe(3); // TLBI by VMID drops combined entries
    expect(iotlbInvalidatePasid(s, TAG_DOMAIN, 3, 2)).toBe(1);
    expect(iotlbInvalidate(s, { kind: TAG_VMID })).toBe(4);
    expect(iotlbEntries(s).length).toBe(3 + 3);
    expect(iotlbInvalidateAll(s)).toBe(6);
    expect(s.sizes).toEqual([]);
  });

  it('bounded capacity, deterministic round-robin eviction', () => {
    const run = () => {
      const s = iotlbCreate(64, 4);
      for (let i = 0; i < 1000; i++) iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 0, i * K4, K4, i * K4, 3, 1);
      return s;
    };
    const a = run();
    const b = run();
    expect(iotlbEntries(a).length).toBe(64);
    expect(a.evictions).toBe(1000 - 64);
    expect(Buffer.from(a.keys.buffer).equals(Buffer.from(b.keys.buffer))).toBe(true);
    for (const e of iotlbEntries(a)) {
      expect(iotlbLookup(a, TAG_DOMAIN, 1, NO_TAG2, 0, e.iova, out)).toBeGreaterThanOrEqual(0);
      expect(out.pa).toBe(e.iova);
    }
  });
});

describe('IOTLB direct-mapped front (l0)', () => {
  /** Everything a lookup reports, plus the counters: what the front must never change. */
  const seen = (s: IotlbState, r: number, o: TlbOut) => [r, r < 0 ? null : { ...o }, s.hits, s.misses];

  it('gives exactly the main lookup through inserts, refreshes, evictions, invalidations and re-stamps', () => {
    const opArb = fc.oneof(
      fc.record({ op: fc.constant('insert' as const), page: fc.nat(63), big: fc.boolean(), tag: fc.nat(2), pasid: fc.nat(1), prot: fc.constantFrom(1, 3), pa: fc.nat(1000) }),
      fc.record({ op: fc.constant('lookup' as const), page: fc.nat(63), off: fc.nat(4095), tag: fc.nat(2), pasid: fc.nat(1) }),
      fc.record({ op: fc.constant('inval' as const), page: fc.nat(63), pages: fc.integer({ min: 1, max: 8 }), tag: fc.nat(2) }),
      fc.record({ op: fc.constant('stamp' as const), page: fc.nat(63), tag: fc.nat(2), gen: fc.nat(5) }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 200 }), (ops) => {
        // a small cache (32 slots, 4 ways) so that evictions happen; `ref` has its front emptied before every lookup
        const s = iotlbCreate(32, 4);
        const ref = iotlbCreate(32, 4);
        const o1 = new TlbOut();
        const o2 = new TlbOut();
        const base = 2 ** 40;
        for (const x of ops) {
          if (x.op === 'insert') {
            const size = x.big ? M2 : K4;
            for (const t of [s, ref]) iotlbInsert(t, TAG_DOMAIN, x.tag, NO_TAG2, x.pasid, base + x.page * K4, size, x.pa * M2, x.prot, x.prot >> 1, 7, 1);
          } else if (x.op === 'lookup') {
            const iova = base + x.page * K4 + x.off;
            ref.l0.fill(0);
            expect(seen(s, iotlbLookup(s, TAG_DOMAIN, x.tag, NO_TAG2, x.pasid, iova, o1), o1)).toEqual(seen(ref, iotlbLookup(ref, TAG_DOMAIN, x.tag, NO_TAG2, x.pasid, iova, o2), o2));
          } else if (x.op === 'inval') {
            for (const t of [s, ref]) iotlbInvalidateRange(t, TAG_DOMAIN, x.tag, base + x.page * K4, x.pages * K4);
          } else {
            const iova = base + x.page * K4;
            for (const t of [s, ref]) {
              const i = iotlbLookup(t, TAG_DOMAIN, x.tag, NO_TAG2, 0, iova, o1);
              if (i >= 0) iotlbStamp(t, i, x.gen, x.gen & 1);
            }
          }
          expect(Buffer.from(s.keys.buffer).equals(Buffer.from(ref.keys.buffer))).toBe(true);
        }
      }),
      { numRuns: 200, seed: 3 },
    );
  });

  it('a hit after invalidation, eviction or re-stamp never comes from a stale copy', () => {
    const s = iotlbCreate(8, 8); // one set: the ninth distinct page evicts
    iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 0, 0, K4, 0x5000, 3, 1, 4, 1);
    expect(iotlbLookup(s, TAG_DOMAIN, 1, NO_TAG2, 0, 8, out)).toBe(0);
    expect(s.gen[out.index]).toBe(4);
    iotlbStamp(s, 0, 9, 0);
    expect(iotlbLookup(s, TAG_DOMAIN, 1, NO_TAG2, 0, 8, out)).toBe(0);
    expect([s.gen[out.index], out.userOk]).toEqual([9, 0]);
    iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 0, 0, K4, 0x7000, 1, 0);
    expect(iotlbLookup(s, TAG_DOMAIN, 1, NO_TAG2, 0, 8, out)).toBe(0);
    expect([out.pa, out.prot]).toEqual([0x7008, 1]);
    // another 4 KiB entry keeps the size present, so the lookup does consult the front
    iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 0, 3 * M2, K4, 0x9000, 3, 1);
    expect(iotlbInvalidateRange(s, TAG_DOMAIN, 1, 0, K4)).toBe(1);
    expect(iotlbLookup(s, TAG_DOMAIN, 1, NO_TAG2, 0, 8, out)).toBe(-1);
    for (let i = 0; i < 9; i++) iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 0, (i + 1) * K4, K4, 0, 3, 1);
    expect(iotlbLookup(s, TAG_DOMAIN, 1, NO_TAG2, 0, 3 * M2, out)).toBe(-1); // evicted round-robin
    expect(s.evictions).toBe(2);
  });
});

describe('ATC', () => {
  it('invalidates by device, PASID and range', () => {
    const s = atcCreate();
    atcInsert(s, 1, 0, 0, K4, 0x1000, 3, 1);
    atcInsert(s, 1, 5, 0, K4, 0x2000, 3, 1);
    atcInsert(s, 1, 5, K4, K4, 0x3000, 3, 1);
    atcInsert(s, 2, 0, 0, K4, 0x4000, 3, 1);
    expect(atcLookup(s, 1, 5, 0x10, out)).toBeGreaterThanOrEqual(0);
    expect(out.pa).toBe(0x2010);
    expect(atcInvalidate(s, 1, 5, K4, K4)).toBe(1);
    expect(atcInvalidate(s, 1, 0)).toBe(1);
    expect(atcInvalidate(s, 1, ANY)).toBe(1);
    expect(atcLookup(s, 2, 0, 0, out)).toBeGreaterThanOrEqual(0);
  });
});

describe('IOTLB set index and contexts', () => {
  it('consecutive pages never evict each other: the whole capacity aligned, all but one way unaligned', () => {
    // 512 sets of 8 ways; 0x1240_0000 is 512-page aligned, 0x1230_0000 and 2^40 + 7 pages are not
    for (const [start, pages] of [[0, 4096], [0x1240_0000, 4096], [0x1230_0000, 4096 - 512], [2 ** 40 + 0x7000, 4096 - 512]] as const) {
      const s = iotlbCreate(4096, 8);
      for (let p = 0; p < pages; p++) iotlbInsert(s, TAG_DOMAIN, 5, NO_TAG2, 0, start + p * K4, K4, p * K4, 3, 1);
      expect(s.evictions).toBe(0);
      for (let p = 0; p < pages; p++) expect(iotlbLookup(s, TAG_DOMAIN, 5, NO_TAG2, 0, start + p * K4 + 8, out)).toBeGreaterThanOrEqual(0);
      expect([s.hits, s.misses]).toEqual([pages, 0]);
    }
  });

  it('iotlbLookupIn in a context number gives what iotlbLookup gives, and never another context\'s entry', () => {
    const s = iotlbCreate(64, 4);
    iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 0, 0x5000, K4, 0x9000, 3, 1);
    iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 2, 0x5000, K4, 0xa000, 1, 0);
    const c0 = iotlbContext(s, TAG_DOMAIN, 1, NO_TAG2, 0);
    const c2 = iotlbContext(s, TAG_DOMAIN, 1, NO_TAG2, 2);
    const c9 = iotlbContext(s, TAG_DOMAIN, 9, NO_TAG2, 0);
    expect(new Set([c0, c2, c9]).size).toBe(3);
    expect(iotlbContext(s, TAG_DOMAIN, 1, NO_TAG2, 0)).toBe(c0);
    // twice each: the first hit is from the sets (and fills the front), the second from the front
    for (let k = 0; k < 2; k++) {
      expect(iotlbLookupIn(s, c0, 0x5123, out)).toBeGreaterThanOrEqual(0);
      expect([out.pa, out.prot, out.dirtyOk, out.pageSize]).toEqual([0x9123, 3, 1, K4]);
      expect(iotlbLookupIn(s, c2, 0x5123, out)).toBeGreaterThanOrEqual(0);
      expect([out.pa, out.prot, out.dirtyOk]).toEqual([0xa123, 1, 0]);
      expect(iotlbLookupIn(s, c9, 0x5123, out)).toBe(-1);
    }
    expect([s.hits, s.misses]).toEqual([4, 2]);
  });

  it('the front alone answers only what the front holds, and then exactly what iotlbLookupIn answers', () => {
    const s = iotlbCreate(64, 4);
    iotlbInsert(s, TAG_DOMAIN, 1, NO_TAG2, 0, 2 ** 40 + M2, M2, 0x4000_0000, 3, 1);
    const c = iotlbContext(s, TAG_DOMAIN, 1, NO_TAG2, 0);
    const other = iotlbContext(s, TAG_DOMAIN, 2, NO_TAG2, 0);
    const iova = 2 ** 40 + M2 + 0x1234;
    // only in the sets: the front says no and counts nothing
    expect(iotlbFrontLookup(s, c, iova, out)).toBe(-1);
    expect([s.hits, s.misses]).toEqual([0, 0]);
    const i = iotlbLookupIn(s, c, iova, out);
    expect(i).toBeGreaterThanOrEqual(0);
    const full = [out.index, out.pa, out.info, out.l2];
    const front = new TlbOut();
    expect(iotlbFrontLookup(s, c, iova, front)).toBe(i);
    expect([front.index, front.pa, front.info, front.l2]).toEqual(full);
    expect(front.pa).toBe(0x4000_0000 + 0x1234);
    expect(iotlbFrontLookup(s, other, iova, front)).toBe(-1);
    expect(iotlbFrontLookup(s, c, iova + M2, front)).toBe(-1);
    expect(s.hits).toBe(2);
  });
});
