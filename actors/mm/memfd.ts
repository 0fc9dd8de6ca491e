/**
 * memfd (shmem file): a size and a page cache of frames indexed by page
 * offset.  The pages belong to the memfd, not to any process, so every mm
 * mapping it — and every iopt_pages built from it by MAP_FILE — sees the same
 * frames.  Pages are allocated on first touch; reads of holes are zeros.
 */
import { EFAULT, EINVAL, ENOMEM } from '../../uapi/errno.ts';
import {
  PAGE_SHIFT, PAGE_SIZE, allocFrame, framePin, frameUnpin, freeFrame, readPhys, writePhys,
} from '../../hardware/physmem.ts';
import type { MmWorld } from './world.ts';

export interface Memfd {
  id: number;
  size: bigint;
  /** page offset → pfn (reference owned by the memfd). */
  pages: Record<number, number>;
  /** fds + vmas + iopt_pages holding it; the page cache goes at zero. */
  refs: number;
}

const PAGE = BigInt(PAGE_SIZE);

export function memfdCreate(world: MmWorld, size: bigint | number): number {
  const id = world.nextMemfdId++;
  world.memfds[id] = { id, size: BigInt(size), pages: {}, refs: 1 };
  return id;
}

export function memfdGet(world: MmWorld, id: number): void {
  const f = world.memfds[id];
  if (!f) throw new Error(`memfd ${id} does not exist`);
  f.refs++;
}

export function memfdRelease(world: MmWorld, id: number): void {
  const f = world.memfds[id];
  if (!f) return;
  if (--f.refs > 0) return;
  for (const k in f.pages) freeFrame(world.pm, f.pages[k as unknown as number]);
  delete world.memfds[id];
}

export function memfdNpages(f: Memfd): number {
  return Number((f.size + PAGE - 1n) / PAGE);
}

/** Frame behind page `pgoff`, allocating it when asked; -1 hole, -ENOMEM, -EINVAL past EOF. */
export function memfdPage(world: MmWorld, f: Memfd, pgoff: number, alloc: boolean): number {
  if (pgoff >= memfdNpages(f)) return -EINVAL;
  const pfn = f.pages[pgoff];
  if (pfn !== undefined) return pfn;
  if (!alloc) return -1;
  const n = allocFrame(world.pm);
  if (n < 0) return -ENOMEM;
  f.pages[pgoff] = n;
  return n;
}

/**
 * memfd_pin_folios: every page must lie below i_size (shmem refuses to
 * instantiate pages past EOF with EINVAL).
 */
export function memfdPin(world: MmWorld, id: number, pgoff: number, npages: number): { pfns: number[] } | { errno: number } {
  const f = world.memfds[id];
  if (!f) return { errno: EFAULT };
  if (pgoff + npages > memfdNpages(f)) return { errno: EINVAL };
  const pfns: number[] = [];
  for (let i = 0; i < npages; i++) {
    const pfn = memfdPage(world, f, pgoff + i, true);
    if (pfn < 0) {
      for (const p of pfns) frameUnpin(world.pm, p);
      return { errno: -pfn };
    }
    framePin(world.pm, pfn);
    pfns.push(pfn);
  }
  return { pfns };
}

export function memfdTruncate(world: MmWorld, id: number, size: bigint | number): number {
  const f = world.memfds[id];
  if (!f) return EINVAL;
  const newSize = BigInt(size);
  if (newSize < 0n) return EINVAL;
  const keep = Number((newSize + PAGE - 1n) / PAGE);
  for (const k in f.pages) {
    const pgoff = Number(k);
    if (pgoff >= keep) {
      freeFrame(world.pm, f.pages[pgoff]);
      delete f.pages[pgoff];
    }
  }
  zeroTail(world, f, newSize);
  f.size = newSize;
  return 0;
}

/** Shrinking into the middle of a page clears its tail, as truncate_inode_partial_folio does. */
function zeroTail(world: MmWorld, f: Memfd, size: bigint): void {
  const off = Number(size % PAGE);
  if (off === 0) return;
  const pfn = f.pages[Number(size >> BigInt(PAGE_SHIFT))];
  if (pfn === undefined || pfn < 0) return;
  writePhys(world.pm, pfn * PAGE_SIZE + off, new Uint8Array(PAGE_SIZE - off));
}

export function memfdRead(world: MmWorld, id: number, offset: bigint, len: number): { data: Uint8Array } | { errno: number } {
  const f = world.memfds[id];
  if (!f || offset + BigInt(len) > f.size) return { errno: EFAULT };
  const out = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const cur = offset + BigInt(done);
    const pgoff = Number(cur >> BigInt(PAGE_SHIFT));
    const off = Number(cur % PAGE);
    const n = Math.min(PAGE_SIZE - off, len - done);
    const pfn = f.pages[pgoff];
    if (pfn !== undefined) out.set(readPhys(world.pm, pfn * PAGE_SIZE + off, n), done);
    done += n;
  }
  return { data: out };
}

export function memfdWrite(world: MmWorld, id: number, offset: bigint, data: Uint8Array): number {
  const f = world.memfds[id];
  if (!f || offset + BigInt(data.length) > f.size) return EFAULT;
  let done = 0;
  while (done < data.length) {
    const cur = offset + BigInt(done);
    const pgoff = Number(cur >> BigInt(PAGE_SHIFT));
    const off = Number(cur % PAGE);
    const n = Math.min(PAGE_SIZE - off, data.length - done);
    const pfn = memfdPage(world, f, pgoff, true);
    if (pfn < 0) return ENOMEM;
    writePhys(world.pm, pfn * PAGE_SIZE + off, data.subarray(done, done + n));
    done += n;
  }
  return 0;
}
