/**
 * A user-space thread.  It issues system calls one at a time — an ioctl goes
 * to the file's actor (the iommufd context), anything else to the kernel
 * actor — and waits for the reply.  Driven either step by step by the typed
 * API (each call an injected input) or by a program (scenario threads in the
 * explorer), in which case each reply triggers the next call.
 */
import type { DeliveryContext, SimActor } from './runtime/actor.ts';
import type { Envelope } from './runtime/envelope.ts';
import type { World } from './world.ts';
import { fileGet, filePut, ioctlTarget } from './kernel.ts';

/** Copy a saved value into the argument bytes before the call (symbolic ids). */
export interface ArgPatch {
  offset: number;
  size: 4 | 8;
  from: string;
}

/** Remember an out-field after the call. */
export interface ArgSave {
  offset: number;
  size: 4 | 8;
  as: string;
}

export type ThreadStep =
  | { op: 'ioctl'; fd: number | string; cmd: number; arg: Uint8Array; patch?: ArgPatch[]; save?: ArgSave[]; expect?: number }
  | { op: 'syscall'; call: string; args: Record<string, unknown>; saveRet?: string; expect?: number };

export interface CallResult {
  call: string;
  errno: number;
  ret: number | bigint;
  arg?: Uint8Array;
  /** Bytes a read-like system call returned. */
  data?: Uint8Array;
}

export interface ThreadState {
  pid: number;
  tid: number;
  program: ThreadStep[] | null;
  pc: number;
  waiting: boolean;
  last: CallResult | null;
  calls: number;
  /** Replies received; a caller outside the model compares it to see its call finished. */
  completed: number;
  /** Expectation failures: step index and what happened. */
  failures: { pc: number; message: string }[];
  /** The file an ioctl of this thread's program holds while it runs (see fileGet). */
  ioctlFile?: number;
}

export function threadActorId(pid: number, tid: number): string {
  return `thread:${pid}.${tid}`;
}

/** Variables shared by the threads of a scenario (symbolic object ids, fds). */
function vars(world: World): Record<string, number | bigint> {
  return (world.kobj.vars ??= {});
}

export class ThreadActor implements SimActor<World> {
  readonly kind = 'thread';
  constructor(
    readonly id: string,
    readonly st: ThreadState,
  ) {}

  static create(pid: number, tid: number, program: ThreadStep[] | null = null): ThreadActor {
    return new ThreadActor(threadActorId(pid, tid), { pid, tid, program, pc: 0, waiting: false, last: null, calls: 0, completed: 0, failures: [] });
  }

  persist(): ThreadState {
    return this.st;
  }

  status(): string {
    if (this.st.waiting) return 'in-syscall';
    if (this.st.program && this.st.pc < this.st.program.length) return 'runnable';
    return 'idle';
  }

  deliver(env: Envelope, ctx: DeliveryContext<World>): void {
    switch (env.type) {
      case 'start':
        this.runNext(ctx);
        return;
      case 'ioctl.ret':
      case 'syscall.ret':
        this.complete(env, ctx);
        if (env.type === 'ioctl.ret') this.putIoctlFile(ctx);
        this.runNext(ctx);
        return;
      default:
        throw new Error(`thread ${this.id}: unexpected message ${env.type}`);
    }
  }

  private complete(env: Envelope, ctx: DeliveryContext<World>): void {
    const b = env.body as { errno: number; ret?: number | bigint; arg?: Uint8Array; data?: Uint8Array };
    this.st.waiting = false;
    this.st.completed++;
    this.st.last = { call: env.type === 'ioctl.ret' ? 'ioctl' : 'syscall', errno: b.errno, ret: b.ret ?? (b.errno ? -1 : 0) };
    if (b.arg) this.st.last.arg = b.arg;
    if (b.data) this.st.last.data = b.data;
    const step = this.st.program?.[this.st.pc - 1];
    if (!step) return;
    if (step.expect !== undefined && step.expect !== b.errno) {
      this.st.failures.push({ pc: this.st.pc - 1, message: `expected errno ${step.expect}, got ${b.errno}` });
    }
    if (b.errno !== 0) return;
    if (step.op === 'ioctl' && step.save && b.arg) saveFields(vars(ctx.world), step.save, b.arg);
    if (step.op === 'syscall' && step.saveRet && b.ret !== undefined) vars(ctx.world)[step.saveRet] = b.ret;
  }

  private runNext(ctx: DeliveryContext<World>): void {
    const prog = this.st.program;
    while (prog && !this.st.waiting && this.st.pc < prog.length) {
      const step = prog[this.st.pc++]!;
      if (step.op === 'ioctl') this.issueIoctl(ctx, step);
      else this.issueSyscall(ctx, step.call, step.args);
    }
  }

  /** Send an ioctl on `fd`; returns false (and records the errno) when the fd has no ioctl to send to. */
  issueIoctl(ctx: DeliveryContext<World>, step: Extract<ThreadStep, { op: 'ioctl' }>): boolean {
    const v = vars(ctx.world);
    const fd = typeof step.fd === 'string' ? Number(v[step.fd] ?? -1) : step.fd;
    const target = ioctlTarget(ctx.world, this.st.pid, fd);
    this.st.calls++;
    if ('errno' in target) {
      this.st.last = { call: 'ioctl', errno: target.errno, ret: -1 };
      if (step.expect !== undefined && step.expect !== target.errno) this.st.failures.push({ pc: this.st.pc - 1, message: `expected errno ${step.expect}, got ${target.errno}` });
      return false;
    }
    const arg = step.patch ? patchFields(step.arg, step.patch, v) : step.arg;
    fileGet(ctx.world, target.file);
    this.st.ioctlFile = target.file;
    this.st.waiting = true;
    ctx.post(target.actor, 'ioctl', 'ioctl', { cmd: step.cmd, arg, pid: this.st.pid });
    return true;
  }

  /**
   * The returning ioctl drops the file it held; if another thread closed the
   * fd meanwhile, this is the last reference and the file is released now.
   * An ioctl injected through Simulation.ioctl takes no reference: the typed
   * API settles each call before its next input, so only a program thread
   * running alongside could close that fd under it.
   */
  private putIoctlFile(ctx: DeliveryContext<World>): void {
    const file = this.st.ioctlFile;
    if (file === undefined) return;
    delete this.st.ioctlFile;
    filePut(ctx, file);
  }

  issueSyscall(ctx: DeliveryContext<World>, call: string, args: Record<string, unknown>): void {
    this.st.calls++;
    this.st.waiting = true;
    ctx.post('kernel', 'ioctl', 'syscall', { call, pid: this.st.pid, args });
  }
}

function patchFields(arg: Uint8Array, patches: readonly ArgPatch[], v: Record<string, number | bigint>): Uint8Array {
  const out = arg.slice();
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (const p of patches) {
    const val = v[p.from];
    if (val === undefined) continue;
    if (p.size === 4) dv.setUint32(p.offset, Number(val) >>> 0, true);
    else dv.setBigUint64(p.offset, BigInt(val), true);
  }
  return out;
}

function saveFields(v: Record<string, number | bigint>, saves: readonly ArgSave[], arg: Uint8Array): void {
  const dv = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
  for (const s of saves) {
    if (s.offset + s.size > arg.length) continue;
    v[s.as] = s.size === 4 ? dv.getUint32(s.offset, true) : dv.getBigUint64(s.offset, true);
  }
}
