/**
 * iommufd as a dma-buf importer beyond the catalogue's two entries
 * (ioas_memory.test.ts): several importers of one buffer, COPY of a dma-buf
 * area, the mainline exporter's "un-revoke" that still notifies, the buffer's
 * lifetime, in-kernel access refusals, and the VFIO type1 split refusal.
 *
 * The raw-ABI tests run as journaled scenarios (twice, byte-identical,
 * replayed); the split refusal is checked on the io_pagetable directly.
 */
import { describe, expect, it } from 'vitest';
import { EBADF, EEXIST, EINVAL, ENODEV, EOPNOTSUPP, EOVERFLOW } from '../../uapi/errno.ts';
import * as E from '../../uapi/enums.ts';
import { dmabufCreate } from '../../actors/mm/dmabuf.ts';
import { ioptMapDmabufPages } from '../../actors/iommufd/dmabuf.ts';
import { ioptAddDomain, ioptCutIova, ioptDestroy } from '../../actors/iommufd/io_pagetable.ts';
import { checkInvariants } from '../../actors/invariants.ts';
import { staleTranslations } from '../../actors/invariants-hw.ts';
import { copy, pins, raw, scenario, unmap, type H } from '../core/helpers.ts';
import { MOCK_APERTURE_START as IOPT_BASE, RW as IOPT_RW, mockDomain as ioptMockDomain, setup as ioptSetup } from '../iopt/fixture.ts';
import * as S from '../../uapi/structs.ts';
import {
  PAGE, accessPages, accessRw, checkDmabuf, createAccess, getDmabufOk, hwptAllocOk, mapFile, memoryLimit, mockDomain, pattern, revokeDmabuf, teardown,
  type MockDev,
} from './helpers.ts';

const SIZE = 4n * PAGE;

interface Ctx extends H {
  ioas: number;
  dev: MockDev;
}

/** Another /dev/iommu of the same process with an IOAS and a mock device on it. */
function iommufd(h: H): Ctx {
  const fd = h.p.open('/dev/iommu');
  expect(fd).toBeGreaterThan(0);
  const c = { ...h, fd } as Ctx;
  expect(memoryLimit(c, E.MOCK_TEMP_MEMORY_LIMIT_DEFAULT)).toBe(0);
  const r = raw<typeof S.iommu_ioas_alloc>(c, 'IOMMU_IOAS_ALLOC', {});
  expect(r.errno).toBe(0);
  c.ioas = r.out.out_ioas_id;
  c.dev = mockDomain(c, c.ioas);
  return c;
}

function mapOk(c: Ctx, dfd: number, start = 0n, length = SIZE): bigint {
  const m = mapFile(c, c.ioas, dfd, start, length);
  expect(m.errno).toBe(0);
  return m.out.iova;
}

/** A device DMA read through `iova` (true: translated). */
function dmaReads(h: H, dev: string, iova: bigint): boolean {
  return h.sim.dma(dev, [{ iova, length: 8, write: false }])[0]!.ok;
}

function clean(h: H): void {
  expect(checkInvariants(h.sim)).toEqual([]);
  expect(staleTranslations(h.sim)).toEqual([]);
}

