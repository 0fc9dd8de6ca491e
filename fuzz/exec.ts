/**
 * Executes one fuzz program against a fresh Simulation with a bound on the
 * deliveries each call may take, then tears the process down and checks the
 * invariants that must hold after any input whatsoever:
 *
 * - the simulator never throws (a thrown error is a failure, not an errno);
 * - every call is answered within the step bound (no hang, no lost reply);
 * - after the process exits: no pinned page, no locked-memory accounting,
 *   no iommufd context, object or VFIO file actor left, no dead letter,
 *   nothing left in any mailbox.
 *
 * A program is plain data (calls with their bytes and references to ids
 * returned by earlier calls), so the shrinker can drop calls and run again.
 */
import { Simulation, INIT_PID } from '../actors/sim.ts';
import { KERNEL_ACTOR, ioctlTarget } from '../actors/kernel.ts';
import { ThreadActor, threadActorId, type ThreadStep } from '../actors/thread.ts';
import { deviceActorId, DeviceActor } from '../actors/hw/device.ts';
import { TRANSLATION_ACTOR } from '../actors/hw/translation.ts';
import { totalPins } from '../hardware/physmem.ts';
import { EBADF, errnoName } from '../uapi/errno.ts';
import { ioctlSpecByCmd, leavesOf, testCmdView } from '../scenario/catalog.ts';
import { readLeaf, writeLeaf } from '../scenario/run.ts';
import type { JournalWriter } from '../journal/writer.ts';

/** A field filled at run time from the pool of ids earlier calls returned (index modulo the pool size). */
export interface Ref {
  offset: number;
  size: 4 | 8;
  id: number;
}

export type FuzzCall =
  | { k: 'ioctl'; fd: number; cmd: number; arg: Uint8Array; refs: Ref[] }
  | { k: 'close'; fd: number }
  | { k: 'munmap'; off: number; pages: number }
  | { k: 'dma'; dev: string; iova: bigint; length: number; write: boolean }
  | { k: 'parallel'; calls: { fd: number; cmd: number; arg: Uint8Array; refs: Ref[] }[] };

export interface FuzzProgram {
  calls: FuzzCall[];
}

export type FailureKind = 'throw' | 'hang' | 'no-reply' | 'invariant';

export interface Failure {
  kind: FailureKind;
  message: string;
  /** Index of the call that failed (calls.length for the teardown checks). */
  at: number;
}

export interface ExecResult {
  failure: Failure | null;
  /** `IOCTL errno` pairs reached. */
  pairs: string[];
  ioctls: number;
}

/** Fds the setup opens, in order: two iommufds and VFIO devices on a VT-d and on an SMMUv3 IOMMU. */
export const SETUP_PATHS = ['/dev/iommu', '/dev/vfio/devices/vfio0', '/dev/vfio/devices/vfio2', '/dev/iommu'];
export const BUFFER_PAGES = 256;
export const DEVICES = ['dev0', 'dev2', 'mock0'];

export interface Setup {
  sim: Simulation;
  pid: number;
  fds: number[];
  buffer: bigint;
}

export const DEFAULT_STEP_BOUND = 200_000;

export function setup(sim: Simulation): Setup {
  const r = sim.syscall(INIT_PID, 'proc.create', { uid: 1000, rlimitMemlock: 2 << 20, ipcLock: false, sysResource: false });
  const pid = Number(r.ret);
  const m = sim.syscall(pid, 'mmap', { length: BigInt(BUFFER_PAGES * 4096), prot: 3 });
  const fds = SETUP_PATHS.map((path) => Number(sim.syscall(pid, 'open', { path }).ret));
  return { sim, pid, fds, buffer: BigInt(m.ret!) };
}

function idLeaves(cmd: number, arg: Uint8Array) {
  const spec = ioctlSpecByCmd(cmd);
  if (!spec) return [];
  let leaves = leavesOf(spec.layout);
  let outs = spec.outFields;
  if (spec.name === 'IOMMU_TEST_CMD' && arg.length >= 8) {
    leaves = leavesOf(testCmdView(new DataView(arg.buffer, arg.byteOffset).getUint32(4, true)).layout);
    outs = leaves.map((l) => l.path).filter((p) => p.includes('.out_'));
  }
  return leaves.filter((l) => outs.includes(l.path) && /(_id|devid|pt_id)$/.test(l.path));
}

class Executor {
  readonly pool: bigint[] = [];
  readonly pairs = new Set<string>();
  ioctls = 0;

  constructor(
    readonly s: Setup,
    readonly bound: number,
  ) {}

