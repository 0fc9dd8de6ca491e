/**
 * Parser of the scenario text format (scenario/FORMAT.md): one action per
 * line, `parallel { … }` blocks, `#` comments.  Every error names the file,
 * line and column of the offending token, and for a misspelt field lists
 * the fields the ioctl has, because the struct layouts are the vocabulary
 * and a reader should not have to open uapi/structs.ts to fix a typo.
 */
import { EFAULT, errnoFromName } from '../uapi/errno.ts';
import { PROT_READ, PROT_WRITE } from '../actors/mm/process.ts';
import { enumConstant, fieldSymbols, ioctlSpec, ioctlSpecByCmd, leavesOf, testCmdView, type IoctlSpec, type Leaf } from './catalog.ts';

export interface Pos {
  line: number;
  col: number;
}

export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    readonly pos: Pos,
    readonly reason: string,
  ) {
    super(`${file}:${pos.line}:${pos.col}: ${reason}`);
  }
}

/** `A|B|0x10`, `$ram+1M`, `4K`: resolved against the field (symbols) and the variables at run time. */
export interface Expr {
  terms: Term[];
  pos: Pos;
}
export type Term =
  | { k: 'num'; v: bigint }
  | { k: 'var'; name: string; off: bigint; pos: Pos }
  | { k: 'sym'; name: string; pos: Pos };

export interface FieldSet {
  leaf: Leaf;
  value: Expr | Uint8Array;
  pos: Pos;
}

export interface Expect {
  /** Accepted errnos (0 = ok); empty = any. */
  errnos: number[];
  fields: { leaf: Leaf; value: Expr; pos: Pos }[];
  pos: Pos;
}

export interface IoctlStmt {
  op: 'ioctl';
  who: string;
  spec: IoctlSpec | undefined;
  /** Leaves of the layout the fields are named by (the test command's per-op view). */
  leaves: Leaf[];
  cmd: number;
  on: string | Expr | undefined;
  fields: FieldSet[];
  bytes: Expr | undefined;
  tail: Uint8Array | undefined;
  raw: Uint8Array | undefined;
  saves: { name: string; leaf: Leaf; pos: Pos }[];
  expect: Expect | undefined;
  pos: Pos;
}

export type DmaAccess = { write: boolean; iova: Expr; length: Expr; pasid: Expr | undefined; data: Uint8Array | undefined };

export type Stmt =
  | { op: 'proc'; name: string; uid: Expr | undefined; memlock: Expr | undefined; ipcLock: boolean; sysResource: boolean; pos: Pos }
  | { op: 'thread'; name: string; proc: string; pos: Pos }
  | { op: 'mmap'; name: string; who: string; length: Expr; prot: number; addr: Expr | undefined; memfd: string | undefined; offset: Expr | undefined; shared: boolean; pos: Pos }
  | { op: 'memfd'; name: string; who: string; size: Expr; pos: Pos }
  | { op: 'munmap'; who: string; addr: Expr; length: Expr; pos: Pos }
  | { op: 'mprotect'; who: string; addr: Expr; length: Expr; prot: number; pos: Pos }
  | { op: 'open'; name: string; who: string; path: string; expect: Expect | undefined; pos: Pos }
  | { op: 'close'; who: string | undefined; fd: string | Expr; expect: Expect | undefined; pos: Pos }
  | { op: 'let'; name: string; value: Expr; pos: Pos }
  | { op: 'poke'; who: string; addr: Expr; data: Uint8Array; pos: Pos }
  | { op: 'peek'; who: string; addr: Expr; length: Expr; expect: Uint8Array | undefined; pos: Pos }
  /** `who`: a lane's thread starts the burst and waits for it (the dma system call); absent = the device is injected directly */
  | { op: 'dma'; who?: string; dev: string; accesses: DmaAccess[]; expect: string[] | undefined; expectData: Uint8Array | undefined; pos: Pos }
  | { op: 'exit'; who: string; pos: Pos }
  /** read(2)/write(2) on an fd (a fault or vEVENTQ fd): the bytes go through user memory at BUF. */
  | { op: 'read'; who: string; fd: string | Expr; buf: Expr; length: Expr; expect: Expect | undefined; pos: Pos }
  | { op: 'write'; who: string; fd: string | Expr; buf: Expr; length: Expr; expect: Expect | undefined; pos: Pos }
  /** The SVA accelerator driver model: bind/unbind a device to WHO's address space, submit work on its PASID. */
  | { op: 'sva'; action: 'bind' | 'unbind' | 'submit'; who: string; dev: string; write: boolean; addr: Expr | undefined; length: Expr | undefined; expect: Expect | undefined; pos: Pos }
  | IoctlStmt
  | { op: 'parallel'; body: Stmt[]; pos: Pos };

