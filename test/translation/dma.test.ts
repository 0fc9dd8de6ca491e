/**
 * DMA through the simulator: a device's burst goes to the translation actor
 * as a message, is translated by the hardware domain the IOAS filled, and
 * moves the process's bytes (Proc.poke / Proc.peek are the CPU side).
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { FIXED, PAGE, RW, domainOf, journaled, pattern, peek, poke, read1, rig, tr, write1, type DevName } from './helpers.ts';
import { hwDomainMismatches, staleTranslations } from '../../actors/invariants-hw.ts';
import { IOMMU_IOAS_MAP_READABLE } from '../../uapi/enums.ts';
import { iotlbEntries } from '../../hardware/iotlb.ts';
import { translationView } from '../../actors/hw/translation.ts';

const IOVA = 0x1000_0000;

function mapBuffer(r: ReturnType<typeof rig>, pages: number, iova = IOVA, flags = RW | FIXED): bigint {
  const va = r.p.mmap({ length: pages * PAGE });
  const m = r.ifd.ioasMap({ ioas_id: r.ioas, flags, user_va: va, length: BigInt(pages * PAGE), iova: BigInt(iova) });
  expect(m.errno).toBe(0);
  return va;
}

describe.each<DevName>(['dev0', 'dev2'])('DMA data path (%s)', (dev) => {
  it('a DMA read returns what the process wrote; a DMA write lands in the process page', () => {
    journaled((sim) => {
      const r = rig(sim, dev);
      const va = mapBuffer(r, 8);
      const bytes = pattern(8, 7);
      poke(r.p, va, bytes);
      // one read across a page boundary, one whole page
      const o = sim.dma(dev, [
        { iova: IOVA + PAGE - 100, length: 300, write: false },
        { iova: IOVA + 5 * PAGE, length: PAGE, write: false },
      ]);
      expect(o.map((x) => x.ok)).toEqual([true, true]);
      expect(o[0]!.data).toEqual(bytes.subarray(PAGE - 100, PAGE + 200));
      expect(o[1]!.data).toEqual(bytes.subarray(5 * PAGE, 6 * PAGE));

      const w = pattern(2, 99).subarray(0, PAGE + 123);
      expect(write1(sim, dev, IOVA + 3 * PAGE + 17, w).ok).toBe(true);
      expect(peek(r.p, va + BigInt(3 * PAGE + 17), w.length)).toEqual(w);
      // bytes around the write are untouched
      expect(peek(r.p, va + BigInt(3 * PAGE), 17)).toEqual(bytes.subarray(3 * PAGE, 3 * PAGE + 17));
      const after = 3 * PAGE + 17 + w.length;
      expect(peek(r.p, va + BigInt(after), 64)).toEqual(bytes.subarray(after, after + 64));
      // and the device reads back its own write
      expect(read1(sim, dev, IOVA + 3 * PAGE + 17, w.length).data).toEqual(w);
      expect(hwDomainMismatches(sim)).toEqual([]);
    });
  });

  it('unmapped IOVAs fault, a read-only mapping refuses writes, a detached device is blocked', () => {
    journaled((sim) => {
      const r = rig(sim, dev);
      const va = mapBuffer(r, 2);
      poke(r.p, va, pattern(2, 1));
      expect(read1(sim, dev, IOVA + 2 * PAGE, 8)).toMatchObject({ ok: false, fault: 'translation' });
      expect(read1(sim, dev, IOVA - PAGE, 8)).toMatchObject({ ok: false, fault: 'translation' });
      // an access that runs off the end of the mapping: first page moved, then the fault
      const o = read1(sim, dev, IOVA + 2 * PAGE - 8, 16);
      expect(o.ok).toBe(false);
      const ro = r.p.mmap({ length: PAGE });
      poke(r.p, ro, new Uint8Array(PAGE).fill(0x5a));
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: IOMMU_IOAS_MAP_READABLE | FIXED, user_va: ro, length: BigInt(PAGE), iova: BigInt(IOVA + 16 * PAGE) }).errno).toBe(0);
      expect(read1(sim, dev, IOVA + 16 * PAGE, 4).data).toEqual(new Uint8Array(4).fill(0x5a));
      expect(write1(sim, dev, IOVA + 16 * PAGE, new Uint8Array([1, 2, 3, 4]))).toMatchObject({ ok: false, fault: 'permission' });
      expect(peek(r.p, ro, 4)).toEqual(new Uint8Array(4).fill(0x5a));
      expect(r.vfio.detach().errno).toBe(0);
      expect(read1(sim, dev, IOVA, 8)).toMatchObject({ ok: false, fault: 'blocked' });
    });
  });

  it('UNMAP: the next DMA to the IOVA faults and no stale translation is used', () => {
    journaled((sim) => {
      const r = rig(sim, dev);
      const va = mapBuffer(r, 4);
      poke(r.p, va, pattern(4, 3));
      // fill the caches for every page, twice (the second round hits): dev2 has ATS, so its own ATC answers first
      for (let k = 0; k < 2; k++) for (let i = 0; i < 4; i++) expect(read1(sim, dev, IOVA + i * PAGE, 8).ok).toBe(true);
      const st = tr(sim).st.engine.stats;
      const atc = tr(sim).st.engine.atcs[tr(sim).st.deviceIndex[dev]!];
      if (dev === 'dev2') {
        expect([st.atcHits, st.iotlbHits]).toEqual([4, 0]);
        expect(iotlbEntries(atc!)).toHaveLength(4);
      } else {
        expect([st.atcHits, st.iotlbHits]).toEqual([0, 4]);
        expect(atc).toBeUndefined();
      }
      expect(r.ifd.ioasUnmap({ ioas_id: r.ioas, iova: BigInt(IOVA), length: BigInt(4 * PAGE) }).errno).toBe(0);
      if (atc) expect(iotlbEntries(atc)).toEqual([]);
      for (let i = 0; i < 4; i++) {
        expect(read1(sim, dev, IOVA + i * PAGE, 8)).toMatchObject({ ok: false, fault: 'translation' });
        expect(write1(sim, dev, IOVA + i * PAGE, new Uint8Array(8))).toMatchObject({ ok: false });
      }
      expect(staleTranslations(sim)).toEqual([]);
      expect(tr(sim).st.engine.stats.staleUses).toBe(0);
      expect(tr(sim).dump(domainOf(sim, dev))).toEqual([]);
    });
  });

  it('skipIotlbFlushOnUnmap: the DMA after UNMAP hits the stale IOTLB entry and is caught', () => {
    journaled((sim) => {
      const r = rig(sim, dev);
      const va = mapBuffer(r, 2);
      poke(r.p, va, pattern(2, 5));
      const dom = domainOf(sim, dev);
      expect(read1(sim, dev, IOVA + PAGE, 8).ok).toBe(true);
      expect(r.ifd.ioasUnmap({ ioas_id: r.ioas, iova: BigInt(IOVA), length: BigInt(2 * PAGE) }).errno).toBe(0);
      // the page table is right (unmapped), the IOTLB is not
      expect(tr(sim).dump(dom)).toEqual([]);
      const o = read1(sim, dev, IOVA + PAGE + 8, 8);
      expect(o.ok).toBe(true);
      const stale = staleTranslations(sim);
      expect(stale).toHaveLength(1);
      expect(stale[0]).toMatchObject({ iova: IOVA + PAGE + 8, cache: 'iotlb', write: false, tablePa: -1, tableFault: 'translation', nested: false });
      expect(tr(sim).st.engine.stats.staleUses).toBe(1);
      // a page that was never cached faults normally
      expect(read1(sim, dev, IOVA, 8)).toMatchObject({ ok: false, fault: 'translation' });
      expect(staleTranslations(sim)).toHaveLength(1);
    }, { hwBugs: { skipIotlbFlushOnUnmap: true } });
  });
});

describe('ATS: the device ATC (dev2 has ATS, dev0 not)', () => {
  it('skipAtcFlushOnUnmap: the IOTLB is flushed, the ATC is not, and the DMA after UNMAP uses the ATC entry and is caught', () => {
    journaled((sim) => {
      const r = rig(sim, 'dev2');
      const va = mapBuffer(r, 2);
      poke(r.p, va, pattern(2, 6));
      expect(read1(sim, 'dev2', IOVA + PAGE, 8).ok).toBe(true);
      expect(r.ifd.ioasUnmap({ ioas_id: r.ioas, iova: BigInt(IOVA), length: BigInt(2 * PAGE) }).errno).toBe(0);
      const e = tr(sim).st.engine;
      const iommu = tr(sim).st.iommuIndex['iommu1']!;
      expect(iotlbEntries(e.iotlbs[iommu]!)).toEqual([]);
      expect(iotlbEntries(e.atcs[tr(sim).st.deviceIndex['dev2']!]!)).toHaveLength(1);
      expect(read1(sim, 'dev2', IOVA + PAGE + 8, 8).ok).toBe(true);
      expect(staleTranslations(sim)).toMatchObject([{ iova: IOVA + PAGE + 8, cache: 'atc', tableFault: 'translation', nested: false }]);
      // the same bug on a device without ATS has nothing to show: its translations live in the flushed IOTLB only
      const r0 = rig(sim, 'dev0');
      mapBuffer(r0, 1);
      expect(read1(sim, 'dev0', IOVA, 8).ok).toBe(true);
      expect(r0.ifd.ioasUnmap({ ioas_id: r0.ioas, iova: BigInt(IOVA), length: BigInt(PAGE) }).errno).toBe(0);
      expect(read1(sim, 'dev0', IOVA, 8)).toMatchObject({ ok: false, fault: 'translation' });
      expect(staleTranslations(sim)).toHaveLength(1);
    }, { hwBugs: { skipAtcFlushOnUnmap: true } });
  });

  it('a context change (attach to another IOAS) flushes the ATC: the next DMA translates through the new domain', () => {
    journaled((sim) => {
      const r = rig(sim, 'dev2');
      const va = mapBuffer(r, 1);
      poke(r.p, va, pattern(1, 1));
      expect(read1(sim, 'dev2', IOVA, 16).data).toEqual(pattern(1, 1).subarray(0, 16));
      const dev = tr(sim).st.deviceIndex['dev2']!;
      expect(iotlbEntries(tr(sim).st.engine.atcs[dev]!)).toHaveLength(1);
      // inspect shows it (the state a journal snapshot holds)
      expect(translationView(tr(sim).persist())).toMatchObject({ atc: { dev2: { entries: 1 } } });
      const b = r.ifd.ioasAlloc();
      expect(b.errno).toBe(0);
      const vb = mapBuffer({ ...r, ioas: b.out.out_ioas_id }, 1);
      poke(r.p, vb, pattern(1, 2));
      expect(r.vfio.attach(b.out.out_ioas_id).errno).toBe(0);
      expect(iotlbEntries(tr(sim).st.engine.atcs[dev]!)).toEqual([]);
      expect(read1(sim, 'dev2', IOVA, 16).data).toEqual(pattern(1, 2).subarray(0, 16));
      expect(staleTranslations(sim)).toEqual([]);
      // the old domain has no ATS device left; the new one has dev2
      const e = tr(sim).st.engine;
      const ats = Object.values(e.domains).map((d) => d.attachments.flatMap((a) => a.atsDevices));
      expect(ats.filter((x) => x.includes(dev))).toHaveLength(1);
      // detach: the ATC is flushed with the context and DMA is blocked
      expect(read1(sim, 'dev2', IOVA, 16).ok).toBe(true);
      expect(r.vfio.detach().errno).toBe(0);
      expect(iotlbEntries(e.atcs[dev]!)).toEqual([]);
      expect(read1(sim, 'dev2', IOVA, 8)).toMatchObject({ ok: false, fault: 'blocked' });
    });
  });
});

describe('translation actor state', () => {
  it('is in every journal snapshot and survives a snapshot/restore round trip', () => {
    const { bytes } = journaled((sim) => {
      const r = rig(sim, 'dev0');
      const va = mapBuffer(r, 4);
      poke(r.p, va, pattern(4, 11));
      for (let i = 0; i < 4; i++) expect(read1(sim, 'dev0', IOVA + i * PAGE, 16).ok).toBe(true);
      // restore the whole simulation from a snapshot: the same DMA gives the same bytes and the same stats
      const snap = sim.snapshot();
      const before = tr(sim).persist();
      const copy = new Simulation({}, { snapshot: structuredClone(snap) });
      expect(tr(copy).persist()).toEqual(before);
      expect(copy.dma('dev0', [{ iova: IOVA + 2 * PAGE, length: 16, write: false }])).toEqual(sim.dma('dev0', [{ iova: IOVA + 2 * PAGE, length: 16, write: false }]));
      expect(tr(copy).st.engine.stats).toEqual(tr(sim).st.engine.stats);
    });
    expect(bytes.length).toBeGreaterThan(0);
  });
});
