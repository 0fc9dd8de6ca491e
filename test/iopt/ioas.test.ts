/**
 * io_pagetable behaviour: the errno paths of uapi §3.4–3.10, §4, §10 that
 * live in this layer, and the purely-io_pagetable parts of the selftest
 * fixture iommufd_ioas (mock-and-selftest §3.3).
 */
import { describe, expect, it } from 'vitest';
import {
  EADDRINUSE, EBUSY, EDEADLK, EEXIST, EFAULT, EINVAL, EMSGSIZE, ENOENT, ENOMEM, ENOSPC, EOVERFLOW, EPERM,
} from '../../uapi/errno.ts';
import {
  createIopt, ioptAccessPin, ioptAccessPinsIn, ioptAccessRw, ioptAccessUnpin, ioptAddAccess, ioptAddDomain,
  ioptAllowIovas, ioptCopy, ioptDestroy, ioptDomainMappings, ioptGetHugePages, ioptIovaRanges, ioptIovaRangesFill,
  ioptIovaToPhys, ioptMapFilePages, ioptMapUserPages, ioptMapPagesBegin, ioptMapPagesFinish, ioptPrepareUserPages, ioptRemoveDomain,
  ioptReserve, ioptSetHugePages, ioptUnmap, ioptUnmapAll, ioptUnmapResume, IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE,
  ULONG_MAX, type DomainEffect,
} from '../../actors/iommufd/io_pagetable.ts';
import { readUser, writeUser, mmap, PROT_READ, munmap } from '../../actors/mm/process.ts';
import { memfdCreate } from '../../actors/mm/memfd.ts';
import {
  BUFFER_SIZE, BUFFER_VA, MOCK_APERTURE_LAST, MOCK_APERTURE_START, PAGE, RO, RW, lockedVm, mapAuto, mapFixed,
  mockDomain, pins, setup, wideDomain,
} from './fixture.ts';

const base = MOCK_APERTURE_START;

