/**
 * The burst as a 'dma' message carries it (hardware/burst.ts): a device that
 * refills one burst for each of its bursts journals what each one carried,
 * the outcomes and fault counts the device keeps are right, the old
 * `accesses` form of journals written before still translates, and a bad
 * access is refused before anything moves.
 */
import { describe, expect, it } from 'vitest';
import { FIXED, PAGE, RW, journaled, peek, rig } from './helpers.ts';
import { deviceState } from '../viommu/helpers.ts';
import { JournalReader, decodeValue, encodeValue } from '../../journal/index.ts';
import { TRANSLATION_ACTOR, type DmaRequest } from '../../actors/hw/translation.ts';
import { deviceActorId } from '../../actors/hw/device.ts';
import {
  DMA_PRIV, DMA_WRITE, burstAccess, burstAccesses, burstCreate, burstOf, burstPick, burstSlice, isDmaBurst, type DmaAccess,
} from '../../hardware/burst.ts';

const IOVA = 0x2000_0000;

describe('packed DMA bursts', () => {
  it('a burst refilled for the next burst journals what each burst carried, and replays byte for byte', () => {
    const { bytes } = journaled((sim) => {
      const r = rig(sim, 'dev0');
      const va = r.p.mmap({ length: 4 * PAGE });
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(4 * PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      const ring = burstCreate(2);
      ring.flags.fill(DMA_WRITE);
      ring.length.fill(8);
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 2; i++) {
          ring.iova[i] = IOVA + (2 * round + i) * PAGE;
          ring.data[i] = new Uint8Array(8).fill(0x10 * (2 * round + i + 1));
        }
        expect(sim.dma('dev0', ring).every((o) => o.ok)).toBe(true);
      }
      for (let k = 0; k < 4; k++) expect(peek(r.p, va + BigInt(k * PAGE), 8)).toEqual(new Uint8Array(8).fill(0x10 * (k + 1)));
    });
    const sent = [...JournalReader.fromBytes(bytes).envelopes()].filter((e) => e.dst === TRANSLATION_ACTOR && e.type === 'dma');
    expect(sent.map((e) => Array.from((e.body as DmaRequest).burst.iova))).toEqual([
      [IOVA, IOVA + PAGE],
      [IOVA + 2 * PAGE, IOVA + 3 * PAGE],
    ]);
  });

  it('the device counts every access that did not go through: faults, blocked PASIDs and all', () => {
    journaled((sim) => {
      const r = rig(sim, 'dev0');
      const va = r.p.mmap({ length: PAGE });
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      const o = sim.dma('dev0', [
        { iova: IOVA, length: 8, write: true, data: new Uint8Array(8) },
        { iova: IOVA + PAGE, length: 8, write: false },
        { iova: IOVA, length: 8, write: false, pasid: 5 },
        { iova: IOVA + 8, length: 8, write: false },
      ]);
      expect(o.map((x) => (x.ok ? 'ok' : x.fault))).toEqual(['ok', 'translation', 'blocked', 'ok']);
      const st = deviceState(sim, 'dev0');
      expect([st.bursts, st.faults]).toEqual([1, 2]);
      sim.dma('dev0', [{ iova: IOVA, length: 8, write: false }]);
      expect([st.bursts, st.faults]).toEqual([2, 2]);
    });
  });

  it('the outcomes of a clean write burst are shared and frozen; a later faulting burst does not touch them', () => {
    journaled((sim) => {
      const r = rig(sim, 'dev0');
      const va = r.p.mmap({ length: PAGE });
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      const clean = sim.dma('dev0', [{ iova: IOVA, length: 8, write: true, data: new Uint8Array(8) }, { iova: IOVA + 8, length: 8, write: true, data: new Uint8Array(8) }]);
      expect(Object.isFrozen(clean)).toBe(true);
      const bad = sim.dma('dev0', [{ iova: IOVA, length: 8, write: true, data: new Uint8Array(8) }, { iova: IOVA + PAGE, length: 8, write: true, data: new Uint8Array(8) }]);
      expect(bad.map((x) => x.ok)).toEqual([true, false]);
      expect(clean).toEqual([{ ok: true }, { ok: true }]);
    });
  });

  it('a data slot left undefined (as a decoded array hole reads back) is a read into a fresh buffer', () => {
    journaled((sim) => {
      const r = rig(sim, 'dev0');
      const va = r.p.mmap({ length: PAGE });
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      expect(sim.dma('dev0', [{ iova: IOVA, length: 4, write: true, data: Uint8Array.of(5, 6, 7, 8) }])[0]!.ok).toBe(true);
      const b = burstCreate(1);
      b.iova[0] = IOVA;
      b.length[0] = 4;
      (b.data as unknown[])[0] = undefined;
      expect(sim.dma('dev0', b)).toEqual([{ ok: true, data: Uint8Array.of(5, 6, 7, 8) }]);
    });
  });

  it('a dma message in the accesses form of older journals is served as its burst', () => {
    journaled((sim) => {
      const r = rig(sim, 'dev0');
      const va = r.p.mmap({ length: PAGE });
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      const accesses: DmaAccess[] = [{ iova: BigInt(IOVA + 16), length: 4, write: true, data: Uint8Array.of(1, 2, 3, 4) }];
      sim.rt.inject(deviceActorId('dev0'), TRANSLATION_ACTOR, 'dma', 'dma', { device: 'dev0', accesses });
      sim.settle();
      expect(deviceState(sim, 'dev0').last).toEqual([{ ok: true }]);
      expect(peek(r.p, va + 16n, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    });
  });

  it('burstOf refuses an access outside the 53-bit range or with a bad length, naming it, before any access runs', () => {
    journaled((sim) => {
      const r = rig(sim, 'dev0');
      const va = r.p.mmap({ length: PAGE });
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      const first = { iova: IOVA, length: 4, write: true, data: Uint8Array.of(9, 9, 9, 9) };
      expect(() => sim.dma('dev0', [first, { iova: 1n << 60n, length: 4, write: false }])).toThrow(/^DMA access 1: address .* outside the simulator's 53-bit range/);
      expect(() => sim.dma('dev0', [first, { iova: IOVA, length: -1, write: false }])).toThrow(/^DMA access 1: length -1/);
      expect(() => sim.dma('dev0', [first, { iova: IOVA, length: 4, write: false, pasid: 1.5 }])).toThrow(/^DMA access 1: pasid 1.5/);
      expect(peek(r.p, va, 4)).toEqual(new Uint8Array(4));
      expect(deviceState(sim, 'dev0').bursts).toBe(0);
    });
  });

  it('accesses convert both ways, and slices and picks of a burst survive the journal codec', () => {
    const accesses: DmaAccess[] = [
      { iova: 0x1000, length: 8, write: true, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) },
      { iova: 0x2000, length: 16, write: false, pasid: 3 },
      { iova: 2 ** 52, length: 1, write: false, priv: true },
    ];
    const b = burstOf(accesses);
    expect(isDmaBurst(b)).toBe(true);
    expect(isDmaBurst(accesses)).toBe(false);
    expect(burstAccesses(b)).toEqual(accesses);
    expect(Array.from(b.flags)).toEqual([DMA_WRITE, 0, DMA_PRIV]);
    const slice = burstSlice(b, 1, 3);
    const back = decodeValue(encodeValue(slice)) as typeof slice;
    expect(burstAccesses(back)).toEqual(accesses.slice(1));
    expect(burstAccesses(burstPick(b, [2, 0]))).toEqual([accesses[2], accesses[0]]);
    expect(burstAccess(decodeValue(encodeValue(b)) as typeof b, 0)).toEqual(accesses[0]);
  });
});
