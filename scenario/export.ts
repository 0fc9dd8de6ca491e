/**
 * Journal → scenario text.  The journal's input records are what entered
 * the model (system calls, ioctls with their exact bytes, DMA bursts, the
 * programs of concurrent threads); its deliveries carry the results.  The
 * journal is replayed once so that every ioctl's file actor can be named by
 * the fd the process used for it (the input names the actor, not the fd),
 * and so that a thread program's per-step results are known.
 *
 * Object ids are recovered from out-fields: an id a call returned is given
 * a name (`-> ioas1`) and later fields holding that value are written
 * `$ioas1`; pointers into a mapping become `$buf1+0x1000`.  Both resolve to
 * the same numbers when the scenario runs again (the run is deterministic
 * up to that point), so running the exported text reproduces the journal's
 * inputs byte for byte.
 */
import { JournalReader, type JournalRecord } from '../journal/index.ts';
import type { Envelope } from '../actors/runtime/envelope.ts';
import type { ThreadStep } from '../actors/thread.ts';
import { ReplaySession } from '../replay/session.ts';
import { requestBurst, type DmaRequest } from '../actors/hw/translation.ts';
import { burstAccesses, type DmaAccess } from '../hardware/burst.ts';
import { PROT_READ, PROT_WRITE } from '../actors/mm/process.ts';
import { EFAULT, errnoName } from '../uapi/errno.ts';
import { ioctlSpecByCmd, leavesOf, symbolize, testCmdView, type IoctlSpec, type Leaf } from './catalog.ts';
import { observeLanesTracker, readLeaf, writeLeaf, type LaneResult } from './run.ts';

export interface ExportResult {
  text: string;
  /** Inputs the format cannot express, with their input index: written as comments, never dropped silently. */
  warnings: string[];
}

interface InputInfo {
  rec: Envelope;
  /** The fd the process had for the ioctl's file actor, just before the call. */
  fd: number | undefined;
  reply: Envelope | undefined;
}

