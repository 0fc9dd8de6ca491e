/**
 * fail_nth-style sweep (mock-and-selftest §3.9): run a scenario with the
 * N-th failpoint failing, N = 1, 2, ... until a run consumes no injection;
 * each run must end with nothing pinned, nothing charged and no pages
 * object left after teardown, whatever step failed.
 */
import { describe, expect, it } from 'vitest';
import {
  createIopt, ioptAccessPin, ioptAddAccess, ioptAddDomain, ioptAllowIovas, ioptCopy, ioptDestroy, ioptMapFilePages,
  ioptRemoveDomain, ioptUnmap, ioptUnmapAll,
} from '../../actors/iommufd/io_pagetable.ts';
import type { Failpoint } from '../../actors/iommufd/pages.ts';
import { totalPins } from '../../hardware/physmem.ts';
import { memfdCreate } from '../../actors/mm/memfd.ts';
import { BUFFER_SIZE, MOCK_APERTURE_START, PAGE, RW, lockedVm, mapAuto, mapFixed, mockDomain, setup } from './fixture.ts';

interface Injector {
  n: number;
  seen: number;
  consumed: boolean;
  names: string[];
}

function injector(n: number): { inj: Injector; fp: Failpoint } {
  const inj: Injector = { n, seen: 0, consumed: false, names: [] };
  const fp: Failpoint = (_ctx, name) => {
    inj.seen++;
    inj.names.push(name);
    if (inj.seen === inj.n) {
      inj.consumed = true;
      return true;
    }
    return false;
  };
  return { inj, fp };
}

function scenario(n: number): Injector {
  const fx = setup({ rlimitMemlock: 1 << 20 });
  const { inj, fp } = injector(n);
  fx.env.failpoint = fp;
  const other = createIopt();
  const base = MOCK_APERTURE_START;
  ioptAllowIovas(other, fx.env, [{ start: 16n * 1024n, last: BUFFER_SIZE + 16n * 1024n * 600n - 1n }]);
  ioptAddDomain(fx.iopt, fx.env, mockDomain(1));
  const m = mapFixed(fx, base, BUFFER_SIZE);
  if (m.errno === 0) ioptCopy(fx.iopt, other, fx.env, { srcIova: base, length: 4n * PAGE, prot: RW, fixed: false });
  ioptAddDomain(other, fx.env, mockDomain(2));
  ioptAddDomain(fx.iopt, fx.env, mockDomain(3));
  ioptAddAccess(fx.iopt, fx.env, 7, 4096);
  ioptAccessPin(fx.iopt, fx.env, 7, base, 2n * PAGE, { write: true });
  const fd = memfdCreate(fx.world, 4n * PAGE);
  ioptMapFilePages(fx.iopt, fx.env, { pid: fx.mm.pid, memfd: fd, start: 0n, length: 4n * PAGE, prot: RW, fixed: false });
  mapAuto(fx, 2n * PAGE);
  ioptRemoveDomain(fx.iopt, fx.env, 3);
  ioptUnmap(other, fx.env, 0n, 1n << 40n);
  ioptUnmapAll(other, fx.env);

  fx.env.failpoint = undefined;
  ioptDestroy(fx.iopt, fx.env);
  ioptDestroy(other, fx.env);
  expect([totalPins(fx.world.pm), lockedVm(fx), fx.mm.pinnedVm]).toEqual([0, 0, 0]);
  expect(Object.keys(fx.env.pagesTable.pages)).toEqual([]);
  return inj;
}

describe('iommufd_fail_nth', () => {
  it('basic sweep: every injected failure unwinds cleanly', () => {
    let n = 1;
    for (; n < 1000; n++) {
      const inj = scenario(n);
      if (!inj.consumed) break;
    }
    expect(n).toBeGreaterThan(10);
    expect(n).toBeLessThan(1000);
    const names = new Set(scenario(0).names);
    for (const p of ['iopt_alloc_pages', 'iopt_area_alloc', 'iopt_pages_pin', 'iopt_pages_account', 'iopt_domain_map',
      'iopt_reserved_alloc', 'iopt_domain_xa_reserve', 'iopt_pages_list_alloc', 'iopt_allowed_alloc', 'iopt_access_alloc']) {
      expect(names.has(p), p).toBe(true);
    }
  });

  it('a failpoint may return a specific errno', () => {
    const fx = setup();
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    fx.env.failpoint = (_c, name) => (name === 'iopt_domain_map' ? 2 : false);
    expect(mapFixed(fx, MOCK_APERTURE_START, PAGE).errno).toBe(2);
    expect(totalPins(fx.world.pm)).toBe(0);
    expect(fx.iopt.areas).toEqual([]);
  });
});
