/**
 * The kernel's system-call entry for everything that is not an ioctl on an
 * already-open file: process creation, mmap/munmap/mprotect, memfd_create,
 * open/close/read/write, and user-space loads and stores (so that a test's
 * "the process writes its buffer" is a journaled input like any other).
 */
import type { DeliveryContext, SimActor } from './runtime/actor.ts';
import type { Envelope } from './runtime/envelope.ts';
import { allocFd, type FileDesc, type World } from './world.ts';
import { EBADF, EINVAL, ENOENT, ENOTTY, ESRCH } from '../uapi/errno.ts';
import { createMm, forkMm, mmap, munmap, mprotect, readUser, writeUser, exitMm, type CreateMmOpts } from './mm/process.ts';
import { memfdCreate, memfdRelease } from './mm/memfd.ts';
import { ThreadActor, threadActorId } from './thread.ts';

export const KERNEL_ACTOR = 'kernel';

export interface SyscallBody {
  call: string;
  pid: number;
  args: Record<string, any>;
}

export interface SyscallResult {
  errno: number;
  ret?: number | bigint;
  /** Bytes read (read, peek). */
  data?: Uint8Array;
}

/** Opening a device node: returns the file description or an errno. */
export type Opener = (ctx: DeliveryContext<World>, file: number, pid: number, path: string) => FileDesc | number;
/** Closing the last fd of a file description of this kind. */
export type Releaser = (ctx: DeliveryContext<World>, file: number, desc: FileDesc) => void;
/** read()/write() on a file of this kind: post the request; the reply goes to `replyTo`. */
export type FileIo = (ctx: DeliveryContext<World>, desc: FileDesc, op: 'read' | 'write' | 'poll', args: Record<string, any>, replyTo: string) => void;

/**
 * mmap of a device file (the iommufd's exported regions): the mapping to
 * make, and a release to run when it goes (munmap or exit), like a vma's
 * vm_ops close.
 */
export type FileMmap = (
  ctx: DeliveryContext<World>, desc: FileDesc, args: Record<string, any>,
) => { errno: number } | { memfd: number; release: unknown };
const fileMmaps: Partial<Record<FileDesc['kind'], { map: FileMmap; release: (ctx: DeliveryContext<World>, tag: unknown) => void }>> = {};

export function registerFileMmap(kind: FileDesc['kind'], map: FileMmap, release: (ctx: DeliveryContext<World>, tag: unknown) => void): void {
  fileMmaps[kind] = { map, release };
}

interface DeviceMapping {
  pid: number;
  start: bigint;
  end: bigint;
  kind: FileDesc['kind'];
  tag: unknown;
}

function deviceMappings(ctx: DeliveryContext<World>): DeviceMapping[] {
  return (ctx.world.kobj.deviceMappings ??= []) as DeviceMapping[];
}

/** Mappings of device files inside [start, end) of `pid` are gone: run their releases. */
function releaseDeviceMappings(ctx: DeliveryContext<World>, pid: number, start: bigint, end: bigint): void {
  const all = deviceMappings(ctx);
  for (let i = all.length - 1; i >= 0; i--) {
    const m = all[i]!;
    if (m.pid !== pid || m.start < start || m.end > end) continue;
    all.splice(i, 1);
    fileMmaps[m.kind]?.release(ctx, m.tag);
  }
}

const openers: Record<string, Opener> = {};
const releasers: Partial<Record<FileDesc['kind'], Releaser>> = {};
const fileIo: Partial<Record<FileDesc['kind'], FileIo>> = {};

/**
 * Device nodes and file kinds register themselves (iommufd registers
 * /dev/iommu).  A path ending in '/' serves every node below it (the VFIO
 * device directory, whose entries depend on the topology).
 */
export function registerDeviceNode(path: string, open: Opener): void {
  openers[path] = open;
}

function openerFor(path: string): Opener | undefined {
  if (openers[path]) return openers[path];
  const dir = path.slice(0, path.lastIndexOf('/') + 1);
  return dir ? openers[dir] : undefined;
}
export function registerFileKind(kind: FileDesc['kind'], release: Releaser, io?: FileIo): void {
  releasers[kind] = release;
  if (io) fileIo[kind] = io;
}