describe('iommufd_ioas', () => {
  it('area', () => {
    const fx = setup();
    for (let i = 0n; i < 10n; i++) expect(ioptUnmap(fx.iopt, fx.env, i * PAGE, PAGE).errno).toBe(ENOENT);
    for (let i = 0n; i < 10n; i++) expect(mapFixed(fx, base + i * PAGE, PAGE).errno).toBe(0);
    for (let i = 0n; i < 10n; i++) expect(ioptUnmap(fx.iopt, fx.env, base + i * PAGE, PAGE).errno).toBe(0);
    expect(mapFixed(fx, base + 16n * PAGE, 2n * PAGE).errno).toBe(0);
    expect(ioptUnmap(fx.iopt, fx.env, base + 16n * PAGE, PAGE).errno).toBe(ENOENT);
    expect(ioptUnmap(fx.iopt, fx.env, base + 17n * PAGE, PAGE).errno).toBe(ENOENT);
    for (const [at, n] of [[16n, 2n], [16n, 1n], [17n, 1n], [15n, 2n], [15n, 3n]]) {
      expect(mapFixed(fx, base + at * PAGE, n * PAGE).errno).toBe(EEXIST);
    }
    const all = ioptUnmapAll(fx.iopt, fx.env);
    expect([all.errno, all.unmapped]).toEqual([0, 2n * PAGE]);
    expect(ioptUnmapAll(fx.iopt, fx.env)).toMatchObject({ errno: 0, unmapped: 0n });
  });

  it('unmap_fully_contained_areas', () => {
    const fx = setup();
    const b = base + 4n * PAGE;
    for (let i = 0n; i < 4n; i++) expect(mapFixed(fx, b + i * 16n * PAGE, 8n * PAGE).errno).toBe(0);
    expect(ioptUnmap(fx.iopt, fx.env, b - 4n * PAGE, 8n * PAGE).errno).toBe(ENOENT);
    expect(ioptUnmap(fx.iopt, fx.env, b + 3n * 16n * PAGE + 4n * PAGE, 8n * PAGE).errno).toBe(ENOENT);
    const r = ioptUnmap(fx.iopt, fx.env, b - 4n * PAGE, (3n * 16n + 8n + 4n) * PAGE);
    expect([r.errno, r.unmapped]).toEqual([0, 32n * PAGE]);
  });

  it('area_auto_iova', () => {
    const fx = setup();
    const iovas: bigint[] = [];
    for (let i = 0; i < 10; i++) {
      const r = mapAuto(fx, PAGE, 1n << 31n);
      expect(r.errno).toBe(0);
      iovas.push(r.iova);
    }
    for (const iova of iovas) expect(ioptUnmap(fx.iopt, fx.env, iova, PAGE).errno).toBe(0);
    for (let i = 1n; i <= 10n; i++) {
      const len = i * PAGE;
      const r = mapAuto(fx, len, 1n << 31n);
      expect(r.errno).toBe(0);
      expect(r.iova % (len & -len)).toBe(0n);
      iovas[Number(i - 1n)] = r.iova;
    }
    for (let i = 1n; i <= 10n; i++) expect(ioptUnmap(fx.iopt, fx.env, iovas[Number(i - 1n)], i * PAGE).errno).toBe(0);
    expect(ioptReserve(fx.iopt, fx.env, 'test', 4n * PAGE, 104n * PAGE - 1n)).toBe(0);
    for (let i = 1n; i <= 10n; i++) {
      const r = mapAuto(fx, i * PAGE, 1n << 31n);
      expect(r.errno).toBe(0);
      expect(r.iova + i * PAGE <= 4n * PAGE || r.iova >= 104n * PAGE).toBe(true);
      expect(ioptUnmap(fx.iopt, fx.env, r.iova, i * PAGE).errno).toBe(0);
    }
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: PAGE, last: 600n * PAGE }])).toBe(EADDRINUSE);
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: 200n * PAGE, last: 600n * PAGE - 1n }])).toBe(0);
    for (let i = 1n; i <= 10n; i++) {
      const len = i * PAGE;
      const r = mapAuto(fx, len, 1n << 31n);
      expect(r.errno).toBe(0);
      expect(r.iova >= 200n * PAGE && r.iova + len - 1n <= 600n * PAGE - 1n).toBe(true);
      expect(r.iova % (len & -len)).toBe(0n);
      expect(ioptUnmap(fx.iopt, fx.env, r.iova, len).errno).toBe(0);
    }
  });

  it('reserved_overflow', () => {
    const fx = setup();
    expect(ioptReserve(fx.iopt, fx.env, 'test', 6n, 6n + 0xffffffffffff8001n - 1n)).toBe(0);
    expect(mapAuto(fx, 0x5000n).errno).toBe(ENOSPC);
  });

  it('area_allowed', () => {
    const fx = setup();
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: base, last: base + 600n * PAGE }])).toBe(0);
    expect(ioptReserve(fx.iopt, fx.env, 'test', base + PAGE, base + 2n * PAGE - 1n)).toBe(EADDRINUSE);
    expect(ioptAllowIovas(fx.iopt, fx.env, [])).toBe(0);
    expect(ioptReserve(fx.iopt, fx.env, 'test', base + PAGE, base + 2n * PAGE - 1n)).toBe(0);
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: base, last: base + 600n * PAGE }])).toBe(EADDRINUSE);
  });

  it('copy_area', () => {
    const fx = setup();
    expect(mapFixed(fx, base, PAGE).errno).toBe(0);
    expect(ioptCopy(fx.iopt, fx.iopt, fx.env, { srcIova: base, length: PAGE, dstIova: base + PAGE, prot: RW, fixed: true }).errno).toBe(0);
    const other = createIopt();
    expect(ioptCopy(fx.iopt, other, fx.env, { srcIova: base, length: PAGE, dstIova: 0n, prot: RW, fixed: true }).errno).toBe(0);
  });

  it('iova_ranges', () => {
    const fx = setup();
    expect(ioptIovaRanges(fx.iopt)).toEqual({ ranges: [{ start: 0n, last: ULONG_MAX }], iovaAlignment: 1 });
    const small = ioptIovaRangesFill(fx.iopt, 0);
    expect([small.errno, small.total, small.copied.length]).toEqual([EMSGSIZE, 1, 0]);
    expect(ioptReserve(fx.iopt, fx.env, 'test', PAGE, 2n * PAGE - 1n)).toBe(0);
    const one = ioptIovaRangesFill(fx.iopt, 1);
    expect(one.errno).toBe(EMSGSIZE);
    expect(one.total).toBe(2);
    expect(one.copied).toEqual([{ start: 0n, last: PAGE - 1n }]);
    expect(ioptIovaRanges(fx.iopt).ranges[1]).toEqual({ start: 2n * PAGE, last: ULONG_MAX });

    const dev = setup();
    expect(ioptAddDomain(dev.iopt, dev.env, mockDomain(1)).errno).toBe(0);
    expect(ioptIovaRanges(dev.iopt)).toEqual({
      ranges: [{ start: MOCK_APERTURE_START, last: MOCK_APERTURE_LAST }], iovaAlignment: 2048,
    });
  });

  it('ioas_option_huge_pages', () => {
    const fx = setup();
    expect(ioptGetHugePages(fx.iopt)).toBe(true);
    expect(ioptSetHugePages(fx.iopt, false)).toBe(0);
    expect(ioptGetHugePages(fx.iopt)).toBe(false);
    expect(ioptSetHugePages(fx.iopt, true)).toBe(0);
  });

  it('ioas_iova_alloc', () => {
    const dev = setup();
    expect(ioptAddDomain(dev.iopt, dev.env, mockDomain(1)).errno).toBe(0);
    const plain = setup();
    for (let len = 1n; len < 2n * PAGE; len += 97n) {
      const r = mapAuto(dev, len);
      if (len % 2048n) expect(r.errno).toBe(EINVAL);
      else {
        expect(r.errno).toBe(0);
        expect(ioptUnmap(dev.iopt, dev.env, r.iova, len).errno).toBe(0);
      }
      const p = mapAuto(plain, len);
      expect(p.errno).toBe(0);
      expect(ioptUnmap(plain.iopt, plain.env, p.iova, len).errno).toBe(0);
    }
  });

  it('ioas_align_change', () => {
    const fx = setup();
    expect(mapFixed(fx, base, PAGE).errno).toBe(0);
    expect(ioptSetHugePages(fx.iopt, false)).toBe(0);
    expect(mapFixed(fx, base + PAGE, PAGE, BUFFER_VA + 2048n).errno).toBe(EINVAL);
    expect(ioptSetHugePages(fx.iopt, false)).toBe(0);
    expect(ioptSetHugePages(fx.iopt, true)).toBe(0);
    expect(mapFixed(fx, base + PAGE, PAGE, BUFFER_VA + 2048n).errno).toBe(0);
    expect(ioptSetHugePages(fx.iopt, false)).toBe(EADDRINUSE);
    expect(ioptUnmap(fx.iopt, fx.env, base, 2n * PAGE).errno).toBe(0);
  });

  it('copy_sweep', () => {
    const fx = setup();
    const dst = createIopt();
    const start = base;
    const last = base + BUFFER_SIZE - 2n;
    expect(mapFixed(fx, start, last - start + 1n).errno).toBe(0);
    for (let src = start - PAGE; src <= last; src += 511n) {
      const r = ioptCopy(fx.iopt, dst, fx.env, { srcIova: src, length: 2048n, dstIova: base, prot: RW, fixed: true });
      if (src < start || src + 2047n > last) expect(r.errno).toBe(ENOENT);
      else {
        expect(r.errno).toBe(0);
        expect(ioptUnmap(dst, fx.env, base, 2048n).errno).toBe(0);
      }
    }
  });

  it('access_pin_unmap', () => {
    const fx = setup();
    expect(ioptAddAccess(fx.iopt, fx.env, 1, 4096)).toBe(0);
    expect(mapFixed(fx, base, BUFFER_SIZE).errno).toBe(0);
    expect(ioptAccessPin(fx.iopt, fx.env, 1, base, BUFFER_SIZE, { write: true }).errno).toBe(0);
    expect(pins(fx)).toBe(16);
    const r = ioptUnmap(fx.iopt, fx.env, base, BUFFER_SIZE, {
      notify: (n) => {
        for (const id of n.accessIds) {
          for (const p of ioptAccessPinsIn(fx.iopt, id, n.iova, n.iova + n.length - 1n)) {
            ioptAccessUnpin(fx.iopt, fx.env, id, p.iova, p.last - p.iova + 1n);
          }
        }
      },
    });
    expect([r.errno, r.unmapped]).toEqual([0, BUFFER_SIZE]);
    expect(pins(fx)).toBe(0);
    expect(ioptAccessUnpin(fx.iopt, fx.env, 1, base, BUFFER_SIZE)).toBe(EINVAL);
  });

  it('access_pin', () => {
    const fx = setup();
    expect(ioptAddAccess(fx.iopt, fx.env, 1, 4096)).toBe(0);
    for (let n = 1n; n < 16n; n++) {
      expect(mapFixed(fx, base, BUFFER_SIZE).errno).toBe(0);
      const a = ioptAccessPin(fx.iopt, fx.env, 1, base, n * PAGE, { write: true });
      const b = ioptAccessPin(fx.iopt, fx.env, 1, base, n * PAGE, { write: true });
      expect(a.pfns).toEqual(b.pfns);
      expect(pins(fx)).toBe(Number(n));
      const add = ioptAddDomain(fx.iopt, fx.env, mockDomain(9));
      expect(add.errno).toBe(0);
      expect(pins(fx)).toBe(16);
      expect(ioptRemoveDomain(fx.iopt, fx.env, 9).errno).toBe(0);
      expect(pins(fx)).toBe(Number(n));
      ioptAccessUnpin(fx.iopt, fx.env, 1, base, n * PAGE);
      ioptAccessUnpin(fx.iopt, fx.env, 1, base, n * PAGE);
      expect(pins(fx)).toBe(0);
      expect(ioptUnmap(fx.iopt, fx.env, base, BUFFER_SIZE).errno).toBe(0);
    }
  });

  it('access_rw', () => {
    const fx = setup();
    const r = mapAuto(fx, BUFFER_SIZE);
    const data = new Uint8Array(63).map((_, i) => i * 7 + 1);
    for (const off of [PAGE - 50n, PAGE - 1n, PAGE, PAGE + 49n]) {
      expect(ioptAccessRw(fx.iopt, fx.env, r.iova + off, data, true)).toBe(0);
      expect(readUser(fx.world, fx.mm, BUFFER_VA + off, 63)).toEqual({ data });
      const back = new Uint8Array(63);
      expect(ioptAccessRw(fx.iopt, fx.env, r.iova + off, back, false)).toBe(0);
      expect(back).toEqual(data);
    }
  });

  it('access_rw_unaligned', () => {
    const fx = setup();
    expect(mapFixed(fx, base + 2048n, BUFFER_SIZE - PAGE).errno).toBe(0);
    writeUser(fx.world, fx.mm, BUFFER_VA + 10n, new Uint8Array([1, 2, 3]));
    const out = new Uint8Array(3);
    expect(ioptAccessRw(fx.iopt, fx.env, base + 2048n + 10n, out, false)).toBe(0);
    expect([...out]).toEqual([1, 2, 3]);
  });
});

