/**
 * dma-buf: a buffer exported by a driver as a file (drivers/dma-buf), here
 * only the selftest's exporter (selftest.c iommufd_test_dmabuf_get).  Its
 * backing is physical frames owned by the buffer, not by any process, so a
 * device doing DMA through an importer reads and writes real bytes.
 *
 * Importers are iopt_pages objects (pages.ts, IOPT_ADDRESS_DMABUF): each one
 * is a dma_buf_dynamic_attach and holds a reference on the buffer until the
 * pages object is released.  Revoking (dma_buf_move_notify) is reported to
 * every attachment; what an importer does about it is its own business.
 */
import { ENOMEM } from '../../uapi/errno.ts';
import { PAGE_SIZE, allocFrame, freeFrame, readPhys } from '../../hardware/physmem.ts';
import type { MmWorld } from './world.ts';

export interface Dmabuf {
  id: number;
  /** bytes, a whole number of pages. */
  size: bigint;
  /** page i of the buffer (a reference each, owned by the buffer). */
  pfns: number[];
  /** The exporter's revoked flag (iommufd_test_dma_buf.revoked): attaching maps nothing. */
  revoked: boolean;
  /** open file descriptions + attachments; the memory goes at zero. */
  refs: number;
  /** iopt_pages ids attached to it, in attach order (dma_buf->attachments). */
  attachments: number[];
}

function table(world: MmWorld): Record<number, Dmabuf> {
  return (world.dmabufs ??= {});
}

export function getDmabuf(world: MmWorld, id: number): Dmabuf | undefined {
  return world.dmabufs?.[id];
}

/**
 * The exporter's allocation (kzalloc of the whole length); frames read as
 * zeros until written.  All or nothing.
 */
export function dmabufCreate(world: MmWorld, size: bigint): number | { errno: number } {
  const n = Number(size / BigInt(PAGE_SIZE));
  const pfns: number[] = [];
  for (let i = 0; i < n; i++) {
    const pfn = allocFrame(world.pm);
    if (pfn < 0) {
      for (const p of pfns) freeFrame(world.pm, p);
      return { errno: ENOMEM };
    }
    pfns.push(pfn);
  }
  const id = world.nextDmabufId ?? 1;
  world.nextDmabufId = id + 1;
  table(world)[id] = { id, size, pfns, revoked: false, refs: 1, attachments: [] };
  return id;
}

export function dmabufGet(world: MmWorld, id: number): void {
  const b = getDmabuf(world, id);
  if (!b) throw new Error(`dma-buf ${id} does not exist`);
  b.refs++;
}

/** dma_buf_put; the last reference frees the memory (iommufd_test_dma_buf_release). */
export function dmabufPut(world: MmWorld, id: number): void {
  const b = getDmabuf(world, id);
  if (!b) return;
  if (--b.refs > 0) return;
  if (b.attachments.length) throw new Error(`dma-buf ${id} released with attachments ${b.attachments.join(',')}`);
  for (const pfn of b.pfns) freeFrame(world.pm, pfn);
  delete table(world)[id];
}

export function dmabufAttach(world: MmWorld, id: number, pagesId: number): void {
  const b = getDmabuf(world, id)!;
  b.attachments.push(pagesId);
  b.refs++;
}

export function dmabufDetach(world: MmWorld, id: number, pagesId: number): void {
  const b = getDmabuf(world, id);
  if (!b) return;
  b.attachments = b.attachments.filter((p) => p !== pagesId);
  dmabufPut(world, id);
}

/** The bytes as the exporter sees them (no importer path reads them back but a device). */
export function dmabufRead(world: MmWorld, id: number, offset: number, len: number): Uint8Array {
  const b = getDmabuf(world, id)!;
  const out = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const cur = offset + done;
    const off = cur % PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - off, len - done);
    out.set(readPhys(world.pm, b.pfns[Math.floor(cur / PAGE_SIZE)]! * PAGE_SIZE + off, n), done);
    done += n;
  }
  return out;
}
