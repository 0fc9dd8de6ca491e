/**
 * Shared harness for the iommufd core tests: a Simulation with one process
 * and one open /dev/iommu, and raw-ABI helpers that pack the kernel structs
 * byte for byte, call `sim.ioctl` and decode what user space gets back.
 *
 * `scenario()` runs a test body twice, each time in a fresh simulation with a
 * journal attached (memory sink), and asserts the two journals are
 * byte-identical, verify cleanly and replay (replay/session.ts) without
 * divergence.
 */
import { expect, it } from 'vitest';
import { Simulation, type IoctlResult, type SimOptions } from '../../actors/sim.ts';
import { spawnProc, type Proc } from '../../actors/api.ts';
import { threadActorId } from '../../actors/thread.ts';
import { ictxActorId } from '../../actors/iommufd/main.ts';
import { JournalWriter, memorySink, verifyJournal, type MemorySink } from '../../journal/index.ts';
import { ioctlEntry, type IoctlEntry } from '../../uapi/dispatch.ts';
import { decode, encodeArray, pack, type Decoded } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import { totalPins } from '../../hardware/physmem.ts';
import { ReplaySession } from '../../replay/session.ts';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE,
} from '../../uapi/enums.ts';

export const PAGE = 4096n;
export const U64_MAX = 0xffffffffffffffffn;
export const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
export const FIXED = IOMMU_IOAS_MAP_FIXED_IOVA;
export const READ = IOMMU_IOAS_MAP_READABLE;
export const WRITE = IOMMU_IOAS_MAP_WRITEABLE;
/** The selftest's MOCK_APERTURE_START, used as a base IOVA even without a device. */
export const MOCK_APERTURE_START = 1n << 24n;
export const BUFFER_PAGES = 16;
export const BUFFER_SIZE = BigInt(BUFFER_PAGES) * PAGE;

export interface H {
  sim: Simulation;
  /** The test process (uid 1000, CAP_SYS_RESOURCE unless asked otherwise). */
  p: Proc;
  /** Its /dev/iommu fd. */
  fd: number;
  /** 16 pages of anonymous shared memory, THP-aligned like the selftest's `buffer`. */
  buffer: bigint;
  sink?: MemorySink;
}

export interface HOpts {
  seed?: number;
  config?: SimOptions['config'];
  rlimitMemlock?: number;
  sysResource?: boolean;
  ipcLock?: boolean;
  journal?: boolean;
  scenario?: string;
}

export function setup(o: HOpts = {}): H {
  const sink = o.journal ? memorySink() : undefined;
  const sim = new Simulation({
    seed: o.seed ?? 1,
    config: o.config,
    ...(sink ? { journal: new JournalWriter(sink), scenario: { name: o.scenario ?? 'test' } } : {}),
  });
  const p = spawnProc(sim, { uid: 1000, rlimitMemlock: o.rlimitMemlock ?? 64 << 20, sysResource: o.sysResource ?? true, ipcLock: o.ipcLock ?? false });
  const buffer = p.mmap({ length: BUFFER_SIZE, addr: 0x40000000n, shared: true });
  const fd = p.open('/dev/iommu');
  if (fd < 0) throw new Error(`open /dev/iommu: errno ${-fd}`);
  return { sim, p, fd, buffer, ...(sink ? { sink } : {}) };
}

export function entry(name: string): IoctlEntry {
  const e = ioctlEntry(name);
  if (!e) throw new Error(`no ioctl ${name}`);
  return e;
}

export interface RawOpts {
  /** The `size` field (default ksize). */
  size?: number;
  /** Bytes appended after the ksize-byte struct (the extensible tail). */
  tail?: Uint8Array;
  /** Cut the readable user memory to this many bytes (models a fault past it). */
  readable?: number;
  /** Use this file descriptor instead of h.fd. */
  fd?: number;
  /** Override the request value. */
  cmd?: number;
}

export interface Raw<L> {
  errno: number;
  /** The user's bytes after the call. */
  bytes: Uint8Array;
  /** The bytes before the call (a copy). */
  before: Uint8Array;
  /** The first ksize bytes decoded. */
  out: Decoded<L>;
  /** Nothing was written back. */
  untouched: boolean;
}

