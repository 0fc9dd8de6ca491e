/**
 * Fixture `iommufd_ioas` (mock-and-selftest.md §3.3), the entries about where
 * the mapped memory comes from: MAP_HUGETLB memory (access_domain_destory),
 * a forked process's address space (fork_gone, fork_present) and the
 * selftest's dma-buf exporter (dmabuf_simple, dmabuf_revoke and the
 * [proposed] dmabuf_multi_page), for every variant, through the raw ABI.
 *
 * Each test runs twice journaled: the journals must be byte-identical, verify,
 * and replay (replay/session.ts) without divergence.  The model invariants
 * hold (after every delivery, or at the end for the long fork tests), no DMA
 * used a stale translation, and after the fixture's teardown nothing may stay
 * pinned and no dma-buf may survive.
 */
import { describe, expect, it } from 'vitest';
import { EBADF, EFAULT, EINVAL, ENODEV, ENOENT } from '../../uapi/errno.ts';
import * as E from '../../uapi/enums.ts';
import { verifyJournal } from '../../journal/index.ts';
import { ReplaySession } from '../../replay/session.ts';
import { dmabufRead } from '../../actors/mm/dmabuf.ts';
import { checkInvariants } from '../../actors/invariants.ts';
import { hwDomainMismatches, staleTranslations } from '../../actors/invariants-hw.ts';
import { watchInvariants } from '../invariants/checker.ts';
import { destroy, map, pins, sameBytes, unmap } from '../core/helpers.ts';
import { VARIANTS, checkAccessRw, done, setupFx, type Fx, type Variant } from './ioas_fixture.ts';
import {
  BUFFER_SIZE, MOCK_APERTURE_START, PAGE, accessPages, as, checkDmabuf, checkRefs, createAccess, destroyAccessPages, fork, getDmabuf,
  getDmabufOk, hwptAllocOk, mapFile, mmapHuge, mockDomain, mockDomainErr, pattern, revokeDmabuf,
} from './helpers.ts';

/** HUGEPAGE_SIZE of the C test (the THP size, 2 MiB). */
const HUGEPAGE = 2n * 1024n * 1024n;

/** The fork tests make tens of thousands of ACCESS_RW calls: their invariants are checked at the end only. */
const WATCH_EVERY_DELIVERY = new Set(['access_domain_destory', 'dmabuf_simple', 'dmabuf_revoke', 'dmabuf_multi_page']);

function journaledRun(v: Variant, name: string, body: (f: Fx) => void): Uint8Array {
  const f = setupFx(v, { journal: true, scenario: `iommufd_ioas.${v.name}.${name}` });
  const w = WATCH_EVERY_DELIVERY.has(name) ? watchInvariants(f.sim) : null;
  body(f);
  expect(checkInvariants(f.sim)).toEqual([]);
  expect(hwDomainMismatches(f.sim)).toEqual([]);
  expect(staleTranslations(f.sim), 'a DMA used a translation the page table no longer has').toEqual([]);
  done(f);
  w?.stop();
  w?.expectClean();
  expect(pins(f), 'pages still pinned after teardown').toBe(0);
  expect(Object.keys(f.sim.world.mem.dmabufs ?? {}), 'dma-bufs outlive every reference').toEqual([]);
  f.sim.close();
  return f.sink!.bytes();
}

/** A dma-buf id behind a process's fd (the exporter's state, for byte checks). */
function dmabufId(f: Fx, fd: number): number {
  const desc = f.sim.world.files[f.sim.world.procs[f.p.pid]!.fds[fd]!]!;
  if (desc.kind !== 'dmabuf') throw new Error(`fd ${fd} is not a dma-buf`);
  return desc.dmabuf;
}

/** Mock devices are named in creation order; the fixture makes devs[0] first. */
const DEV0 = 'iommufd_mock0';

