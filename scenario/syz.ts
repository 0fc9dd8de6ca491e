/**
 * syzkaller programs (spec/bugs.md §0.3) in and out.
 *
 * Import turns a syz program into scenario text, so that it runs through
 * the same raw-ABI path (and journal) as any scenario: `rN = openat$iommufd`
 * opens /dev/iommu, `ioctl$IOMMU_X(rN, cmd, &(..)={…})` becomes one ioctl
 * with the literal request value and the struct's fields in declaration
 * order, `<rN=>0x…` out-fields save resources (their placeholder is the
 * value when the call fails, as in syzkaller), pointed-to data is poked
 * into the process first, and runs of `(async)` calls become parallel
 * blocks.  Calls it cannot express are listed with their line numbers and
 * kept as comments; nothing is dropped silently.
 *
 * Export walks a journal (through the scenario exporter's replay) and writes
 * the iommufd calls back as a syz program with sizes and constants literal.
 */
import { leavesOf, ioctlSpec, ioctlSpecByCmd, testCmdView, type IoctlSpec, type Leaf } from './catalog.ts';
import { IOMMU_TEST_OPS } from '../uapi/dispatch.ts';
import { collectInputs } from './export.ts';
import * as S from '../uapi/structs.ts';
import type { AnyLayout, Field } from '../uapi/layout.ts';
import { readLeaf } from './run.ts';

export interface SyzIssue {
  line: number;
  message: string;
}

export interface SyzImport {
  scenario: string;
  /** Calls or properties the simulator cannot run as written (line numbers of the syz program). */
  unsupported: SyzIssue[];
  calls: number;
}

// ---------------------------------------------------------------- syz values

type SyzValue =
  | { k: 'int'; v: bigint }
  | { k: 'res'; name: string }
  | { k: 'def'; name: string; v: bigint }
  | { k: 'ptr'; addr: bigint; size?: bigint; data: SyzValue | null }
  | { k: 'struct'; items: SyzValue[] }
  | { k: 'array'; items: SyzValue[] }
  | { k: 'str'; b: Uint8Array }
  | { k: 'auto' }
  | { k: 'nil' };

class SyzError extends Error {}