export interface Program {
  file: string;
  stmts: Stmt[];
}

// ---------------------------------------------------------------- tokens

type TokKind = 'word' | 'num' | 'var' | 'path' | 'str' | 'bytes' | 'meta' | 'punct';
interface Tok {
  k: TokKind;
  s: string;
  col: number;
  /** num: the value; bytes: the data. */
  n?: bigint;
  b?: Uint8Array;
}

const SUFFIX: Record<string, bigint> = { K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n };

function parseNumber(s: string): bigint | undefined {
  const m = /^(0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9][0-9_]*)([KMGT]?)$/.exec(s);
  if (!m) return undefined;
  const v = BigInt(m[1]!.replace(/_/g, ''));
  return m[2] ? v * SUFFIX[m[2]]! : v;
}

class Lexer {
  constructor(
    readonly file: string,
    readonly line: number,
  ) {}

  fail(col: number, msg: string): never {
    throw new ScenarioError(this.file, { line: this.line, col }, msg);
  }

  lex(text: string): Tok[] {
    const out: Tok[] = [];
    let i = 0;
    while (i < text.length) {
      const c = text[i]!;
      const col = i + 1;
      if (c === ' ' || c === '\t' || c === '\r') {
        i++;
        continue;
      }
      if (c === '#') break;
      if (c === '"') {
        let j = i + 1;
        let s = '';
        while (j < text.length && text[j] !== '"') {
          if (text[j] === '\\' && j + 1 < text.length) {
            const e = text[j + 1]!;
            if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(j + 2, j + 4))) {
              s += String.fromCharCode(parseInt(text.slice(j + 2, j + 4), 16));
              j += 4;
              continue;
            }
            s += e === 'n' ? '\n' : e === '0' ? '\0' : e;
            j += 2;
            continue;
          }
          s += text[j++];
        }
        if (j >= text.length) this.fail(col, 'unterminated string');
        out.push({ k: 'str', s, col, b: new Uint8Array([...s].map((ch) => ch.charCodeAt(0) & 0xff)) });
        i = j + 1;
        continue;
      }
      if (c === '-' && text[i + 1] === '>') {
        out.push({ k: 'punct', s: '->', col });
        i += 2;
        continue;
      }
      if ('=:{}|,+-'.includes(c)) {
        out.push({ k: 'punct', s: c, col });
        i++;
        continue;
      }
      const m = /^[^\s=:{}|,+#"]+/.exec(text.slice(i));
      if (!m) this.fail(col, `unexpected character '${c}'`);
      let word = m[0];
      // Byte literals: hex:0011, u64:1,2,3 (the list may contain commas and suffixed numbers).
      const bm = /^(hex|u8|u16|u32|u64):/.exec(text.slice(i));
      if (bm && text[i + bm[0].length] !== undefined && !/\s/.test(text[i + bm[0].length]!)) {
        let rest = /^[^\s#]+/.exec(text.slice(i + bm[0].length))![0];
        // a comma ends hex bytes, and a trailing one ends a number list: it separates DMA accesses
        if (bm[1] === 'hex' && rest.includes(',')) rest = rest.slice(0, rest.indexOf(','));
        else if (rest.endsWith(',')) rest = rest.slice(0, -1);
        out.push({ k: 'bytes', s: bm[0] + rest, col, b: this.bytesLiteral(bm[1]!, rest, col) });
        i += bm[0].length + rest.length;
        continue;
      }
      if (c === '$') {
        if (!/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(word)) {
          const v = /^\$[A-Za-z_][A-Za-z0-9_]*/.exec(word);
          if (!v) this.fail(col, `bad variable reference '${word}'`);
          word = v[0];
        }
        out.push({ k: 'var', s: word.slice(1), col });
        i += word.length;
        continue;
      }
      if (c === '@') {
        out.push({ k: 'meta', s: word.slice(1), col });
        i += word.length;
        continue;
      }
      if (c === '/') {
        out.push({ k: 'path', s: word, col });
        i += word.length;
        continue;
      }
      if (/[0-9]/.test(c)) {
        // a number ends where a '-' or '+' starts an offset expression
        const nm = /^[0-9][0-9A-Za-z_]*/.exec(word)!;
        const n = parseNumber(nm[0]);
        if (n === undefined) this.fail(col, `bad number '${nm[0]}' (decimal, 0x hex or 0b binary, optional K/M/G/T suffix)`);
        out.push({ k: 'num', s: nm[0], col, n });
        i += nm[0].length;
        continue;
      }
      out.push({ k: 'word', s: word, col });
      i += word.length;
    }
    return out;
  }

