/**
 * Fixture `iommufd_ioas` of the selftest catalogue (mock-and-selftest.md
 * §3.3), variant no_domain (an IOAS and no device: base_iova 0), through the
 * raw ABI.  Entries that need a mock device, an access or IOMMU_TEST_CMD are
 * not here; the ones that need ADD_RESERVED for a step are marked partial in
 * their name.
 */
import { describe, expect } from 'vitest';
import { EADDRINUSE, EEXIST, EINVAL, EMSGSIZE, ENOENT } from '../../uapi/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_SET } from '../../uapi/enums.ts';
import {
  BUFFER_SIZE, FIXED, MOCK_APERTURE_START, PAGE, U64_MAX, WRITE, allowIovas, copy, destroy, iommufdActors, ioasAlloc,
  iovaRanges, lockedTotal, map, option, pins, readRanges, scenario, scratch, unmap, writeRanges, type H,
} from './helpers.ts';

/** The fixture: open + IOAS (+ memory limit, a test-cmd no-op here). */
function fixture(h: H): { ioas: number; base: bigint } {
  return { ioas: ioasAlloc(h), base: 0n };
}

const huge = (h: H, ioas: number, op: number, val64 = 0n) => option(h, { option_id: IOMMU_OPTION_HUGE_PAGES, op, object_id: ioas, val64 });

/** Lowest set bit of n, as 1UL << (ffs(n) - 1). */
const lsb = (n: bigint) => n & -n;

function teardown(h: H): void {
  expect(h.p.close(h.fd)).toBe(0);
  expect(iommufdActors(h)).toEqual([]);
  expect(pins(h)).toBe(0);
  expect(lockedTotal(h)).toBe(0);
  expect(Object.keys(h.sim.world.pages.pages)).toEqual([]);
}