class ValueParser {
  i = 0;
  constructor(readonly s: string) {}
  ws(): void {
    while (this.s[this.i] === ' ') this.i++;
  }
  eat(c: string): boolean {
    this.ws();
    if (this.s.startsWith(c, this.i)) {
      this.i += c.length;
      return true;
    }
    return false;
  }
  expect(c: string): void {
    if (!this.eat(c)) throw new SyzError(`expected '${c}' at column ${this.i + 1}`);
  }
  list(close: string): SyzValue[] {
    const items: SyzValue[] = [];
    if (this.eat(close)) return items;
    for (;;) {
      items.push(this.value());
      if (this.eat(close)) return items;
      this.expect(',');
    }
  }
  value(): SyzValue {
    this.ws();
    const s = this.s;
    const rest = s.slice(this.i);
    let m: RegExpExecArray | null;
    if ((m = /^<(r\d+)=>(0x[0-9a-fA-F]+|\d+)/.exec(rest))) {
      this.i += m[0].length;
      return { k: 'def', name: m[1]!, v: BigInt(m[2]!) };
    }
    if ((m = /^(0x[0-9a-fA-F]+|\d+)/.exec(rest))) {
      this.i += m[0].length;
      return { k: 'int', v: BigInt(m[1]!) };
    }
    if ((m = /^r\d+/.exec(rest))) {
      this.i += m[0].length;
      return { k: 'res', name: m[0] };
    }
    if (rest.startsWith('nil')) {
      this.i += 3;
      return { k: 'nil' };
    }
    if (rest.startsWith('AUTO')) {
      this.i += 4;
      return { k: 'auto' };
    }
    if (rest.startsWith('&')) {
      this.i++;
      let addr = 0n;
      let size: bigint | undefined;
      if (this.eat('AUTO')) addr = 0n;
      else {
        this.expect('(');
        const a = /^(0x[0-9a-fA-F]+|\d+)(?:\/(0x[0-9a-fA-F]+|\d+))?\)/.exec(s.slice(this.i));
        if (!a) throw new SyzError(`bad pointer at column ${this.i + 1}`);
        this.i += a[0].length;
        addr = BigInt(a[1]!);
        if (a[2]) size = BigInt(a[2]);
      }
      let data: SyzValue | null = null;
      if (this.eat('=')) {
        data = this.value();
        if (data.k === 'nil') data = null;
      }
      return size === undefined ? { k: 'ptr', addr, data } : { k: 'ptr', addr, size, data };
    }
    if (rest.startsWith('{')) {
      this.i++;
      return { k: 'struct', items: this.list('}') };
    }
    if (rest.startsWith('[')) {
      this.i++;
      return { k: 'array', items: this.list(']') };
    }
    if (rest.startsWith("'")) {
      const end = s.indexOf("'", this.i + 1);
      if (end < 0) throw new SyzError('unterminated string');
      const raw = s.slice(this.i + 1, end);
      this.i = end + 1;
      const bytes: number[] = [];
      for (let k = 0; k < raw.length; k++) {
        if (raw[k] === '\\' && raw[k + 1] === 'x') {
          bytes.push(parseInt(raw.slice(k + 2, k + 4), 16));
          k += 3;
        } else bytes.push(raw.charCodeAt(k) & 0xff);
      }
      return { k: 'str', b: new Uint8Array(bytes) };
    }
    if (rest.startsWith('"')) {
      const end = s.indexOf('"', this.i + 1);
      if (end < 0) throw new SyzError('unterminated hex string');
      const h = s.slice(this.i + 1, end);
      this.i = end + 1;
      return { k: 'str', b: new Uint8Array(h.match(/../g)?.map((x) => parseInt(x, 16)) ?? []) };
    }
    if ((m = /^@[A-Za-z0-9_]+/.exec(rest))) {
      this.i += m[0].length;
      return this.eat('=') ? this.value() : { k: 'int', v: 0n };
    }
    throw new SyzError(`unexpected '${rest.slice(0, 12)}' at column ${this.i + 1}`);
  }
}

interface SyzCall {
  line: number;
  ret: string | undefined;
  name: string;
  args: SyzValue[];
  props: Record<string, string>;
}

