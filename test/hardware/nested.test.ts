// Nested walks vs a reference composition of the two mapping lists (§1.4, I6, I7).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IoPageTable, WalkOut } from '../../hardware/pagetable/radix.ts';
import { poolCreate } from '../../hardware/pagetable/pool.ts';
import {
  ACC_READ, ACC_UPDATE, ACC_WRITE, FMT_SMMU_S1, FMT_SMMU_S2, FMT_VTD_FL, FMT_VTD_SL, PROT_READ, PROT_WRITE, faultKindName,
  type FormatId,
} from '../../hardware/pagetable/format.ts';
import { encodeCd, materializeGuestTable, smmuFetchCd, vtdStage1, walkNested, type Stage1Config } from '../../hardware/pagetable/nested.ts';
import { RefMap, SparseMem } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const K4 = 4096;
const M2 = 2 ** 21;
/** guest-physical window holding the guest's stage-1 tables and CD */
const GPA_TABLES = 0x8000_0000;
const HPA_TABLES = 0x2_0000_0000;
const HPA_DATA = 0x4_0000_0000;

interface Built {
  mem: SparseMem;
  s2: IoPageTable;
  s1: Stage1Config;
  ref1: RefMap;
  ref2: RefMap;
}

/** Guest tables built with the host encoders, copied into guest memory behind stage 2. */
function build(kind: 'smmuv3' | 'vtd', s1maps: { idx: number; big: boolean; gidx: number; prot: number }[], s2maps: { gidx: number; prot: number }[]): Built {
  const mem = new SparseMem();
  const s1fmt: FormatId = kind === 'smmuv3' ? FMT_SMMU_S1 : FMT_VTD_FL;
  const s2fmt: FormatId = kind === 'smmuv3' ? FMT_SMMU_S2 : FMT_VTD_SL;
  const scratch = IoPageTable.create(s1fmt, {}, poolCreate(8));
  const ref1 = new RefMap();
  for (const m of s1maps) {
    const size = m.big ? M2 : 4 * K4;
    const iova = m.idx * M2 + (m.big ? 0 : 8 * K4);
    const gpa = m.gidx * M2 + (m.big ? 0 : 16 * K4);
    if (ref1.map(iova, gpa, size, m.prot)) expect(scratch.map(iova, gpa, size, m.prot)).toBe(0);
  }
  const s2 = IoPageTable.create(s2fmt, {}, poolCreate(8));
  const ref2 = new RefMap();
  // the table window is mapped RW so the walker can read descriptors and write A/D
  s2.map(GPA_TABLES, HPA_TABLES, M2, RW);
  for (const m of s2maps) if (ref2.map(m.gidx * M2, HPA_DATA + m.gidx * 3 * M2, M2, m.prot)) s2.map(m.gidx * M2, HPA_DATA + m.gidx * 3 * M2, M2, m.prot);
  const nodeGpa = new Map<number, number>();
  const root = materializeGuestTable(scratch.pool, scratch.state, (n) => {
    if (!nodeGpa.has(n)) nodeGpa.set(n, GPA_TABLES + 0x1000 + nodeGpa.size * K4);
    return nodeGpa.get(n)!;
  }, (gpa, v) => mem.write64(gpa - GPA_TABLES + HPA_TABLES, v));
  let s1: Stage1Config;
  if (kind === 'smmuv3') {
    const [w0, w1] = encodeCd({ t0sz: 16, ttb0: root, asid: 9 });
    mem.write64(HPA_TABLES, w0); // CD table at GPA_TABLES, CD 0
    mem.write64(HPA_TABLES + 8, w1);
    const r = smmuFetchCd(s2.pool, s2.state, mem, GPA_TABLES, 0, 0, new WalkOut());
    expect(r.code).toBe(0);
    expect(r.cd!.asid).toBe(9);
    s1 = r.s1!;
    expect(s1.levels).toBe(4);
  } else {
    s1 = vtdStage1(root, 0);
  }
  return { mem, s2, s1, ref1, ref2 };
}

const s1Arb = fc.array(fc.record({ idx: fc.nat(7), big: fc.boolean(), gidx: fc.nat(7), prot: fc.constantFrom(PROT_READ, RW) }), { maxLength: 8 });
const s2Arb = fc.array(fc.record({ gidx: fc.nat(7), prot: fc.constantFrom(PROT_READ, RW) }), { maxLength: 8 });