  private bytesLiteral(kind: string, rest: string, col: number): Uint8Array {
    if (kind === 'hex') {
      const h = rest.replace(/_/g, '');
      if (!/^([0-9a-fA-F]{2})*$/.test(h)) this.fail(col, `bad hex bytes '${rest}' (an even number of hex digits)`);
      return new Uint8Array(h.match(/../g)?.map((x) => parseInt(x, 16)) ?? []);
    }
    const width = { u8: 1, u16: 2, u32: 4, u64: 8 }[kind]!;
    const items = rest.split(',');
    const out = new Uint8Array(items.length * width);
    const dv = new DataView(out.buffer);
    items.forEach((it, k) => {
      const neg = it.startsWith('-');
      let v = parseNumber(neg ? it.slice(1) : it);
      if (v === undefined) this.fail(col, `bad number '${it}' in ${kind} list`);
      const mod = 1n << BigInt(8 * width);
      if (neg) v = (mod - v) % mod;
      if (v >= mod) this.fail(col, `${it} does not fit in ${kind}`);
      for (let b = 0; b < width; b++) dv.setUint8(k * width + b, Number((v >> BigInt(8 * b)) & 0xffn));
    });
    return out;
  }
}

// ---------------------------------------------------------------- statements

class LineParser {
  private i = 0;
  constructor(
    readonly file: string,
    readonly line: number,
    readonly toks: Tok[],
    readonly endCol: number,
  ) {}

  pos(t?: Tok): Pos {
    return { line: this.line, col: t ? t.col : this.endCol };
  }
  fail(t: Tok | undefined, msg: string): never {
    throw new ScenarioError(this.file, this.pos(t), msg);
  }
  peek(o = 0): Tok | undefined {
    return this.toks[this.i + o];
  }
  next(): Tok | undefined {
    return this.toks[this.i++];
  }
  done(): boolean {
    return this.i >= this.toks.length;
  }
  isPunct(s: string, o = 0): boolean {
    const t = this.peek(o);
    return t?.k === 'punct' && t.s === s;
  }
  isWord(s: string, o = 0): boolean {
    const t = this.peek(o);
    return t?.k === 'word' && t.s === s;
  }
  punct(s: string): Tok {
    const t = this.next();
    if (t?.k !== 'punct' || t.s !== s) this.fail(t, `expected '${s}'${t ? ` but found '${t.s}'` : ' at end of line'}`);
    return t;
  }
  ident(what: string): Tok {
    const t = this.next();
    if (t?.k !== 'word' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(t.s)) this.fail(t, `expected ${what}${t ? ` but found '${t.s}'` : ' at end of line'}`);
    return t;
  }
  end(): void {
    const t = this.peek();
    if (t) this.fail(t, `unexpected '${t.s}' at end of statement`);
  }