function parseLine(text: string, line: number): SyzCall | null {
  const t = text.trim();
  if (!t || t.startsWith('#')) return null;
  const m = /^(?:(r\d+)\s*=\s*)?([A-Za-z0-9_$]+)\(/.exec(t);
  if (!m) throw new SyzError('not a call');
  const p = new ValueParser(t);
  p.i = m[0].length;
  const args = p.list(')');
  const props: Record<string, string> = {};
  p.ws();
  if (p.eat('(')) {
    const close = t.indexOf(')', p.i);
    for (const kv of t.slice(p.i, close < 0 ? undefined : close).split(',')) {
      const [k, v] = kv.split(':').map((x) => x.trim());
      if (k) props[k] = v ?? '';
    }
  }
  return { line, ret: m[1], name: m[2]!, args, props };
}

// ---------------------------------------------------------------- import

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const num = (v: bigint): string => `0x${v.toString(16)}`;

/** Fields of a layout in the order a syz struct lists them: embedded structs inline. */
function syzFields(layout: AnyLayout, base = 0, prefix = ''): { f: Field; path: string; offset: number }[] {
  const out: { f: Field; path: string; offset: number }[] = [];
  for (const f of layout.fields) {
    if (f.type === 'struct') out.push(...syzFields(f.of, base + f.offset, `${prefix}${f.name}.`));
    else out.push({ f, path: prefix + f.name, offset: base + f.offset });
  }
  return out;
}

/** The layout a pointer field's data is written with, when the description says (else u64 words). */
const POINTEE: Record<string, AnyLayout> = { allowed_iovas: S.iommu_iova_range };

/** The ioctl a syz call name stands for: `IOMMU_IOAS_MAP$PAGES` → IOMMU_IOAS_MAP, `IOMMU_TEST_OP_X` → the test command. */
function resolveName(name: string): { spec: IoctlSpec; testOp?: number; syzConv: boolean } | undefined {
  const parts = name.split('$');
  const base = parts[0]!;
  const syzConv = parts.includes('syz');
  if (base.startsWith('IOMMU_TEST_OP_')) {
    const op = IOMMU_TEST_OPS.find((o) => o.name === base.slice('IOMMU_TEST_OP_'.length));
    const spec = ioctlSpec('IOMMU_TEST_CMD');
    return op && spec ? { spec, testOp: op.op, syzConv } : undefined;
  }
  const spec = ioctlSpec(base) ?? (base.startsWith('IOMMU_VFIO_') ? ioctlSpec(base.slice('IOMMU_'.length)) : undefined);
  return spec ? { spec, syzConv } : undefined;
}

class Importer {
  readonly out: string[] = [];
  readonly unsupported: SyzIssue[] = [];
  private lets = new Set<string>();
  private fdRes = new Set<string>();
  private calls = 0;
  private regions: { start: bigint; end: bigint }[] = [];
  private threads = 0;

  constructor(readonly proc = 'syz') {}

  issue(line: number, message: string): void {
    this.unsupported.push({ line, message });
    this.out.push(`# line ${line}: unsupported: ${message}`);
  }

  /** Make sure [addr, addr+len) is mapped: syzkaller's executor maps its data area before the program. */
  need(addr: bigint, len: bigint): void {
    if (addr === 0n) return;
    const page = 4096n;
    const start = (addr / page) * page;
    const end = ((addr + (len > 0n ? len : 1n) + page - 1n) / page) * page;
    if (this.regions.some((r) => r.start <= start && r.end >= end)) return;
    this.regions.push({ start, end });
  }

  /** Render a pointer's data as bytes (poked before the call). */
  private dataBytes(v: SyzValue, pointee: AnyLayout | undefined, line: number): Uint8Array | null {
    if (v.k === 'str') return v.b;
    const ints: bigint[] = [];
    const flat = (x: SyzValue): boolean => {
      if (x.k === 'int') ints.push(x.v);
      else if (x.k === 'struct' || x.k === 'array') return x.items.every(flat);
      else return false;
      return true;
    };
    if (!flat(v)) {
      this.issue(line, 'pointer data holding resources or nested pointers');
      return null;
    }
    if (pointee) {
      const leaves = leavesOf(pointee);
      const per = leaves.length;
      const n = Math.ceil(ints.length / per);
      const b = new Uint8Array(n * pointee.size);
      ints.forEach((x, k) => {
        const l = leaves[k % per]!;
        const at = Math.floor(k / per) * pointee.size + l.offset;
        for (let i = 0; i < l.size; i++) b[at + i] = Number((x >> BigInt(8 * i)) & 0xffn);
      });
      return b;
    }
    const b = new Uint8Array(ints.length * 8);
    ints.forEach((x, k) => {
      for (let i = 0; i < 8; i++) b[k * 8 + i] = Number((x >> BigInt(8 * i)) & 0xffn);
    });
    return b;
  }

  /** The fields clause of an ioctl from its syz struct value; pokes needed before it go to `pre`. */
  private fields(spec: IoctlSpec, layout: AnyLayout, items: SyzValue[], c: SyzCall, syzConv: boolean, pre: string[], saves: string[]): string[] | null {
    const fl = syzFields(layout);
    const parts: string[] = [];
    let k = 0;
    for (const { f, path } of fl) {
      if (k >= items.length) break;
      const v = items[k++]!;
      if (f.type === 'array' || f.type === 'bytes') {
        if (v.k === 'str') parts.push(`${path}=hex:${hex(v.b)}`);
        else if (v.k === 'array' || v.k === 'struct') {
          const leaves = leavesOf(layout).filter((l) => l.path.startsWith(`${path}[`));
          v.items.forEach((x, i) => {
            if (x.k === 'int' && leaves[i]) parts.push(`${leaves[i]!.path}=${num(x.v)}`);
          });
        } else if (v.k === 'int' && v.v !== 0n) {
          this.issue(c.line, `integer for array field ${path}`);
          return null;
        }
        continue;
      }
      // $syz variants pass an iova as two int32s: (nth_area, offset), which the selftest converts
      if (syzConv && f.type === 'u64' && /iova$/.test(path) && v.k === 'int' && items[k]?.k === 'int') {
        const hi = (items[k++] as { v: bigint }).v;
        parts.push(`${path}=${num((v.v & 0xffffffffn) | ((hi & 0xffffffffn) << 32n))}`);
        continue;
      }
      const val = this.scalar(v, path, c, pre, saves);
      if (val === null) return null;
      if (val !== undefined) parts.push(`${path}=${val}`);
    }
    if (k < items.length) {
      this.issue(c.line, `${items.length} struct values, ${spec.name} has ${fl.length} fields`);
      return null;
    }
    return parts;
  }

  private scalar(v: SyzValue, path: string, c: SyzCall, pre: string[], saves: string[]): string | undefined | null {
    switch (v.k) {
      case 'int':
        return num(v.v);
      case 'auto':
        return path === 'size' ? undefined : '0';
      case 'nil':
        return '0';
      case 'res':
        if (!this.lets.has(v.name) && !this.fdRes.has(v.name)) {
          // a resource never defined (its call was dropped by the fuzzer's minimizer): syzkaller passes the default
          pre.push(`let ${v.name} = 0`);
          this.lets.add(v.name);
        }
        return `$${v.name}`;
      case 'def':
        pre.push(`let ${v.name} = ${num(v.v)}`);
        this.lets.add(v.name);
        saves.push(`${v.name}=${path}`);
        return num(v.v);
      case 'ptr': {
        const field = path.replace(/^.*\./, '');
        const len = v.size ?? (v.data ? 0x1000n : 0n);
        this.need(v.addr, len);
        if (v.data) {
          const b = this.dataBytes(v.data, POINTEE[field], c.line);
          if (b === null) return null;
          this.need(v.addr, BigInt(b.length));
          if (b.length) pre.push(`poke ${this.proc} ${num(v.addr)} hex:${hex(b)}`);
        }
        return num(v.addr);
      }
      default:
        this.issue(c.line, `value of kind ${v.k} in field ${path}`);
        return null;
    }
  }

  call(c: SyzCall): { pre: string[]; line: string; lane: boolean } | null {
    const pre: string[] = [];
    const base = c.name.split('$')[0]!;
    if (c.props.fail_nth !== undefined) this.issue(c.line, `fail_nth: ${c.props.fail_nth} (per-call fault injection is a simulation option here: --fail-nth); the call runs without it`);
    if (c.props.rerun !== undefined) this.issue(c.line, `rerun: ${c.props.rerun} ignored; the call runs once`);
    if (base === 'openat' || base === 'open' || base === 'syz_open_dev') {
      const pathArg = c.args[base === 'openat' ? 1 : 0];
      const path = pathArg?.k === 'ptr' && pathArg.data?.k === 'str' ? new TextDecoder().decode(pathArg.data.b).replace(/\0.*$/s, '') : c.name === 'openat$iommufd' ? '/dev/iommu' : '';
      if (path !== '/dev/iommu' && !path.startsWith('/dev/vfio/devices/')) {
        this.issue(c.line, `${c.name} of ${path || 'an unknown path'}`);
        return null;
      }
      if (!c.ret) return { pre, line: `open fd_line${c.line} = ${this.proc} ${path}`, lane: false };
      this.fdRes.add(c.ret);
      return { pre, line: `open ${c.ret} = ${this.proc} ${path}`, lane: false };
    }
    if (base === 'close') {
      const a = c.args[0];
      if (a?.k === 'res' && this.fdRes.has(a.name)) return { pre, line: `${this.proc}: close ${a.name}`, lane: true };
      if (a?.k === 'int') return { pre, line: `${this.proc}: close ${num(a.v)} expect any`, lane: true };
      this.issue(c.line, 'close of something that is not an fd resource');
      return null;
    }
    if (base === 'mmap') {
      const [a, len, prot] = c.args;
      if (a?.k !== 'ptr' || len?.k !== 'int' || prot?.k !== 'int') {
        this.issue(c.line, 'mmap with non-literal arguments');
        return null;
      }
      this.regions.push({ start: a.addr, end: a.addr + len.v });
      return { pre, line: `mmap m_line${c.line} = ${this.proc} ${num(len.v)} prot=${num(prot.v & 3n)} at=${num(a.addr)}`, lane: false };
    }
    if (base !== 'ioctl') {
      this.issue(c.line, `system call ${c.name} (only openat$iommufd, mmap, close and ioctl$IOMMU_* are imported)`);
      return null;
    }
    const r = resolveName(c.name.slice('ioctl$'.length));
    const [fd, cmdv, arg] = c.args;
    if (!c.name.startsWith('ioctl$') || !r) {
      this.issue(c.line, `${c.name}: not an iommufd ioctl this simulator knows`);
      return null;
    }
    if (fd?.k !== 'res' && fd?.k !== 'int') {
      this.issue(c.line, 'ioctl fd is not a resource or a number');
      return null;
    }
    const cmd = cmdv?.k === 'int' ? Number(cmdv.v & 0xffffffffn) : r.spec.cmd;
    const on = fd.k === 'res' ? (this.fdRes.has(fd.name) ? fd.name : `$${fd.name}`) : num(fd.v);
    if (fd.k === 'res' && !this.fdRes.has(fd.name) && !this.lets.has(fd.name)) {
      pre.push(`let ${fd.name} = 0xffffffff`);
      this.lets.add(fd.name);
    }
    const head = r.spec.name;
    let layout = r.spec.layout;
    const fields: string[] = [];
    if (r.testOp !== undefined) {
      layout = testCmdView(r.testOp).layout;
    }
    // a mutated request value is sent as written, with the struct the call name describes
    if (cmd !== r.spec.cmd) fields.push(`@cmd=${num(BigInt(cmd))}`);
    const saves: string[] = [];
    if (!arg || arg.k === 'nil' || (arg.k === 'int' && r.spec.sizeField !== null)) {
      fields.push('@bytes=0');
    } else if (arg.k === 'int') {
      fields.push(`value=${num(arg.v)}`);
    } else if (arg.k === 'ptr') {
      if (!arg.data) fields.push(`@bytes=0`);
      else if (arg.data.k !== 'struct') {
        this.issue(c.line, `ioctl argument is a ${arg.data.k}, not a struct`);
        return null;
      } else {
        const f = this.fields(r.spec, layout, arg.data.items, c, r.syzConv, pre, saves);
        if (f === null) return null;
        if (!f.some((x) => x.startsWith('size=') || x.startsWith('argsz='))) {
          // AUTO size: what syzkaller would compute, the struct's size
          fields.unshift(`${r.spec.sizeField ?? 'size'}=${num(BigInt(r.spec.ksize))}`);
          if (!r.spec.sizeField) fields.shift();
        }
        fields.push(...f);
        if (r.testOp !== undefined && !f.some((x) => x.startsWith('op='))) fields.push(`op=${r.testOp}`);
      }
    } else {
      this.issue(c.line, `ioctl argument of kind ${arg.k}`);
      return null;
    }
    this.calls++;
    const line = `${this.proc}: ${head} on ${on} ${fields.join(' ')}${saves.length ? ` -> ${saves.join(', ')}` : ''} expect any`;
    return { pre, line, lane: true };
  }

  run(text: string): SyzImport {
    const lines = text.split('\n');
    const body: string[] = [];
    let group: { c: SyzCall; line: string }[] = [];
    const flush = (): void => {
      if (!group.length) return;
      if (group.length === 1) body.push(group[0]!.line);
      else {
        this.threads = Math.max(this.threads, group.length);
        body.push('parallel {');
        group.forEach((g, k) => body.push(`  ${g.line.replace(new RegExp(`^${this.proc}:`), `t${k + 1}:`)}`));
        body.push('}');
      }
      group = [];
    };
    lines.forEach((text, n) => {
      let c: SyzCall | null;
      try {
        c = parseLine(text, n + 1);
      } catch (e) {
        this.issue(n + 1, `cannot parse: ${(e as Error).message}`);
        return;
      }
      if (!c) return;
      const r = this.call(c);
      const mark = this.out.splice(0);
      if (!r) {
        flush();
        body.push(...mark);
        return;
      }
      // data a call points to is in memory before the call is issued, also for async calls
      body.push(...mark, ...r.pre);
      if (!r.lane) {
        flush();
        body.push(r.line);
        return;
      }
      group.push({ c, line: r.line });
      if (c.props.async === undefined) flush();
    });
    flush();
    const head = [`# imported from a syz program: ${this.calls} ioctl(s), ${this.unsupported.length} unsupported item(s)`, `proc ${this.proc} uid=0 memlock=1G`];
    for (let k = 1; k <= this.threads; k++) head.push(`thread t${k} of ${this.proc}`);
    for (const r of mergeRegions(this.regions)) head.push(`mmap data_${r.start.toString(16)} = ${this.proc} ${num(r.end - r.start)} rw at=${num(r.start)}`);
    return { scenario: [...head, ...body].join('\n') + '\n', unsupported: this.unsupported, calls: this.calls };
  }
}

function mergeRegions(rs: { start: bigint; end: bigint }[]): { start: bigint; end: bigint }[] {
  const sorted = [...rs].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: { start: bigint; end: bigint }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = last.end > r.end ? last.end : r.end;
    else out.push({ ...r });
  }
  return out;
}

