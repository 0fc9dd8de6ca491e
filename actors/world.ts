/**
 * The simulated machine's shared memory: what kernel code reads and writes
 * directly under its locks rather than by messages (process address spaces,
 * page frames, the file table, iopt_pages shared between IOASes).  It is one
 * plain object, snapshotted whole with the actors.  Only code running inside
 * a delivery touches it, so every change happens at a scheduling point.
 */
import { createMmWorld, type MmWorld } from './mm/world.ts';
import { createPagesTable, type PagesTable } from './iommufd/pages.ts';

/** An open file description, shared by every fd that refers to it. */
export type FileDesc =
  | { kind: 'iommufd'; actor: string; refs: number }
  | { kind: 'memfd'; memfd: number; refs: number }
  | { kind: 'eventfd'; actor: string; ctx: string; objId: number; refs: number }
  | { kind: 'vfio'; actor: string; refs: number }
  /** IOMMU_TEST_OP_CREATE_ACCESS's fd: closing it destroys the access (selftest.ts). */
  | { kind: 'access'; actor: string; ctx: string; objId: number; refs: number }
  /** A dma-buf (actors/mm/dmabuf.ts), e.g. from IOMMU_TEST_OP_DMABUF_GET. */
  | { kind: 'dmabuf'; dmabuf: number; refs: number };

export interface ProcDesc {
  pid: number;
  /** fd → file number. */
  fds: Record<number, number>;
  threads: number[];
}

export interface SimConfig {
  /** IOMMU_TEST_CMD and the mock IOMMU exist (CONFIG_IOMMUFD_TEST). */
  testBuild: boolean;
  /** Known-bug variant the model runs as (spec/bugs.md id), or null for the correct model. */
  variant: string | null;
  /** fail_nth-style fault injection: the n-th allocation point fails (0: off). */
  failNth: number;
  /** vfio_iommu_type1.allow_unsafe_interrupts: bind devices whose MSIs are not isolated. */
  allowUnsafeInterrupts: boolean;
}

export interface World {
  mem: MmWorld;
  /** Every iopt_pages (shared by the areas of IOASes that COPY between each other). */
  pages: PagesTable;
  procs: Record<number, ProcDesc>;
  files: Record<number, FileDesc>;
  nextFile: number;
  nextPid: number;
  config: SimConfig;
  /** Allocation points passed so far (for failNth). */
  failCount: number;
  /** Kernel-side shared objects by kind (iopt_pages, domains...), owned by their modules. */
  kobj: Record<string, any>;
}

export const DEFAULT_CONFIG: SimConfig = { testBuild: true, variant: null, failNth: 0, allowUnsafeInterrupts: false };

export function createWorld(opts: { totalPages?: number; config?: Partial<SimConfig> } = {}): World {
  return {
    mem: createMmWorld({ totalPages: opts.totalPages ?? 1 << 20 }),
    pages: createPagesTable(),
    procs: {},
    files: {},
    nextFile: 1,
    nextPid: 1,
    config: { ...DEFAULT_CONFIG, ...opts.config },
    failCount: 0,
    kobj: {},
  };
}

/**
 * An allocation point (kmalloc, xa_alloc, pin...).  With failNth = n the n-th
 * point reached fails, the way the kernel's fail_nth fault injection makes
 * the n-th allocation in a system call fail.
 */
export function shouldFail(world: World, _site: string): boolean {
  if (world.config.failNth <= 0) return false;
  world.failCount++;
  return world.failCount === world.config.failNth;
}

/** The lowest free fd of a process (0..2 are the standard streams). */
export function allocFd(proc: ProcDesc, file: number): number {
  let fd = 3;
  while (proc.fds[fd] !== undefined) fd++;
  proc.fds[fd] = file;
  return fd;
}