  /** term (('|') term)* ; term = number | -number | $var(±number)* | SYMBOL */
  expr(): Expr {
    const first = this.peek();
    if (!first) this.fail(undefined, 'expected a value');
    const terms: Term[] = [this.term()];
    while (this.isPunct('|')) {
      this.next();
      terms.push(this.term());
    }
    return { terms, pos: this.pos(first) };
  }

  private term(): Term {
    const t = this.next();
    if (!t) this.fail(undefined, 'expected a value');
    if (t.k === 'punct' && t.s === '-') {
      const n = this.next();
      if (n?.k !== 'num') this.fail(n, 'expected a number after -');
      // -N is two's complement in the field's width; kept as a negative bigint until the width is known.
      return { k: 'num', v: -n.n! };
    }
    if (t.k === 'num') return { k: 'num', v: t.n! };
    if (t.k === 'var') {
      let off = 0n;
      while (this.isPunct('+') || this.isPunct('-')) {
        const sign = this.next()!.s === '+' ? 1n : -1n;
        const n = this.next();
        if (n?.k !== 'num') this.fail(n, `expected a number after '${sign > 0n ? '+' : '-'}'`);
        off += sign * n.n!;
      }
      return { k: 'var', name: t.s, off, pos: this.pos(t) };
    }
    if (t.k === 'word' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(t.s)) return { k: 'sym', name: t.s, pos: this.pos(t) };
    this.fail(t, `expected a value but found '${t.s}'`);
  }

  bytesValue(): Uint8Array {
    const t = this.next();
    if (t?.k === 'bytes' || t?.k === 'str') return t.b!;
    this.fail(t, 'expected bytes (hex:0011…, u64:1,2…, or "string")');
  }

  /** key=value options after a statement's positional arguments. */
  options(allowed: Record<string, 'expr' | 'flag' | 'word' | 'bytes'>): Record<string, { v: Expr | string | Uint8Array | true; t: Tok }> {
    const out: Record<string, { v: Expr | string | Uint8Array | true; t: Tok }> = {};
    while (!this.done() && !this.isWord('expect') && !this.isPunct(',')) {
      const t = this.ident('an option');
      const kind = allowed[t.s];
      if (!kind) this.fail(t, `unknown option '${t.s}' (options: ${Object.keys(allowed).join(', ')})`);
      if (kind === 'flag') {
        out[t.s] = { v: true, t };
        continue;
      }
      this.punct('=');
      out[t.s] = { v: kind === 'expr' ? this.expr() : kind === 'bytes' ? this.bytesValue() : this.ident(`a value for ${t.s}`).s, t };
    }
    return out;
  }

  /** `expect ok|EEXIST|any` */
  expectErrnos(): { errnos: number[]; pos: Pos } {
    const kw = this.next()!;
    const errnos: number[] = [];
    for (;;) {
      const t = this.ident("an errno name, 'ok' or 'any'");
      if (t.s === 'any') errnos.length = 0;
      else if (t.s === 'ok') errnos.push(0);
      else {
        const n = errnoFromName(t.s);
        if (n === undefined) this.fail(t, `unknown errno '${t.s}'`);
        errnos.push(n);
      }
      if (!this.isPunct('|')) break;
      this.next();
    }
    return { errnos, pos: this.pos(kw) };
  }
}

const PROTS: Record<string, number> = { none: 0, r: PROT_READ, rw: PROT_READ | PROT_WRITE, w: PROT_WRITE };

function leafByName(p: LineParser, leaves: Leaf[], name: Tok, what: string): Leaf {
  const l = leaves.find((x) => x.path === name.s) ?? leaves.find((x) => x.path.endsWith(`.${name.s}`));
  if (l) return l;
  p.fail(name, `unknown field '${name.s}' for ${what} (fields: ${leaves.map((x) => x.path).join(', ')})`);
}

/** The literal op of an IOMMU_TEST_CMD line, found before the other fields so they are named by its view. */
function testOpOf(p: LineParser): number | undefined {
  for (let k = 0; p.peek(k); k++) {
    if (p.isWord('op', k) && p.isPunct('=', k + 1)) {
      const v = p.peek(k + 2)!;
      if (v?.k === 'num') return Number(v.n!);
      if (v?.k === 'word') return fieldSymbols('IOMMU_TEST_CMD', 'op')?.syms[v.s] ?? enumConstant(v.s) ?? enumConstant(`IOMMU_TEST_OP_${v.s}`);
    }
  }
  return undefined;
}

