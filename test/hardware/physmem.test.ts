// Frame contents in blocks of BLOCK_FRAMES frames (hardware/physmem.ts): what
// the frame-per-array layout guaranteed still holds.
import { describe, expect, it } from 'vitest';
import {
  BLOCK_BYTES, BLOCK_FRAMES, BLOCK_SHIFT, PAGE_SIZE, allocFrame, copyFrame, createPhysMem, frameDataIfPresent, freeFrame, readPhys, writePhys,
} from '../../hardware/physmem.ts';
import { physMemPort } from '../../actors/hw/physmem-port.ts';
import { PORT_BLOCK_BYTES, PORT_BLOCK_FRAMES, PORT_FRAME_SIZE } from '../../hardware/pagetable/nested.ts';
import { encodeValue, decodeValue } from '../../journal/codec.ts';

function fresh(frames: number) {
  const pm = createPhysMem({ totalPages: frames });
  for (let i = 0; i < frames; i++) allocFrame(pm);
  return pm;
}

describe('physmem blocks', () => {
  it('a write across a block boundary lands in both blocks, and reads back whole', () => {
    const pm = fresh(BLOCK_FRAMES * 2);
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => i & 255);
    writePhys(pm, BLOCK_BYTES - 100, bytes);
    expect(readPhys(pm, BLOCK_BYTES - 100, 300)).toEqual(bytes);
    expect(pm.blocks.length).toBe(2);
    expect(pm.blocks[0]![BLOCK_BYTES - 1]).toBe(99);
    expect(pm.blocks[1]![0]).toBe(100);
  });

  it('a freed frame reads as zeros, its neighbours keep their bytes, and the block goes with its last frame', () => {
    const pm = fresh(BLOCK_FRAMES);
    writePhys(pm, 0, new Uint8Array(2 * PAGE_SIZE).fill(7));
    freeFrame(pm, 0);
    expect(readPhys(pm, 0, 4)).toEqual(new Uint8Array(4));
    expect(readPhys(pm, PAGE_SIZE, 4)).toEqual(new Uint8Array(4).fill(7));
    expect(allocFrame(pm)).toBe(0);
    expect(readPhys(pm, 0, PAGE_SIZE)).toEqual(new Uint8Array(PAGE_SIZE));
    for (let f = 0; f < BLOCK_FRAMES; f++) freeFrame(pm, f);
    expect(pm.blocks[0]).toBeUndefined();
    expect(frameDataIfPresent(pm, 1)).toBeUndefined();
  });

  it('copyFrame copies between blocks and copies zeros from a frame never written', () => {
    const pm = fresh(BLOCK_FRAMES * 3);
    writePhys(pm, 5 * PAGE_SIZE + 9, new Uint8Array([1, 2, 3]));
    copyFrame(pm, 2 * BLOCK_FRAMES + 1, 5);
    expect(readPhys(pm, (2 * BLOCK_FRAMES + 1) * PAGE_SIZE + 9, 3)).toEqual(new Uint8Array([1, 2, 3]));
    copyFrame(pm, 5, BLOCK_FRAMES + 3);
    expect(readPhys(pm, 5 * PAGE_SIZE + 9, 3)).toEqual(new Uint8Array(3));
    expect(pm.blocks[1]).toBeUndefined();
  });

  it('the block geometry is what the DMA hot path has as literals (translate.ts burst loop, physmem-port.ts frameBlock)', () => {
    expect([PORT_FRAME_SIZE, PORT_BLOCK_FRAMES, PORT_BLOCK_BYTES, BLOCK_SHIFT]).toEqual([4096, 16, 65536, 4]);
  });

  it('the port hands out the block and allocates only for writes', () => {
    const pm = fresh(BLOCK_FRAMES * 4);
    const port = physMemPort(pm);
    expect(port.frameBlock!(3 * BLOCK_FRAMES + 2, false)).toBeNull();
    expect(pm.blocks.length).toBe(0);
    const blk = port.frameBlock!(3 * BLOCK_FRAMES + 2, true)!;
    blk[2 * PAGE_SIZE + 1] = 0xaa;
    expect(readPhys(pm, (3 * BLOCK_FRAMES + 2) * PAGE_SIZE + 1, 1)).toEqual(new Uint8Array([0xaa]));
    // every frame of the block, read or written, is served by that block, and the ones around it by none
    for (let k = 0; k < BLOCK_FRAMES; k++) {
      expect(port.frameBlock!(3 * BLOCK_FRAMES + k, false)).toBe(blk);
      expect(port.frameBlock!(3 * BLOCK_FRAMES + k, true)).toBe(blk);
    }
    expect(port.frameBlock!(3 * BLOCK_FRAMES - 1, false)).toBeNull();
    // blocks below the one written stay holes, one nil-sized value each in a snapshot
    expect(pm.blocks.length).toBe(4);
    const back = decodeValue(encodeValue(pm)) as typeof pm;
    expect(readPhys(back, (3 * BLOCK_FRAMES + 2) * PAGE_SIZE + 1, 1)).toEqual(new Uint8Array([0xaa]));
    expect(encodeValue(back)).toEqual(encodeValue(pm));
  });
});
