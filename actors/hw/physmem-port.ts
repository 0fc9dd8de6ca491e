/** The translation engine's view of physical memory: the simulated frames in the world. */
import { readPhys, writePhys, type PhysMem } from '../../hardware/physmem.ts';
import type { PhysMemPort } from '../../hardware/translate.ts';

export function physMemPort(pm: PhysMem): PhysMemPort {
  return {
    readPhys: (pa, len) => readPhys(pm, pa, len),
    writePhys: (pa, data) => writePhys(pm, pa, data),
    read64: (pa) => {
      const b = readPhys(pm, pa, 8);
      return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    },
    write64: (pa, v) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, v, true);
      writePhys(pm, pa, b);
    },
  };
}
