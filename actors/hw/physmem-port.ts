/** The translation engine's view of physical memory: the simulated frames in the world. */
import { blockFor, readPhys, readPhysInto, writePhys, type PhysMem } from '../../hardware/physmem.ts';
import type { PhysMemPort } from '../../hardware/translate.ts';

/**
 * readPhys/writePhys copy (the engine's fallback and the nested walker's
 * descriptor reads); `frameBlock` hands the engine the frames' own bytes so a
 * DMA page is moved with one copy and no allocation. A class rather than an
 * object of closures: every port then shares one `frameBlock` function, so
 * the engine's call site stays monomorphic (and inlined) with several
 * simulations in one process.
 */
class WorldMemPort implements PhysMemPort {
  private readonly scratch = new Uint8Array(8);
  private readonly dv = new DataView(this.scratch.buffer);
  constructor(private readonly pm: PhysMem) {}
  readPhys(pa: number, len: number): Uint8Array {
    return readPhys(this.pm, pa, len);
  }
  writePhys(pa: number, data: Uint8Array): void {
    writePhys(this.pm, pa, data);
  }
  read64(pa: number): bigint {
    readPhysInto(this.pm, pa, this.scratch, 0, 8);
    return this.dv.getBigUint64(0, true);
  }
  write64(pa: number, v: bigint): void {
    this.dv.setBigUint64(0, v, true);
    writePhys(this.pm, pa, this.scratch);
  }
  frameBlock(pfn: number, write: boolean): Uint8Array | null {
    // 4 is BLOCK_SHIFT: on the DMA hot path a module constant costs a context load and a hole check per copy
    const blk = this.pm.blocks[pfn >> 4];
    if (blk !== undefined) return blk;
    return write ? blockFor(this.pm, pfn) : null;
  }
}

export function physMemPort(pm: PhysMem): PhysMemPort {
  return new WorldMemPort(pm);
}