/**
 * Where ioctl(fd) goes: the file's actor for files with an ioctl method
 * (/dev/iommu, VFIO devices); EBADF for an fd that is not open; ENOTTY for
 * files without one (memfd, the anonymous event and access files).
 */
export function ioctlTarget(world: World, pid: number, fd: number): { actor: string; file: number } | { errno: number } {
  const file = world.procs[pid]?.fds[fd];
  const desc = file === undefined ? undefined : world.files[file];
  if (!desc) return { errno: EBADF };
  if (desc.kind === 'iommufd' || desc.kind === 'vfio') return { actor: desc.actor, file: file! };
  return { errno: ENOTTY };
}

/**
 * fdget for an ioctl in flight: the call holds the file until it returns,
 * so a close() from another thread meanwhile only drops the fd, and the
 * file's release runs when the ioctl puts it (filePut).
 */
export function fileGet(world: World, file: number): void {
  world.files[file]!.refs++;
}

/** Drop one reference to a file description; the last one releases it. */
export function filePut(ctx: DeliveryContext<World>, file: number): void {
  const desc = ctx.world.files[file];
  if (!desc) return;
  if (--desc.refs > 0) return;
  delete ctx.world.files[file];
  if (desc.kind === 'memfd') memfdRelease(ctx.world.mem, desc.memfd);
  else releasers[desc.kind]?.(ctx, file, desc);
}

export type Handler = (ctx: DeliveryContext<World>, b: SyscallBody, replyTo: string) => SyscallResult | null;

const err = (errno: number): SyscallResult => ({ errno, ret: -1 });

function procMm(ctx: DeliveryContext<World>, pid: number) {
  return ctx.world.mem.mms[pid];
}

