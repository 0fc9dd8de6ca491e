/**
 * fail_nth (mock-and-selftest §1.16, §3.9) over the dma-buf flow: the
 * exporter's allocations (DMABUF_GET), the importer's attachment and
 * per-domain revoke tracking (MAP_FILE, a new domain, a revoke, a new domain
 * over a revoked area, an un-revoke and a second attachment).  For N = 1, 2, …
 * the N-th allocation point fails; the first call to fail stops the run and
 * must fail ENOMEM; once every fd is closed nothing is left (no object, pin,
 * iopt_pages or dma-buf) and the invariants held after every delivery.  The
 * sweep ends at the first run that consumed no injection, which must succeed.
 */
import { describe, expect, it } from 'vitest';
import { ENOMEM } from '../../uapi/errno.ts';
import * as S from '../../uapi/structs.ts';
import { closeAll, leftovers } from '../compat/fixture.ts';
import { watchInvariants } from '../invariants/checker.ts';
import { raw, setup, unmap, type H } from '../core/helpers.ts';
import { getDmabuf, hwptAlloc, mapFile, memoryLimit, mockDomain, revokeDmabuf, PAGE, type MockDev } from './helpers.ts';
import * as E from '../../uapi/enums.ts';

const SIZE = 4n * PAGE;

interface Env extends H {
  ioas: number;
  dev: MockDev;
  s: Record<string, any>;
}

type Step = { what: string; run: (e: Env) => number };

const STEPS: Step[] = [
  { what: 'DMABUF_GET', run: (e) => { const r = getDmabuf(e, SIZE); e.s.dfd = r.fd; return r.errno; } },
  { what: 'MAP_FILE', run: (e) => { const r = mapFile(e, e.ioas, e.s.dfd, 0n, SIZE); e.s.iova = r.out.iova; return r.errno; } },
  { what: 'HWPT_ALLOC', run: (e) => hwptAlloc(e, { dev: e.dev.idev, pt: e.ioas }).errno },
  { what: 'DMABUF_REVOKE 1', run: (e) => revokeDmabuf(e, e.s.dfd, true) },
  { what: 'HWPT_ALLOC over a revoked area', run: (e) => hwptAlloc(e, { dev: e.dev.idev, pt: e.ioas }).errno },
  { what: 'DMABUF_REVOKE 0', run: (e) => revokeDmabuf(e, e.s.dfd, false) },
  { what: 'MAP_FILE again', run: (e) => mapFile(e, e.ioas, e.s.dfd, 0n, SIZE).errno },
  { what: 'UNMAP the revoked area', run: (e) => unmap(e, e.ioas, e.s.iova, SIZE).errno },
];

function runOnce(n: number): { consumed: boolean; failed: string | null; problems: string[] } {
  const h = setup();
  expect(memoryLimit(h, E.MOCK_TEMP_MEMORY_LIMIT_DEFAULT)).toBe(0);
  const a = raw<typeof S.iommu_ioas_alloc>(h, 'IOMMU_IOAS_ALLOC', {});
  expect(a.errno).toBe(0);
  const e: Env = Object.assign(h, { ioas: a.out.out_ioas_id, dev: mockDomain(h, a.out.out_ioas_id), s: {} });
  const w = watchInvariants(e.sim);
  const world = e.sim.world;
  world.config.failNth = n;
  world.failCount = 0;
  const problems: string[] = [];
  let failed: string | null = null;
  for (const st of STEPS) {
    const errno = st.run(e);
    if (errno === 0) continue;
    failed = st.what;
    if (errno !== ENOMEM) problems.push(`N=${n}: '${st.what}' failed with errno ${errno}, not ENOMEM`);
    break;
  }
  const consumed = n > 0 && world.failCount >= n;
  world.config.failNth = 0;
  closeAll(e);
  for (const m of leftovers(e.sim)) problems.push(`N=${n}${failed ? ` (failed at '${failed}')` : ''}: ${m}`);
  const bufs = Object.keys(world.mem.dmabufs ?? {});
  if (bufs.length) problems.push(`N=${n}: dma-bufs left: ${bufs.join(', ')}`);
  for (const m of w.violations) problems.push(`N=${n}: invariant: ${m}`);
  w.stop();
  return { consumed, failed, problems };
}

describe('dma-buf under fail_nth', () => {
  it('every allocation point of the dma-buf flow fails cleanly with ENOMEM and leaks nothing', () => {
    const base = runOnce(0);
    expect(base.problems).toEqual([]);
    expect(base.failed).toBeNull();
    const failedAt: Record<string, number> = {};
    let last = 0;
    for (let n = 1; n <= 500; n++) {
      const r = runOnce(n);
      expect(r.problems).toEqual([]);
      if (!r.consumed) {
        expect(r.failed, `N=${n}: nothing injected, everything must succeed`).toBeNull();
        last = n;
        break;
      }
      expect(r.failed, `N=${n}: the injection was consumed but every call succeeded`).not.toBeNull();
      failedAt[r.failed!] = (failedAt[r.failed!] ?? 0) + 1;
    }
    expect(last).toBeGreaterThan(0);
    if (process.env.FAILNTH_REPORT) console.log(`dma-buf fail_nth: clean at N=${last}`, failedAt);
    // Each step that allocates was reached by some injection: the exporter's three, the attach and tracking points.
    expect(failedAt['DMABUF_GET']).toBeGreaterThanOrEqual(3);
    for (const st of ['MAP_FILE', 'HWPT_ALLOC', 'HWPT_ALLOC over a revoked area', 'MAP_FILE again']) expect(failedAt[st], st).toBeGreaterThan(0);
  });
});
