/**
 * Journal snapshots store physical memory as its non-zero frames, not as
 * the 64 KiB content blocks the DMA engine works on.
 */
import { describe, expect, it } from 'vitest';
import { allocFrame, createPhysMem, physMemFromImage, physMemImage, readPhys, writePhys, BLOCK_FRAMES, PAGE_SIZE } from '../../hardware/physmem.ts';
import { decodeValue, encodeValue } from '../../journal/codec.ts';

describe('physical memory in journal snapshots', () => {
  it('keeps only the frames with a non-zero byte, and restores every byte', () => {
    const pm = createPhysMem({ totalPages: 64 });
    for (let i = 0; i < 40; i++) allocFrame(pm);
    writePhys(pm, 3 * PAGE_SIZE + 100, new Uint8Array([1, 2, 3]));
    writePhys(pm, (BLOCK_FRAMES + 1) * PAGE_SIZE + PAGE_SIZE - 1, new Uint8Array([9, 9])); // crosses into the next frame
    writePhys(pm, 5 * PAGE_SIZE, new Uint8Array(16)); // zeros: the block exists, the frame is not stored
    const img = physMemImage(pm);
    expect(img.frames.map(([pfn]) => pfn)).toEqual([3, BLOCK_FRAMES + 1, BLOCK_FRAMES + 2]);
    // three frames' worth of bytes, not two 64 KiB blocks
    expect(encodeValue(img).length).toBeLessThan(4 * PAGE_SIZE);
    const back = physMemFromImage(decodeValue(encodeValue(img)) as typeof img);
    for (let pfn = 0; pfn < 40; pfn++) expect(readPhys(back, pfn * PAGE_SIZE, PAGE_SIZE)).toEqual(readPhys(pm, pfn * PAGE_SIZE, PAGE_SIZE));
    expect({ ...back, blocks: undefined }).toEqual({ ...pm, blocks: undefined });
    expect(Object.keys(back)).toEqual(Object.keys(pm));
    // the image of the restored memory is the same bytes
    expect(Buffer.from(encodeValue(physMemImage(back))).equals(Buffer.from(encodeValue(img)))).toBe(true);
  });
});
