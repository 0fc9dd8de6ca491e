/**
 * One burst through the engine's two phases (a paging domain's burst is
 * translated first and its bytes moved after): the accesses still act in
 * order, a fault still stops only its own access after the pages before it,
 * accesses crossing physical-memory blocks move every byte, and the whole
 * thing journals and replays byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { FIXED, PAGE, RW, journaled, pattern, peek, poke, rig } from './helpers.ts';
import { BLOCK_BYTES } from '../../hardware/physmem.ts';

const IOVA = 0x2000_0000;

describe('DMA bursts (dev0)', () => {
  it('a read after a write of the same bytes in one burst sees the write; a write after a read does not change what was read', () => {
    journaled((sim) => {
      const r = rig(sim, 'dev0');
      const va = r.p.mmap({ length: 4 * PAGE });
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(4 * PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      const before = pattern(1, 3).subarray(0, 64);
      poke(r.p, va + 100n, before);
      const w1 = new Uint8Array(64).fill(0x11);
      const w2 = new Uint8Array(64).fill(0x22);
      const o = sim.dma('dev0', [
        { iova: IOVA + 100, length: 64, write: false },
        { iova: IOVA + 100, length: 64, write: true, data: w1 },
        { iova: IOVA + 100, length: 64, write: false },
        { iova: IOVA + 100, length: 64, write: true, data: w2 },
        { iova: IOVA + 132, length: 64, write: false },
      ]);
      expect(o.map((x) => x.ok)).toEqual([true, true, true, true, true]);
      expect(o[0]!.data).toEqual(before);
      expect(o[2]!.data).toEqual(w1);
      expect(o[4]!.data).toEqual(new Uint8Array([...w2.subarray(32), ...new Uint8Array(32)]));
      expect(peek(r.p, va + 100n, 64)).toEqual(w2);
    });
  });

  it('a fault stops its own access after the pages before it; the accesses after it still run', () => {
    journaled((sim) => {
      const r = rig(sim, 'dev0');
      const va = r.p.mmap({ length: 2 * PAGE });
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(2 * PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      const big = pattern(3, 9);
      const tail = new Uint8Array(16).fill(0x77);
      const o = sim.dma('dev0', [
        // pages 0 and 1 are mapped, page 2 is not: the first two land, then the fault
        { iova: IOVA, length: 3 * PAGE, write: true, data: big },
        { iova: IOVA + 40, length: 16, write: true, data: tail },
      ]);
      expect(o[0]).toMatchObject({ ok: false, fault: 'translation' });
      expect(o[1]!.ok).toBe(true);
      const mem = peek(r.p, va, 2 * PAGE);
      expect(mem.subarray(0, 40)).toEqual(big.subarray(0, 40));
      expect(mem.subarray(40, 56)).toEqual(tail);
      expect(mem.subarray(56, 2 * PAGE)).toEqual(big.subarray(56, 2 * PAGE));
    });
  });

  it('accesses crossing a physical-memory block boundary move every byte, both ways', () => {
    journaled((sim) => {
      const r = rig(sim, 'dev0');
      // enough pages that the buffer's frames span at least one block boundary
      const pages = (2 * BLOCK_BYTES) / PAGE + 2;
      const va = r.p.mmap({ length: pages * PAGE });
      expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: va, length: BigInt(pages * PAGE), iova: BigInt(IOVA) }).errno).toBe(0);
      const bytes = pattern(pages, 5);
      const o = sim.dma('dev0', [{ iova: IOVA + 8, length: pages * PAGE - 16, write: true, data: bytes.subarray(8, pages * PAGE - 8) }]);
      expect(o[0]!.ok).toBe(true);
      expect(peek(r.p, va + 8n, pages * PAGE - 16)).toEqual(bytes.subarray(8, pages * PAGE - 8));
      const back = sim.dma('dev0', [{ iova: IOVA + 4, length: pages * PAGE - 8, write: false }]);
      expect(back[0]!.data).toEqual(new Uint8Array([0, 0, 0, 0, ...bytes.subarray(8, pages * PAGE - 8), 0, 0, 0, 0]));
    });
  });
});
