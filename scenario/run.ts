/**
 * Runs a parsed scenario against a Simulation.  Sequential statements go
 * through the raw ABI one call at a time (each an input, run until quiet);
 * a `parallel { }` block compiles each lane to a ThreadStep program on a new
 * thread, all started by one injection so the scheduler interleaves them.
 *
 * Expectations are checked here, outside the model, and never change what
 * is injected: a scenario with or without `expect` clauses produces the same
 * journal, which is what lets `export` emit them from a journal's results.
 */
import { INIT_PID, type Simulation } from '../actors/sim.ts';
import { KERNEL_ACTOR } from '../actors/kernel.ts';
import { ThreadActor, threadActorId, type ArgPatch, type ArgSave, type ThreadStep } from '../actors/thread.ts';
import type { Envelope } from '../actors/runtime/envelope.ts';
import { EBADF, errnoName } from '../uapi/errno.ts';
import { enumConstant, fieldSymbols, type Leaf } from './catalog.ts';
import { laneErrnos, parseScenario, ScenarioError, type Expect, type Expr, type IoctlStmt, type Pos, type Program, type Stmt } from './parse.ts';

export interface ScenarioFailure {
  pos: Pos;
  message: string;
}

export interface ScenarioResult {
  failures: ScenarioFailure[];
  /** One line per executed action: `LINE: what -> result`. */
  log: string[];
  vars: Record<string, bigint>;
}

interface FdInfo {
  pid: number;
  fd: number;
  kind: 'iommufd' | 'vfio' | 'memfd' | 'other';
}

interface ThreadInfo {
  pid: number;
  /** Kernel thread id, or null until the thread first runs a call. */
  tid: number | null;
}

const U64 = (1n << 64n) - 1n;

/** Read a scalar leaf out of argument bytes (little-endian); undefined if it lies past the end. */
export function readLeaf(b: Uint8Array, l: Leaf): bigint | undefined {
  if (l.type === 'bytes' || l.offset + l.size > b.length) return undefined;
  let v = 0n;
  for (let i = l.size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[l.offset + i]!);
  return v;
}