function parseIoctl(p: LineParser, who: string, pos: Pos): IoctlStmt {
  const t = p.next()!;
  let spec: IoctlSpec | undefined;
  let cmd: number;
  if (t.k === 'num') {
    cmd = Number(t.n! & 0xffffffffn);
    spec = ioctlSpecByCmd(cmd);
  } else {
    spec = ioctlSpec(t.s);
    if (!spec) p.fail(t, `unknown ioctl '${t.s}' (a name like IOMMU_IOAS_MAP, or a request number like 0x3b85)`);
    cmd = spec.cmd;
  }
  let leaves = spec ? leavesOf(spec.layout) : [];
  let primaryOut = spec?.primaryOut;
  if (spec?.name === 'IOMMU_TEST_CMD') {
    const op = testOpOf(p);
    if (op !== undefined) {
      const v = testCmdView(op);
      leaves = leavesOf(v.layout);
      primaryOut = v.primaryOut;
    }
  }
  const what = spec?.name ?? `request 0x${cmd.toString(16)}`;
  const st: IoctlStmt = { op: 'ioctl', who, spec, leaves, cmd, on: undefined, fields: [], bytes: undefined, tail: undefined, raw: undefined, saves: [], expect: undefined, pos };
  while (!p.done()) {
    const k = p.peek()!;
    if (k.k === 'word' && k.s === 'on') {
      p.next();
      const f = p.peek();
      st.on = f?.k === 'var' || f?.k === 'num' || (f?.k === 'punct' && f.s === '-') ? p.expr() : p.ident('an fd name after on').s;
      continue;
    }
    if (k.k === 'meta') {
      p.next();
      p.punct('=');
      if (k.s === 'bytes') st.bytes = p.expr();
      else if (k.s === 'tail') st.tail = p.bytesValue();
      else if (k.s === 'raw') st.raw = p.bytesValue();
      else if (k.s === 'cmd') {
        // the named struct under another request value (a fuzzer's mutated request)
        const n = p.next();
        if (n?.k !== 'num') p.fail(n, '@cmd= takes a number');
        st.cmd = Number(n.n! & 0xffffffffn);
      } else p.fail(k, `unknown option '@${k.s}' (@bytes, @tail, @raw, @cmd)`);
      continue;
    }
    if (k.k === 'punct' && k.s === '->') {
      p.next();
      for (;;) {
        const n = p.ident('a variable name after ->');
        if (p.isPunct('=')) {
          p.next();
          const f = p.next();
          if (f?.k !== 'word') p.fail(f, 'expected a field name');
          st.saves.push({ name: n.s, leaf: leafByName(p, leaves, f, what), pos: p.pos(n) });
        } else {
          const l = primaryOut && leaves.find((x) => x.path === primaryOut);
          if (!l) p.fail(n, `${what} has no default out-field; name one: -> ${n.s}=FIELD`);
          st.saves.push({ name: n.s, leaf: l, pos: p.pos(n) });
        }
        if (!p.isPunct(',')) break;
        p.next();
      }
      continue;
    }
    if (k.k === 'word' && k.s === 'expect') {
      const e = p.expectErrnos();
      const fields: Expect['fields'] = [];
      while (!p.done()) {
        const n = p.next()!;
        if (n.k !== 'word') p.fail(n, `expected field=value after expect`);
        const leaf = leafByName(p, leaves, n, what);
        p.punct('=');
        fields.push({ leaf, value: p.expr(), pos: p.pos(n) });
      }
      st.expect = { ...e, fields };
      continue;
    }
    if (k.k === 'word') {
      p.next();
      if (!spec) p.fail(k, `request 0x${cmd.toString(16)} has no known struct: pass its bytes with @raw=hex:…`);
      const leaf = leafByName(p, leaves, k, what);
      p.punct('=');
      const v = p.peek();
      const value = v?.k === 'bytes' || v?.k === 'str' ? p.bytesValue() : p.expr();
      if (value instanceof Uint8Array && leaf.type !== 'bytes') p.fail(v, `field '${leaf.path}' is a number, not bytes`);
      if (!(value instanceof Uint8Array)) checkSymbols(p, spec.name, leaf, value);
      st.fields.push({ leaf, value, pos: p.pos(k) });
      continue;
    }
    p.fail(k, `unexpected '${k.s}' in ${what} (expected field=value, on FD, @bytes=/@tail=/@raw=, -> NAME or expect)`);
  }
  return st;
}

