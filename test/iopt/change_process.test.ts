/** Fixture change_process (mock-and-selftest §3.2) at the io_pagetable level, plus a snapshot round trip. */
import { describe, expect, it } from 'vitest';
import { pack, unpack } from 'msgpackr';
import { EINVAL } from '../../uapi/errno.ts';
import { ioptAddDomain, ioptMapFilePages, ioptUnmapAll, ioptDestroy, ioptIovaToPhys } from '../../actors/iommufd/io_pagetable.ts';
import { pagesChangeProcess } from '../../actors/iommufd/pages.ts';
import { createMm } from '../../actors/mm/process.ts';
import { memfdCreate } from '../../actors/mm/memfd.ts';
import { totalPins } from '../../hardware/physmem.ts';
import { MOCK_APERTURE_START, PAGE, RW, mapFixed, mockDomain, setup } from './fixture.ts';

const variants = [
  { name: 'account_none', mode: 0 as const, mmLocked: false },
  { name: 'account_user', mode: 0 as const, mmLocked: false },
  { name: 'account_mm', mode: 1 as const, mmLocked: true },
];

describe('change_process', () => {
  for (const v of variants) {
    it(`basic (${v.name})`, () => {
      const fx = setup();
      expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
      expect(mapFixed(fx, MOCK_APERTURE_START, PAGE).errno).toBe(0);
      const ids = () => fx.iopt.areas.map((a) => a.pagesId);
      expect(pagesChangeProcess(fx.env, ids(), fx.mm.pid)).toBe(EINVAL);
      expect(ioptUnmapAll(fx.iopt, fx.env).errno).toBe(0);
      const fd = memfdCreate(fx.world, 16n * PAGE);
      const r = ioptMapFilePages(fx.iopt, fx.env, {
        pid: fx.mm.pid, memfd: fd, start: 0n, length: PAGE, prot: RW, fixed: false, rlimitMode: v.mode,
      });
      expect(r.errno).toBe(0);
      expect(pagesChangeProcess(fx.env, ids(), fx.mm.pid)).toBe(0);
      const child = createMm(fx.world, { pid: 300, uid: fx.mm.uid });
      expect([fx.mm.pinnedVm, fx.mm.lockedVm, child.pinnedVm]).toEqual([1, v.mmLocked ? 1 : 0, 0]);
      expect(pagesChangeProcess(fx.env, ids(), child.pid)).toBe(0);
      expect([fx.mm.pinnedVm, fx.mm.lockedVm]).toEqual([0, 0]);
      expect([child.pinnedVm, child.lockedVm]).toEqual([1, v.mmLocked ? 1 : 0]);
      ioptDestroy(fx.iopt, fx.env);
      expect([child.pinnedVm, child.lockedVm, totalPins(fx.world.pm)]).toEqual([0, 0, 0]);
    });
  }
});

describe('snapshot', () => {
  it('world, pages table and io_pagetable survive msgpack and keep working', () => {
    const fx = setup();
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    expect(mapFixed(fx, MOCK_APERTURE_START + 2048n, 3n * PAGE).errno).toBe(0);
    const snap = unpack(pack({ world: fx.world, pagesTable: fx.env.pagesTable, iopt: fx.iopt }));
    expect(snap).toEqual({ world: fx.world, pagesTable: fx.env.pagesTable, iopt: fx.iopt });
    const env = { world: snap.world, pagesTable: snap.pagesTable };
    expect(ioptIovaToPhys(snap.iopt, env, MOCK_APERTURE_START + 4096n)).toBe(ioptIovaToPhys(fx.iopt, fx.env, MOCK_APERTURE_START + 4096n));
    ioptDestroy(snap.iopt, env);
    expect(totalPins(snap.world.pm)).toBe(0);
  });
});