const syscalls: Record<string, Handler> = {
  'proc.create': (ctx, b) => {
    const pid = b.args.pid ?? ctx.world.nextPid;
    if (ctx.world.procs[pid]) return err(EINVAL);
    ctx.world.nextPid = Math.max(ctx.world.nextPid, pid + 1);
    createMm(ctx.world.mem, { pid, ...(b.args as Omit<CreateMmOpts, 'pid'>) });
    ctx.world.procs[pid] = { pid, fds: {}, threads: [1] };
    ctx.spawn(ThreadActor.create(pid, 1));
    return { errno: 0, ret: pid };
  },
  /** fork(): a new process with a copy of the fd table (same open files) and of the address space (forkMm). */
  'proc.fork': (ctx, b) => {
    const proc = ctx.world.procs[b.pid];
    const mm = procMm(ctx, b.pid);
    if (!proc || !mm || mm.exited) return err(ESRCH);
    const pid = ctx.world.nextPid++;
    const child = forkMm(ctx.world.mem, mm, pid);
    if ('errno' in child) return err(child.errno);
    const fds: Record<number, number> = {};
    for (const fd of Object.keys(proc.fds).map(Number).sort((x, y) => x - y)) {
      fds[fd] = proc.fds[fd]!;
      ctx.world.files[fds[fd]!]!.refs++;
    }
    ctx.world.procs[pid] = { pid, fds, threads: [1] };
    ctx.spawn(ThreadActor.create(pid, 1));
    return { errno: 0, ret: pid };
  },
  'proc.exit': (ctx, b) => {
    const proc = ctx.world.procs[b.pid];
    const mm = procMm(ctx, b.pid);
    if (!proc || !mm) return err(ESRCH);
    for (const fd of Object.keys(proc.fds).map(Number).sort((x, y) => x - y)) {
      const file = proc.fds[fd]!;
      delete proc.fds[fd];
      filePut(ctx, file);
    }
    releaseDeviceMappings(ctx, b.pid, 0n, 1n << 64n);
    exitMm(ctx.world.mem, mm);
    return { errno: 0, ret: 0 };
  },
  /** A new thread running `program` (scenario threads); it starts at once unless `start: false`. */
  'thread.create': (ctx, b) => {
    const proc = ctx.world.procs[b.pid];
    if (!proc) return err(ESRCH);
    const tid = b.args.tid ?? Math.max(...proc.threads) + 1;
    if (proc.threads.includes(tid)) return err(EINVAL);
    proc.threads.push(tid);
    const t = ThreadActor.create(b.pid, tid, b.args.program ?? null);
    ctx.spawn(t);
    if (b.args.start !== false) ctx.post(t.id, 'internal', 'start', {});
    return { errno: 0, ret: tid };
  },
  /** Start threads created with `start: false` together, so their programs run concurrently. */
  'thread.start': (ctx, b) => {
    const proc = ctx.world.procs[b.pid];
    if (!proc) return err(ESRCH);
    const tids = (b.args.tids as number[]) ?? [];
    if (tids.some((t) => !proc.threads.includes(t))) return err(ESRCH);
    for (const tid of tids) ctx.post(threadActorId(b.pid, tid), 'internal', 'start', {});
    return { errno: 0, ret: tids.length };
  },
  mmap: (ctx, b) => {
    const mm = procMm(ctx, b.pid);
    if (!mm) return err(ESRCH);
    const a = { ...b.args };
    if (a.fd !== undefined) {
      const desc = fileOf(ctx, b.pid, a.fd);
      const dev = desc && fileMmaps[desc.kind];
      if (desc && dev) return mmapDeviceFile(ctx, b.pid, desc, a, dev.map);
      if (!desc || desc.kind !== 'memfd') return err(EBADF);
      a.kind = 'memfd';
      a.memfd = desc.memfd;
      delete a.fd;
    }
    const r = mmap(ctx.world.mem, mm, a as never);
    return 'errno' in r ? err(r.errno) : { errno: 0, ret: r.addr };
  },
  munmap: (ctx, b) => {
    const mm = procMm(ctx, b.pid);
    if (!mm) return err(ESRCH);
    const e = munmap(ctx.world.mem, mm, BigInt(b.args.addr), BigInt(b.args.length));
    if (!e) releaseDeviceMappings(ctx, b.pid, BigInt(b.args.addr), BigInt(b.args.addr) + BigInt(b.args.length));
    return e ? err(e) : { errno: 0, ret: 0 };
  },
  mprotect: (ctx, b) => {
    const mm = procMm(ctx, b.pid);
    if (!mm) return err(ESRCH);
    const e = mprotect(ctx.world.mem, mm, BigInt(b.args.addr), BigInt(b.args.length), b.args.prot);
    return e ? err(e) : { errno: 0, ret: 0 };
  },
  poke: (ctx, b) => {
    const mm = procMm(ctx, b.pid);
    if (!mm) return err(ESRCH);
    const e = writeUser(ctx.world.mem, mm, BigInt(b.args.addr), b.args.data as Uint8Array);
    return e ? err(e) : { errno: 0, ret: (b.args.data as Uint8Array).length };
  },
  peek: (ctx, b) => {
    const mm = procMm(ctx, b.pid);
    if (!mm) return err(ESRCH);
    const r = readUser(ctx.world.mem, mm, BigInt(b.args.addr), b.args.length);
    return 'errno' in r ? err(r.errno) : { errno: 0, ret: r.data.length, data: r.data };
  },
  memfd_create: (ctx, b) => {
    const proc = ctx.world.procs[b.pid];
    if (!proc) return err(ESRCH);
    const memfd = memfdCreate(ctx.world.mem, BigInt(b.args.size ?? 0));
    const file = ctx.world.nextFile++;
    ctx.world.files[file] = { kind: 'memfd', memfd, refs: 1 };
    return { errno: 0, ret: allocFd(proc, file) };
  },
  open: (ctx, b) => {
    const proc = ctx.world.procs[b.pid];
    if (!proc) return err(ESRCH);
    const open = openerFor(String(b.args.path));
    if (!open) return err(ENOENT);
    const file = ctx.world.nextFile;
    const desc = open(ctx, file, b.pid, String(b.args.path));
    if (typeof desc !== 'number') ctx.world.nextFile++;
    if (typeof desc === 'number') return err(desc);
    ctx.world.files[file] = desc;
    return { errno: 0, ret: allocFd(proc, file) };
  },
  close: (ctx, b) => {
    const proc = ctx.world.procs[b.pid];
    const file = proc?.fds[b.args.fd];
    if (!proc || file === undefined) return err(EBADF);
    delete proc.fds[b.args.fd];
    filePut(ctx, file);
    return { errno: 0, ret: 0 };
  },
  read: (ctx, b, replyTo) => fileRequest(ctx, b, 'read', replyTo),
  write: (ctx, b, replyTo) => fileRequest(ctx, b, 'write', replyTo),
  /** poll(2) on one fd: the ready mask (EPOLLIN/EPOLLOUT/EPOLLRDNORM bits) is the return value. */
  poll: (ctx, b, replyTo) => fileRequest(ctx, b, 'poll', replyTo),
};

