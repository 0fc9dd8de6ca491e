/**
 * ioptCutIova (iopt_cut_iova / iopt_area_split) at the io_pagetable level:
 * the splitting rules, and that a split keeps the pages' users, pins, kref
 * and the domain's contents consistent (unmapping the pieces afterwards
 * releases exactly what the whole area held).
 */
import { describe, expect, it } from 'vitest';
import {
  ioptAccessPin, ioptAddAccess, ioptAddDomain, ioptCutIova, ioptDestroy, ioptDomainMappings, ioptMapPagesBegin,
  ioptMapPagesAbort, ioptPrepareUserPages, ioptSetHugePages, ioptUnmap,
} from '../../actors/iommufd/io_pagetable.ts';
import { EBUSY, EINVAL, ENOMEM } from '../../uapi/errno.ts';
import { BUFFER_SIZE, BUFFER_VA, MOCK_APERTURE_START, PAGE, RW, lockedVm, mapFixed, mockDomain, pins, setup } from '../iopt/fixture.ts';

const S = MOCK_APERTURE_START;

describe('ioptCutIova', () => {
  it('a cut at either end of an area, or outside any area, changes nothing', () => {
    const fx = setup();
    expect(mapFixed(fx, S, 4n * PAGE).errno).toBe(0);
    expect(ioptCutIova(fx.iopt, fx.env, [S, S + 4n * PAGE - 1n, S - 1n, S + 100n * PAGE])).toBe(0);
    expect(fx.iopt.areas.length).toBe(1);
  });

  it('splits an unfilled area into two that share the pages (kref +1) and unmap separately', () => {
    const fx = setup();
    expect(mapFixed(fx, S, 8n * PAGE).errno).toBe(0);
    const pagesId = fx.iopt.areas[0]!.pagesId;
    expect(ioptCutIova(fx.iopt, fx.env, [S + 3n * PAGE - 1n])).toBe(0);
    expect(fx.iopt.areas.map((a) => [a.iova - S, a.last - S, a.firstIndex, a.lastIndex])).toEqual([
      [0n, 3n * PAGE - 1n, 0, 2],
      [3n * PAGE, 8n * PAGE - 1n, 3, 7],
    ]);
    expect(fx.env.pagesTable.pages[pagesId]!.kref).toBe(2);
    expect(ioptUnmap(fx.iopt, fx.env, S, 3n * PAGE).unmapped).toBe(3n * PAGE);
    expect(fx.env.pagesTable.pages[pagesId]!.kref).toBe(1);
    expect(ioptUnmap(fx.iopt, fx.env, S + 3n * PAGE, 5n * PAGE).unmapped).toBe(5n * PAGE);
    expect(fx.env.pagesTable.pages[pagesId]).toBeUndefined();
  });

  it('a filled area is split only with large pages disabled; the pins stay, the domain contents do not change', () => {
    const fx = setup();
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    expect(mapFixed(fx, S, BUFFER_SIZE).errno).toBe(0);
    expect(ioptCutIova(fx.iopt, fx.env, [S + 4n * PAGE - 1n])).toBe(EINVAL);
    expect(fx.iopt.areas.length).toBe(1);
    // disable_large_pages with a domain and an area is refused; build it the TYPE1 way: disable first.
    const fy = setup();
    expect(ioptSetHugePages(fy.iopt, false)).toBe(0);
    expect(ioptAddDomain(fy.iopt, fy.env, mockDomain(1)).errno).toBe(0);
    expect(mapFixed(fy, S, BUFFER_SIZE).errno).toBe(0);
    const before = ioptDomainMappings(fy.iopt, fy.env, 1);
    const pinned = pins(fy);
    const charged = lockedVm(fy);
    expect(ioptCutIova(fy.iopt, fy.env, [S + 4n * PAGE - 1n, S + 8n * PAGE - 1n])).toBe(0);
    expect(fy.iopt.areas.length).toBe(3);
    expect(fy.iopt.areas.every((a) => a.filled)).toBe(true);
    expect(pins(fy)).toBe(pinned);
    expect(lockedVm(fy)).toBe(charged);
    const pages = fy.env.pagesTable.pages[fy.iopt.areas[0]!.pagesId]!;
    expect(Object.values(pages.users).every((u) => u === 1)).toBe(true);
    // Same pfns at the same IOVAs, in three pieces.
    const flat = (ms: ReturnType<typeof ioptDomainMappings>) => ms.flatMap((m) => m.pfns.map((p, i) => [m.iova + BigInt(i) * PAGE, p]));
    expect(ioptDomainMappings(fy.iopt, fy.env, 1).length).toBe(3);
    expect(flat(ioptDomainMappings(fy.iopt, fy.env, 1))).toEqual(flat(before));
    const r = ioptUnmap(fy.iopt, fy.env, S + 4n * PAGE, 4n * PAGE);
    expect(r.unmapped).toBe(4n * PAGE);
    expect(r.effects).toEqual([{ op: 'unmap', domainId: 1, iova: S + 4n * PAGE, length: 4n * PAGE }]);
    expect(pins(fy)).toBe(pinned - 4);
    ioptDestroy(fy.iopt, fy.env);
    expect(pins(fy)).toBe(0);
    expect(lockedVm(fy)).toBe(0);
    expect(Object.keys(fy.env.pagesTable.pages)).toEqual([]);
  });

  it('misaligned cut EINVAL; area with access pins EINVAL; area still being mapped EBUSY; allocation failure ENOMEM', () => {
    const fx = setup();
    expect(ioptSetHugePages(fx.iopt, false)).toBe(0);
    expect(mapFixed(fx, S, 8n * PAGE).errno).toBe(0);
    expect(ioptCutIova(fx.iopt, fx.env, [S + 2n * PAGE + 99n])).toBe(EINVAL);
    expect(ioptAddAccess(fx.iopt, fx.env, 7, 4096)).toBe(0);
    expect(ioptAccessPin(fx.iopt, fx.env, 7, S, PAGE, { write: false }).errno).toBe(0);
    expect(ioptCutIova(fx.iopt, fx.env, [S + 4n * PAGE - 1n])).toBe(EINVAL);
    const fy = setup();
    expect(ioptAddDomain(fy.iopt, fy.env, mockDomain(1)).errno).toBe(0);
    const p = ioptPrepareUserPages(fy.env, { pid: fy.mm.pid, uptr: BUFFER_VA, length: 4n * PAGE, prot: RW, fixed: true });
    if ('errno' in p) throw new Error('prepare');
    const b = ioptMapPagesBegin(fy.iopt, fy.env, p.list, 4n * PAGE, S, RW, false);
    if (!('pending' in b)) throw new Error('begin');
    expect(ioptCutIova(fy.iopt, fy.env, [S + PAGE - 1n])).toBe(EBUSY);
    ioptMapPagesAbort(fy.iopt, fy.env, b.pending);
    const fz = setup();
    expect(mapFixed(fz, S, 8n * PAGE).errno).toBe(0);
    let n = 0;
    fz.env.failpoint = (_c, name) => name === 'iopt_area_alloc' && ++n === 2;
    expect(ioptCutIova(fz.iopt, fz.env, [S + 4n * PAGE - 1n])).toBe(ENOMEM);
    expect(fz.iopt.areas.length).toBe(1);
  });

  it('stops at the first failing cut; earlier cuts stay', () => {
    const fx = setup();
    expect(ioptSetHugePages(fx.iopt, false)).toBe(0);
    expect(mapFixed(fx, S, 8n * PAGE).errno).toBe(0);
    expect(ioptCutIova(fx.iopt, fx.env, [S + 2n * PAGE - 1n, S + 4n * PAGE + 7n, S + 6n * PAGE - 1n])).toBe(EINVAL);
    expect(fx.iopt.areas.length).toBe(2);
  });
});