describe('iommufd_ioas', () => {
  scenario('ioas_auto_destroy', (h) => {
    fixture(h);
    teardown(h);
  });

  scenario('ioas_destroy', (h) => {
    const { ioas } = fixture(h);
    expect(destroy(h, ioas)).toBe(0);
    teardown(h);
  });

  scenario('ioas_area_destroy', (h) => {
    const { ioas, base } = fixture(h);
    expect(map(h, ioas, { length: PAGE, iova: base }).errno).toBe(0);
    expect(destroy(h, ioas)).toBe(0);
    teardown(h);
  });

  scenario('ioas_area_auto_destroy', (h) => {
    const { ioas, base } = fixture(h);
    for (let i = 0n; i < 10n; i++) expect(map(h, ioas, { length: PAGE, iova: base + i * PAGE }).errno).toBe(0);
    expect(Object.keys(h.sim.world.pages.pages).length).toBe(10);
    teardown(h);
  });

  scenario('area', (h) => {
    const { ioas, base } = fixture(h);
    for (let i = 0n; i < 10n; i++) expect(unmap(h, ioas, base + i * PAGE, PAGE).errno).toBe(ENOENT);
    for (let i = 0n; i < 10n; i++) expect(map(h, ioas, { length: PAGE, iova: base + i * PAGE }).errno).toBe(0);
    for (let i = 0n; i < 10n; i++) {
      const r = unmap(h, ioas, base + i * PAGE, PAGE);
      expect(r.errno).toBe(0);
      expect(r.out.length).toBe(PAGE);
    }
    expect(map(h, ioas, { length: 2n * PAGE, iova: base + 16n * PAGE }).errno).toBe(0);
    expect(unmap(h, ioas, base + 16n * PAGE, PAGE).errno).toBe(ENOENT);
    expect(unmap(h, ioas, base + 17n * PAGE, PAGE).errno).toBe(ENOENT);
    for (const [n, at] of [[2n, 16n], [1n, 16n], [1n, 17n], [2n, 15n], [3n, 15n]] as const) {
      expect(map(h, ioas, { length: n * PAGE, iova: base + at * PAGE }).errno, `${n}@${at}`).toBe(EEXIST);
    }
    const all = unmap(h, ioas, 0n, U64_MAX);
    expect(all.errno).toBe(0);
    expect(all.out.length).toBe(2n * PAGE);
    expect(unmap(h, ioas, 0n, U64_MAX).errno).toBe(0);
    teardown(h);
  });

  scenario('unmap_fully_contained_areas', (h) => {
    const { ioas } = fixture(h);
    const base = 4n * PAGE;
    for (let i = 0n; i < 4n; i++) expect(map(h, ioas, { length: 8n * PAGE, iova: base + i * 16n * PAGE }).errno).toBe(0);
    expect(unmap(h, ioas, base - 4n * PAGE, 8n * PAGE).errno).toBe(ENOENT);
    expect(unmap(h, ioas, base + 3n * 16n * PAGE + 4n * PAGE, 8n * PAGE).errno).toBe(ENOENT);
    const r = unmap(h, ioas, base - 4n * PAGE, (3n * 16n + 8n + 4n) * PAGE);
    expect(r.errno).toBe(0);
    expect(r.out.length).toBe(32n * PAGE);
    teardown(h);
  });

  scenario('area_auto_iova (no_domain, without the ADD_RESERVED steps)', (h) => {
    const { ioas } = fixture(h);
    const iovas: bigint[] = [];
    for (let i = 0; i < 10; i++) {
      const r = map(h, ioas, { length: PAGE });
      expect(r.errno).toBe(0);
      iovas.push(r.out.iova);
    }
    for (const iova of iovas) expect(unmap(h, ioas, iova, PAGE).errno).toBe(0);
    const auto = (va: bigint) => {
      const out: bigint[] = [];
      for (let i = 1n; i <= 10n; i++) {
        const r = map(h, ioas, { va, length: i * PAGE });
        expect(r.errno).toBe(0);
        expect(r.out.iova % lsb(i * PAGE)).toBe(0n);
        out.push(r.out.iova);
      }
      return out;
    };
    const a = auto(1n << 31n);
    a.forEach((iova, i) => expect(unmap(h, ioas, iova, BigInt(i + 1) * PAGE).errno).toBe(0));
    const range = { start: 200n * PAGE, last: 600n * PAGE - 1n };
    expect(allowIovas(h, ioas, [range]).errno).toBe(0);
    const b = auto(h.buffer);
    b.forEach((iova, i) => {
      const len = BigInt(i + 1) * PAGE;
      expect(iova >= range.start && iova + len <= range.last + 1n).toBe(true);
    });
    b.forEach((iova, i) => expect(unmap(h, ioas, iova, BigInt(i + 1) * PAGE).errno).toBe(0));
    teardown(h);
  });

  scenario('copy_area', (h) => {
    const { ioas, base } = fixture(h);
    expect(map(h, ioas, { length: PAGE, iova: base }).errno).toBe(0);
    expect(copy(h, { dst: ioas, src: ioas, srcIova: base, length: PAGE, dstIova: base + PAGE, flags: FIXED | WRITE }).errno).toBe(0);
    const dst = ioasAlloc(h);
    expect(copy(h, { dst, src: ioas, srcIova: base, length: PAGE, dstIova: 0n, flags: FIXED | WRITE }).errno).toBe(0);
    // One pages object behind all three areas.
    expect(Object.keys(h.sim.world.pages.pages).length).toBe(1);
    teardown(h);
  });

  scenario('iova_ranges (no_domain, without the ADD_RESERVED steps)', (h) => {
    const { ioas } = fixture(h);
    const at = scratch(h);
    const r = iovaRanges(h, ioas, 1, at);
    expect(r.errno).toBe(0);
    expect(r.out.num_iovas).toBe(1);
    expect(r.out.out_iova_alignment).toBe(1n);
    expect(readRanges(h, at, 1)).toEqual([{ start: 0n, last: U64_MAX }]);
    writeRanges(h, at, [{ start: 0n, last: 0n }]);
    const z = iovaRanges(h, ioas, 0, at);
    expect(z.errno).toBe(EMSGSIZE);
    expect(z.out.num_iovas).toBe(1);
    expect(readRanges(h, at, 1)).toEqual([{ start: 0n, last: 0n }]);
    // Allowed ranges are not reserved ranges: still one range.
    expect(allowIovas(h, ioas, [{ start: PAGE, last: 600n * PAGE }]).errno).toBe(0);
    expect(iovaRanges(h, ioas, 2, at).out.num_iovas).toBe(1);
    teardown(h);
  });

  scenario('ioas_option_huge_pages', (h) => {
    const { ioas } = fixture(h);
    const g = huge(h, ioas, IOMMU_OPTION_OP_GET);
    expect(g.errno).toBe(0);
    expect(g.out.val64).toBe(1n);
    expect(huge(h, ioas, IOMMU_OPTION_OP_SET, 0n).errno).toBe(0);
    expect(huge(h, ioas, IOMMU_OPTION_OP_GET).out.val64).toBe(0n);
    expect(huge(h, ioas, IOMMU_OPTION_OP_SET, 2n).errno).toBe(EINVAL);
    expect(huge(h, ioas, IOMMU_OPTION_OP_SET, 1n).errno).toBe(0);
    expect(huge(h, ioas, IOMMU_OPTION_OP_GET).out.val64).toBe(1n);
    teardown(h);
  });

  scenario('ioas_iova_alloc', (h) => {
    const { ioas } = fixture(h);
    for (let length = 1n; length < 2n * PAGE; length++) {
      const r = map(h, ioas, { length });
      expect(r.errno).toBe(0);
      const u = unmap(h, ioas, r.out.iova, length);
      expect(u.errno).toBe(0);
      expect(u.out.length).toBe(length);
    }
    teardown(h);
  });

  scenario('ioas_align_change', (h) => {
    const { ioas } = fixture(h);
    expect(map(h, ioas, { length: PAGE, iova: MOCK_APERTURE_START }).errno).toBe(0);
    expect(huge(h, ioas, IOMMU_OPTION_OP_SET, 0n).errno).toBe(0);
    expect(map(h, ioas, { va: h.buffer + 2048n, length: PAGE, iova: MOCK_APERTURE_START + PAGE }).errno).toBe(EINVAL);
    expect(huge(h, ioas, IOMMU_OPTION_OP_SET, 0n).errno).toBe(0);
    expect(huge(h, ioas, IOMMU_OPTION_OP_SET, 1n).errno).toBe(0);
    expect(map(h, ioas, { va: h.buffer + 2048n, length: PAGE, iova: MOCK_APERTURE_START + PAGE }).errno).toBe(0);
    expect(huge(h, ioas, IOMMU_OPTION_OP_SET, 0n).errno).toBe(EADDRINUSE);
    expect(unmap(h, ioas, MOCK_APERTURE_START, PAGE).errno).toBe(0);
    expect(unmap(h, ioas, MOCK_APERTURE_START + PAGE, PAGE).errno).toBe(0);
    teardown(h);
  });

  scenario('copy_sweep', (h) => {
    const { ioas } = fixture(h);
    const dst = ioasAlloc(h);
    const start = MOCK_APERTURE_START;
    const last = start + BUFFER_SIZE - 2n;
    expect(map(h, ioas, { length: last - start + 1n, iova: start }).errno).toBe(0);
    let ok = 0;
    for (let iova = start - PAGE; iova <= last; iova += 511n) {
      const r = copy(h, { dst, src: ioas, srcIova: iova, length: 2048n, dstIova: start, flags: FIXED | WRITE });
      if (iova < start || iova + 2048n - 1n > last) {
        expect(r.errno, `src 0x${iova.toString(16)}`).toBe(ENOENT);
      } else {
        expect(r.errno, `src 0x${iova.toString(16)}`).toBe(0);
        expect(unmap(h, dst, start, 2048n).errno).toBe(0);
        ok++;
      }
    }
    expect(ok).toBeGreaterThan(100);
    expect(destroy(h, dst)).toBe(0);
    teardown(h);
  });
});
