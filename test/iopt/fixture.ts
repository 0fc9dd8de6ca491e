/** Shared setup for io_pagetable tests: one world, one process with a THP-aligned buffer, one IOAS. */
import { createMmWorld, type MmWorld } from '../../actors/mm/world.ts';
import { createMm, mmap, PROT_READ, PROT_WRITE, type Mm } from '../../actors/mm/process.ts';
import { createPagesTable } from '../../actors/iommufd/pages.ts';
import {
  createIopt, convIommuProt, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, ioptMapUserPages,
  type IoPagetable, type IoptDomain, type IoptEnv, type MapResult,
} from '../../actors/iommufd/io_pagetable.ts';
import { totalPins } from '../../hardware/physmem.ts';

export const PAGE = 4096n;
export const MOCK_APERTURE_START = 1n << 24n;
export const MOCK_APERTURE_LAST = (1n << 31n) - 1n;
export const BUFFER_PAGES = 16;
export const BUFFER_SIZE = BigInt(BUFFER_PAGES) * PAGE;
/** THP-aligned like the selftest's global buffer. */
export const BUFFER_VA = 0x40000000n;
export const RW = convIommuProt(IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE);
export const RO = convIommuProt(IOMMU_IOAS_MAP_READABLE);

export interface Fx {
  world: MmWorld;
  env: IoptEnv;
  mm: Mm;
  iopt: IoPagetable;
}

export function setup(o: { rlimitMemlock?: number; ipcLock?: boolean; totalPages?: number; bufferPages?: number } = {}): Fx {
  const world = createMmWorld({ totalPages: o.totalPages ?? 4096 });
  const mm = createMm(world, { pid: 100, uid: 1000, rlimitMemlock: o.rlimitMemlock ?? 64 << 20, ipcLock: o.ipcLock });
  const r = mmap(world, mm, {
    addr: BUFFER_VA, length: BigInt(o.bufferPages ?? BUFFER_PAGES) * PAGE, prot: PROT_READ | PROT_WRITE, shared: true,
  });
  if ('errno' in r) throw new Error('buffer mmap failed');
  return { world, env: { world, pagesTable: createPagesTable() }, mm, iopt: createIopt() };
}

export function mockDomain(id: number, o: Partial<IoptDomain> = {}): IoptDomain {
  return { id, pgsizeBitmap: 2048n, apertureStart: MOCK_APERTURE_START, apertureEnd: MOCK_APERTURE_LAST, ...o };
}

export function wideDomain(id: number): IoptDomain {
  return { id, pgsizeBitmap: 4096n | (1n << 21n), apertureStart: 0n, apertureEnd: 0xffffffffffffffffn };
}

export function mapFixed(fx: Fx, iova: bigint, length: bigint, uptr = BUFFER_VA, prot = RW, iopt = fx.iopt): MapResult {
  return ioptMapUserPages(iopt, fx.env, { pid: fx.mm.pid, uptr, length, iova, prot, fixed: true });
}

export function mapAuto(fx: Fx, length: bigint, uptr = BUFFER_VA, prot = RW, iopt = fx.iopt): MapResult {
  return ioptMapUserPages(iopt, fx.env, { pid: fx.mm.pid, uptr, length, prot, fixed: false });
}

export function pins(fx: Fx): number {
  return totalPins(fx.world.pm);
}

export function lockedVm(fx: Fx): number {
  return fx.world.users[fx.mm.uid]?.lockedVm ?? 0;
}