interface Block {
  lanes: { pid: number; tid: number; program: ThreadStep[] }[];
  results: LaneResult[][];
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export function fmtNum(v: bigint, sizeLike = false): string {
  if (v < 10n) return String(v);
  if (sizeLike) {
    for (const [s, m] of [['G', 30n], ['M', 20n], ['K', 10n]] as const) {
      const u = 1n << m;
      if (v % u === 0n) return `${v / u}${s}`;
    }
  }
  return `0x${v.toString(16)}`;
}

const SIZE_LIKE = /(^|\.|_)(length|size|len|page_size|limit)$/;
const POINTER_LIKE = /(user_va|allowed_iovas|_uptr|uptr|^data|\.data|vaddr|_ptr)$/;
const ID_LIKE = /(^id|_id|devid|\.id)$/;

/** Replay the journal, noting for each input its fd and its reply, and the per-step results of thread programs. */
export function collectInputs(bytes: Uint8Array): { header: JournalReader['header']; infos: InputInfo[]; blocks: Map<number, Block> } {
  const reader = JournalReader.fromBytes(bytes);
  const records: JournalRecord[] = [...reader.records()];
  const inputs = records.filter((r): r is Extract<JournalRecord, { type: 'input' }> => r.type === 'input').map((r) => r.value);
  const session = new ReplaySession(reader);
  const infos: InputInfo[] = inputs.map((rec) => ({ rec, fd: undefined, reply: undefined }));
  const awaiting = new Map<string, number>();
  const sub = () =>
    session.simulation.rt.bus.delivered$.subscribe((env: Envelope) => {
      const i = awaiting.get(env.dst);
      if (i !== undefined && env.type.endsWith('.ret')) {
        infos[i]!.reply = env;
        awaiting.delete(env.dst);
      }
    });
  let s = sub();
  const blocks = new Map<number, Block>();
  const pendingLanes: Block['lanes'] = [];
  const stops: (() => void)[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const rec = inputs[i]!;
    while (session.position < rec.seq && session.step());
    if (session.divergence) throw new Error(`export: the journal does not replay (${session.divergence.message})`);
    const w = session.simulation.world;
    const body = rec.body as { call?: string; pid?: number; args?: Record<string, unknown> };
    if (rec.dst !== 'kernel' && rec.dst !== 'translation' && typeof body.pid === 'number') {
      const fds = w.procs[body.pid]?.fds ?? {};
      const hit = Object.keys(fds).map(Number).sort((a, b) => a - b).find((fd) => (w.files[fds[fd]!] as { actor?: string } | undefined)?.actor === rec.dst);
      infos[i]!.fd = hit;
    }
    if (rec.dst === 'kernel' && body.call === 'thread.start') {
      const group: number[] = [i];
      while (i + 1 < inputs.length && inputs[i + 1]!.seq === rec.seq && (inputs[i + 1]!.body as { call?: string }).call === 'thread.start') group.push(++i);
      const lanes = pendingLanes.splice(0);
      const ids = lanes.map((l) => `thread:${l.pid}.${l.tid}`);
      const t = observeLanesTracker(session.simulation, ids, lanes.map((l) => l.program.length));
      stops.push(t.stop);
      blocks.set(group[0]!, { lanes, results: t.results });
      for (const g of group) awaiting.set(inputs[g]!.src, g);
      continue;
    }
    awaiting.set(rec.src, i);
    if (rec.dst === 'kernel' && body.call === 'thread.create' && Array.isArray(body.args?.program)) {
      // the tid is known only from the reply: step until it arrives
      while (!infos[i]!.reply && session.step());
      pendingLanes.push({ pid: body.pid!, tid: Number((infos[i]!.reply?.body as { ret?: number })?.ret ?? -1), program: body.args!.program as ThreadStep[] });
    }
  }
  while (session.step());
  if (session.divergence) throw new Error(`export: the journal does not replay (${session.divergence.message})`);
  s.unsubscribe();
  for (const stop of stops) stop();
  return { header: reader.header, infos, blocks };
}

class Namer {
  private counts = new Map<string, number>();
  fresh(base: string): string {
    const n = (this.counts.get(base) ?? 0) + 1;
    this.counts.set(base, n);
    return `${base}${n}`;
  }
}

class Exporter {
  readonly lines: string[] = [];
  readonly warnings: string[] = [];
  private names = new Namer();
  private procName = new Map<number, string>();
  private threadName = new Map<string, string>();
  private fdName = new Map<string, string>();
  /** Per pid, open fds in opening order with their kind (the runner's default-fd rule). */
  private opened = new Map<number, { fd: number; kind: string }[]>();
  private maps: { name: string; start: bigint; end: bigint }[] = [];
  private idName = new Map<bigint, string>();
  private multiProc: boolean;
  /** The process whose fd numbers the fields of the ioctl being written refer to. */
  private curPid: number | undefined;

  constructor(
    readonly infos: InputInfo[],
    readonly blocks: Map<number, Block>,
  ) {
    this.multiProc = infos.filter((x) => (x.rec.body as { call?: string }).call === 'proc.create').length > 1;
  }

  private who(src: string): string {
    const m = /^thread:(\d+)\.(\d+)$/.exec(src);
    if (!m) return src;
    const pid = Number(m[1]);
    const tid = Number(m[2]);
    if (tid === 1) return this.procName.get(pid) ?? `p${pid}`;
    return this.thread(pid, tid);
  }

  private thread(pid: number, tid: number): string {
    const key = `${pid}.${tid}`;
    let n = this.threadName.get(key);
    if (!n) {
      n = this.multiProc ? `p${pid}t${tid}` : `t${tid}`;
      this.threadName.set(key, n);
      this.lines.push(`thread ${n} of ${this.procName.get(pid) ?? `p${pid}`}`);
    }
    return n;
  }