/** Pack `fields` into the ioctl's struct and issue it through the raw ABI. */
export function raw<L extends IoctlEntry['layout']>(h: H, name: string, fields: Record<string, unknown>, o: RawOpts = {}): Raw<L> {
  const e = entry(name);
  const body = pack(e.layout, { ...fields, size: o.size ?? e.ksize } as never);
  let arg = body;
  if (o.tail) {
    arg = new Uint8Array(body.length + o.tail.length);
    arg.set(body);
    arg.set(o.tail, body.length);
  }
  if (o.readable !== undefined) arg = arg.slice(0, o.readable);
  return rawBytes<L>(h, o.cmd ?? e.cmd, arg, o.fd, e);
}

/** Issue an ioctl with exactly these argument bytes. */
export function rawBytes<L>(h: H, cmd: number, arg: Uint8Array, fd = h.fd, e?: IoctlEntry): Raw<L> {
  const before = arg.slice();
  const r: IoctlResult = h.sim.ioctl(h.p.pid, fd, cmd, arg);
  const bytes = r.arg;
  const full = new Uint8Array(Math.max(bytes.length, e?.ksize ?? 0));
  full.set(bytes);
  return {
    errno: r.errno,
    bytes,
    before,
    out: (e ? decode(e.layout, full) : {}) as Decoded<L>,
    untouched: bytes.length === before.length && bytes.every((b, i) => b === before[i]),
  };
}

// ---------------------------------------------------------------- common calls through the raw ABI

export function ioasAlloc(h: H): number {
  const r = raw<typeof S.iommu_ioas_alloc>(h, 'IOMMU_IOAS_ALLOC', {});
  if (r.errno) throw new Error(`IOAS_ALLOC failed: ${r.errno}`);
  return r.out.out_ioas_id;
}

export function destroy(h: H, id: number): number {
  return raw(h, 'IOMMU_DESTROY', { id }).errno;
}

export function map(h: H, ioas: number, o: { va?: bigint; length: bigint; iova?: bigint; flags?: number }) {
  const fixed = o.iova !== undefined;
  return raw<typeof S.iommu_ioas_map>(h, 'IOMMU_IOAS_MAP', {
    ioas_id: ioas,
    flags: o.flags ?? (RW | (fixed ? FIXED : 0)),
    user_va: o.va ?? h.buffer,
    length: o.length,
    iova: o.iova ?? 0n,
  });
}

export function unmap(h: H, ioas: number, iova: bigint, length: bigint) {
  return raw<typeof S.iommu_ioas_unmap>(h, 'IOMMU_IOAS_UNMAP', { ioas_id: ioas, iova, length });
}

export function copy(h: H, o: { dst: number; src: number; srcIova: bigint; length: bigint; dstIova?: bigint; flags?: number }) {
  const fixed = o.dstIova !== undefined;
  return raw<typeof S.iommu_ioas_copy>(h, 'IOMMU_IOAS_COPY', {
    dst_ioas_id: o.dst,
    src_ioas_id: o.src,
    flags: o.flags ?? (RW | (fixed ? FIXED : 0)),
    length: o.length,
    dst_iova: o.dstIova ?? 0n,
    src_iova: o.srcIova,
  });
}

export function option(h: H, f: { option_id: number; op: number; object_id?: number; val64?: bigint; __reserved?: number }) {
  return raw<typeof S.iommu_option>(h, 'IOMMU_OPTION', { object_id: 0, val64: 0n, ...f });
}

/** A scratch area in the test process for arrays passed by pointer. */
export function scratch(h: H): bigint {
  return h.p.scratchPage();
}

export function writeRanges(h: H, at: bigint, ranges: { start: bigint; last: bigint }[]): void {
  if (ranges.length === 0) return;
  const bytes = new Uint8Array(ranges.length * S.iommu_iova_range.size);
  encodeArray(S.iommu_iova_range, ranges as never, bytes);
  expect(h.p.poke(at, bytes)).toBe(0);
}

export function readRanges(h: H, at: bigint, n: number): { start: bigint; last: bigint }[] {
  if (n === 0) return [];
  const b = h.p.peek(at, n * 16);
  if (typeof b === 'number') throw new Error(`peek failed: ${b}`);
  const out = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < n; i++) out.push({ start: dv.getBigUint64(i * 16, true), last: dv.getBigUint64(i * 16 + 8, true) });
  return out;
}

export function allowIovas(h: H, ioas: number, ranges: { start: bigint; last: bigint }[]) {
  const at = scratch(h) + 0x8000n;
  writeRanges(h, at, ranges);
  return raw<typeof S.iommu_ioas_allow_iovas>(h, 'IOMMU_IOAS_ALLOW_IOVAS', { ioas_id: ioas, num_iovas: ranges.length, allowed_iovas: at });
}