/** System calls other modules provide (the SVA driver model's bind/unbind/submit). */
export function registerSyscall(call: string, h: Handler): void {
  syscalls[call] = h;
}

/**
 * The kernel delivery in progress, for code reached through the mm (MMU
 * notifiers flushing secondary TLBs) that has no context of its own.  Set
 * only while a syscall runs, so nothing outlives its delivery.
 */
export const syscallScope: { ctx: DeliveryContext<World> | null } = { ctx: null };

/** mmap of a device file: the driver decides what backs it; the vma is a shared mapping of those pages. */
function mmapDeviceFile(ctx: DeliveryContext<World>, pid: number, desc: FileDesc, a: Record<string, any>, map: FileMmap): SyscallResult {
  const r = map(ctx, desc, a);
  if ('errno' in r) return err(r.errno);
  const mm = procMm(ctx, pid)!;
  const m = mmap(ctx.world.mem, mm, { length: BigInt(a.length), prot: a.prot, kind: 'memfd', memfd: r.memfd, offset: 0n, shared: true, ...(a.addr !== undefined ? { addr: BigInt(a.addr) } : {}) });
  if ('errno' in m) {
    fileMmaps[desc.kind]!.release(ctx, r.release);
    return err(m.errno);
  }
  deviceMappings(ctx).push({ pid, start: m.addr, end: m.addr + BigInt(a.length), kind: desc.kind, tag: r.release });
  return { errno: 0, ret: m.addr };
}

function fileOf(ctx: DeliveryContext<World>, pid: number, fd: number): FileDesc | undefined {
  const file = ctx.world.procs[pid]?.fds[fd];
  return file === undefined ? undefined : ctx.world.files[file];
}

/** read()/write() are answered by the file's owner, asynchronously. */
function fileRequest(ctx: DeliveryContext<World>, b: SyscallBody, op: 'read' | 'write' | 'poll', replyTo: string): SyscallResult | null {
  const desc = fileOf(ctx, b.pid, b.args.fd);
  const io = desc && fileIo[desc.kind];
  if (!desc || !io) return err(EBADF);
  io(ctx, desc, op, { ...b.args, pid: b.pid }, replyTo);
  return null;
}

export class KernelActor implements SimActor<World> {
  readonly id = KERNEL_ACTOR;
  readonly kind = 'kernel';
  persist(): null {
    return null;
  }
  status(): string {
    return 'running';
  }
  deliver(env: Envelope, ctx: DeliveryContext<World>): void {
    if (env.type !== 'syscall') throw new Error(`kernel: unexpected message ${env.type}`);
    const b = env.body as SyscallBody;
    const h = syscalls[b.call];
    let r: SyscallResult | null;
    syscallScope.ctx = ctx;
    try {
      r = h ? h(ctx, b, env.src) : err(EINVAL);
    } finally {
      syscallScope.ctx = null;
    }
    if (r) ctx.post(env.src, 'reply', 'syscall.ret', r);
  }
}
