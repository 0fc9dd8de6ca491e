// The generated per-format walkers (walkers.ts) against the generic
// reference walk: same return code, same WalkOut, same descriptor updates.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { ptCreate, ptMap, ptWalk, ptWalkGeneric, ptUnmap, WalkOut } from '../../hardware/pagetable/radix.ts';
import { FORMATS } from '../../hardware/pagetable/registry.ts';
import { ACC_PRIV, ACC_READ, ACC_UPDATE, ACC_WRITE, PROT_PRIV, PROT_READ, PROT_WRITE, type FormatId } from '../../hardware/pagetable/format.ts';
import { LAST_TABLE_WORDS, poolCreate, poolRestore, poolSnapshot } from '../../hardware/pagetable/pool.ts';
import { generateWalkers } from '../../hardware/pagetable/gen_walkers.ts';

describe('generated walkers', () => {
  it('walkers.ts is what gen_walkers.ts generates from the formats', () => {
    const onDisk = readFileSync(new URL('../../hardware/pagetable/walkers.ts', import.meta.url), 'utf8');
    expect(onDisk).toBe(generateWalkers());
  });

  for (const f of FORMATS) {
    it(`${f.name}: identical to ptWalkGeneric (codes, results, A/D updates) at every level count`, () => {
      const g = f.granule;
      const units = [g, g * 512, g * 512 * 512];
      const mapArb = fc.record({ unit: fc.constantFrom(0, 0, 1, 2), idx: fc.nat(40), count: fc.integer({ min: 1, max: 3 }), prot: fc.constantFrom(PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ | PROT_PRIV, PROT_READ | PROT_WRITE | PROT_PRIV), unmap: fc.boolean() });
      const seen = new Set<string>();
      fc.assert(
        fc.property(
          fc.integer({ min: f.minLevels, max: f.maxLevels }), fc.boolean(), fc.boolean(),
          fc.array(mapArb, { minLength: 1, maxLength: 12 }),
          fc.array(fc.tuple(fc.nat(2 ** 22), fc.constantFrom(0, 1, 2, 3), fc.nat(7)), { minLength: 20, maxLength: 40 }),
          (levels, tracking, ha, ops, probes) => {
            const pool = poolCreate(8);
            const t = ptCreate(pool, f.id as FormatId, { levels, tracking, ha, blocks: f.blockLevels });
            const spans: [number, number][] = [];
            for (const o of ops) {
              const size = units[o.unit]!;
              const iova = (o.idx % 8) * size + (o.unit === 0 ? (o.idx >> 3) * 512 * g : 0);
              if (o.unmap) ptUnmap(pool, t, iova, size * o.count);
              else ptMap(pool, t, iova, 2 ** 33 + o.idx * size, size * o.count, o.prot);
              spans.push([iova, size * o.count]);
            }
            const other = poolRestore(poolSnapshot(pool));
            const a = new WalkOut();
            const b = new WalkOut();
            for (const [p, region, acc] of probes) {
              const span = spans[p % spans.length];
              const iova = region === 3 || !span ? p * 2 ** 30 + p : span[0] + (p * 7919) % span[1];
              const access = (acc & 1 ? ACC_WRITE : ACC_READ) | (acc & 2 ? ACC_UPDATE : 0) | (acc & 4 ? ACC_PRIV : 0);
              const ca = ptWalk(pool, t, iova, access, a);
              const cb = ptWalkGeneric(other, t, iova, access, b);
              expect([ca, { ...a }]).toEqual([cb, { ...b }]);
              seen.add(ca === 0 ? `ok${a.lvl}` : `fault${ca}`);
            }
            expect(Buffer.from(pool.words.buffer).equals(Buffer.from(other.words.buffer))).toBe(true);
          },
        ),
        { numRuns: 40, seed: 7 },
      );
      // the probes reach leaves of every size, and faults
      for (const k of ['ok0', 'ok1', ...(f.blockLevels & 4 ? ['ok2'] : []), 'fault1']) expect(seen).toContain(k);
    });
  }

  for (const f of FORMATS) {
    it(`${f.name}: walks between maps and unmaps that free and reuse table nodes match ptWalkGeneric (the remembered level-1 table is never stale)`, () => {
      const g = f.granule;
      const l1 = g * 512 * 512; // what one level-1 table translates
      fc.assert(
        fc.property(
          fc.integer({ min: Math.max(3, f.minLevels), max: f.maxLevels }),
          fc.array(fc.tuple(fc.nat(3), fc.nat(511), fc.boolean(), fc.constantFrom(PROT_READ, PROT_READ | PROT_WRITE)), { minLength: 4, maxLength: 30 }),
          (levels, ops) => {
            const pool = poolCreate(4);
            const t = ptCreate(pool, f.id as FormatId, { levels, blocks: 1 });
            const a = new WalkOut();
            const b = new WalkOut();
            for (const [region, page, unmap, prot] of ops) {
              const iova = region * l1 + page * g;
              // walk first so the walker remembers this region's level-1 table, then change the table under it
              ptWalk(pool, t, iova, ACC_READ, a);
              if (unmap) ptUnmap(pool, t, region * l1, l1); // frees the level-1 table: its node goes back to the pool
              else ptMap(pool, t, iova, 2 ** 33 + (region * 512 + page) * g, g, prot);
              for (const probe of [iova, region * l1 + ((page + 1) % 512) * g, ((region + 1) % 4) * l1 + page * g]) {
                for (const access of [ACC_READ, ACC_WRITE]) {
                  const ca = ptWalk(pool, t, probe, access, a);
                  const cb = ptWalkGeneric(pool, t, probe, access, b);
                  expect([ca, { ...a }]).toEqual([cb, { ...b }]);
                }
              }
            }
          },
        ),
        { numRuns: 60, seed: 11 },
      );
    });
  }

  for (const f of FORMATS) {
    it(`${f.name}: the fast path (a walk under the remembered level-1 table) matches ptWalkGeneric for every access, prot, A/D state and control`, () => {
      const g = f.granule;
      let fastEligible = 0;
      fc.assert(
        fc.property(
          fc.integer({ min: Math.max(3, f.minLevels), max: f.maxLevels }), fc.boolean(), fc.boolean(),
          fc.constantFrom(PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ | PROT_PRIV, PROT_READ | PROT_WRITE | PROT_PRIV),
          fc.array(fc.tuple(fc.nat(15), fc.nat(3)), { minLength: 2, maxLength: 10 }),
          fc.nat(2 ** 20),
          (levels, tracking, ha, prot, walks, region) => {
            const pool = poolCreate(4);
            const t = ptCreate(pool, f.id as FormatId, { levels, tracking, ha, blocks: 1 });
            const base = region * g * 512 * 512; // a level-1 table's reach; above 4 GiB for most regions
            for (let p = 0; p < 3; p++) ptMap(pool, t, base + p * g, 2 ** 34 + p * g, g, prot);
            const twin = poolRestore(poolSnapshot(pool));
            const a = new WalkOut();
            const b = new WalkOut();
            for (const [acc, page] of walks) {
              // page 3 is unmapped: a translation fault under the remembered table
              const iova = base + page * g + (acc * 37) % g;
              const access = (acc & 1 ? ACC_WRITE : ACC_READ) | (acc & 2 ? ACC_UPDATE : 0) | (acc & 4 ? ACC_PRIV : 0);
              if (pool.lastTable[f.id * LAST_TABLE_WORDS] === t.gen) fastEligible++;
              const ca = ptWalk(pool, t, iova, access, a);
              const cb = ptWalkGeneric(twin, t, iova, access, b);
              expect([ca, { ...a }]).toEqual([cb, { ...b }]);
            }
            expect(Buffer.from(pool.words.buffer).equals(Buffer.from(twin.words.buffer))).toBe(true);
          },
        ),
        { numRuns: 150, seed: 5 },
      );
      // every walk after a table's first started under its remembered level-1 table
      expect(fastEligible).toBeGreaterThan(150);
    });
  }

  it('a table generation past 2^31 is never remembered (the int32 words would wrap onto another table)', () => {
    const pool = poolCreate(4);
    pool.genSeq = 2 ** 32 + 6; // the next table gets 2^32 + 7; a table of generation 7 could exist
    const t = ptCreate(pool, 1, { levels: 4, blocks: 1 });
    ptMap(pool, t, 0, 2 ** 33, 4096, PROT_READ);
    const out = new WalkOut();
    expect(ptWalk(pool, t, 0, ACC_READ, out)).toBe(0);
    expect(out.pa).toBe(2 ** 33);
    expect(pool.lastTable[1 * LAST_TABLE_WORDS]).toBe(0);
  });
});