  patch(arg: Uint8Array, refs: Ref[]): Uint8Array {
    if (!refs.length || !this.pool.length) return arg;
    const out = arg.slice();
    for (const r of refs) {
      if (r.offset + r.size > out.length) continue;
      writeLeaf(out, { path: '', offset: r.offset, type: r.size === 4 ? 'u32' : 'u64', size: r.size }, this.pool[r.id % this.pool.length]!);
    }
    return out;
  }

  /** Run until quiet, within the bound. */
  private drain(at: number): Failure | null {
    const rt = this.s.sim.rt;
    rt.run(this.bound);
    if (rt.scheduler.pendingCount > 0) return { kind: 'hang', message: `still ${rt.scheduler.pendingCount} messages pending after ${this.bound} deliveries`, at };
    return null;
  }

  note(cmd: number, errno: number): void {
    this.ioctls++;
    // request values no table knows count as one "ioctl" (else every random number would be a new pair)
    this.pairs.add(`${ioctlSpecByCmd(cmd)?.name ?? 'unknown-request'} ${errno ? errnoName(errno) : 'ok'}`);
  }

  learn(cmd: number, errno: number, arg: Uint8Array | undefined): void {
    if (errno || !arg) return;
    for (const l of idLeaves(cmd, arg)) {
      const v = readLeaf(arg, l);
      if (v) this.pool.push(v);
    }
  }

  call(c: FuzzCall, at: number): Failure | null {
    const { sim, pid, fds } = this.s;
    const t = sim.rt.actor(threadActorId(pid, 1)) as ThreadActor;
    const before = t.st.completed;
    const expectReply = (what: string): Failure | null => {
      const f = this.drain(at);
      if (f) return f;
      if (t.st.completed === before) return { kind: 'no-reply', message: `${what} got no answer`, at };
      return null;
    };
    switch (c.k) {
      case 'ioctl': {
        const fd = fds[c.fd] ?? c.fd;
        // The same routing as the kernel's: EBADF for no file, ENOTTY for files without an ioctl.
        const target = ioctlTarget(sim.world, pid, fd);
        if ('errno' in target) {
          this.note(c.cmd, target.errno);
          return null;
        }
        sim.rt.inject(t.id, target.actor, 'ioctl', 'ioctl', { cmd: c.cmd >>> 0, arg: this.patch(c.arg, c.refs), pid });
        const f = expectReply(`ioctl 0x${(c.cmd >>> 0).toString(16)}`);
        if (f) return f;
        const r = t.st.last as { errno: number; arg?: Uint8Array };
        this.note(c.cmd, r.errno);
        this.learn(c.cmd, r.errno, r.arg);
        return null;
      }
      case 'close':
      case 'munmap': {
        const body = c.k === 'close' ? { call: 'close', pid, args: { fd: fds[c.fd] ?? c.fd } } : { call: 'munmap', pid, args: { addr: this.s.buffer + BigInt(c.off * 4096), length: BigInt(c.pages * 4096) } };
        sim.rt.inject(t.id, KERNEL_ACTOR, 'ioctl', 'syscall', body);
        return expectReply(c.k);
      }
      case 'dma': {
        const d = sim.rt.actor(deviceActorId(c.dev));
        if (!(d instanceof DeviceActor)) return null;
        const b = d.st.completed;
        sim.rt.inject(d.id, TRANSLATION_ACTOR, 'dma', 'dma', { device: c.dev, accesses: [{ iova: c.iova, length: c.length, write: c.write }] });
        const f = this.drain(at);
        if (f) return f;
        if (d.st.completed === b) return { kind: 'no-reply', message: `DMA from ${c.dev} got no answer`, at };
        return null;
      }
      case 'parallel': {
        const tids: number[] = [];
        for (const p of c.calls) {
          const program: ThreadStep[] = [{ op: 'ioctl', fd: fds[p.fd] ?? p.fd, cmd: p.cmd >>> 0, arg: this.patch(p.arg, p.refs) }];
          sim.rt.inject(t.id, KERNEL_ACTOR, 'ioctl', 'syscall', { call: 'thread.create', pid, args: { program, start: false } });
          const f = expectReply('thread.create');
          if (f) return f;
          tids.push(Number((t.st.last as { ret: number }).ret));
        }
        const b2 = t.st.completed;
        sim.rt.inject(t.id, KERNEL_ACTOR, 'ioctl', 'syscall', { call: 'thread.start', pid, args: { tids } });
        const f = this.drain(at);
        if (f) return f;
        if (t.st.completed === b2) return { kind: 'no-reply', message: 'thread.start got no answer', at };
        c.calls.forEach((p, k) => {
          const lt = sim.rt.actor(threadActorId(pid, tids[k]!)) as ThreadActor | undefined;
          const last = lt?.st.last as { errno: number; arg?: Uint8Array } | null | undefined;
          if (lt?.st.waiting) return;
          this.note(p.cmd, last?.errno ?? EBADF);
          this.learn(p.cmd, last?.errno ?? EBADF, last?.arg);
        });
        for (const [k, tid] of tids.entries()) {
          const lt = sim.rt.actor(threadActorId(pid, tid)) as ThreadActor | undefined;
          if (lt?.st.waiting) return { kind: 'no-reply', message: `parallel call ${k} never answered`, at };
        }
        return null;
      }
    }
  }

