import { describe, expect, it } from 'vitest';
import { pack, unpack } from 'msgpackr';
import { addr, mmWorld } from '../helpers/mm.ts';
import {
  createMm, exitMm, forkMm, lookupPfn, mmap, mprotect, munmap, pagePinCount, pinUserPages, PROT_READ, PROT_WRITE,
  readUser, unpinUserPages, writeUser, type Mm,
} from '../../actors/mm/process.ts';
import { memfdCreate, memfdPin, memfdRead, memfdTruncate, memfdWrite } from '../../actors/mm/memfd.ts';
import { EFAULT, EINVAL, ENOMEM } from '../../uapi/errno.ts';
import { framesInUse } from '../../hardware/physmem.ts';

const P = 4096n;

const world = (totalPages = 64) => mmWorld(totalPages);

describe('process address space', () => {
  it('mmap picks the lowest gap above 0x10000 deterministically', () => {
    const { w, mm } = world();
    const a = addr(mmap(w, mm, { length: 2n * P, prot: PROT_READ }));
    const b = addr(mmap(w, mm, { length: P, prot: PROT_READ }));
    expect(a).toBe(0x10000n);
    expect(b).toBe(0x12000n);
    munmap(w, mm, a, 2n * P);
    expect(addr(mmap(w, mm, { length: P, prot: PROT_READ }))).toBe(0x10000n);
    expect(mmap(w, mm, { length: 0n, prot: PROT_READ })).toEqual({ errno: EINVAL });
  });

  it('anonymous memory is lazily faulted and read back', () => {
    const { w, mm } = world();
    const a = addr(mmap(w, mm, { length: 4n * P, prot: PROT_READ | PROT_WRITE }));
    const r = readUser(w, mm, a, 16);
    expect(r).toEqual({ data: new Uint8Array(16) });
    expect(framesInUse(w.pm)).toBe(0);
    expect(writeUser(w, mm, a + P - 2n, new Uint8Array([1, 2, 3, 4]))).toBe(0);
    expect(framesInUse(w.pm)).toBe(2);
    expect(readUser(w, mm, a + P - 2n, 4)).toEqual({ data: new Uint8Array([1, 2, 3, 4]) });
  });

  it('GUP: EFAULT outside vmas and for write pins of read-only memory', () => {
    const { w, mm } = world();
    const a = addr(mmap(w, mm, { length: 2n * P, prot: PROT_READ }));
    expect(pinUserPages(w, mm, a, 3, { write: false })).toEqual({ errno: EFAULT });
    expect(pinUserPages(w, mm, a, 1, { write: true })).toEqual({ errno: EFAULT });
    const r = pinUserPages(w, mm, a, 2, { write: false });
    expect('pfns' in r && r.pfns.length).toBe(2);
    expect(pagePinCount(w, mm, a)).toBe(1);
    if ('pfns' in r) unpinUserPages(w, r.pfns);
    expect(pagePinCount(w, mm, a)).toBe(0);
    expect(writeUser(w, mm, a, new Uint8Array([1]))).toBe(EFAULT);
  });

  it('GUP on PROT_NONE is EFAULT; mprotect splits vmas and needs the whole range mapped', () => {
    const { w, mm } = world();
    const a = addr(mmap(w, mm, { length: 4n * P, prot: PROT_READ | PROT_WRITE }));
    expect(mprotect(w, mm, a + P, P, 0)).toBe(0);
    expect(mm.vmas.length).toBe(3);
    expect(pinUserPages(w, mm, a, 2, { write: false })).toEqual({ errno: EFAULT });
    expect(mprotect(w, mm, a, 8n * P, PROT_READ)).toBe(ENOMEM);
  });

  it('pinned pages survive munmap; the frame goes when unpinned', () => {
    const { w, mm } = world();
    const a = addr(mmap(w, mm, { length: P, prot: PROT_READ | PROT_WRITE }));
    writeUser(w, mm, a, new Uint8Array([7]));
    const r = pinUserPages(w, mm, a, 1, { write: true });
    if (!('pfns' in r)) throw new Error('pin');
    munmap(w, mm, a, P);
    expect(framesInUse(w.pm)).toBe(1);
    unpinUserPages(w, r.pfns);
    expect(framesInUse(w.pm)).toBe(0);
  });

  it('memfd pages are shared by every mapping and by the file', () => {
    const { w, mm } = world();
    const other = createMm(w, { pid: 2, uid: 1 });
    const fd = memfdCreate(w, 2n * P);
    const a = addr(mmap(w, mm, { length: 2n * P, prot: PROT_READ | PROT_WRITE, kind: 'memfd', memfd: fd }));
    const b = addr(mmap(w, other, { length: P, prot: PROT_READ, kind: 'memfd', memfd: fd, offset: P }));
    writeUser(w, mm, a + P + 5n, new Uint8Array([42]));
    expect(readUser(w, other, b + 5n, 1)).toEqual({ data: new Uint8Array([42]) });
    expect(lookupPfn(w, mm, a + P)).toBe(lookupPfn(w, other, b));
    expect(memfdRead(w, fd, P + 5n, 1)).toEqual({ data: new Uint8Array([42]) });
  });

  it('memfd: pin past EOF is EINVAL, touching a truncated mapping is EFAULT', () => {
    const { w, mm } = world();
    const fd = memfdCreate(w, 2n * P);
    expect(memfdPin(w, fd, 1, 2)).toEqual({ errno: EINVAL });
    expect(memfdWrite(w, fd, P, new Uint8Array([1]))).toBe(0);
    const a = addr(mmap(w, mm, { length: 2n * P, prot: PROT_READ | PROT_WRITE, kind: 'memfd', memfd: fd }));
    expect(memfdTruncate(w, fd, P)).toBe(0);
    expect(readUser(w, mm, a + P, 1)).toEqual({ errno: EFAULT });
    expect(pinUserPages(w, mm, a + P, 1, { write: false })).toEqual({ errno: EFAULT });
  });

  it('fork shares MAP_SHARED anonymous pages and copies private ones', () => {
    const { w, mm } = world();
    const sh = addr(mmap(w, mm, { length: P, prot: PROT_READ | PROT_WRITE, shared: true }));
    const pr = addr(mmap(w, mm, { length: P, prot: PROT_READ | PROT_WRITE }));
    writeUser(w, mm, sh, new Uint8Array([1]));
    writeUser(w, mm, pr, new Uint8Array([2]));
    const child = forkMm(w, mm, 2) as Mm;
    writeUser(w, child, sh, new Uint8Array([3]));
    writeUser(w, child, pr, new Uint8Array([4]));
    expect(readUser(w, mm, sh, 1)).toEqual({ data: new Uint8Array([3]) });
    expect(readUser(w, mm, pr, 1)).toEqual({ data: new Uint8Array([2]) });
    exitMm(w, child);
    expect(pinUserPages(w, child, sh, 1, { write: false })).toEqual({ errno: EFAULT });
  });

  it('the whole world round-trips through msgpack', () => {
    const { w, mm } = world();
    const a = addr(mmap(w, mm, { length: P, prot: PROT_READ | PROT_WRITE }));
    writeUser(w, mm, a, new Uint8Array([5, 6]));
    const back = unpack(pack(w));
    expect(readUser(back, back.mms[1], a, 2)).toEqual({ data: new Uint8Array([5, 6]) });
  });
});