/** A symbol must mean something for this field (or be a full enum constant name). */
function checkSymbols(p: LineParser, ioctl: string, leaf: Leaf, e: Expr): void {
  const s = fieldSymbols(ioctl, leaf.path);
  for (const t of e.terms) {
    if (t.k !== 'sym') continue;
    if (s?.syms[t.name] !== undefined || enumConstant(t.name) !== undefined) continue;
    const known = s ? ` (${leaf.path}: ${Object.keys(s.syms).join(', ')})` : '';
    throw new ScenarioError(p.file, t.pos, `unknown symbol '${t.name}' for ${ioctl}.${leaf.path}${known}`);
  }
}

function parseDma(p: LineParser, pos: Pos, who: string | undefined): Stmt {
  const dev = p.ident('a device name (dev0…)').s;
  const accesses: DmaAccess[] = [];
  for (;;) {
    const dir = p.ident("'read' or 'write'");
    if (dir.s !== 'read' && dir.s !== 'write') p.fail(dir, `expected 'read' or 'write', found '${dir.s}'`);
    const iova = p.expr();
    const length = p.expr();
    const o = p.options({ pasid: 'expr', data: 'bytes' });
    accesses.push({ write: dir.s === 'write', iova, length, pasid: o.pasid?.v as Expr | undefined, data: o.data?.v as Uint8Array | undefined });
    if (!p.isPunct(',')) break;
    p.next();
  }
  let expect: string[] | undefined;
  let expectData: Uint8Array | undefined;
  if (p.isWord('expect')) {
    p.next();
    expect = [];
    for (;;) {
      const w = p.ident("'ok', 'fault' or a fault kind");
      // a lane's thread hears only 0 or EFAULT (the dma system call), not which fault
      if (who !== undefined && w.s !== 'ok' && w.s !== 'fault') p.fail(w, `a lane's dma can expect ok or fault, not '${w.s}' (the thread learns only whether an access faulted)`);
      expect.push(w.s);
      if (!p.isPunct('|')) break;
      p.next();
    }
    if (p.isWord('data')) {
      if (who !== undefined) p.fail(p.peek(), "a lane's dma cannot expect data (its thread does not see the bytes)");
      p.next();
      p.punct('=');
      expectData = p.bytesValue();
    }
  }
  p.end();
  return { op: 'dma', ...(who !== undefined ? { who } : {}), dev, accesses, expect, expectData, pos };
}

/**
 * What a lane statement's `expect` allows its thread to get back, as errnos
 * (0 = ok): a lane's dma returns 0 or EFAULT (the dma system call).
 */
export function laneErrnos(s: Stmt): number[] {
  if (s.op === 'dma') return (s.expect ?? []).map((w) => (w === 'ok' ? 0 : EFAULT));
  return (s as { expect?: { errnos: number[] } }).expect?.errnos ?? [];
}

/** `NAME = PROC` at the start of mmap/memfd/open. */
function binding(p: LineParser): { name: string; who: string } {
  const name = p.ident('a name').s;
  p.punct('=');
  return { name, who: p.ident('a process or thread name').s };
}

function optionalExpect(p: LineParser): Expect | undefined {
  if (!p.isWord('expect')) return undefined;
  const e = p.expectErrnos();
  return { ...e, fields: [] };
}