describe('iommufd_ioas', () => {
  for (const v of VARIANTS) {
    describe(v.name, () => {
      const t = (name: string, body: (f: Fx) => void) => {
        it(name, () => {
          const a = journaledRun(v, name, body);
          const b = journaledRun(v, name, body);
          expect(sameBytes(a, b), 'two runs journal different bytes').toBe(true);
          expect(verifyJournal(a).ok).toBe(true);
          const d = ReplaySession.fromBytes(a).runToEnd();
          expect(d === null ? null : JSON.stringify(d, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)).slice(0, 2000)).toBeNull();
        });
      };

      t('access_domain_destory', (f) => {
        const size = 2n * HUGEPAGE;
        const buf = mmapHuge(f, size);
        expect(buf % HUGEPAGE).toBe(0n);
        expect(map(f, f.ioas, { va: buf, length: size, iova: f.base }).errno).toBe(0);
        const acc = createAccess(f, f.ioas, E.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
        const pin = accessPages(f, acc, f.base + PAGE, PAGE, buf + PAGE);
        expect(pin.errno).toBe(0);
        // Pages inside a huge page are not checked by MD_CHECK_REFS, however often they are pinned.
        expect(checkRefs(f, buf, size, 0)).toBe(0);
        expect(checkRefs(f, buf, size, 7)).toBe(0);
        // Causes a complicated unpin across a huge page boundary.
        if (v.domains) expect(destroy(f, f.devs[0]!.stdev)).toBe(0);
        expect(destroyAccessPages(f, acc, pin.out.out_access_pages_id)).toBe(0);
        expect(destroyAccessPages(f, acc, pin.out.out_access_pages_id)).toBe(ENOENT);
        expect(f.p.close(acc)).toBe(0);
        // A hugetlb mapping is only cut at huge page boundaries.
        expect(f.p.munmap(buf + PAGE, PAGE)).toBe(EINVAL);
        expect(f.p.munmap(buf, size)).toBe(0);
      });

      t('fork_gone', (f) => {
        const acc = createAccess(f, f.ioas);
        const child = fork(f);
        // The child maps `buffer` from its own mm on the inherited iommufd, then exits.
        expect(map(as(f, child), f.ioas, { length: BUFFER_SIZE, iova: MOCK_APERTURE_START }).errno).toBe(0);
        expect(child.exit()).toBe(0);
        if (v.domains) {
          // Everything was pinned within the fork: the new domain is filled from the existing one.
          mockDomain(f, f.ioas);
          checkAccessRw(f, acc, MOCK_APERTURE_START, 0);
        } else {
          // Nothing was pinned, and the owning mm is gone.
          expect(mockDomainErr(f, f.ioas).errno).toBe(EFAULT);
        }
        expect(f.p.close(acc)).toBe(0);
      });

      t('fork_present', (f) => {
        const acc = createAccess(f, f.ioas);
        const child = fork(f);
        expect(map(as(f, child), f.ioas, { length: BUFFER_SIZE, iova: MOCK_APERTURE_START }).errno).toBe(0);
        // The child is still there: the new domain pins from its address space, which shares
        // `buffer` (MAP_SHARED) with the parent, so the parent's bytes are what it mapped.
        mockDomain(f, f.ioas);
        checkAccessRw(f, acc, MOCK_APERTURE_START, 0);
        expect(child.exit()).toBe(0);
        expect(f.p.close(acc)).toBe(0);
      });

      t('dmabuf_simple', (f) => {
        const size = 4n * PAGE;
        const dfd = getDmabufOk(f, size);
        expect(mapFile(f, f.ioas, dfd, 0n, 0n).errno).toBe(EINVAL);
        expect(mapFile(f, f.ioas, dfd, size, size).errno).toBe(EINVAL);
        expect(mapFile(f, f.ioas, dfd, 0n, size + 1n).errno).toBe(EINVAL);
        const m = mapFile(f, f.ioas, dfd, 0n, size);
        expect(m.errno).toBe(0);
        const iova = m.out.iova;
        if (v.domains) {
          // [proposed] MD_CHECK_DMABUF, and its argument checks.
          const hwpt = f.devs[0]!.hwpt;
          expect(checkDmabuf(f, hwpt, dfd, iova, size, 0n)).toBe(0);
          expect(checkDmabuf(f, hwpt, dfd, iova, size - PAGE, PAGE)).toBe(EINVAL);
          expect(checkDmabuf(f, hwpt, dfd, iova + PAGE, size - PAGE, PAGE)).toBe(0);
          expect(checkDmabuf(f, hwpt, dfd, iova, size, PAGE)).toBe(EINVAL);
          expect(checkDmabuf(f, hwpt, dfd, iova + 1n, PAGE, 0n)).toBe(EINVAL);
          expect(checkDmabuf(f, f.ioas, dfd, iova, size, 0n)).toBe(ENOENT);
          expect(checkDmabuf(f, hwpt, f.fd, iova, size, 0n)).toBe(EINVAL);
          expect(checkDmabuf(f, hwpt, 99, iova, size, 0n)).toBe(EBADF);
          // DMA through the IOVA reaches the exporter's memory.
          const data = pattern(Number(size), 38);
          expect(f.sim.dma(DEV0, [{ iova, length: data.length, write: true, data }]).map((o) => o.ok)).toEqual([true]);
          expect(dmabufRead(f.sim.world.mem, dmabufId(f, dfd), 0, data.length)).toEqual(data);
        }
        // The mapping holds the buffer after its last fd is gone.
        expect(f.p.close(dfd)).toBe(0);
        expect(Object.keys(f.sim.world.mem.dmabufs ?? {}).length).toBe(1);
      });

      t('dmabuf_revoke', (f) => {
        const size = 4n * PAGE;
        const dfd = getDmabufOk(f, size);
        const m = mapFile(f, f.ioas, dfd, 0n, size);
        expect(m.errno).toBe(0);
        const iova = m.out.iova;
        if (v.domains) {
          // Warm the IOTLB: a translation that outlived the revoke would be a stale one.
          expect(f.sim.dma(DEV0, [{ iova, length: 64, write: false }])[0]!.ok).toBe(true);
        }
        expect(revokeDmabuf(f, dfd, true)).toBe(0);
        let hwpt = 0;
        if (v.domains) {
          expect(f.sim.dma(DEV0, [{ iova, length: 64, write: false }])[0]!.ok).toBe(false);
          expect(checkDmabuf(f, f.devs[0]!.hwpt, dfd, iova, size, 0n)).toBe(EINVAL);
          // A new domain skips the revoked area.
          hwpt = hwptAllocOk(f, { dev: f.devs[0]!.idev, pt: f.ioas });
          expect(checkDmabuf(f, hwpt, dfd, iova, PAGE, 0n)).toBe(EINVAL);
        }
        expect(mapFile(f, f.ioas, dfd, 0n, size).errno).toBe(ENODEV);
        expect(revokeDmabuf(f, dfd, false)).toBe(0);
        const m2 = mapFile(f, f.ioas, dfd, 0n, size);
        expect(m2.errno).toBe(0);
        if (v.domains) {
          // The new attachment maps in every domain; the revoked one stays empty.
          for (const h of [f.devs[0]!.hwpt, hwpt]) expect(checkDmabuf(f, h, dfd, m2.out.iova, size, 0n)).toBe(0);
          expect(checkDmabuf(f, f.devs[0]!.hwpt, dfd, iova, PAGE, 0n)).toBe(EINVAL);
        }
        // Restore the iova back: the revoked area unmaps like any other.
        expect(unmap(f, f.ioas, iova, size).errno).toBe(0);
        expect(mapFile(f, f.ioas, dfd, 0n, size, iova).errno).toBe(0);
        if (v.domains) expect(checkDmabuf(f, f.devs[0]!.hwpt, dfd, iova, size, 0n)).toBe(0);
        expect(f.p.close(dfd)).toBe(0);
        if (hwpt) expect(destroy(f, hwpt)).toBe(0);
      });

      t('dmabuf_multi_page', (f) => {
        const check = (dfd: number, iova: bigint, length: bigint, offset: bigint) => {
          if (v.domains) expect(checkDmabuf(f, f.devs[0]!.hwpt, dfd, iova, length, offset)).toBe(0);
        };
        const mapOk = (dfd: number, start: bigint, length: bigint) => {
          const m = mapFile(f, f.ioas, dfd, start, length);
          expect(m.errno).toBe(0);
          return m.out.iova;
        };
        // Single page.
        let dfd = getDmabufOk(f, PAGE);
        check(dfd, mapOk(dfd, 0n, PAGE), PAGE, 0n);
        expect(f.p.close(dfd)).toBe(0);
        // Many pages.
        dfd = getDmabufOk(f, 64n * PAGE);
        check(dfd, mapOk(dfd, 0n, 64n * PAGE), 64n * PAGE, 0n);
        expect(f.p.close(dfd)).toBe(0);
        // A sub-range from the middle.
        dfd = getDmabufOk(f, 16n * PAGE);
        check(dfd, mapOk(dfd, 4n * PAGE, 8n * PAGE), 8n * PAGE, 4n * PAGE);
        expect(f.p.close(dfd)).toBe(0);
        // Several sub-ranges of one dma-buf.
        dfd = getDmabufOk(f, 16n * PAGE);
        check(dfd, mapOk(dfd, 0n, 4n * PAGE), 4n * PAGE, 0n);
        check(dfd, mapOk(dfd, 8n * PAGE, 4n * PAGE), 4n * PAGE, 8n * PAGE);
        expect(f.p.close(dfd)).toBe(0);
        // The exporter's length rules (mainline rounds up to a page; at most 512 pages).
        expect(getDmabuf(f, 0).errno).toBe(EINVAL);
        expect(getDmabuf(f, 512n * PAGE + 1n).errno).toBe(EINVAL);
        dfd = getDmabufOk(f, 512n * PAGE);
        expect(f.p.close(dfd)).toBe(0);
        dfd = getDmabufOk(f, 1);
        expect(mapFile(f, f.ioas, dfd, 0n, PAGE).errno).toBe(0);
        expect(f.p.close(dfd)).toBe(0);
        // DMABUF_REVOKE needs a dma-buf fd.
        expect(revokeDmabuf(f, 99, true)).toBe(EBADF);
        expect(revokeDmabuf(f, f.fd, true)).toBe(EINVAL);
      });
    });
  }
});
