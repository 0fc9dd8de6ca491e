/**
 * The `iommufd_ioas` fixture of the selftest catalogue (mock-and-selftest.md
 * §3.3): its variants, setup and teardown, and the C test's check_access_rw,
 * shared by every test file of the fixture.
 */
import { expect } from 'vitest';
import * as E from '../../uapi/enums.ts';
import { scratch, type H, type HOpts } from '../core/helpers.ts';
import {
  BUFFER_SIZE, MOCK_APERTURE_START, PAGE, accessRw, expectDevCacheDefault, fixture, memoryLimit, mockDomain, pattern, peek, teardown,
  type MockDev,
} from './helpers.ts';

export interface Variant {
  name: string;
  domains: number;
  limit: number;
  pasidDevice: boolean;
}

export const VARIANTS: Variant[] = [
  { name: 'no_domain', domains: 0, limit: 65536, pasidDevice: false },
  { name: 'mock_domain', domains: 1, limit: 65536, pasidDevice: true },
  { name: 'two_mock_domain', domains: 2, limit: 65536, pasidDevice: false },
  { name: 'mock_domain_limit', domains: 1, limit: 16, pasidDevice: false },
];

/** Entries of no_domain that test/core/ioas.test.ts already covers in full. */
export const CORE_NO_DOMAIN = new Set([
  'ioas_auto_destroy', 'ioas_destroy', 'ioas_area_destroy', 'ioas_area_auto_destroy', 'area', 'unmap_fully_contained_areas',
  'copy_area', 'ioas_option_huge_pages', 'ioas_iova_alloc',
]);

export interface Fx extends H {
  ioas: number;
  devs: MockDev[];
  pasidDev: MockDev | null;
  base: bigint;
}

export function setupFx(v: Variant, o: HOpts = {}): Fx {
  const h = fixture(o);
  expect(memoryLimit(h, v.limit)).toBe(0);
  const devs: MockDev[] = [];
  for (let i = 0; i < v.domains; i++) {
    const d = mockDomain(h, h.ioas);
    expectDevCacheDefault(h, d.idev);
    devs.push(d);
  }
  const pasidDev = v.pasidDevice ? mockDomain(h, h.ioas, E.MOCK_FLAGS_DEVICE_PASID) : null;
  return Object.assign(h, { devs, pasidDev, base: v.domains ? MOCK_APERTURE_START : 0n });
}

export function done(f: Fx): void {
  expect(memoryLimit(f, 65536)).toBe(0);
  teardown(f);
}

/** check_access_rw: reads and writes around a page boundary, then one big read (fast and slow path). */
export function checkAccessRw(f: Fx, acc: number, iova: bigint, flags: number): void {
  const tmp = scratch(f) + 0x4000n;
  for (let io = iova + PAGE - 50n; io < iova + PAGE + 50n; io++) {
    for (let len = 1n; len < 64n; len++) {
      const off = io - iova;
      expect(accessRw(f, acc, io, len, tmp, flags)).toBe(0);
      expect(peek(f, tmp, Number(len))).toEqual(peek(f, f.buffer + off, Number(len)));
      const data = pattern(Number(len), Number(io + len));
      expect(f.p.poke(tmp, data)).toBe(0);
      expect(accessRw(f, acc, io, len, tmp, flags | E.MOCK_ACCESS_RW_WRITE)).toBe(0);
      expect(peek(f, f.buffer + off, Number(len))).toEqual(data);
    }
  }
  const big = f.p.mmap({ length: BUFFER_SIZE });
  expect(accessRw(f, acc, iova, BUFFER_SIZE, big, flags)).toBe(0);
  expect(peek(f, big, Number(BUFFER_SIZE))).toEqual(peek(f, f.buffer, Number(BUFFER_SIZE)));
}