describe('dma-buf importer', () => {
  scenario('a revoke reaches every importer: two iommufds lose their mappings, their areas stay', (h) => {
    const a = iommufd(h);
    const b = iommufd(h);
    const dfd = getDmabufOk(h, SIZE);
    const ia = mapOk(a, dfd);
    const ib = mapOk(b, dfd);
    expect(dmaReads(h, 'iommufd_mock0', ia)).toBe(true);
    expect(dmaReads(h, 'iommufd_mock1', ib)).toBe(true);
    expect(checkDmabuf(b, b.dev.hwpt, dfd, ib, SIZE, 0n)).toBe(0);
    expect(revokeDmabuf(a, dfd, true)).toBe(0);
    expect(dmaReads(h, 'iommufd_mock0', ia)).toBe(false);
    expect(dmaReads(h, 'iommufd_mock1', ib)).toBe(false);
    expect(checkDmabuf(a, a.dev.hwpt, dfd, ia, SIZE, 0n)).toBe(EINVAL);
    expect(checkDmabuf(b, b.dev.hwpt, dfd, ib, SIZE, 0n)).toBe(EINVAL);
    // While revoked the buffer refuses new attachments; the old area keeps its IOVA until unmapped.
    expect(mapFile(a, a.ioas, dfd, 0n, SIZE, ia).errno).toBe(ENODEV);
    expect(revokeDmabuf(a, dfd, false)).toBe(0);
    expect(mapFile(a, a.ioas, dfd, 0n, SIZE, ia).errno).toBe(EEXIST);
    expect(unmap(a, a.ioas, ia, SIZE).out.length).toBe(SIZE);
    expect(unmap(b, b.ioas, ib, SIZE).errno).toBe(0);
    clean(h);
    expect(h.p.close(dfd)).toBe(0);
    teardown(a);
    teardown(b);
    expect(pins(h)).toBe(0);
    expect(Object.keys(h.sim.world.mem.dmabufs ?? {})).toEqual([]);
  });

  scenario('COPY shares the attachment: a revoke empties the copy too; a new domain fills neither', (h) => {
    const a = iommufd(h);
    const dfd = getDmabufOk(h, SIZE);
    const src = mapOk(a, dfd);
    const r2 = raw<typeof S.iommu_ioas_alloc>(a, 'IOMMU_IOAS_ALLOC', {});
    const ioas2 = r2.out.out_ioas_id;
    const dev2 = mockDomain(a, ioas2);
    const c = copy(a, { dst: ioas2, src: a.ioas, srcIova: src, length: SIZE });
    expect(c.errno).toBe(0);
    expect(checkDmabuf(a, dev2.hwpt, dfd, c.out.dst_iova, SIZE, 0n)).toBe(0);
    expect(dmaReads(h, 'iommufd_mock1', c.out.dst_iova)).toBe(true);
    expect(revokeDmabuf(a, dfd, true)).toBe(0);
    expect(dmaReads(h, 'iommufd_mock1', c.out.dst_iova)).toBe(false);
    expect(checkDmabuf(a, dev2.hwpt, dfd, c.out.dst_iova, SIZE, 0n)).toBe(EINVAL);
    // A new domain on the copy's IOAS: nothing to fill from a revoked attachment.
    const hwpt3 = hwptAllocOk(a, { dev: dev2.idev, pt: ioas2 });
    expect(checkDmabuf(a, hwpt3, dfd, c.out.dst_iova, PAGE, 0n)).toBe(EINVAL);
    clean(h);
    expect(h.p.close(dfd)).toBe(0);
    teardown(a);
    expect(Object.keys(h.sim.world.mem.dmabufs ?? {})).toEqual([]);
  });

  scenario('the mainline exporter notifies on un-revoke too: a live attachment is revoked by revoked=0', (h) => {
    const a = iommufd(h);
    const dfd = getDmabufOk(h, SIZE);
    const iova = mapOk(a, dfd);
    expect(revokeDmabuf(a, dfd, false)).toBe(0);
    expect(checkDmabuf(a, a.dev.hwpt, dfd, iova, SIZE, 0n)).toBe(EINVAL);
    // The exporter itself is not revoked: a new attachment maps.
    const again = mapOk(a, dfd);
    expect(checkDmabuf(a, a.dev.hwpt, dfd, again, SIZE, 0n)).toBe(0);
    clean(h);
    teardown(a);
    expect(h.p.close(dfd)).toBe(0);
    expect(Object.keys(h.sim.world.mem.dmabufs ?? {})).toEqual([]);
  });

  scenario('the memory lives while an importer does: DMA works after close(fd), unmap frees it', (h) => {
    const a = iommufd(h);
    const dfd = getDmabufOk(h, SIZE);
    const iova = mapOk(a, dfd);
    const frames = h.sim.world.mem.pm.inUse;
    expect(h.p.close(dfd)).toBe(0);
    const data = pattern(Number(SIZE), 5);
    expect(h.sim.dma('iommufd_mock0', [{ iova, length: data.length, write: true, data }])[0]!.ok).toBe(true);
    const back = h.sim.dma('iommufd_mock0', [{ iova, length: data.length, write: false }])[0]!;
    expect(back.ok).toBe(true);
    expect(back.data).toEqual(data);
    expect(h.sim.world.mem.pm.inUse).toBe(frames);
    expect(unmap(a, a.ioas, iova, SIZE).errno).toBe(0);
    expect(h.sim.world.mem.pm.inUse).toBe(frames - Number(SIZE / PAGE));
    expect(Object.keys(h.sim.world.mem.dmabufs ?? {})).toEqual([]);
    clean(h);
    teardown(a);
  });

  scenario('in-kernel accesses cannot use a dma-buf area: ACCESS_PAGES and ACCESS_RW fail EINVAL', (h) => {
    const a = iommufd(h);
    const dfd = getDmabufOk(h, SIZE);
    const iova = mapOk(a, dfd);
    const pinAcc = createAccess(a, a.ioas, E.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
    expect(accessPages(a, pinAcc, iova, PAGE, 0n).errno).toBe(EINVAL);
    const rwAcc = createAccess(a, a.ioas);
    const tmp = h.p.scratchPage();
    expect(accessRw(a, rwAcc, iova, 16n, tmp)).toBe(EINVAL);
    expect(accessRw(a, rwAcc, iova, 16n, tmp, E.MOCK_ACCESS_RW_WRITE)).toBe(EINVAL);
    clean(h);
    expect(h.p.close(pinAcc)).toBe(0);
    expect(h.p.close(rwAcc)).toBe(0);
    expect(h.p.close(dfd)).toBe(0);
    teardown(a);
  });

  scenario('MAP_FILE checks the range before the fd (iopt_map_file_pages): EINVAL, EOVERFLOW, then EBADF', (h) => {
    const a = iommufd(h);
    expect(mapFile(a, a.ioas, 99, 0n, 0n).errno).toBe(EINVAL);
    expect(mapFile(a, a.ioas, 99, 0xfffffffffffff000n, 2n * PAGE).errno).toBe(EOVERFLOW);
    expect(mapFile(a, a.ioas, 99, 0n, PAGE).errno).toBe(EBADF);
    const dfd = getDmabufOk(h, SIZE);
    expect(mapFile(a, a.ioas, dfd, 0xfffffffffffff000n, 2n * PAGE).errno).toBe(EOVERFLOW);
    expect(mapFile(a, a.ioas, dfd, SIZE - 1n, 2n).errno).toBe(EINVAL);
    // A range that starts inside a page keeps its offset: the area begins mid-page.
    const m = mapFile(a, a.ioas, dfd, 2048n, SIZE - 2048n);
    expect(m.errno).toBe(0);
    expect(m.out.iova % PAGE).toBe(2048n);
    expect(checkDmabuf(a, a.dev.hwpt, dfd, m.out.iova, SIZE - 2048n, 2048n)).toBe(0);
    clean(h);
    expect(h.p.close(dfd)).toBe(0);
    teardown(a);
  });

  it('VFIO type1 cannot cut a dma-buf area (iopt_area_split: EOPNOTSUPP)', () => {
    const fx = ioptSetup();
    const buf = dmabufCreate(fx.world, SIZE);
    if (typeof buf !== 'number') throw new Error('dma-buf');
    fx.iopt.disableLargePages = true;
    expect(ioptAddDomain(fx.iopt, fx.env, ioptMockDomain(1)).errno).toBe(0);
    const r = ioptMapDmabufPages(fx.iopt, fx.env, { pid: fx.mm.pid, dmabuf: buf, start: 0n, length: SIZE, iova: IOPT_BASE, prot: IOPT_RW, fixed: true });
    expect(r.errno).toBe(0);
    expect(ioptCutIova(fx.iopt, fx.env, [IOPT_BASE + PAGE - 1n])).toBe(EOPNOTSUPP);
    // A cut at the area's own end is no split at all.
    expect(ioptCutIova(fx.iopt, fx.env, [IOPT_BASE + SIZE - 1n])).toBe(0);
    ioptDestroy(fx.iopt, fx.env);
    expect(Object.keys(fx.env.pagesTable.pages)).toEqual([]);
  });
});
