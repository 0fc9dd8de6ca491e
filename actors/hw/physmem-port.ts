/** The translation engine's view of physical memory: the simulated frames in the world. */
import { blockFor, readPhys, readPhysInto, writePhys, BLOCK_SHIFT, type PhysMem } from '../../hardware/physmem.ts';
import type { PhysMemPort } from '../../hardware/translate.ts';

/**
 * readPhys/writePhys copy (the engine's fallback and the nested walker's
 * descriptor reads); `frameBlock` hands the engine the frames' own bytes so a
 * DMA page is moved with one copy and no allocation.
 */
export function physMemPort(pm: PhysMem): PhysMemPort {
  const scratch = new Uint8Array(8);
  const dv = new DataView(scratch.buffer);
  return {
    readPhys: (pa, len) => readPhys(pm, pa, len),
    writePhys: (pa, data) => writePhys(pm, pa, data),
    read64: (pa) => {
      readPhysInto(pm, pa, scratch, 0, 8);
      return dv.getBigUint64(0, true);
    },
    write64: (pa, v) => {
      dv.setBigUint64(0, v, true);
      writePhys(pm, pa, scratch);
    },
    frameBlock: (pfn, write) => (write ? blockFor(pm, pfn) : (pm.blocks[pfn >> BLOCK_SHIFT] ?? null)),
  };
}

