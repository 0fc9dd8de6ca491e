import { describe, expect, it } from 'vitest';
import {
  allocFrame, createPhysMem, framePin, framePins, frameUnpin, framesInUse, freeFrame, readPhys, writePhys, PAGE_SIZE,
} from '../../hardware/physmem.ts';
import { pack, unpack } from 'msgpackr';

describe('physmem', () => {
  it('allocates the lowest free pfn and reports exhaustion with -1', () => {
    const pm = createPhysMem({ totalPages: 3 });
    expect([allocFrame(pm), allocFrame(pm), allocFrame(pm)]).toEqual([0, 1, 2]);
    expect(allocFrame(pm)).toBe(-1);
    freeFrame(pm, 1);
    freeFrame(pm, 0);
    expect(allocFrame(pm)).toBe(0);
    expect(allocFrame(pm)).toBe(1);
    expect(framesInUse(pm)).toBe(3);
  });

  it('reads zeros until written and writes across page boundaries', () => {
    const pm = createPhysMem({ totalPages: 4 });
    allocFrame(pm);
    allocFrame(pm);
    expect(readPhys(pm, 100, 8)).toEqual(new Uint8Array(8));
    writePhys(pm, PAGE_SIZE - 2, new Uint8Array([1, 2, 3, 4]));
    expect([...readPhys(pm, PAGE_SIZE - 3, 6)]).toEqual([0, 1, 2, 3, 4, 0]);
    expect(Object.keys(pm.blocks)).toEqual(['0']); // frames 0 and 1 share content block 0
  });

  it('a pin keeps the frame alive after the last mapping reference goes', () => {
    const pm = createPhysMem({ totalPages: 2 });
    const pfn = allocFrame(pm);
    framePin(pm, pfn);
    freeFrame(pm, pfn);
    expect(framesInUse(pm)).toBe(1);
    expect(framePins(pm, pfn)).toBe(1);
    frameUnpin(pm, pfn);
    expect(framesInUse(pm)).toBe(0);
  });

  it('state survives a msgpack round trip', () => {
    const pm = createPhysMem({ totalPages: 8 });
    allocFrame(pm);
    writePhys(pm, 10, new Uint8Array([9, 9]));
    const back = unpack(pack(pm));
    expect(readPhys(back, 10, 2)).toEqual(new Uint8Array([9, 9]));
    expect(allocFrame(back)).toBe(1);
  });
});