export function iovaRanges(h: H, ioas: number, capacity: number, at = scratch(h)) {
  return raw<typeof S.iommu_ioas_iova_ranges>(h, 'IOMMU_IOAS_IOVA_RANGES', { ioas_id: ioas, num_iovas: capacity, allowed_iovas: at });
}

// ---------------------------------------------------------------- observations

export function pins(h: H): number {
  return totalPins(h.sim.world.mem.pm);
}

/** Every locked-memory counter of every process and user. */
export function lockedTotal(h: H): number {
  const mem = h.sim.world.mem;
  let n = 0;
  for (const k in mem.mms) n += mem.mms[k]!.pinnedVm + mem.mms[k]!.lockedVm;
  for (const k in mem.users) n += mem.users[k]!.lockedVm;
  return n;
}

/** Actors of the iommufd context of `file` and its objects. */
export function iommufdActors(h: H): string[] {
  return h.sim.rt.actorIds().filter((id) => id.startsWith('iommufd:') || id.startsWith('obj:'));
}

export function ctxActor(h: H, fd = h.fd): string {
  const file = h.sim.world.procs[h.p.pid]!.fds[fd]!;
  return ictxActorId(file);
}

/**
 * Several calls issued at the same time, then the model runs until quiet.
 * Each call comes from its own thread actor; a call may act for another
 * process (`pid`), which is how a second thread of the same process, or a
 * forked child holding the inherited fd, issues calls on that fd.
 * Returns each thread's result.
 */
export type Concurrent =
  | { thread: string; pid: number; ioctl: { fd: number; cmd: number; arg: Uint8Array }; ownerPid?: number }
  | { thread: string; pid: number; syscall: { call: string; args: Record<string, unknown> } };

export function concurrently(h: H, calls: Concurrent[]): { errno: number; arg?: Uint8Array }[] {
  const threads = calls.map((c) => h.sim.rt.actor(c.thread) as unknown as { st: { last: unknown } });
  for (const t of threads) t.st.last = null;
  for (const c of calls) {
    if ('ioctl' in c) {
      const file = h.sim.world.procs[c.ownerPid ?? c.pid]!.fds[c.ioctl.fd]!;
      const desc = h.sim.world.files[file] as { actor: string };
      h.sim.rt.inject(c.thread, desc.actor, 'ioctl', 'ioctl', { cmd: c.ioctl.cmd, arg: c.ioctl.arg, pid: c.pid });
    } else {
      h.sim.rt.inject(c.thread, 'kernel', 'ioctl', 'syscall', { call: c.syscall.call, pid: c.pid, args: c.syscall.args });
    }
  }
  h.sim.settle();
  return threads.map((t) => {
    const r = t.st.last as { errno: number; arg?: Uint8Array } | null;
    if (!r) throw new Error('a concurrent call got no answer');
    return r;
  });
}

/** The init process's thread: a handy "other thread" for concurrent calls. */
export const OTHER_THREAD = threadActorId(0, 1);

export function packArg(name: string, fields: Record<string, unknown>): Uint8Array {
  const e = entry(name);
  return pack(e.layout, { ...fields, size: e.ksize } as never);
}

// ---------------------------------------------------------------- journaled scenarios

/** Replays a journal with the replayer (replay/session.ts); the first divergence, or null. */
function replayDivergence(bytes: Uint8Array): unknown {
  return ReplaySession.fromBytes(bytes).runToEnd();
}

export function journalOf(body: (h: H) => void, o: HOpts = {}): Uint8Array {
  const h = setup({ ...o, journal: true });
  body(h);
  h.sim.close({ scenario: o.scenario ?? 'test' });
  return h.sink!.bytes();
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Journals written by every scenario (for the determinism report). */
export const journaled: { name: string; bytes: number }[] = [];

/**
 * A test that runs `body` twice in journaled simulations: assertions hold in
 * both runs, the journals are byte-identical and verify.
 */
export function scenario(name: string, body: (h: H) => void, o: HOpts = {}): void {
  it(name, () => {
    const a = journalOf(body, { ...o, scenario: name });
    const b = journalOf(body, { ...o, scenario: name });
    expect(sameBytes(a, b), `journal of '${name}' differs between two runs`).toBe(true);
    const v = verifyJournal(a);
    expect(v.ok, `journal of '${name}' does not verify`).toBe(true);
    journaled.push({ name, bytes: a.length });
    const d = replayDivergence(a);
    expect(d === null ? null : JSON.stringify(d, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)).slice(0, 2000), `replay of '${name}' diverged`).toBeNull();
  });
}