export function writeLeaf(b: Uint8Array, l: Leaf, v: bigint): void {
  const mask = (1n << BigInt(8 * l.size)) - 1n;
  let x = v & mask;
  for (let i = 0; i < l.size; i++) {
    b[l.offset + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

/**
 * Executes statements against a Simulation.  Exported so the explorer can run
 * a text scenario's sequential part as its setup and compile the lanes of its
 * parallel block into thread programs of its own (explore/text.ts).
 */
export class Runner {
  readonly vars: Record<string, bigint> = {};
  readonly procs = new Map<string, number>();
  readonly threads = new Map<string, ThreadInfo>();
  readonly fds = new Map<string, FdInfo>();
  /** Per pid, fds in opening order, for the default fd of an ioctl. */
  readonly opened = new Map<number, FdInfo[]>();
  readonly failures: ScenarioFailure[] = [];
  readonly log: string[] = [];
  private lastProc: string | undefined;

  constructor(
    readonly sim: Simulation,
    readonly prog: Program,
  ) {}

  fail(pos: Pos, msg: string): never {
    throw new ScenarioError(this.prog.file, pos, msg);
  }

  failed(pos: Pos, msg: string): void {
    this.failures.push({ pos, message: msg });
  }

  value(e: Expr, leaf?: Leaf, ioctl?: string, lane?: Set<string>): bigint {
    let v = 0n;
    for (const t of e.terms) {
      let x: bigint;
      if (t.k === 'num') x = t.v;
      else if (t.k === 'var') {
        if (lane?.has(t.name)) this.fail(t.pos, `$${t.name} is set inside this parallel block: it can be passed on only as a whole field, without | or an offset`);
        const b = this.vars[t.name];
        if (b === undefined) this.fail(t.pos, `$${t.name} is not set (no earlier statement defines it, or the call that would have set it failed)`);
        x = b + t.off;
      } else {
        const s = (ioctl && leaf ? fieldSymbols(ioctl, leaf.path)?.syms[t.name] : undefined) ?? enumConstant(t.name);
        if (s === undefined) this.fail(t.pos, `unknown symbol '${t.name}'`);
        x = BigInt(s >>> 0);
      }
      if (x < 0n) x = leaf ? (1n << BigInt(8 * leaf.size)) + x : (1n << 64n) + x;
      v |= x & U64;
    }
    return v;
  }

  /** A process name or a thread name → pid and tid (creating a declared thread on first use). */
  who(name: string, pos: Pos): { pid: number; tid: number } {
    const pid = this.procs.get(name);
    if (pid !== undefined) return { pid, tid: 1 };
    const t = this.threads.get(name);
    if (!t) this.fail(pos, `unknown process or thread '${name}'`);
    if (t.tid === null) {
      const r = this.sim.syscall(t.pid, 'thread.create', { start: false });
      if (r.errno) this.fail(pos, `thread.create for ${name} failed: ${errnoName(r.errno)}`);
      t.tid = Number(r.ret);
    }
    return { pid: t.pid, tid: t.tid };
  }

  pidOf(name: string, pos: Pos): number {
    return this.procs.get(name) ?? this.threads.get(name)?.pid ?? this.fail(pos, `unknown process or thread '${name}'`);
  }

  fdFor(st: IoctlStmt, pid: number): number {
    if (typeof st.on === 'string') {
      const f = this.fds.get(st.on);
      if (!f) this.fail(st.pos, `unknown fd '${st.on}'`);
      return f.fd;
    }
    if (st.on) return Number(this.value(st.on) & 0xffffffffn) | 0;
    const want = st.spec?.target === 'vfio' ? 'vfio' : 'iommufd';
    const list = this.opened.get(pid) ?? [];
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.kind === want) return list[i]!.fd;
    this.fail(st.pos, `no open ${want === 'vfio' ? 'VFIO device' : '/dev/iommu'} fd in this process: open one or say 'on FD'`);
  }

  /** The argument bytes; `lane` names variables to leave for a ThreadStep patch. */
  buildArg(st: IoctlStmt, lane?: Set<string>): { arg: Uint8Array; patch: ArgPatch[] } {
    const patch: ArgPatch[] = [];
    let buf: Uint8Array;
    const spec = st.spec;
    if (st.raw) {
      buf = st.raw.slice();
      if (st.bytes) {
        const n = Number(this.value(st.bytes));
        const b = new Uint8Array(n);
        b.set(buf.subarray(0, n));
        buf = b;
      }
    } else {
      const n = st.bytes ? Number(this.value(st.bytes)) : spec?.ksize ?? 0;
      if (n > 1 << 24) this.fail(st.bytes!.pos, `@bytes=${n} is larger than 16 MiB`);
      buf = new Uint8Array(n);
      if (spec?.sizeField && !st.fields.some((f) => f.leaf.offset === 0) && n >= 4) {
        new DataView(buf.buffer).setUint32(0, spec.ksize, true);
      }
    }
    for (const f of st.fields) {
      if (f.leaf.offset + (f.value instanceof Uint8Array ? f.value.length : f.leaf.size) > buf.length) {
        this.fail(f.pos, `field '${f.leaf.path}' lies past the ${buf.length} bytes passed`);
      }
      if (f.value instanceof Uint8Array) {
        if (f.value.length > f.leaf.size) this.fail(f.pos, `${f.value.length} bytes do not fit in '${f.leaf.path}' (${f.leaf.size})`);
        buf.set(f.value, f.leaf.offset);
        continue;
      }
      const only = f.value.terms.length === 1 ? f.value.terms[0]! : undefined;
      if (lane && only?.k === 'var' && only.off === 0n && lane.has(only.name)) {
        if (f.leaf.size !== 4 && f.leaf.size !== 8) this.fail(f.pos, `'${f.leaf.path}' is ${f.leaf.size} bytes: a variable set in the block can fill only a 4- or 8-byte field`);
        patch.push({ offset: f.leaf.offset, size: f.leaf.size, from: only.name });
        continue;
      }
      writeLeaf(buf, f.leaf, this.value(f.value, f.leaf, spec?.name, lane));
    }
    if (st.tail) {
      const b = new Uint8Array(buf.length + st.tail.length);
      b.set(buf);
      b.set(st.tail, buf.length);
      buf = b;
    }
    return { arg: buf, patch };
  }

  checkErrno(e: Expect | undefined, errno: number, what: string, pos: Pos): void {
    if (e && e.errnos.length && !e.errnos.includes(errno)) {
      this.failed(pos, `${what}: expected ${e.errnos.map((x) => (x ? errnoName(x) : 'ok')).join('|')}, got ${errno ? errnoName(errno) : 'ok'}`);
    }
  }

  afterIoctl(st: IoctlStmt, errno: number, arg: Uint8Array, lineNo: number): string {
    const name = st.spec?.name ?? `0x${st.cmd.toString(16)}`;
    const saved: string[] = [];
    if (errno === 0) {
      for (const s of st.saves) {
        const v = readLeaf(arg, s.leaf);
        if (v === undefined) continue;
        this.vars[s.name] = v;
        saved.push(`${s.name}=${fmt(v)}`);
      }
    }
    this.checkErrno(st.expect, errno, name, st.pos);
    if (st.expect && (!st.expect.errnos.length || st.expect.errnos.includes(errno))) {
      for (const f of st.expect.fields) {
        const want = this.value(f.value, f.leaf, st.spec?.name);
        const got = readLeaf(arg, f.leaf);
        if (got !== want) this.failed(f.pos, `${name}: expected ${f.leaf.path}=${fmt(want)}, got ${got === undefined ? 'nothing' : fmt(got)}`);
      }
    }
    return `${lineNo}: ${name} -> ${errno ? errnoName(errno) : 'ok'}${saved.length ? ` ${saved.join(' ')}` : ''}`;
  }

  run(): void {
    for (const st of this.prog.stmts) this.stmt(st);
  }

  stmt(st: Stmt): void {
    const sim = this.sim;
    const line = st.pos.line;
    switch (st.op) {
      case 'proc': {
        if (this.procs.has(st.name) || this.threads.has(st.name)) this.fail(st.pos, `'${st.name}' is already defined`);
        const args: Record<string, unknown> = { uid: st.uid ? Number(this.value(st.uid)) : 1000 };
        if (st.memlock) args.rlimitMemlock = Number(this.value(st.memlock));
        args.ipcLock = st.ipcLock;
        args.sysResource = st.sysResource;
        const r = sim.syscall(INIT_PID, 'proc.create', args);
        if (r.errno) this.fail(st.pos, `proc.create failed: ${errnoName(r.errno)}`);
        this.procs.set(st.name, Number(r.ret));
        this.lastProc = st.name;
        this.log.push(`${line}: proc ${st.name} -> pid ${r.ret}`);
        return;
      }
      case 'thread':
        if (this.procs.has(st.name) || this.threads.has(st.name)) this.fail(st.pos, `'${st.name}' is already defined`);
        this.threads.set(st.name, { pid: this.pidOf(st.proc, st.pos), tid: null });
        return;
      case 'mmap': {
        const w = this.who(st.who, st.pos);
        const args: Record<string, unknown> = { length: this.value(st.length), prot: st.prot };
        if (st.addr) args.addr = this.value(st.addr);
        if (st.memfd) {
          const f = this.fds.get(st.memfd);
          if (!f) this.fail(st.pos, `unknown memfd '${st.memfd}'`);
          args.fd = f.fd;
        }
        if (st.offset) args.offset = this.value(st.offset);
        if (st.shared) args.shared = true;
        const r = sim.syscall(w.pid, 'mmap', args, w.tid);
        if (r.errno) this.fail(st.pos, `mmap failed: ${errnoName(r.errno)}`);
        this.vars[st.name] = BigInt(r.ret!);
        this.log.push(`${line}: mmap ${st.name} -> 0x${BigInt(r.ret!).toString(16)}`);
        return;
      }
      case 'memfd': {
        const w = this.who(st.who, st.pos);
        const r = sim.syscall(w.pid, 'memfd_create', { size: this.value(st.size) }, w.tid);
        if (r.errno) this.fail(st.pos, `memfd_create failed: ${errnoName(r.errno)}`);
        this.addFd(st.name, { pid: w.pid, fd: Number(r.ret), kind: 'memfd' });
        this.log.push(`${line}: memfd ${st.name} -> fd ${r.ret}`);
        return;
      }
      case 'munmap':
      case 'mprotect': {
        const w = this.who(st.who, st.pos);
        const args: Record<string, unknown> = { addr: this.value(st.addr), length: this.value(st.length) };
        if (st.op === 'mprotect') args.prot = st.prot;
        const r = sim.syscall(w.pid, st.op, args, w.tid);
        this.log.push(`${line}: ${st.op} -> ${r.errno ? errnoName(r.errno) : 'ok'}`);
        return;
      }
      case 'open': {
        const w = this.who(st.who, st.pos);
        const r = sim.syscall(w.pid, 'open', { path: st.path }, w.tid);
        this.checkErrno(st.expect ?? { errnos: [0], fields: [], pos: st.pos }, r.errno, `open ${st.path}`, st.pos);
        if (!r.errno) this.addFd(st.name, { pid: w.pid, fd: Number(r.ret), kind: st.path === '/dev/iommu' ? 'iommufd' : st.path.startsWith('/dev/vfio/') ? 'vfio' : 'other' });
        this.log.push(`${line}: open ${st.path} -> ${r.errno ? errnoName(r.errno) : `fd ${r.ret}`}`);
        return;
      }
      case 'close': {
        const { pid, tid, fd } = this.closeTarget(st);
        const r = sim.syscall(pid, 'close', { fd }, tid);
        if (!r.errno) this.forgetFd(pid, fd);
        this.checkErrno(st.expect, r.errno, 'close', st.pos);
        this.log.push(`${line}: close ${fd} -> ${r.errno ? errnoName(r.errno) : 'ok'}`);
        return;
      }
      case 'let':
        this.vars[st.name] = this.value(st.value);
        return;
      case 'poke': {
        const w = this.who(st.who, st.pos);
        const r = sim.syscall(w.pid, 'poke', { addr: this.value(st.addr), data: st.data }, w.tid);
        if (r.errno) this.failed(st.pos, `poke failed: ${errnoName(r.errno)}`);
        return;
      }
      case 'peek': {
        const w = this.who(st.who, st.pos);
        const r = sim.syscall(w.pid, 'peek', { addr: this.value(st.addr), length: Number(this.value(st.length)) }, w.tid);
        const got = r.errno ? undefined : (r.data as Uint8Array);
        if (r.errno) this.failed(st.pos, `peek failed: ${errnoName(r.errno)}`);
        else if (st.expect && hex(got!) !== hex(st.expect)) this.failed(st.pos, `peek: expected hex:${hex(st.expect)}, got hex:${hex(got!)}`);
        this.log.push(`${line}: peek -> ${got ? `hex:${hex(got)}` : errnoName(r.errno)}`);
        return;
      }
      case 'dma':
        return this.dma(st);
      case 'exit': {
        const w = this.who(st.who, st.pos);
        sim.syscall(w.pid, 'proc.exit', {}, w.tid);
        return;
      }
      case 'read':
      case 'write': {
        const w = this.who(st.who, st.pos);
        const fd = typeof st.fd === 'string' ? this.fds.get(st.fd)?.fd ?? this.fail(st.pos, `unknown fd '${st.fd}'`) : Number(this.value(st.fd));
        const r = sim.syscall(w.pid, st.op, { fd, buf: this.value(st.buf), count: Number(this.value(st.length)) }, w.tid);
        this.checkErrno(st.expect ?? { errnos: [0], fields: [], pos: st.pos }, r.errno, st.op, st.pos);
        this.log.push(`${line}: ${st.op} ${fd} -> ${r.errno ? errnoName(r.errno) : `${r.ret} bytes`}`);
        return;
      }
      case 'sva': {
        const w = this.who(st.who, st.pos);
        const args: Record<string, unknown> = { dev: st.dev };
        if (st.action === 'submit') Object.assign(args, { va: this.value(st.addr!), length: Number(this.value(st.length!)), write: st.write });
        const r = sim.syscall(w.pid, `sva.${st.action}`, args, w.tid);
        this.checkErrno(st.expect ?? { errnos: [0], fields: [], pos: st.pos }, r.errno, `sva ${st.action} ${st.dev}`, st.pos);
        this.log.push(`${line}: sva ${st.action} ${st.dev} -> ${r.errno ? errnoName(r.errno) : st.action === 'bind' ? `pasid ${r.ret}` : 'ok'}`);
        return;
      }
      case 'ioctl': {
        const w = this.who(st.who, st.pos);
        const fd = this.fdFor(st, w.pid);
        const { arg } = this.buildArg(st);
        const r = sim.ioctl(w.pid, fd, st.cmd, arg, w.tid);
        this.log.push(this.afterIoctl(st, r.errno, r.arg, line));
        return;
      }
      case 'parallel':
        return this.parallel(st.body);
    }
  }

  private addFd(name: string, f: FdInfo): void {
    this.fds.set(name, f);
    this.vars[name] = BigInt(f.fd);
    const l = this.opened.get(f.pid) ?? [];
    l.push(f);
    this.opened.set(f.pid, l);
  }

  /** A closed fd is no longer anybody's default; its number may come back for the next open. */
  private forgetFd(pid: number, fd: number): void {
    const l = this.opened.get(pid);
    if (l) this.opened.set(pid, l.filter((f) => f.fd !== fd));
    for (const [name, f] of this.fds) if (f.pid === pid && f.fd === fd) this.fds.delete(name);
  }

  closeTarget(st: Extract<Stmt, { op: 'close' }>): { pid: number; tid: number; fd: number } {
    if (typeof st.fd === 'string') {
      const f = this.fds.get(st.fd);
      if (!f) this.fail(st.pos, `unknown fd '${st.fd}'`);
      const w = st.who ? this.who(st.who, st.pos) : { pid: f.pid, tid: 1 };
      return { ...w, fd: f.fd };
    }
    const who = st.who ?? this.lastProc;
    if (!who) this.fail(st.pos, 'close of a number needs a process: close PROC $fd');
    return { ...this.who(who, st.pos), fd: Number(this.value(st.fd)) };
  }

  dmaAccesses(st: Extract<Stmt, { op: 'dma' }>): { iova: bigint; length: number; write: boolean; pasid?: number; data?: Uint8Array }[] {
    return st.accesses.map((a) => {
      const o: { iova: bigint; length: number; write: boolean; pasid?: number; data?: Uint8Array } = { iova: this.value(a.iova), length: Number(this.value(a.length)), write: a.write };
      if (a.pasid) o.pasid = Number(this.value(a.pasid));
      if (a.data) o.data = a.data;
      return o;
    });
  }

  private dma(st: Extract<Stmt, { op: 'dma' }>): void {
    const accesses = this.dmaAccesses(st);
    let out;
    try {
      out = this.sim.dma(st.dev, accesses);
    } catch (e) {
      this.fail(st.pos, (e as Error).message);
    }
    const words = out.map((o) => (o.ok ? 'ok' : `fault(${o.fault})`));
    this.log.push(`${st.pos.line}: dma ${st.dev} -> ${words.join(', ')}`);
    if (st.expect) {
      const okAll = out.every((o) => o.ok);
      const good = st.expect.some((w) => (w === 'ok' ? okAll : w === 'fault' ? out.every((o) => !o.ok) : out.every((o) => !o.ok && o.fault === w)));
      if (!good) this.failed(st.pos, `dma: expected ${st.expect.join('|')}, got ${words.join(', ')}`);
    }
    if (st.expectData) {
      const got = out.map((o) => (o.data ? hex(o.data) : '')).join('');
      if (got !== hex(st.expectData)) this.failed(st.pos, `dma: expected data hex:${hex(st.expectData)}, got hex:${got}`);
    }
  }

  /** Compile each lane to a ThreadStep program, create its thread stopped, start them all at once. */
  private parallel(body: Stmt[]): void {
    const saved = new Set<string>();
    for (const s of body) if (s.op === 'ioctl') for (const v of s.saves) saved.add(v.name);
    const lanes = new Map<string, { steps: ThreadStep[]; stmts: Stmt[]; pid: number }>();
    for (const s of body) {
      const who = (s as { who: string }).who;
      if (this.procs.has(who)) this.fail(s.pos, `lane '${who}' is a process: declare a thread (thread t1 of ${who}) and use it as the lane`);
      const t = this.threads.get(who);
      if (!t) this.fail(s.pos, `unknown thread '${who}'`);
      let lane = lanes.get(who);
      if (!lane) lanes.set(who, (lane = { steps: [], stmts: [], pid: t.pid }));
      lane.stmts.push(s);
      lane.steps.push(this.laneStep(s, t.pid, saved));
    }
    const ids: string[] = [];
    const byPid = new Map<number, number[]>();
    for (const [name, lane] of lanes) {
      const r = this.sim.syscall(lane.pid, 'thread.create', { program: lane.steps, start: false });
      if (r.errno) this.fail(lane.stmts[0]!.pos, `thread.create failed: ${errnoName(r.errno)}`);
      const tid = Number(r.ret);
      this.threads.get(name)!.tid = tid;
      ids.push(threadActorId(lane.pid, tid));
      byPid.set(lane.pid, [...(byPid.get(lane.pid) ?? []), tid]);
    }
    const results = observeLanes(this.sim, ids, [...lanes.values()].map((l) => l.steps.length), () => {
      for (const [pid, tids] of byPid) this.sim.rt.inject(threadActorId(pid, 1), KERNEL_ACTOR, 'ioctl', 'syscall', { call: 'thread.start', pid, args: { tids } });
      this.sim.settle();
    });
    const shared = (this.sim.world.kobj.vars ?? {}) as Record<string, number | bigint>;
    [...lanes.values()].forEach((lane, k) => {
      lane.stmts.forEach((s, i) => {
        const r = results[k]![i] ?? { errno: -1 };
        if (s.op === 'ioctl') {
          // saves were made by the thread into the shared variables; afterIoctl re-reads them from the bytes
          this.log.push(this.afterIoctl({ ...s, saves: [] }, r.errno, r.arg ?? new Uint8Array(0), s.pos.line));
        } else {
          if (s.op === 'close' && r.errno === 0) this.forgetFd(lane.pid, (lane.steps[i] as unknown as { args: { fd: number } }).args.fd);
          const what = s.op === 'dma' ? `dma ${s.dev}` : s.op;
          this.checkErrno({ errnos: laneErrnos(s), fields: [], pos: s.pos }, r.errno, what, s.pos);
          this.log.push(`${s.pos.line}: ${what} -> ${r.errno ? errnoName(r.errno) : 'ok'}`);
        }
      });
    });
    for (const name of saved) if (shared[name] !== undefined) this.vars[name] = BigInt(shared[name]!);
  }

  laneStep(s: Stmt, pid: number, saved: Set<string>): ThreadStep {
    switch (s.op) {
      case 'ioctl': {
        const fd = this.fdFor(s, pid);
        const { arg, patch } = this.buildArg(s, saved);
        const step: ThreadStep = { op: 'ioctl', fd, cmd: s.cmd >>> 0, arg };
        if (patch.length) step.patch = patch;
        if (s.saves.length) {
          step.save = s.saves.map((v): ArgSave => {
            if (v.leaf.size !== 4 && v.leaf.size !== 8) this.fail(v.pos, `'${v.leaf.path}' is ${v.leaf.size} bytes: a lane can save only 4- or 8-byte fields`);
            return { offset: v.leaf.offset, size: v.leaf.size, as: v.name };
          });
        }
        return step;
      }
      case 'close': {
        const t = typeof s.fd === 'string' ? this.fds.get(s.fd)?.fd : Number(this.value(s.fd));
        if (t === undefined) this.fail(s.pos, `unknown fd '${String(s.fd)}'`);
        return { op: 'syscall', call: 'close', args: { fd: t } };
      }
      case 'munmap':
        return { op: 'syscall', call: 'munmap', args: { addr: this.value(s.addr), length: this.value(s.length) } };
      case 'poke':
        return { op: 'syscall', call: 'poke', args: { addr: this.value(s.addr), data: s.data } };
      case 'dma':
        return { op: 'syscall', call: 'dma', args: { dev: s.dev, accesses: this.dmaAccesses(s) } };
      default:
        this.fail(s.pos, `'${s.op}' cannot run in a lane`);
    }
  }
}

export interface LaneResult {
  errno: number;
  arg?: Uint8Array;
}

/**
 * Per-step results of thread programs, from the deliveries to the threads.
 * A step on a closed fd fails EBADF inside the thread without a message, so
 * a step that was issued, is not waiting and got no reply is an EBADF.
 */
export function observeLanesTracker(sim: Simulation, ids: string[], counts: number[]): { results: LaneResult[][]; stop: () => void } {
  const results: LaneResult[][] = counts.map((n) => new Array<LaneResult>(n));
  const seen = ids.map(() => 0);
  const waitingIdx = ids.map(() => -1);
  const index = new Map(ids.map((id, k) => [id, k]));
  const sub = sim.rt.bus.delivered$.subscribe((env: Envelope) => {
    const k = index.get(env.dst);
    if (k === undefined) return;
    if ((env.type === 'ioctl.ret' || env.type === 'syscall.ret') && waitingIdx[k]! >= 0) {
      const b = env.body as { errno: number; arg?: Uint8Array };
      results[k]![waitingIdx[k]!] = b.arg ? { errno: b.errno, arg: b.arg } : { errno: b.errno };
      waitingIdx[k] = -1;
    }
    const t = sim.rt.actor(env.dst);
    if (!(t instanceof ThreadActor)) return;
    const { pc, waiting } = t.st;
    for (let i = seen[k]!; i < pc; i++) {
      if (i === pc - 1 && waiting) waitingIdx[k] = i;
      else if (!results[k]![i]) results[k]![i] = { errno: EBADF };
    }
    seen[k] = waiting ? pc - 1 : pc;
  });
  return { results, stop: () => sub.unsubscribe() };
}

export function observeLanes(sim: Simulation, ids: string[], counts: number[], go: () => void): LaneResult[][] {
  const t = observeLanesTracker(sim, ids, counts);
  try {
    go();
  } finally {
    t.stop();
  }
  return t.results;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function fmt(v: bigint): string {
  return v < 10n ? String(v) : `0x${v.toString(16)}`;
}

/** Run scenario text in `sim`.  Throws ScenarioError for a malformed scenario; expectation misses are in `failures`. */
export function runScenario(sim: Simulation, text: string, file = 'scenario'): ScenarioResult {
  const prog = parseScenario(text, file);
  const r = new Runner(sim, prog);
  r.run();
  return { failures: r.failures, log: r.log, vars: r.vars };
}

export function runProgram(sim: Simulation, prog: Program): ScenarioResult {
  const r = new Runner(sim, prog);
  r.run();
  return { failures: r.failures, log: r.log, vars: r.vars };
}