  private fdRef(pid: number, fd: number): string {
    return this.fdName.get(`${pid}.${fd}`) ?? String(fd);
  }

  private addFd(pid: number, fd: number, kind: string, base: string): string {
    const name = this.names.fresh(base);
    this.fdName.set(`${pid}.${fd}`, name);
    this.opened.set(pid, [...(this.opened.get(pid) ?? []), { fd, kind }]);
    return name;
  }

  private dropFd(pid: number, fd: number): void {
    this.fdName.delete(`${pid}.${fd}`);
    this.opened.set(pid, (this.opened.get(pid) ?? []).filter((f) => f.fd !== fd));
  }

  private defaultFd(pid: number, kind: string): number | undefined {
    const l = this.opened.get(pid) ?? [];
    for (let i = l.length - 1; i >= 0; i--) if (l[i]!.kind === kind) return l[i]!.fd;
    return undefined;
  }

  private addr(v: bigint): string {
    for (let i = this.maps.length - 1; i >= 0; i--) {
      const m = this.maps[i]!;
      if (v >= m.start && v < m.end) return v === m.start ? `$${m.name}` : `$${m.name}+${fmtNum(v - m.start, true)}`;
    }
    return fmtNum(v);
  }

  private value(spec: IoctlSpec, leaf: Leaf, v: bigint): string {
    const sym = symbolize(spec.name, leaf.path, v);
    if (sym) return sym;
    if (ID_LIKE.test(leaf.path) && this.idName.has(v) && v !== 0n) return `$${this.idName.get(v)}`;
    if (/(^|\.|_)(iommufd|fd)$/.test(leaf.path) && this.curPid !== undefined) {
      const n = this.fdName.get(`${this.curPid}.${v}`);
      if (n) return `$${n}`;
    }
    if (POINTER_LIKE.test(leaf.path)) return this.addr(v);
    if (leaf.size === 8 && v >= 1n << 63n) return `-${fmtNum((1n << 64n) - v)}`;
    return fmtNum(v, SIZE_LIKE.test(leaf.path));
  }

