/**
 * MAP_HUGETLB, MAP_POPULATE and fork() of the simulated address space
 * (actors/mm/process.ts), and the proc.fork system call.
 */
import { describe, expect, it } from 'vitest';
import { addr, mmWorld } from '../helpers/mm.ts';
import {
  HPAGE_SIZE, exitMm, forkMm, inHugePage, lookupPfn, mmap, munmap, pinUserPages, PROT_READ, PROT_WRITE, readUser,
  unpinUserPages, writeUser,
} from '../../actors/mm/process.ts';
import { EINVAL, ENOMEM } from '../../uapi/errno.ts';
import { framesInUse } from '../../hardware/physmem.ts';
import { Simulation } from '../../actors/sim.ts';
import { Proc, spawnProc } from '../../actors/api.ts';

const P = 4096n;
const HP_PAGES = Number(HPAGE_SIZE / P);
const RW = PROT_READ | PROT_WRITE;

const world = (totalPages = 4096) => mmWorld(totalPages);

describe('MAP_HUGETLB', () => {
  it('rounds the length up to 2 MiB, aligns the address, refuses unaligned fixed addresses and files', () => {
    const { w, mm } = world();
    addr(mmap(w, mm, { length: P, prot: RW }));
    const a = addr(mmap(w, mm, { length: 3n * P, prot: RW, shared: true, huge: true }));
    expect(a % HPAGE_SIZE).toBe(0n);
    expect(mm.vmas.find((v) => v.start === a)!.length).toBe(HPAGE_SIZE);
    expect(mmap(w, mm, { addr: HPAGE_SIZE * 8n + P, length: HPAGE_SIZE, prot: RW, huge: true })).toEqual({ errno: EINVAL });
    expect(mmap(w, mm, { length: HPAGE_SIZE, prot: RW, huge: true, kind: 'memfd', memfd: 1 })).toEqual({ errno: EINVAL });
    // Ordinary mappings keep their page granularity next to it.
    expect(addr(mmap(w, mm, { length: P, prot: RW }))).toBe(0x11000n);
  });

  it('faults a whole huge page at the first touch, contiguous from fresh memory; MAP_POPULATE does it up front', () => {
    const { w, mm } = world();
    const a = addr(mmap(w, mm, { length: HPAGE_SIZE, prot: RW, shared: true, huge: true }));
    expect(framesInUse(w.pm)).toBe(0);
    expect(writeUser(w, mm, a + 5n * P + 3n, new Uint8Array([7]))).toBe(0);
    expect(framesInUse(w.pm)).toBe(HP_PAGES);
    const head = lookupPfn(w, mm, a);
    for (let i = 0; i < HP_PAGES; i++) expect(lookupPfn(w, mm, a + BigInt(i) * P)).toBe(head + i);
    expect(inHugePage(mm, a + HPAGE_SIZE - 1n)).toBe(true);
    const b = addr(mmap(w, mm, { length: 2n * HPAGE_SIZE, prot: RW, huge: true, populate: true }));
    expect(framesInUse(w.pm)).toBe(3 * HP_PAGES);
    expect(inHugePage(mm, b + 2n * HPAGE_SIZE)).toBe(false);
    expect(inHugePage(mm, addr(mmap(w, mm, { length: P, prot: RW })))).toBe(false);
    // Not enough memory for a huge page: nothing of it comes in.
    const small = world(HP_PAGES - 1);
    const c = addr(mmap(small.w, small.mm, { length: HPAGE_SIZE, prot: RW, huge: true }));
    expect(writeUser(small.w, small.mm, c, new Uint8Array([1]))).not.toBe(0);
    expect(framesInUse(small.w.pm)).toBe(0);
    expect(pinUserPages(small.w, small.mm, c, 1, { write: true })).toEqual({ errno: ENOMEM });
  });

  it('munmap cuts only at huge page boundaries and rounds the end up', () => {
    const { w, mm } = world();
    const a = addr(mmap(w, mm, { length: 2n * HPAGE_SIZE, prot: RW, huge: true, populate: true }));
    expect(munmap(w, mm, a + P, P)).toBe(EINVAL);
    expect(munmap(w, mm, a + HPAGE_SIZE, P)).toBe(0);
    expect(mm.vmas.map((v) => [v.start, v.length])).toEqual([[a, HPAGE_SIZE]]);
    expect(framesInUse(w.pm)).toBe(HP_PAGES);
  });

  it('pins and unpins any 4 KiB piece, across the boundary of two huge pages', () => {
    const { w, mm } = world();
    const a = addr(mmap(w, mm, { length: 2n * HPAGE_SIZE, prot: RW, shared: true, huge: true, populate: true }));
    const r = pinUserPages(w, mm, a + HPAGE_SIZE - P, 2, { write: true });
    if ('errno' in r) throw new Error('pin');
    expect(r.pfns).toEqual([lookupPfn(w, mm, a + HPAGE_SIZE - P), lookupPfn(w, mm, a + HPAGE_SIZE)]);
    unpinUserPages(w, r.pfns);
    expect(munmap(w, mm, a, 2n * HPAGE_SIZE)).toBe(0);
    expect(framesInUse(w.pm)).toBe(0);
  });
});

describe('fork', () => {
  it('shares MAP_SHARED pages the parent never touched: a later write on either side is seen by the other', () => {
    const { w, mm } = world();
    const sh = addr(mmap(w, mm, { length: 4n * P, prot: RW, shared: true }));
    const child = forkMm(w, mm, 2);
    if ('errno' in child) throw new Error('fork');
    expect(writeUser(w, child, sh + 3n * P, new Uint8Array([9]))).toBe(0);
    expect(readUser(w, mm, sh + 3n * P, 1)).toEqual({ data: new Uint8Array([9]) });
    exitMm(w, child);
    expect(readUser(w, mm, sh + 3n * P, 1)).toEqual({ data: new Uint8Array([9]) });
  });

  it('proc.fork: a new pid with the same open files; each side closes its own fd', () => {
    const sim = new Simulation({ seed: 1 });
    const p = spawnProc(sim, { uid: 1000 });
    const fd = p.open('/dev/iommu');
    const file = sim.world.procs[p.pid]!.fds[fd]!;
    const r = p.syscall('proc.fork');
    expect(r.errno).toBe(0);
    const child = new Proc(sim, Number(r.ret));
    expect(child.pid).not.toBe(p.pid);
    expect(sim.world.procs[child.pid]!.fds[fd]).toBe(file);
    expect(sim.world.files[file]!.refs).toBe(2);
    expect(child.close(fd)).toBe(0);
    expect(sim.world.files[file]!.refs).toBe(1);
    expect(child.exit()).toBe(0);
    expect(p.close(fd)).toBe(0);
    expect(sim.world.files[file]).toBeUndefined();
  });
});