for (const kind of ['smmuv3', 'vtd'] as const) {
  describe(`${kind} nested walk`, () => {
    it('equals the composition of the stage-1 and stage-2 mapping lists', () => {
      fc.assert(
        fc.property(s1Arb, s2Arb, fc.array(fc.nat(8 * 512 - 1), { minLength: 10, maxLength: 10 }), fc.boolean(), (m1, m2, probes, write) => {
          const b = build(kind, m1, m2);
          const out = new WalkOut();
          const targets = [...probes.map((p) => p * K4 + 123), ...b.ref1.list.map((x) => x.iova + 5)];
          for (const iova of targets) {
            const code = walkNested(b.s2.pool, b.s2.state, b.s1, b.mem, iova, write ? ACC_WRITE : ACC_READ, out);
            const l1 = b.ref1.lookup(iova);
            if (!l1) {
              expect([code, out.stage]).toEqual([1, 1]);
              continue;
            }
            if (write && !(l1.prot & PROT_WRITE)) {
              expect([faultKindName(code), out.stage]).toEqual(['permission', 1]);
              continue;
            }
            const l2 = b.ref2.lookup(l1.pa);
            if (!l2) {
              expect([faultKindName(code), out.stage, out.faultAddr]).toEqual(['translation', 2, l1.pa]);
              continue;
            }
            if (write && !(l2.prot & PROT_WRITE)) {
              expect([faultKindName(code), out.stage]).toEqual(['permission', 2]);
              continue;
            }
            expect(code).toBe(0);
            expect(out.pa).toBe(l2.pa);
            expect(out.prot).toBe(l1.prot & l2.prot);
            // one read per stage-1 level walked (2 MiB leaves end a level early)
            const big = b.ref1.list.find((x) => iova >= x.iova && iova < x.iova + x.size)!.size === M2;
            expect(out.memReads).toBe(big ? 3 : 4);
          }
        }),
        { numRuns: 40, seed: kind === 'vtd' ? 7 : 8 },
      );
    });
  });
}

describe('nested table pointers are translated by stage 2 (I7)', () => {
  it('an unmapped stage-1 table page is a stage-2 fault at the descriptor GPA', () => {
    const b = build('vtd', [{ idx: 1, big: true, gidx: 2, prot: RW }], [{ gidx: 2, prot: RW }]);
    const out = new WalkOut();
    expect(walkNested(b.s2.pool, b.s2.state, b.s1, b.mem, M2 + 8, ACC_READ, out)).toBe(0);
    b.s2.unmap(GPA_TABLES, M2);
    expect(walkNested(b.s2.pool, b.s2.state, b.s1, b.mem, M2 + 8, ACC_READ, out)).toBe(1);
    expect(out.stage).toBe(2);
    expect(out.faultAddr).toBe(b.s1.root); // the root's first descriptor
  });

  it('stage-1 A/D updates are stage-2 writes: need S2 write, set S2 dirty (I6, §1.4 step 5)', () => {
    const b = build('vtd', [{ idx: 1, big: false, gidx: 2, prot: RW }], [{ gidx: 2, prot: RW }]);
    b.s2.setTracking(true);
    const out = new WalkOut();
    const iova = M2 + 8 * K4;
    expect(walkNested(b.s2.pool, b.s2.state, b.s1, b.mem, iova, ACC_WRITE | ACC_UPDATE, out)).toBe(0);
    const dirty = b.s2.readAndClearDirty(0, 2 ** 33).map((d) => d.iova);
    expect(dirty).toContain(GPA_TABLES); // the guest table page (D written into the leaf PTE)
    expect(dirty).toContain(2 * M2); // the data page
    // the guest leaf now has D set in guest memory
    const again = new WalkOut();
    expect(walkNested(b.s2.pool, b.s2.state, b.s1, b.mem, iova, ACC_WRITE, again)).toBe(0);
    // read-only table window: the D update faults at stage 2
    const ro = build('vtd', [{ idx: 1, big: false, gidx: 2, prot: RW }], [{ gidx: 2, prot: RW }]);
    ro.s2.unmap(GPA_TABLES, M2);
    ro.s2.map(GPA_TABLES, HPA_TABLES, M2, PROT_READ);
    expect(walkNested(ro.s2.pool, ro.s2.state, ro.s1, ro.mem, iova, ACC_WRITE | ACC_UPDATE, out)).toBe(2);
    expect(out.stage).toBe(2);
  });

  it('SMMU: a CD with V = 0 is a stage-1 config fault; an unmapped CD a stage-2 fault', () => {
    const b = build('smmuv3', [], []);
    const out = new WalkOut();
    const [w0] = encodeCd({ t0sz: 16, ttb0: 0x1000, asid: 1, valid: false });
    b.mem.write64(HPA_TABLES + 64, w0);
    expect(smmuFetchCd(b.s2.pool, b.s2.state, b.mem, GPA_TABLES, 1, 1, out).code).toBe(5);
    expect(smmuFetchCd(b.s2.pool, b.s2.state, b.mem, 0x1000_0000, 0, 0, out).code).toBe(1);
    expect(out.stage).toBe(2);
  });
});

