/**
 * iommufd as a dma-buf importer (Linux pages.c iopt_alloc_dmabuf_pages,
 * iopt_revoke_notify; io_pagetable.c iopt_map_file_pages): IOMMU_IOAS_MAP_FILE
 * of a dma-buf fd, and what a revoke does to the areas built from it.
 *
 * The exporter (the selftest's test dma-buf) is actors/mm/dmabuf.ts; the
 * IOMMU_TEST_CMD ops that create and revoke one are in selftest.ts.
 */
import type { DeliveryContext } from '../runtime/actor.ts';
import type { World } from '../world.ts';
import { registerFileKind } from '../kernel.ts';
import { dmabufPut, getDmabuf } from '../mm/dmabuf.ts';
import { EINVAL, EOVERFLOW } from '../../uapi/errno.ts';
import {
  IOMMU_WRITE, ULONG_MAX, areaUnfilled, ioptMapPages, type DomainEffect, type IoPagetable, type IoptEnv, type MapResult,
} from './io_pagetable.ts';
import { getPages, ioptAllocDmabufPages, pagesRemoveUsers } from './pages.ts';
import { invokeOp } from './object-actor.ts';

registerFileKind('dmabuf', (ctx, _file, desc) => {
  if (desc.kind === 'dmabuf') dmabufPut(ctx.world.mem, desc.dmabuf);
});

export interface MapDmabufOpts {
  pid: number;
  dmabuf: number;
  start: bigint;
  length: bigint;
  iova?: bigint;
  prot: number;
  fixed: boolean;
}

/** iopt_map_file_pages when the fd is a dma-buf: 0 length EINVAL, wrap EOVERFLOW, then the attachment. */
export function ioptMapDmabufPages(iopt: IoPagetable, env: IoptEnv, o: MapDmabufOpts): MapResult {
  const fail = (errno: number): MapResult => ({ errno, iova: 0n, effects: [] });
  if (o.length === 0n) return fail(EINVAL);
  if (o.start + o.length - 1n > ULONG_MAX) return fail(EOVERFLOW);
  const r = ioptAllocDmabufPages(env, {
    pid: o.pid, dmabuf: o.dmabuf, start: o.start, length: o.length, writable: (o.prot & IOMMU_WRITE) !== 0,
  });
  if ('errno' in r) return fail(r.errno);
  return ioptMapPages(iopt, env, [{ pagesId: r.pages.id, startByte: r.startByte, length: o.length }], o.length, o.iova ?? 0n, o.prot, !o.fixed);
}

/**
 * iopt_revoke_notify for the areas of one IOAS: every area of a revoked
 * pages object leaves every domain (the unmaps flush the IOTLB before the
 * exporter may reuse the memory) and stops being a user of its pages.  The
 * areas themselves stay; UNMAP removes them later as usual.
 */
export function ioptDmabufRevoke(iopt: IoPagetable, env: IoptEnv, pagesIds: readonly number[]): DomainEffect[] {
  const effects: DomainEffect[] = [];
  for (const area of iopt.areas) {
    if (!area.filled || !pagesIds.includes(area.pagesId)) continue;
    for (const d of iopt.domains) effects.push({ op: 'unmap', domainId: d.id, iova: area.iova, length: area.last - area.iova + 1n });
    pagesRemoveUsers(env, getPages(env, area.pagesId), area.firstIndex, area.lastIndex);
    areaUnfilled(env, area);
  }
  return effects;
}

/**
 * dma_buf_move_notify: each attachment not revoked yet is revoked, in
 * attach order.  It runs inside the caller's delivery, as the exporter calls
 * the importers under the reservation lock; the IOASes of every iommufd
 * (a dma-buf may be imported by several) drop their mappings synchronously.
 */
export function dmabufMoveNotify(c: DeliveryContext<World>, env: IoptEnv, bufId: number): void {
  const buf = getDmabuf(c.world.mem, bufId);
  if (!buf) return;
  const fresh = buf.attachments.filter((id) => !getPages(env, id).revoked);
  if (fresh.length === 0) return;
  for (const ioas of ioasActors(c)) invokeOp(c, ioas, 'dmabuf_revoke', { pagesIds: fresh });
  for (const id of fresh) getPages(env, id).revoked = true;
}

/** Every live IOAS object of every iommufd context a file still reaches, in file then object id order. */
function ioasActors(c: DeliveryContext<World>): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const files = Object.keys(c.world.files).map(Number).sort((a, b) => a - b);
  for (const f of files) {
    const desc = c.world.files[f]!;
    // An access or event fd keeps its iommufd context alive after the iommufd fd itself is closed.
    const ctxId = desc.kind === 'iommufd' ? desc.actor : desc.kind === 'access' || desc.kind === 'eventfd' ? desc.ctx : null;
    if (ctxId === null || seen.has(ctxId)) continue;
    seen.add(ctxId);
    const ctx = c.peek(ctxId) as { context?: { data?: { table?: { entries: Record<number, { type: string; actor: string } | null> } } } } | undefined;
    const entries = ctx?.context?.data?.table?.entries ?? {};
    for (const k of Object.keys(entries).map(Number).sort((a, b) => a - b)) {
      const e = entries[k];
      if (e && e.type === 'ioas' && c.has(e.actor)) out.push(e.actor);
    }
  }
  return out;
}