  teardown(at: number): Failure | null {
    const { sim, pid } = this.s;
    const t = sim.rt.actor(threadActorId(pid, 1)) as ThreadActor;
    const before = t.st.completed;
    sim.rt.inject(t.id, KERNEL_ACTOR, 'ioctl', 'syscall', { call: 'proc.exit', pid, args: {} });
    const f = this.drain(at);
    if (f) return f;
    if (t.st.completed === before) return { kind: 'no-reply', message: 'proc.exit got no answer', at };
    const problems: string[] = [];
    const pins = totalPins(sim.world.mem.pm);
    if (pins) problems.push(`${pins} page pin(s) left after close`);
    const mem = sim.world.mem;
    let locked = 0;
    for (const k in mem.mms) locked += mem.mms[k]!.pinnedVm + mem.mms[k]!.lockedVm;
    for (const k in mem.users) locked += mem.users[k]!.lockedVm;
    if (locked) problems.push(`${locked} page(s) still accounted as locked after close`);
    const left = sim.rt.actorIds().filter((id) => id.startsWith('iommufd:') || id.startsWith('obj:') || id.startsWith('vfio:'));
    if (left.length) problems.push(`actors left after close: ${left.slice(0, 6).join(', ')}${left.length > 6 ? ', …' : ''}`);
    if (sim.rt.deadLetters.length) {
      const d = sim.rt.deadLetters[0]!;
      problems.push(`${sim.rt.deadLetters.length} dead letter(s), first ${d.env.type} from ${d.env.src} to ${d.env.dst}`);
    }
    return problems.length ? { kind: 'invariant', message: problems.join('; '), at } : null;
  }
}

export interface ExecOptions {
  seed?: number | string;
  bound?: number;
  journal?: JournalWriter;
}

/** Run `prog` in a fresh simulation; never throws (a simulator exception is reported as a failure). */
export function execute(prog: FuzzProgram, o: ExecOptions = {}): ExecResult {
  let ex: Executor | undefined;
  let sim: Simulation | undefined;
  let failure: Failure | null = null;
  let i = 0;
  try {
    sim = new Simulation({ seed: o.seed ?? 1, journal: o.journal, snapshotEvery: 0, scenario: { name: 'fuzz' } });
    ex = new Executor(setup(sim), o.bound ?? DEFAULT_STEP_BOUND);
    for (; i < prog.calls.length && !failure; i++) failure = ex.call(prog.calls[i]!, i);
    if (!failure) failure = ex.teardown(prog.calls.length);
  } catch (e) {
    failure = { kind: 'throw', message: (e as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(e), at: i };
  } finally {
    try {
      sim?.close({ fuzz: true });
    } catch {
      // a journal that cannot be closed is reported by the caller through the failure
    }
  }
  return { failure, pairs: ex ? [...ex.pairs] : [], ioctls: ex?.ioctls ?? 0 };
}

/** Greedy shrinking: drop calls (and parallel members) while the program still fails the same way. */
export function shrink(prog: FuzzProgram, kind: FailureKind, o: ExecOptions = {}, budget = 400): FuzzProgram {
  let cur = prog.calls.slice();
  let runs = 0;
  const fails = (calls: FuzzCall[]): boolean => {
    runs++;
    return execute({ calls }, o).failure?.kind === kind;
  };
  let changed = true;
  while (changed && runs < budget) {
    changed = false;
    for (let i = cur.length - 1; i >= 0 && runs < budget; i--) {
      const next = cur.slice(0, i).concat(cur.slice(i + 1));
      if (fails(next)) {
        cur = next;
        changed = true;
        continue;
      }
      // a concurrent group: drop its members one by one (a group of one is still concurrent with nothing)
      if (cur[i]!.k !== 'parallel') continue;
      for (let m = (cur[i] as { calls: unknown[] }).calls.length - 1; m >= 0 && runs < budget; m--) {
        const calls = (cur[i] as Extract<FuzzCall, { k: 'parallel' }>).calls;
        if (calls.length <= 1 || m >= calls.length) continue;
        const group: FuzzCall = { k: 'parallel', calls: calls.filter((_, k) => k !== m) };
        const trial = cur.slice(0, i).concat([group], cur.slice(i + 1));
        if (fails(trial)) {
          cur = trial;
          changed = true;
        }
      }
    }
  }
  return { calls: cur };
}