export function importSyz(text: string): SyzImport {
  return new Importer().run(text);
}

// ---------------------------------------------------------------- export

/** syz call names for the iommufd ioctls (the test command is named by its op). */
function syzName(spec: IoctlSpec, arg: Uint8Array): string | undefined {
  if (spec.name === 'IOMMU_TEST_CMD') {
    const op = arg.length >= 8 ? new DataView(arg.buffer, arg.byteOffset).getUint32(4, true) : -1;
    const o = IOMMU_TEST_OPS.find((x) => x.op === op);
    return o ? `IOMMU_TEST_OP_${o.name}` : undefined;
  }
  if (spec.target === 'vfio') return undefined;
  if (spec.name.startsWith('VFIO_')) return `IOMMU_${spec.name}`;
  return spec.name;
}

export interface SyzExport {
  program: string;
  /** Journal inputs with no syz equivalent (written as comments). */
  skipped: string[];
}

/** A journal as a syz program: iommufd opens, mmaps and ioctls with resources for fds and returned ids. */
export function exportSyz(bytes: Uint8Array): SyzExport {
  const lines: string[] = ['# exported by iommufd-sim from a journal'];
  const skipped: string[] = [];
  let nres = 0;
  const fdRes = new Map<string, string>(); // `${pid}.${fd}` → rN
  const idRes = new Map<bigint, string>();
  let addr = 0x7f0000000000n;
  const emitIoctl = (res: string, cmd: number, arg: Uint8Array, reply: { errno: number; arg?: Uint8Array } | undefined, suffix: string): void => {
    const spec = ioctlSpecByCmd(cmd);
    const name = spec && syzName(spec, arg);
    if (!spec || !name) {
      skipped.push(`ioctl 0x${cmd.toString(16)}`);
      lines.push(`# unsupported: ioctl 0x${cmd.toString(16)} (${spec?.name ?? 'unknown'}) ${hex(arg)}`);
      return;
    }
    const layout = spec.name === 'IOMMU_TEST_CMD' ? testCmdView(new DataView(arg.buffer, arg.byteOffset).getUint32(4, true)).layout : spec.layout;
    const items: string[] = [];
    for (const { f, path, offset } of syzFields(layout)) {
      if (f.type === 'array' || f.type === 'bytes') {
        const n = f.type === 'bytes' ? f.length : f.count;
        items.push(`"${hex(arg.subarray(offset, offset + n))}"`);
        continue;
      }
      const leaf: Leaf = { path, offset, type: f.type as Leaf['type'], size: f.type === 'u64' ? 8 : f.type === 'u16' ? 2 : f.type === 'u8' ? 1 : 4 };
      const v = readLeaf(arg, leaf) ?? 0n;
      const isOut = spec.outFields.includes(path) || path.includes('.out_');
      if (isOut && /(_id|devid)$/.test(path) && reply?.errno === 0 && reply.arg) {
        const got = readLeaf(reply.arg, leaf);
        if (got) {
          const r = `r${nres++}`;
          idRes.set(got, r);
          items.push(`<${r}=>${num(v)}`);
          continue;
        }
      }
      if (/(_id|^id|\.id)$/.test(path) && v !== 0n && idRes.has(v)) items.push(idRes.get(v)!);
      else items.push(num(v));
    }
    lines.push(`ioctl$${name}(${res}, ${num(BigInt(cmd))}, &(${num(addr)})={${items.join(', ')}})${suffix}`);
    addr += 0x40n;
  };
  const { infos, blocks } = collectInputs(bytes);
  for (let i = 0; i < infos.length; i++) {
    const { rec: inp, fd, reply: rep } = infos[i]!;
    const b = inp.body as Record<string, any>;
    const reply = rep?.body as Record<string, any> | undefined;
    if (inp.dst === 'kernel') {
      const a = b.args ?? {};
      if (b.call === 'proc.create' || b.call === 'peek' || b.call === 'thread.create') continue;
      if (b.call === 'open' && a.path === '/dev/iommu' && reply?.errno === 0) {
        const r = `r${nres++}`;
        fdRes.set(`${b.pid}.${reply.ret}`, r);
        lines.push(`${r} = openat$iommufd(0xffffffffffffff9c, &(${num(addr)})='/dev/iommu\\x00', 0x2, 0x0)`);
        addr += 0x40n;
        continue;
      }
      if (b.call === 'mmap' && reply?.errno === 0) {
        lines.push(`mmap(&(${num(BigInt(reply.ret))}/${num(BigInt(a.length))})=nil, ${num(BigInt(a.length))}, ${num(BigInt(a.prot))}, 0x32, 0xffffffffffffffff, 0x0)`);
        continue;
      }
      if (b.call === 'close' && fdRes.has(`${b.pid}.${a.fd}`)) {
        lines.push(`close(${fdRes.get(`${b.pid}.${a.fd}`)})`);
        fdRes.delete(`${b.pid}.${a.fd}`);
        continue;
      }
      if (b.call === 'thread.start') {
        const block = blocks.get(i);
        if (!block) continue;
        block.lanes.forEach((lane, k) => {
          lane.program.forEach((st, n) => {
            // syzkaller overlaps a call with the next one when it is (async): every lane but the last
            const suffix = k < block.lanes.length - 1 ? ' (async)' : '';
            if (st.op !== 'ioctl') {
              if (st.call === 'close' && fdRes.has(`${lane.pid}.${st.args.fd}`)) lines.push(`close(${fdRes.get(`${lane.pid}.${st.args.fd}`)})${suffix}`);
              else {
                skipped.push(`thread step ${st.call}`);
                lines.push(`# unsupported: thread step ${st.call}`);
              }
              return;
            }
            const res = fdRes.get(`${lane.pid}.${st.fd}`) ?? num(BigInt(st.fd as number));
            emitIoctl(res, st.cmd, st.arg, block.results[k]![n], suffix);
          });
        });
        continue;
      }
      skipped.push(`system call ${b.call}`);
      lines.push(`# unsupported: system call ${b.call}`);
      continue;
    }
    if (inp.type === 'ioctl') {
      const res = fd === undefined ? undefined : fdRes.get(`${b.pid}.${fd}`);
      if (!res) {
        skipped.push(`ioctl on ${inp.dst}`);
        lines.push(`# unsupported: ioctl 0x${(b.cmd >>> 0).toString(16)} on ${inp.dst} (not an iommufd fd)`);
        continue;
      }
      emitIoctl(res, b.cmd, b.arg, reply as { errno: number; arg?: Uint8Array }, '');
      continue;
    }
    skipped.push(`${inp.type} to ${inp.dst}`);
    lines.push(`# unsupported: ${inp.type} to ${inp.dst}`);
  }
  return { program: lines.join('\n') + '\n', skipped };
}