function parseAction(p: LineParser, who: string | undefined, pos: Pos, inParallel: boolean): Stmt {
  const head = p.peek()!;
  if (who !== undefined && (head.k === 'num' || (head.k === 'word' && /^[A-Z]/.test(head.s)))) return parseIoctl(p, who, pos);
  if (head.k !== 'word') p.fail(head, `expected a statement but found '${head.s}'`);
  const kw = p.next()!.s;
  const needWho = (): string => who ?? p.ident('a process or thread name').s;
  const laneOk = ['close', 'munmap', 'poke', 'dma'];
  if (inParallel && !laneOk.includes(kw)) p.fail(head, `'${kw}' cannot run inside parallel { } (lanes run ioctls, close, munmap, poke, dma)`);
  switch (kw) {
    case 'proc': {
      const name = p.ident('a process name').s;
      const o = p.options({ uid: 'expr', memlock: 'expr', ipc_lock: 'flag', sys_resource: 'flag' });
      p.end();
      return { op: 'proc', name, uid: o.uid?.v as Expr, memlock: o.memlock?.v as Expr, ipcLock: !!o.ipc_lock, sysResource: !!o.sys_resource, pos };
    }
    case 'thread': {
      const name = p.ident('a thread name').s;
      const of = p.ident("'of'");
      if (of.s !== 'of') p.fail(of, "expected 'of PROC'");
      const proc = p.ident('a process name').s;
      p.end();
      return { op: 'thread', name, proc, pos };
    }
    case 'mmap': {
      const b = binding(p);
      const length = p.expr();
      let prot = PROTS.rw!;
      if (p.peek()?.k === 'word' && PROTS[p.peek()!.s] !== undefined) prot = PROTS[p.next()!.s]!;
      const o = p.options({ at: 'expr', memfd: 'word', offset: 'expr', shared: 'flag', prot: 'expr' });
      p.end();
      if (o.prot) {
        const e = o.prot.v as Expr;
        if (e.terms.length !== 1 || e.terms[0]!.k !== 'num') p.fail(o.prot.t, 'prot= takes a number');
        prot = Number((e.terms[0] as { v: bigint }).v);
      }
      return { op: 'mmap', ...b, length, prot, addr: o.at?.v as Expr, memfd: o.memfd?.v as string, offset: o.offset?.v as Expr, shared: !!o.shared, pos };
    }
    case 'memfd': {
      const b = binding(p);
      const size = p.expr();
      p.end();
      return { op: 'memfd', ...b, size, pos };
    }
    case 'munmap':
    case 'mprotect': {
      const w = needWho();
      const addr = p.expr();
      const length = p.expr();
      if (kw === 'munmap') {
        p.end();
        return { op: 'munmap', who: w, addr, length, pos };
      }
      const pt = p.ident('r, rw or none');
      const prot = PROTS[pt.s];
      if (prot === undefined) p.fail(pt, `expected r, rw, w or none, found '${pt.s}'`);
      p.end();
      return { op: 'mprotect', who: w, addr, length, prot, pos };
    }
    case 'open': {
      const b = binding(p);
      const t = p.next();
      let path: string;
      if (t?.k === 'path') path = t.s;
      else if (t?.k === 'word' && /^vfio\d+$/.test(t.s)) path = `/dev/vfio/devices/${t.s}`;
      else if (t?.k === 'word' && t.s === 'iommufd') path = '/dev/iommu';
      else p.fail(t, 'expected a path (/dev/iommu, /dev/vfio/devices/vfio0) or iommufd / vfioN');
      const expect = optionalExpect(p);
      p.end();
      return { op: 'open', ...b, path, expect, pos };
    }
    case 'close': {
      let fd: string | Expr;
      const t = p.peek();
      let w = who;
      if (t?.k === 'word' && (p.peek(1)?.k === 'var' || p.peek(1)?.k === 'num')) {
        w = p.next()!.s;
        fd = p.expr();
      } else if (t?.k === 'var' || t?.k === 'num') fd = p.expr();
      else fd = p.ident('an fd name').s;
      const expect = optionalExpect(p);
      p.end();
      return { op: 'close', who: w, fd, expect, pos };
    }
    case 'let': {
      const name = p.ident('a variable name').s;
      p.punct('=');
      const value = p.expr();
      p.end();
      return { op: 'let', name, value, pos };
    }
    case 'poke': {
      const w = needWho();
      const addr = p.expr();
      const data = p.bytesValue();
      p.end();
      return { op: 'poke', who: w, addr, data, pos };
    }
    case 'peek': {
      const w = needWho();
      const addr = p.expr();
      const length = p.expr();
      let expect: Uint8Array | undefined;
      if (p.isWord('expect')) {
        p.next();
        expect = p.bytesValue();
      }
      p.end();
      return { op: 'peek', who: w, addr, length, expect, pos };
    }
    case 'dma':
      // outside a lane, a dma line is the device's own burst; a thread starts one only inside parallel { }
      if (who !== undefined && !inParallel) p.fail(head, `'${who}: dma' is for parallel lanes; outside one write 'dma DEV …' (the device's own burst)`);
      return parseDma(p, pos, who);
    case 'read':
    case 'write': {
      const w = needWho();
      const t = p.peek();
      const fd: string | Expr = t?.k === 'var' || t?.k === 'num' ? p.expr() : p.ident('an fd name or $variable').s;
      const buf = p.expr();
      const length = p.expr();
      const expect = optionalExpect(p);
      p.end();
      return { op: kw, who: w, fd, buf, length, expect, pos };
    }
    case 'sva': {
      const act = p.ident('bind, unbind or submit');
      if (act.s !== 'bind' && act.s !== 'unbind' && act.s !== 'submit') p.fail(act, `expected bind, unbind or submit, found '${act.s}'`);
      const w = needWho();
      const dev = p.ident('a device of the topology').s;
      let write = false;
      let addr: Expr | undefined;
      let length: Expr | undefined;
      if (act.s === 'submit') {
        const dir = p.ident('read or write');
        if (dir.s !== 'read' && dir.s !== 'write') p.fail(dir, `expected read or write, found '${dir.s}'`);
        write = dir.s === 'write';
        addr = p.expr();
        length = p.expr();
      }
      const expect = optionalExpect(p);
      p.end();
      return { op: 'sva', action: act.s as 'bind' | 'unbind' | 'submit', who: w, dev, write, addr, length, expect, pos };
    }
    case 'exit': {
      const w = needWho();
      p.end();
      return { op: 'exit', who: w, pos };
    }
    default:
      p.fail(head, `unknown statement '${kw}' (proc, thread, mmap, memfd, munmap, mprotect, open, close, let, poke, peek, read, write, dma, sva, exit, parallel, or WHO: IOCTL …)`);
  }
}