describe('io_pagetable errnos', () => {
  it('ALLOW_IOVAS: start >= last (single byte too) and overlaps are EINVAL; reserved overlap keeps the old set', () => {
    const fx = setup();
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: 5n, last: 5n }])).toBe(EINVAL);
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: 9n, last: 5n }])).toBe(EINVAL);
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: 0n, last: 10n }, { start: 10n, last: 20n }])).toBe(EINVAL);
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: 0x10000n, last: 0x1ffffn }])).toBe(0);
    expect(ioptReserve(fx.iopt, fx.env, 'x', 0x100000n, 0x100fffn)).toBe(0);
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: 0x100000n, last: 0x200000n }])).toBe(EADDRINUSE);
    expect(fx.iopt.allowed).toEqual([{ start: 0x10000n, last: 0x1ffffn }]);
  });

  it('FIXED_IOVA ignores the allowed list; auto allocation honours it', () => {
    const fx = setup();
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: 0x100000n, last: 0x1fffffn }])).toBe(0);
    expect(mapFixed(fx, 0x10000000n, PAGE).errno).toBe(0);
    const r = mapAuto(fx, PAGE);
    expect(r.iova).toBe(0x100000n);
  });

  it('MAP: length 0 EINVAL, uptr+length wraps EOVERFLOW, fixed iova wraps EOVERFLOW', () => {
    const fx = setup();
    expect(mapFixed(fx, base, 0n).errno).toBe(EINVAL);
    expect(mapFixed(fx, base, 2n * PAGE, ULONG_MAX - PAGE + 1n).errno).toBe(EOVERFLOW);
    expect(mapFixed(fx, ULONG_MAX - PAGE + 2n, 2n * PAGE, PAGE).errno).toBe(EOVERFLOW);
  });

  it('MAP: reserved EINVAL wins over overlap EEXIST; misaligned iova / length EINVAL', () => {
    const fx = setup();
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    expect(mapFixed(fx, base - PAGE, 2n * PAGE).errno).toBe(EINVAL);
    expect(mapFixed(fx, base + 1024n, PAGE).errno).toBe(EINVAL);
    expect(mapFixed(fx, base, 1024n).errno).toBe(EINVAL);
    expect(mapFixed(fx, base, PAGE).errno).toBe(0);
    expect(mapFixed(fx, base, PAGE, BUFFER_VA + 1024n).errno).toBe(EEXIST);
    expect(mapFixed(fx, base + PAGE, PAGE, BUFFER_VA + 1024n).errno).toBe(EINVAL);
  });

  it('auto MAP: EOVERFLOW for huge lengths, EINVAL when the address alignment is below iova_alignment', () => {
    const fx = setup();
    expect(mapAuto(fx, 1n << 63n, 0n).errno).toBe(EOVERFLOW);
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    expect(mapAuto(fx, PAGE, BUFFER_VA + 1024n).errno).toBe(EINVAL);
    const r = mapAuto(fx, PAGE, BUFFER_VA + 2048n);
    expect(r.errno).toBe(0);
    expect(r.iova % PAGE).toBe(2048n);
  });

  it('auto MAP keeps the low bits of the user address and caps alignment at 2 MiB', () => {
    const fx = setup();
    const a = mapAuto(fx, 4n << 20n, 0n);
    expect(a.iova).toBe(2n << 20n);
    const b = mapAuto(fx, PAGE, 0x7654321n);
    expect(b.iova % PAGE).toBe(0x321n);
    expect(b.iova).toBe(PAGE | 0x321n);
  });

  it('auto MAP never hands out IOVA 0 or the last page, and fails ENOSPC when full', () => {
    const fx = setup();
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: 0n, last: 2n * PAGE - 1n }])).toBe(0);
    const r = mapAuto(fx, PAGE);
    expect(r.iova).toBe(PAGE);
    expect(mapAuto(fx, PAGE).errno).toBe(ENOSPC);
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: ULONG_MAX - 2n * PAGE + 1n, last: ULONG_MAX }])).toBe(0);
    const s = mapAuto(fx, PAGE);
    expect(s.iova).toBe(ULONG_MAX - 2n * PAGE + 1n);
    expect(mapAuto(fx, PAGE).errno).toBe(ENOSPC);
  });

  it('COPY: 0 length EINVAL, wrap EOVERFLOW, holes ENOENT, WRITEABLE over read-only pages EPERM', () => {
    const fx = setup();
    const dst = createIopt();
    const copy = (srcIova: bigint, length: bigint, prot = RW) =>
      ioptCopy(fx.iopt, dst, fx.env, { srcIova, length, prot, fixed: false }).errno;
    expect(copy(base, 0n)).toBe(EINVAL);
    expect(copy(ULONG_MAX - 1n, 4n)).toBe(EOVERFLOW);
    expect(mapFixed(fx, base, PAGE, BUFFER_VA, RO).errno).toBe(0);
    expect(mapFixed(fx, base + 2n * PAGE, PAGE).errno).toBe(0);
    expect(copy(base, 3n * PAGE)).toBe(ENOENT);
    expect(copy(base, PAGE)).toBe(EPERM);
    expect(copy(base, PAGE, RO)).toBe(0);
    expect(mapFixed(fx, base + PAGE, PAGE).errno).toBe(0);
    expect(copy(base + 2048n, 2n * PAGE, RO)).toBe(0);
    // one area from the RO copy, then three slices (2 KiB + 4 KiB + 2 KiB) from the spanning copy
    expect(dst.areas.length).toBe(4);
  });

  it('COPY shares pages: pins are counted once per page across copies and domains', () => {
    const fx = setup();
    const dst = createIopt();
    expect(ioptAddDomain(fx.iopt, fx.env, wideDomain(1)).errno).toBe(0);
    expect(ioptAddDomain(dst, fx.env, wideDomain(2)).errno).toBe(0);
    expect(mapFixed(fx, base, 4n * PAGE).errno).toBe(0);
    expect(pins(fx)).toBe(4);
    const c = ioptCopy(fx.iopt, dst, fx.env, { srcIova: base + PAGE, length: 2n * PAGE, prot: RW, fixed: false });
    expect(c.errno).toBe(0);
    expect(pins(fx)).toBe(4);
    expect(lockedVm(fx)).toBe(4);
    expect(ioptUnmapAll(fx.iopt, fx.env).errno).toBe(0);
    expect(pins(fx)).toBe(2);
    expect(ioptIovaToPhys(dst, fx.env, c.iova)).toBeGreaterThanOrEqual(0);
    ioptDestroy(dst, fx.env);
    expect([pins(fx), lockedVm(fx), fx.mm.pinnedVm]).toEqual([0, 0, 0]);
  });

  it('UNMAP: 0 length EINVAL, wrap EOVERFLOW, non-atomic when an area overhangs the end', () => {
    const fx = setup();
    expect(ioptUnmap(fx.iopt, fx.env, base, 0n).errno).toBe(EINVAL);
    expect(ioptUnmap(fx.iopt, fx.env, ULONG_MAX, 2n).errno).toBe(EOVERFLOW);
    for (let i = 0n; i < 3n; i++) expect(mapFixed(fx, base + i * 2n * PAGE, 2n * PAGE).errno).toBe(0);
    const r = ioptUnmap(fx.iopt, fx.env, base, 5n * PAGE);
    expect(r.errno).toBe(ENOENT);
    expect(r.unmapped).toBe(4n * PAGE);
    expect(fx.iopt.areas.map((a) => a.iova)).toEqual([base + 4n * PAGE]);
  });

  it('UNMAP: an area still being created is EBUSY; so is a locked one', () => {
    const fx = setup();
    const p = ioptPrepareUserPages(fx.env, { pid: fx.mm.pid, uptr: BUFFER_VA, length: PAGE, prot: RW, fixed: true });
    if ('errno' in p) throw new Error('prepare');
    const b = ioptMapPagesBegin(fx.iopt, fx.env, p.list, PAGE, base, RW, false);
    if (!('pending' in b)) throw new Error('begin');
    expect(ioptUnmap(fx.iopt, fx.env, base, PAGE).errno).toBe(EBUSY);
    expect(ioptUnmapAll(fx.iopt, fx.env).errno).toBe(EBUSY);
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    const f = ioptMapPagesFinish(fx.iopt, fx.env, b.pending);
    expect(f.errno).toBe(0);
    expect(f.effects.map((e) => e.op)).toEqual(['map']);
    expect(ioptAddAccess(fx.iopt, fx.env, 5, 4096)).toBe(0);
    expect(ioptAccessPin(fx.iopt, fx.env, 5, base, PAGE, { write: false, lock: true }).errno).toBe(0);
    expect(ioptUnmap(fx.iopt, fx.env, base, PAGE).errno).toBe(EBUSY);
    expect(ioptAccessUnpin(fx.iopt, fx.env, 5, base, PAGE)).toBe(0);
    expect(ioptUnmap(fx.iopt, fx.env, base, PAGE).errno).toBe(0);
  });

  it('UNMAP with access pins: notify/resume outcome, EDEADLK when the access never lets go', () => {
    const fx = setup();
    expect(ioptAddAccess(fx.iopt, fx.env, 3, 4096)).toBe(0);
    expect(mapFixed(fx, base, PAGE).errno).toBe(0);
    expect(mapFixed(fx, base + PAGE, PAGE).errno).toBe(0);
    expect(ioptAccessPin(fx.iopt, fx.env, 3, base + PAGE, PAGE, { write: false }).errno).toBe(0);
    const r = ioptUnmap(fx.iopt, fx.env, base, 2n * PAGE);
    expect(r.status).toBe('notify');
    expect(r.unmapped).toBe(PAGE);
    expect(r.notice).toEqual({ accessIds: [3], iova: base + PAGE, length: PAGE });
    expect(ioptAccessPin(fx.iopt, fx.env, 3, base + PAGE, PAGE, { write: false }).errno).toBe(EINVAL);
    expect(ioptAccessUnpin(fx.iopt, fx.env, 3, base + PAGE, PAGE)).toBe(0);
    const done = ioptUnmapResume(fx.iopt, fx.env, r.resume!);
    expect([done.status, done.errno, done.unmapped]).toEqual(['done', 0, 2n * PAGE]);

    expect(mapFixed(fx, base, PAGE).errno).toBe(0);
    expect(ioptAccessPin(fx.iopt, fx.env, 3, base, PAGE, { write: false }).errno).toBe(0);
    let calls = 0;
    const stuck = ioptUnmap(fx.iopt, fx.env, base, PAGE, { notify: () => { calls++; } });
    expect(stuck.errno).toBe(EDEADLK);
    expect(calls).toBe(101);
  });

  it('access pin: EPERM for write pins of a read-only area, ENOENT for holes, EINVAL when misaligned across areas', () => {
    const fx = setup();
    // alignment 1: a non-page-aligned access is the only way sub-page areas can sit next to a pinning one
    expect(ioptAddAccess(fx.iopt, fx.env, 1, 1)).toBe(0);
    expect(mapFixed(fx, base, PAGE, BUFFER_VA, RO).errno).toBe(0);
    expect(ioptAccessPin(fx.iopt, fx.env, 1, base, PAGE, { write: true }).errno).toBe(EPERM);
    expect(ioptAccessPin(fx.iopt, fx.env, 1, base, 2n * PAGE, { write: false }).errno).toBe(ENOENT);
    expect(mapFixed(fx, base + PAGE, 2048n, BUFFER_VA + PAGE).errno).toBe(0);
    expect(mapFixed(fx, base + PAGE + 2048n, 2048n, BUFFER_VA + 2n * PAGE).errno).toBe(0);
    expect(ioptAccessPin(fx.iopt, fx.env, 1, base + PAGE, PAGE, { write: false }).errno).toBe(EINVAL);
    expect(ioptAddAccess(fx.iopt, fx.env, 2, 4096)).toBe(EADDRINUSE);
    expect(pins(fx)).toBe(0);
  });

  it('domain join: smallest page > PAGE_SIZE EINVAL, growth over unaligned areas EADDRINUSE', () => {
    const fx = setup();
    expect(ioptAddDomain(fx.iopt, fx.env, { ...wideDomain(1), pgsizeBitmap: 1n << 21n }).errno).toBe(EINVAL);
    expect(mapFixed(fx, base + 2048n, 2048n, BUFFER_VA + 2048n).errno).toBe(0);
    expect(ioptAddDomain(fx.iopt, fx.env, wideDomain(1)).errno).toBe(EADDRINUSE);
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(2)).errno).toBe(0);
    expect(fx.iopt.iovaAlignment).toBe(2048);
  });

  it('domain join: aperture complement colliding with an area or an allowed range is EADDRINUSE', () => {
    const fx = setup();
    expect(mapFixed(fx, PAGE, PAGE).errno).toBe(0);
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(EADDRINUSE);
    expect(fx.iopt.reserved).toEqual([]);
    expect(ioptUnmapAll(fx.iopt, fx.env).errno).toBe(0);
    expect(ioptAllowIovas(fx.iopt, fx.env, [{ start: MOCK_APERTURE_LAST, last: MOCK_APERTURE_LAST + PAGE }])).toBe(0);
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(EADDRINUSE);
    expect(fx.iopt.reserved).toEqual([]);
  });

  it('lazy pinning: MAP pins nothing without a domain; attach pins and can fail ENOMEM / EFAULT', () => {
    const fx = setup({ rlimitMemlock: 4 * 4096 });
    expect(mapFixed(fx, base, 8n * PAGE).errno).toBe(0);
    expect(pins(fx)).toBe(0);
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(ENOMEM);
    expect([pins(fx), lockedVm(fx)]).toEqual([0, 0]);
    expect(ioptUnmapAll(fx.iopt, fx.env).errno).toBe(0);
    expect(mapFixed(fx, base, 2n * PAGE, 0x90000000n).errno).toBe(0);
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(EFAULT);
    expect(ioptUnmapAll(fx.iopt, fx.env).errno).toBe(0);
    expect(mapFixed(fx, base, 4n * PAGE).errno).toBe(0);
    const add = ioptAddDomain(fx.iopt, fx.env, mockDomain(1));
    expect(add.errno).toBe(0);
    expect([pins(fx), lockedVm(fx)]).toEqual([4, 4]);
    expect(mapFixed(fx, base + 4n * PAGE, PAGE, BUFFER_VA + 4n * PAGE).errno).toBe(ENOMEM);
    expect(fx.iopt.areas.length).toBe(1);
  });

  it('a writable MAP of read-only memory fails EFAULT at pin time (GUP), not EPERM', () => {
    const fx = setup();
    const ro = mmap(fx.world, fx.mm, { length: PAGE, prot: PROT_READ });
    if ('errno' in ro) throw new Error('mmap');
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    expect(mapFixed(fx, base, PAGE, ro.addr, RW).errno).toBe(EFAULT);
    expect(mapFixed(fx, base, PAGE, ro.addr, RO).errno).toBe(0);
  });

  it('effects: MAP/UNMAP and domain attach/detach produce map/unmap effects that match ioptDomainMappings', () => {
    const fx = setup();
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    const m = mapFixed(fx, base + 2048n, PAGE, BUFFER_VA + 2048n);
    expect(m.effects).toHaveLength(1);
    const e = m.effects[0] as Extract<DomainEffect, { op: 'map' }>;
    expect(e).toMatchObject({ op: 'map', domainId: 1, iova: base + 2048n, length: PAGE, pageOffset: 2048 });
    expect(e.prot).toBe(IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE);
    expect(e.pfns).toHaveLength(2);
    expect(ioptDomainMappings(fx.iopt, fx.env, 1)).toEqual([e]);
    const d2 = ioptAddDomain(fx.iopt, fx.env, mockDomain(2));
    expect(d2.effects).toEqual([{ ...e, domainId: 2 }]);
    expect(pins(fx)).toBe(2);
    expect(ioptRemoveDomain(fx.iopt, fx.env, 1).effects).toEqual([{ op: 'unmap', domainId: 1, iova: base + 2048n, length: PAGE }]);
    expect(pins(fx)).toBe(2);
    const u = ioptUnmap(fx.iopt, fx.env, base, 2n * PAGE);
    expect(u.effects).toEqual([{ op: 'unmap', domainId: 2, iova: base + 2048n, length: PAGE }]);
    expect(pins(fx)).toBe(0);
    expect(ioptIovaToPhys(fx.iopt, fx.env, base + 2048n)).toBe(-1);
    expect(IOMMU_WRITE).toBe(2);
  });

  it('iova_to_phys returns the physical address of the user byte, including the in-page offset', () => {
    const fx = setup();
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    expect(mapFixed(fx, base + 2048n, PAGE, BUFFER_VA + 2048n).errno).toBe(0);
    const pa = ioptIovaToPhys(fx.iopt, fx.env, base + 2048n + 5n);
    writeUser(fx.world, fx.mm, BUFFER_VA + 2048n + 5n, new Uint8Array([0xab]));
    expect(pa % 4096).toBe(2048 + 5);
    const out = new Uint8Array(1);
    expect(ioptAccessRw(fx.iopt, fx.env, base + 2048n + 5n, out, false)).toBe(0);
    expect(out[0]).toBe(0xab);
  });

  it('HUGE_PAGES=0 is EINVAL once the IOAS has both a domain and an area', () => {
    const fx = setup();
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    expect(ioptSetHugePages(fx.iopt, false)).toBe(0);
    expect(fx.iopt.iovaAlignment).toBe(4096);
    expect(ioptSetHugePages(fx.iopt, true)).toBe(0);
    expect(fx.iopt.iovaAlignment).toBe(2048);
    expect(mapFixed(fx, base, PAGE).errno).toBe(0);
    expect(ioptSetHugePages(fx.iopt, false)).toBe(EINVAL);
  });

  it('MAP_FILE: memfd pages pinned at attach, beyond EOF EINVAL, WRITEABLE on a read-only fd EPERM', () => {
    const fx = setup();
    const fd = memfdCreate(fx.world, 4n * PAGE);
    const mf = (start: bigint, length: bigint, o: { fileWritable?: boolean; iova?: bigint } = {}) =>
      ioptMapFilePages(fx.iopt, fx.env, { pid: fx.mm.pid, memfd: fd, start, length, prot: RW, fixed: true, iova: o.iova ?? base, ...o });
    expect(mf(0n, 0n).errno).toBe(EINVAL);
    expect(mf(0n, PAGE, { fileWritable: false }).errno).toBe(EPERM);
    expect(mf(0n, 4n * PAGE).errno).toBe(0);
    expect(mf(2n * PAGE, 4n * PAGE, { iova: base + 8n * PAGE }).errno).toBe(0);
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(EINVAL);
    expect(ioptUnmap(fx.iopt, fx.env, base + 8n * PAGE, 4n * PAGE).errno).toBe(0);
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    expect(pins(fx)).toBe(4);
    ioptDestroy(fx.iopt, fx.env);
    expect(pins(fx)).toBe(0);
  });

  it('fork_gone: pages of an exited mm cannot be pinned later (EFAULT); already pinned ones keep working', async () => {
    const { forkMm, exitMm } = await import('../../actors/mm/process.ts');
    for (const withDomain of [true, false]) {
      const fx = setup();
      const child = forkMm(fx.world, fx.mm, 200);
      if ('errno' in child) throw new Error('fork');
      if (withDomain) expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
      const r = ioptMapUserPages(fx.iopt, fx.env, {
        pid: child.pid, uptr: BUFFER_VA, length: BUFFER_SIZE, iova: base, prot: RW, fixed: true,
      });
      expect(r.errno).toBe(0);
      exitMm(fx.world, child);
      expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(2)).errno).toBe(withDomain ? 0 : EFAULT);
    }
  });

  it('teardown: ioptDestroy with domains, accesses and copies leaves nothing pinned or charged', () => {
    const fx = setup();
    const other = createIopt();
    expect(ioptAddDomain(fx.iopt, fx.env, mockDomain(1)).errno).toBe(0);
    expect(ioptAddAccess(other, fx.env, 1, 4096)).toBe(0);
    expect(mapFixed(fx, base, BUFFER_SIZE).errno).toBe(0);
    expect(ioptCopy(fx.iopt, other, fx.env, { srcIova: base, length: BUFFER_SIZE, prot: RW, fixed: false }).errno).toBe(0);
    expect(ioptAccessPin(other, fx.env, 1, other.areas[0].iova, 2n * PAGE, { write: true }).errno).toBe(0);
    expect(pins(fx)).toBe(16);
    const d = ioptDestroy(fx.iopt, fx.env);
    expect(d.unmapped).toBe(BUFFER_SIZE);
    expect(pins(fx)).toBe(2);
    ioptDestroy(other, fx.env);
    expect([pins(fx), lockedVm(fx), fx.mm.pinnedVm, Object.keys(fx.env.pagesTable.pages).length]).toEqual([0, 0, 0, 0]);
    munmap(fx.world, fx.mm, BUFFER_VA, BUFFER_SIZE);
    expect(fx.world.pm.inUse).toBe(0);
  });
});