  /** The fields clause of an ioctl, or raw bytes when fields cannot say it; patched leaves become `$var`. */
  private argText(spec: IoctlSpec | undefined, arg: Uint8Array, patched: Map<number, string>): string[] {
    if (!spec) return [`@raw=hex:${hex(arg)}`, ...[...patched].map(([o, n]) => `@patch${o}=$${n}`)];
    let leaves = leavesOf(spec.layout);
    if (spec.name === 'IOMMU_TEST_CMD' && arg.length >= 8) leaves = leavesOf(testCmdView(new DataView(arg.buffer, arg.byteOffset).getUint32(4, true)).layout);
    // one leaf per storage location (aliases share it); scalar leaves before raw unions
    const seen = new Set<string>();
    leaves = leaves.filter((l) => {
      const k = `${l.offset}.${l.size}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    const ks = spec.ksize;
    const n = arg.length;
    const base = Math.min(n, ks);
    const parts: string[] = [];
    const rebuilt = new Uint8Array(n);
    if (spec.sizeField && base >= 4) writeLeaf(rebuilt, { path: 'size', offset: 0, type: 'u32', size: 4 }, BigInt(spec.ksize));
    if (n < ks) parts.push(`@bytes=${n}`);
    for (const l of leaves) {
      if (l.offset + l.size > base) continue;
      const p = patched.get(l.offset);
      if (p !== undefined) {
        parts.push(`${l.path}=$${p}`);
        continue;
      }
      if (l.type === 'bytes') {
        const b = arg.subarray(l.offset, l.offset + l.size);
        if (b.some((x) => x !== 0)) {
          parts.push(`${l.path}=hex:${hex(b)}`);
          rebuilt.set(b, l.offset);
        }
        continue;
      }
      const v = readLeaf(arg, l)!;
      const isSize = l.offset === 0 && spec.sizeField;
      if (isSize ? v === BigInt(spec.ksize) : v === 0n) {
        if (isSize) continue;
        continue;
      }
      parts.push(`${l.path}=${this.value(spec, l, v)}`);
      writeLeaf(rebuilt, l, v);
    }
    if (n > ks) {
      parts.push(`@tail=hex:${hex(arg.subarray(ks))}`);
      rebuilt.set(arg.subarray(ks), ks);
    }
    if (hex(rebuilt) === hex(arg)) return parts;
    // bytes no field names (padding, a union seen through the wrong view): the exact bytes, patches on top
    const out = [`@raw=hex:${hex(arg)}`];
    for (const l of leaves) {
      const p = patched.get(l.offset);
      if (p !== undefined) out.push(`${l.path}=$${p}`);
    }
    return out;
  }

  /** `-> name=field` for id-like out-fields of a successful call (main thread only: lanes save what their program saves). */
  private saves(spec: IoctlSpec | undefined, arg: Uint8Array): string {
    if (!spec) return '';
    let outs = spec.outFields;
    let leaves = leavesOf(spec.layout);
    if (spec.name === 'IOMMU_TEST_CMD' && arg.length >= 8) {
      leaves = leavesOf(testCmdView(new DataView(arg.buffer, arg.byteOffset).getUint32(4, true)).layout);
      outs = leaves.map((l) => l.path).filter((p) => p.includes('.out_'));
    }
    const parts: string[] = [];
    for (const f of outs) {
      if (!ID_LIKE.test(f) && !/_fd$/.test(f)) continue;
      const leaf = leaves.find((l) => l.path === f);
      if (!leaf) continue;
      const v = readLeaf(arg, leaf);
      if (v === undefined || v === 0n) continue;
      const base = f.replace(/^.*\./, '').replace(/^out_/, '').replace(/_id$/, '').replace(/^devid$/, 'dev').replace(/^pt$/, 'hwpt') || 'id';
      const name = this.names.fresh(base);
      if (!/_fd$/.test(f)) this.idName.set(v, name);
      parts.push(f === spec.primaryOut && spec.name !== 'IOMMU_TEST_CMD' ? name : `${name}=${f}`);
    }
    return parts.length ? ` -> ${parts.join(', ')}` : '';
  }

  private expect(errno: number | undefined): string {
    if (errno === undefined) return '';
    return ` expect ${errno ? errnoName(errno) : 'ok'}`;
  }

  private ioctlLine(who: string, pid: number, fd: number | undefined, cmd: number, arg: Uint8Array, reply: { errno: number; arg?: Uint8Array } | undefined, patched = new Map<number, string>(), laneSaves?: { offset: number; as: string }[]): string {
    const spec = ioctlSpecByCmd(cmd);
    const kind = spec?.target === 'vfio' ? 'vfio' : 'iommufd';
    const head = spec ? spec.name : `0x${(cmd >>> 0).toString(16)}`;
    const on = fd === undefined ? ' on 4294967295' : fd === this.defaultFd(pid, kind) ? '' : ` on ${this.fdRef(pid, fd)}`;
    this.curPid = pid;
    const fields = this.argText(spec, arg, patched);
    let saves = '';
    if (laneSaves) {
      const leaves = spec ? leavesOf(spec.layout) : [];
      if (laneSaves.length) saves = ` -> ${laneSaves.map((s) => `${s.as}=${leaves.find((l) => l.offset === s.offset)?.path ?? '?'}`).join(', ')}`;
    } else if (reply && reply.errno === 0 && reply.arg) saves = this.saves(spec, reply.arg);
    return `${who}: ${head}${on}${fields.length ? ' ' + fields.join(' ') : ''}${saves}${this.expect(reply?.errno)}`;
  }

  run(): void {
    for (let i = 0; i < this.infos.length; i++) {
      const info = this.infos[i]!;
      const rec = info.rec;
      const body = rec.body as Record<string, any>;
      const reply = info.reply?.body as Record<string, any> | undefined;
      if (rec.dst === 'translation' && rec.type === 'dma') this.dma(body as never, reply);
      else if (rec.dst === 'kernel' && rec.type === 'syscall') i = this.syscall(i, body as never, reply);
      else if (rec.type === 'ioctl') {
        this.lines.push(this.ioctlLine(this.who(rec.src), body.pid, info.fd, body.cmd, body.arg, reply as { errno: number; arg?: Uint8Array }));
      } else this.unsupported(i, `${rec.type} from ${rec.src} to ${rec.dst}`);
    }
  }

  private unsupported(i: number, what: string): void {
    this.warnings.push(`input ${i}: ${what}`);
    this.lines.push(`# unsupported input ${i}: ${what}`);
  }

  private dma(body: DmaRequest, reply: Record<string, any> | undefined): void {
    const acc = accessesText(burstAccesses(requestBurst(body)));
    const res = (reply?.results ?? []) as { ok: boolean; fault?: string; data?: Uint8Array }[];
    let exp = '';
    if (res.length && res.every((r) => r.ok)) {
      const data = res.map((r) => (r.data ? hex(r.data) : '')).join('');
      exp = ` expect ok${data ? ` data=hex:${data}` : ''}`;
    } else if (res.length && res.every((r) => !r.ok && r.fault === res[0]!.fault)) exp = ` expect ${res[0]!.fault}`;
    this.lines.push(`dma ${body.device} ${acc}${exp}`);
  }

  private syscall(i: number, body: { call: string; pid: number; args: Record<string, any> }, reply: Record<string, any> | undefined): number {
    const rec = this.infos[i]!.rec;
    const who = this.who(rec.src);
    const a = body.args ?? {};
    const ok = reply && reply.errno === 0;
    switch (body.call) {
      case 'proc.create': {
        if (!ok || a.pid !== undefined) {
          this.unsupported(i, `proc.create ${JSON.stringify(a)}`);
          return i;
        }
        const pid = Number(reply!.ret);
        const name = `p${pid}`;
        this.procName.set(pid, name);
        let s = `proc ${name} uid=${a.uid}`;
        if (a.rlimitMemlock !== undefined) s += ` memlock=${fmtNum(BigInt(a.rlimitMemlock), true)}`;
        if (a.ipcLock) s += ' ipc_lock';
        if (a.sysResource) s += ' sys_resource';
        this.lines.push(s);
        return i;
      }
      case 'thread.create':
        if (Array.isArray(a.program)) return i; // a lane: written with its block at thread.start
        if (ok && a.start === false && Object.keys(a).length === 1) this.thread(body.pid, Number(reply!.ret));
        else this.unsupported(i, `thread.create ${JSON.stringify(a)}`);
        return i;
      case 'thread.start': {
        const block = this.blocks.get(i);
        if (!block) {
          this.unsupported(i, 'thread.start without thread programs');
          return i;
        }
        // the group of thread.start inputs injected together is one block
        let j = i;
        while (j + 1 < this.infos.length && this.infos[j + 1]!.rec.seq === rec.seq && (this.infos[j + 1]!.rec.body as { call?: string }).call === 'thread.start') j++;
        this.block(block);
        return j;
      }
      case 'mmap': {
        if (!ok) {
          this.unsupported(i, `failed mmap ${JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
          return i;
        }
        const name = this.names.fresh('buf');
        const addr = BigInt(reply!.ret);
        const prot = a.prot === PROT_READ ? 'r' : a.prot === (PROT_READ | PROT_WRITE) ? 'rw' : a.prot === 0 ? 'none' : a.prot === PROT_WRITE ? 'w' : undefined;
        let s = `mmap ${name} = ${who} ${fmtNum(BigInt(a.length), true)} ${prot ?? `prot=${a.prot}`}`;
        if (a.addr !== undefined) s += ` at=${fmtNum(BigInt(a.addr))}`;
        if (a.fd !== undefined) s += ` memfd=${this.fdName.get(`${body.pid}.${a.fd}`) ?? '?'}`;
        if (a.offset !== undefined) s += ` offset=${fmtNum(BigInt(a.offset), true)}`;
        if (a.shared) s += ' shared';
        this.maps.push({ name, start: addr, end: addr + BigInt(a.length) });
        this.lines.push(s);
        return i;
      }
      case 'memfd_create': {
        if (!ok) return (this.unsupported(i, 'failed memfd_create'), i);
        const name = this.addFd(body.pid, Number(reply!.ret), 'memfd', 'memfd');
        this.lines.push(`memfd ${name} = ${who} ${fmtNum(BigInt(a.size ?? 0), true)}`);
        return i;
      }
      case 'munmap':
        this.lines.push(`munmap ${who} ${this.addr(BigInt(a.addr))} ${fmtNum(BigInt(a.length), true)}`);
        return i;
      case 'mprotect': {
        const prot = a.prot === PROT_READ ? 'r' : a.prot === (PROT_READ | PROT_WRITE) ? 'rw' : a.prot === 0 ? 'none' : a.prot === PROT_WRITE ? 'w' : undefined;
        if (!prot) return (this.unsupported(i, `mprotect prot ${a.prot}`), i);
        this.lines.push(`mprotect ${who} ${this.addr(BigInt(a.addr))} ${fmtNum(BigInt(a.length), true)} ${prot}`);
        return i;
      }
      case 'poke':
        this.lines.push(`poke ${who} ${this.addr(BigInt(a.addr))} hex:${hex(a.data)}`);
        return i;
      case 'read':
      case 'write': {
        const fd = this.fdName.get(`${body.pid}.${a.fd}`) ?? String(a.fd);
        this.lines.push(`${body.call} ${who} ${fd} ${this.addr(BigInt(a.buf))} ${Number(a.count)}${this.expect(reply?.errno)}`);
        return i;
      }
      case 'sva.bind':
      case 'sva.unbind':
        this.lines.push(`sva ${body.call.slice(4)} ${who} ${String(a.dev)}${this.expect(reply?.errno)}`);
        return i;
      case 'sva.submit':
        this.lines.push(`sva submit ${who} ${String(a.dev)} ${a.write ? 'write' : 'read'} ${this.addr(BigInt(a.va))} ${Number(a.length)}${this.expect(reply?.errno)}`);
        return i;
      case 'peek': {
        const data = ok && reply!.data ? ` expect hex:${hex(reply!.data)}` : '';
        this.lines.push(`peek ${who} ${this.addr(BigInt(a.addr))} ${a.length}${data}`);
        return i;
      }
      case 'open': {
        const path = String(a.path);
        if (!ok) {
          this.lines.push(`open failed${i} = ${who} ${path}${this.expect(reply?.errno)}`);
          return i;
        }
        const fd = Number(reply!.ret);
        const kind = path === '/dev/iommu' ? 'iommufd' : path.startsWith('/dev/vfio/') ? 'vfio' : 'other';
        const base = kind === 'iommufd' ? 'iommufd' : kind === 'vfio' ? `${path.replace(/^.*\//, '')}_` : 'file';
        const name = this.addFd(body.pid, fd, kind, base);
        this.lines.push(`open ${name} = ${who} ${path}`);
        return i;
      }
      case 'close': {
        const fd = Number(a.fd);
        const ref = this.fdName.get(`${body.pid}.${fd}`);
        const main = /\.1$/.test(rec.src);
        // `close NAME` runs on the main thread of the fd's process; another thread says so with a prefix
        if (ref) this.lines.push(`${main ? '' : `${who}: `}close ${ref}${this.expect(reply?.errno)}`);
        else this.lines.push(`${main ? `close ${who}` : `${who}: close`} ${fd}${this.expect(reply?.errno)}`);
        if (ok) this.dropFd(body.pid, fd);
        return i;
      }
      case 'proc.exit':
        this.lines.push(`exit ${who}`);
        return i;
      default:
        this.unsupported(i, `system call ${body.call}`);
        return i;
    }
  }

  private block(b: Block): void {
    const names = b.lanes.map((l) => this.thread(l.pid, l.tid));
    const body: string[] = [];
    const closed: { pid: number; fd: number }[] = [];
    b.lanes.forEach((lane, k) => {
      lane.program.forEach((step, s) => {
        const r = b.results[k]![s];
        if (step.op === 'ioctl') {
          const patched = new Map((step.patch ?? []).map((p) => [p.offset, p.from]));
          const fd = typeof step.fd === 'number' ? step.fd : undefined;
          body.push(`  ${this.ioctlLine(names[k]!, lane.pid, fd, step.cmd, step.arg, r, patched, (step.save ?? []).map((x) => ({ offset: x.offset, as: x.as })))}`);
          for (const x of step.save ?? []) {
            const v = r?.arg && r.errno === 0 ? readLeaf(r.arg, { path: x.as, offset: x.offset, type: x.size === 4 ? 'u32' : 'u64', size: x.size }) : undefined;
            if (v !== undefined && v !== 0n) this.idName.set(v, x.as);
          }
        } else if (step.call === 'close') {
          const fd = Number(step.args.fd);
          body.push(`  ${names[k]}: close ${this.fdRef(lane.pid, fd)}${this.expect(r?.errno)}`);
          if (r?.errno === 0) closed.push({ pid: lane.pid, fd });
        } else if (step.call === 'munmap') {
          body.push(`  ${names[k]}: munmap ${this.addr(BigInt(step.args.addr as bigint))} ${fmtNum(BigInt(step.args.length as bigint), true)}`);
        } else if (step.call === 'poke') {
          body.push(`  ${names[k]}: poke ${this.addr(BigInt(step.args.addr as bigint))} hex:${hex(step.args.data as Uint8Array)}`);
        } else if (step.call === 'dma') {
          // the lane's thread heard 0 or EFAULT (the dma system call); anything else has no lane expect
          const exp = r?.errno === 0 ? ' expect ok' : r?.errno === EFAULT ? ' expect fault' : '';
          body.push(`  ${names[k]}: dma ${String(step.args.dev)} ${accessesText(step.args.accesses as DmaAccess[])}${exp}`);
        } else {
          this.warnings.push(`thread program step ${step.call}`);
          body.push(`  # unsupported lane step: ${step.call}`);
        }
      });
    });
    this.lines.push('parallel {', ...body, '}');
    for (const c of closed) this.dropFd(c.pid, c.fd);
  }
}

/** A burst's accesses as a dma line writes them: `read|write IOVA LEN [pasid=N] [data=BYTES], …`. */
function accessesText(accesses: readonly DmaAccess[]): string {
  return accesses.map((a) => {
    let s = `${a.write ? 'write' : 'read'} ${fmtNum(BigInt(a.iova))} ${fmtNum(BigInt(a.length), true)}`;
    if (a.pasid !== undefined) s += ` pasid=${a.pasid}`;
    if (a.data) s += ` data=hex:${hex(a.data)}`;
    return s;
  }).join(', ');
}

/** The scenario text of a journal. */
export function exportScenario(bytes: Uint8Array, source = 'journal'): ExportResult {
  const { header, infos, blocks } = collectInputs(bytes);
  const e = new Exporter(infos, blocks);
  e.run();
  const cfg = header.configuration as { strategy?: { name?: string } } | null;
  const head = [
    `# exported from ${source} (simulator ${header.simulatorVersion}, seed ${String(header.seed)}, strategy ${cfg?.strategy?.name ?? '?'})`,
    `# run with the same --seed and --strategy to reproduce the journal`,
  ];
  return { text: [...head, ...e.lines].join('\n') + '\n', warnings: e.warnings };
}