export function parseScenario(text: string, file = 'scenario'): Program {
  const lines = text.split('\n');
  const top: Stmt[] = [];
  let block: { body: Stmt[]; pos: Pos } | null = null;
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!;
    const toks = new Lexer(file, n + 1).lex(raw);
    if (!toks.length) continue;
    const p = new LineParser(file, n + 1, toks, raw.trimEnd().length + 1);
    const first = toks[0]!;
    const pos = p.pos(first);
    if (first.k === 'word' && first.s === 'parallel') {
      p.next();
      p.punct('{');
      p.end();
      if (block) p.fail(first, 'parallel blocks do not nest');
      block = { body: [], pos };
      continue;
    }
    if (first.k === 'punct' && first.s === '}') {
      p.next();
      p.end();
      const b = block as { body: Stmt[]; pos: Pos } | null;
      if (b === null) return p.fail(first, "'}' without a parallel block");
      if (!b.body.length) p.fail(first, 'empty parallel block');
      top.push({ op: 'parallel', body: b.body, pos: b.pos });
      block = null;
      continue;
    }
    let who: string | undefined;
    if (first.k === 'word' && p.isPunct(':', 1)) {
      who = p.ident('a process or thread name').s;
      p.next();
      if (p.done()) p.fail(undefined, `expected an action after '${who}:'`);
    } else if (block) p.fail(first, 'inside parallel { } every line is LANE: action');
    const st = parseAction(p, who, pos, block !== null);
    (block ? block.body : top).push(st);
  }
  if (block) throw new ScenarioError(file, block.pos, "parallel block is not closed with '}'");
  return { file, stmts: top };
}
