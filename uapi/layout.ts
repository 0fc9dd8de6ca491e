/**
 * A tiny declarative struct-layout system for the kernel ABI.
 *
 * A layout is plain data (name, size, alignment, fields at explicit offsets),
 * so the table in structs.ts reads like the spec's offset tables and can be
 * checked mechanically (layoutProblems).  decode/encode walk the field list
 * with one DataView per call; nothing is allocated per field except the
 * values themselves.  All values are little-endian, as on every host the
 * simulator models (x86-64, arm64).
 */

export type ScalarType = 'u8' | 'u16' | 'u32' | 's32' | 'u64';

interface FieldBase<N extends string> {
  readonly name: N;
  readonly offset: number;
  /**
   * Other names of the same storage: a C anonymous union of identically typed
   * members (e.g. iommu_hw_info's in_data_type / out_data_type).
   */
  readonly aliases?: readonly string[];
}

export interface ScalarField<N extends string = string, T extends ScalarType = ScalarType> extends FieldBase<N> {
  readonly type: T;
}

export interface BytesField<N extends string = string> extends FieldBase<N> {
  readonly type: 'bytes';
  readonly length: number;
}

export interface ArrayField<N extends string = string, E extends ScalarType | AnyLayout = ScalarType | AnyLayout>
  extends FieldBase<N> {
  readonly type: 'array';
  readonly of: E;
  readonly count: number;
}

/** An embedded struct, e.g. one member of iommu_test_cmd's per-op union: decodes to a nested object. */
export interface StructField<N extends string = string, L extends AnyLayout = AnyLayout> extends FieldBase<N> {
  readonly type: 'struct';
  readonly of: L;
}

export type Field = ScalarField | BytesField | ArrayField | StructField;

export interface Layout<N extends string = string, F extends readonly Field[] = readonly Field[]> {
  readonly name: N;
  readonly size: number;
  readonly align: number;
  readonly fields: F;
  /** True if some field has aliases: keeps the alias work off the common path. */
  readonly hasAliases: boolean;
}

// Structural "any layout" so sub-struct arrays can nest layouts of any field list.
export interface AnyLayout {
  readonly name: string;
  readonly size: number;
  readonly align: number;
  readonly fields: readonly Field[];
  readonly hasAliases: boolean;
}

// ---------------------------------------------------------------- value types

type ScalarValue<T> = T extends 'u64' ? bigint : number;
type ScalarInput<T> = T extends 'u64' ? bigint | number : number;

type AliasNames<F> = F extends { readonly aliases: readonly (infer A)[] } ? A & string : never;

export type FieldValue<F> = F extends { readonly type: 'bytes' }
  ? Uint8Array
  : F extends { readonly type: 'array'; readonly of: infer E }
    ? E extends ScalarType
      ? ScalarValue<E>[]
      : E extends Layout<string, infer SF>
        ? DecodedFields<SF>[]
        : never
    : F extends { readonly type: 'struct'; readonly of: Layout<string, infer SF> }
      ? DecodedFields<SF>
      : F extends { readonly type: infer T }
        ? ScalarValue<T>
        : never;

export type FieldInput<F> = F extends { readonly type: 'bytes' }
  ? Uint8Array
  : F extends { readonly type: 'array'; readonly of: infer E }
    ? E extends ScalarType
      ? readonly ScalarInput<E>[]
      : E extends Layout<string, infer SF>
        ? readonly InputFields<SF>[]
        : never
    : F extends { readonly type: 'struct'; readonly of: Layout<string, infer SF> }
      ? InputFields<SF>
      : F extends { readonly type: infer T }
        ? ScalarInput<T>
        : never;

export type DecodedFields<F extends readonly Field[]> = {
  [K in F[number] as K['name']]: FieldValue<K>;
} & {
  [K in F[number] as AliasNames<K>]: FieldValue<K>;
};

export type InputFields<F extends readonly Field[]> = {
  [K in F[number] as K['name']]?: FieldInput<K>;
} & {
  [K in F[number] as AliasNames<K>]?: FieldInput<K>;
};

/** The object decode() returns for a layout: u64 fields as bigint, other scalars as number. */
export type Decoded<L> = L extends Layout<string, infer F> ? DecodedFields<F> : never;
/** What encode() accepts: any subset of the fields; u64 also as a (safe-integer) number. */
export type EncodeInput<L> = L extends Layout<string, infer F> ? InputFields<F> : never;

// ---------------------------------------------------------------- definition helpers

type Aliases = readonly string[];

function scalar<const N extends string, T extends ScalarType>(
  type: T,
  name: N,
  offset: number,
  aliases?: Aliases,
): ScalarField<N, T> {
  return aliases === undefined ? { name, offset, type } : { name, offset, type, aliases };
}

export const u8 = <const N extends string>(name: N, offset: number): ScalarField<N, 'u8'> =>
  scalar('u8', name, offset);
export const u16 = <const N extends string>(name: N, offset: number): ScalarField<N, 'u16'> =>
  scalar('u16', name, offset);
export function u32<const N extends string>(name: N, offset: number): ScalarField<N, 'u32'>;
export function u32<const N extends string, const A extends Aliases>(
  name: N,
  offset: number,
  aliases: A,
): ScalarField<N, 'u32'> & { readonly aliases: A };
export function u32(name: string, offset: number, aliases?: Aliases): ScalarField<string, 'u32'> {
  return scalar('u32', name, offset, aliases);
}
export const s32 = <const N extends string>(name: N, offset: number): ScalarField<N, 's32'> =>
  scalar('s32', name, offset);
export const u64 = <const N extends string>(name: N, offset: number): ScalarField<N, 'u64'> =>
  scalar('u64', name, offset);

export const bytes = <const N extends string>(name: N, offset: number, length: number): BytesField<N> => ({
  name,
  offset,
  type: 'bytes',
  length,
});

export const array = <const N extends string, const E extends ScalarType | AnyLayout>(
  name: N,
  offset: number,
  of: E,
  count: number,
): ArrayField<N, E> => ({ name, offset, type: 'array', of, count });

export const embed = <const N extends string, const L extends AnyLayout>(
  name: N,
  offset: number,
  of: L,
): StructField<N, L> => ({ name, offset, type: 'struct', of });

/**
 * Define a struct.  Alignment defaults to the largest natural alignment of its
 * fields; pass it when the C struct is more aligned than its visible fields
 * (a union stored as bytes, `__aligned_u64` inside it).
 */
export function struct<const N extends string, const F extends readonly Field[]>(
  name: N,
  size: number,
  fields: F,
  align?: number,
): Layout<N, F> {
  for (const f of fields) {
    if (!Number.isSafeInteger(f.offset) || f.offset < 0) throw new Error(`${name}.${f.name}: bad offset ${f.offset}`);
  }
  return {
    name,
    size,
    align: align ?? Math.max(1, ...fields.map(fieldAlign)),
    fields,
    hasAliases: fields.some((f) => f.aliases !== undefined && f.aliases.length > 0),
  };
}

// ---------------------------------------------------------------- geometry

const SCALAR_SIZE: Readonly<Record<ScalarType, number>> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8 };

function elementSize(of: ScalarType | AnyLayout): number {
  return typeof of === 'string' ? SCALAR_SIZE[of] : of.size;
}

function elementAlign(of: ScalarType | AnyLayout): number {
  return typeof of === 'string' ? SCALAR_SIZE[of] : of.align;
}

export function fieldSize(f: Field): number {
  switch (f.type) {
    case 'bytes':
      return f.length;
    case 'array':
      return f.count * elementSize(f.of);
    case 'struct':
      return f.of.size;
    default:
      return SCALAR_SIZE[f.type];
  }
}

export function fieldAlign(f: Field): number {
  switch (f.type) {
    case 'bytes':
      return 1;
    case 'array':
      return elementAlign(f.of);
    case 'struct':
      return f.of.align;
    default:
      return SCALAR_SIZE[f.type];
  }
}

export function sizeOf(layout: AnyLayout): number {
  return layout.size;
}

export function fieldOf(layout: AnyLayout, name: string): Field {
  const f = layout.fields.find((x) => x.name === name || (x.aliases?.includes(name) ?? false));
  if (f === undefined) throw new Error(`${layout.name} has no field ${name}`);
  return f;
}

export function offsetOf(layout: AnyLayout, name: string): number {
  return fieldOf(layout, name).offset;
}

/** C `offsetofend()`: how the kernel tables spell minimum sizes. */
export function offsetofend(layout: AnyLayout, name: string): number {
  const f = fieldOf(layout, name);
  return f.offset + fieldSize(f);
}

// ---------------------------------------------------------------- decode

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/*
 * Structs up to SCRATCH's size are copied into one module-level buffer and
 * read or written through its DataView: constructing a DataView costs more
 * (a few hundred ns) than copying an ioctl struct in and out, and every
 * ioctl decodes and encodes several.  Codecs never call back into user
 * code, so nothing else uses SCRATCH while one of them runs.
 */
const SCRATCH = new Uint8Array(4096);
const SCRATCH_DV = new DataView(SCRATCH.buffer);

function copyIn(bytes: Uint8Array, offset: number, n: number): void {
  if (n <= 64) for (let i = 0; i < n; i++) SCRATCH[i] = bytes[offset + i]!;
  else SCRATCH.set(bytes.subarray(offset, offset + n));
}

function copyOut(bytes: Uint8Array, offset: number, n: number): void {
  if (n <= 64) for (let i = 0; i < n; i++) bytes[offset + i] = SCRATCH[i]!;
  else bytes.set(SCRATCH.subarray(0, n), offset);
}

function checkRoom(layout: AnyLayout, bytes: Uint8Array, offset: number, count = 1): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + layout.size * count > bytes.length) {
    throw new RangeError(
      `${layout.name}: ${layout.size * count} bytes at offset ${offset} do not fit in ${bytes.length}`,
    );
  }
}

function readScalar(dv: DataView, type: ScalarType, at: number): number | bigint {
  switch (type) {
    case 'u8':
      return dv.getUint8(at);
    case 'u16':
      return dv.getUint16(at, true);
    case 'u32':
      return dv.getUint32(at, true);
    case 's32':
      return dv.getInt32(at, true);
    case 'u64':
      return dv.getBigUint64(at, true);
  }
}

function readArray(dv: DataView, bytes: Uint8Array, f: ArrayField, at: number): unknown[] {
  const out = new Array<unknown>(f.count);
  const of = f.of;
  const step = elementSize(of);
  for (let i = 0; i < f.count; i++) {
    out[i] = typeof of === 'string' ? readScalar(dv, of, at + i * step) : decodeAt(of, dv, bytes, at + i * step);
  }
  return out;
}

function readField(dv: DataView, bytes: Uint8Array, f: Field, at: number): unknown {
  switch (f.type) {
    case 'bytes':
      return bytes.slice(at, at + f.length);
    case 'array':
      return readArray(dv, bytes, f, at);
    case 'struct':
      return decodeAt(f.of, dv, bytes, at);
    default:
      return readScalar(dv, f.type, at);
  }
}

/** Reference decoder: the compiled codec below must agree with it byte for byte (tested). */
export function interpretDecode(layout: AnyLayout, dv: DataView, bytes: Uint8Array, base: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = layout.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = readField(dv, bytes, f, base + f.offset);
    out[f.name] = v;
    if (layout.hasAliases && f.aliases !== undefined) {
      for (const a of f.aliases) out[a] = v;
    }
  }
  return out;
}

/** Read a struct from `bytes` at `offset`; throws RangeError if it does not fit (a caller bug, not a user error). */
export function decode<L extends AnyLayout>(layout: L, bytes: Uint8Array, offset = 0): Decoded<L> {
  checkRoom(layout, bytes, offset);
  if (layout.size > SCRATCH.length) return decodeAt(layout, view(bytes), bytes, offset) as Decoded<L>;
  copyIn(bytes, offset, layout.size);
  return decodeAt(layout, SCRATCH_DV, SCRATCH, 0) as Decoded<L>;
}

/** Read `count` consecutive structs (a user array such as iommu_iova_range[]). */
export function decodeArray<L extends AnyLayout>(layout: L, bytes: Uint8Array, count: number, offset = 0): Decoded<L>[] {
  checkRoom(layout, bytes, offset, count);
  const out = new Array<Decoded<L>>(count);
  const n = layout.size * count;
  if (n <= SCRATCH.length) {
    copyIn(bytes, offset, n);
    for (let i = 0; i < count; i++) out[i] = decodeAt(layout, SCRATCH_DV, SCRATCH, i * layout.size) as Decoded<L>;
    return out;
  }
  const dv = view(bytes);
  for (let i = 0; i < count; i++) out[i] = decodeAt(layout, dv, bytes, offset + i * layout.size) as Decoded<L>;
  return out;
}

// ---------------------------------------------------------------- encode

function writeScalar(dv: DataView, type: ScalarType, at: number, v: unknown): void {
  switch (type) {
    case 'u8':
      dv.setUint8(at, v as number);
      return;
    case 'u16':
      dv.setUint16(at, v as number, true);
      return;
    case 'u32':
      dv.setUint32(at, v as number, true);
      return;
    case 's32':
      dv.setInt32(at, v as number, true);
      return;
    case 'u64':
      // BigInt() throws on a non-integer number: better than silently storing garbage.
      dv.setBigUint64(at, typeof v === 'bigint' ? v : BigInt(v as number), true);
      return;
  }
}

function writeBytes(bytes: Uint8Array, f: BytesField, at: number, v: unknown): void {
  if (!(v instanceof Uint8Array) || v.length > f.length) {
    throw new RangeError(`${f.name}: expected a Uint8Array of at most ${f.length} bytes`);
  }
  bytes.set(v, at);
}

function writeArray(dv: DataView, bytes: Uint8Array, f: ArrayField, at: number, v: unknown): void {
  const items = v as ArrayLike<unknown>;
  const of = f.of;
  const step = elementSize(of);
  const n = Math.min(f.count, items.length);
  for (let i = 0; i < n; i++) {
    const item = items[i];
    if (item === undefined) continue;
    if (typeof of === 'string') writeScalar(dv, of, at + i * step, item);
    else encodeAt(of, dv, bytes, at + i * step, item as Record<string, unknown>);
  }
}

function valueFor(f: Field, obj: Record<string, unknown>): unknown {
  const v = obj[f.name];
  if (v !== undefined || f.aliases === undefined) return v;
  for (const a of f.aliases) if (obj[a] !== undefined) return obj[a];
  return undefined;
}

/** Reference encoder, see interpretDecode. */
export function interpretEncode(
  layout: AnyLayout,
  dv: DataView,
  bytes: Uint8Array,
  base: number,
  obj: Record<string, unknown>,
): void {
  const fields = layout.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = layout.hasAliases ? valueFor(f, obj) : obj[f.name];
    if (v === undefined) continue;
    const at = base + f.offset;
    if (f.type === 'bytes') writeBytes(bytes, f, at, v);
    else if (f.type === 'array') writeArray(dv, bytes, f, at, v);
    else if (f.type === 'struct') encodeAt(f.of, dv, bytes, at, v as Record<string, unknown>);
    else writeScalar(dv, f.type, at, v);
  }
}

/**
 * Write the fields present in `obj` into `bytes` at `offset`, leaving every
 * other byte untouched: handlers fill only their out-fields into the kernel
 * copy.  Numbers are truncated to the field width as a C store would.
 */
export function encode<L extends AnyLayout>(layout: L, obj: EncodeInput<L>, bytes: Uint8Array, offset = 0): void {
  checkRoom(layout, bytes, offset);
  if (layout.size > SCRATCH.length) return encodeAt(layout, view(bytes), bytes, offset, obj as Record<string, unknown>);
  // through SCRATCH: a field that fails to encode leaves `bytes` as it was
  copyIn(bytes, offset, layout.size);
  encodeAt(layout, SCRATCH_DV, SCRATCH, 0, obj as Record<string, unknown>);
  copyOut(bytes, offset, layout.size);
}

export function encodeArray<L extends AnyLayout>(
  layout: L,
  items: readonly EncodeInput<L>[],
  bytes: Uint8Array,
  offset = 0,
): void {
  checkRoom(layout, bytes, offset, items.length);
  const n = layout.size * items.length;
  if (n <= SCRATCH.length) {
    copyIn(bytes, offset, n);
    for (let i = 0; i < items.length; i++) encodeAt(layout, SCRATCH_DV, SCRATCH, i * layout.size, items[i] as Record<string, unknown>);
    copyOut(bytes, offset, n);
    return;
  }
  const dv = view(bytes);
  for (let i = 0; i < items.length; i++) {
    encodeAt(layout, dv, bytes, offset + i * layout.size, items[i] as Record<string, unknown>);
  }
}

/** A fresh zeroed struct with `obj` encoded into it: how a client builds an ioctl argument. */
export function pack<L extends AnyLayout>(layout: L, obj: EncodeInput<L>): Uint8Array {
  const out = new Uint8Array(layout.size);
  if (layout.size > SCRATCH.length) {
    encodeAt(layout, view(out), out, 0, obj as Record<string, unknown>);
    return out;
  }
  SCRATCH.fill(0, 0, layout.size);
  encodeAt(layout, SCRATCH_DV, SCRATCH, 0, obj as Record<string, unknown>);
  copyOut(out, 0, layout.size);
  return out;
}

// ---------------------------------------------------------------- compiled codecs
//
// The interpreter above costs a keyed (megamorphic) property access and a
// type switch per field.  Each layout is therefore compiled once, on first
// use, into a straight-line function that builds the result as one object
// literal (a single hidden class per layout) and stores fields in order.  The
// generated source contains only integer offsets checked by struct() and
// JSON-quoted field names.

interface Codec {
  readonly decode: (dv: DataView, bytes: Uint8Array, base: number) => Record<string, unknown>;
  readonly encode: (dv: DataView, bytes: Uint8Array, base: number, obj: Record<string, unknown>) => void;
}

const CODECS = new WeakMap<AnyLayout, Codec>();

const HELPERS = {
  readArray: (dv: DataView, bytes: Uint8Array, f: ArrayField, at: number) => readArray(dv, bytes, f, at),
  writeArray: (dv: DataView, bytes: Uint8Array, f: ArrayField, at: number, v: unknown) => writeArray(dv, bytes, f, at, v),
  writeBytes: (bytes: Uint8Array, f: BytesField, at: number, v: unknown) => writeBytes(bytes, f, at, v),
  decodeAt: (l: AnyLayout, dv: DataView, bytes: Uint8Array, at: number) => decodeAt(l, dv, bytes, at),
  encodeAt: (l: AnyLayout, dv: DataView, bytes: Uint8Array, at: number, v: unknown) =>
    encodeAt(l, dv, bytes, at, v as Record<string, unknown>),
};

const GETTER: Readonly<Record<ScalarType, string>> = {
  u8: 'getUint8', u16: 'getUint16', u32: 'getUint32', s32: 'getInt32', u64: 'getBigUint64',
};
const SETTER: Readonly<Record<ScalarType, string>> = {
  u8: 'setUint8', u16: 'setUint16', u32: 'setUint32', s32: 'setInt32', u64: 'setBigUint64',
};

function readExpr(f: Field, i: number): string {
  const at = `base + ${f.offset}`;
  switch (f.type) {
    case 'bytes':
      return `bytes.slice(${at}, ${at} + ${f.length})`;
    case 'array':
      return `h.readArray(dv, bytes, F[${i}], ${at})`;
    case 'struct':
      return `h.decodeAt(F[${i}].of, dv, bytes, ${at})`;
    default:
      return f.type === 'u8' ? `dv.getUint8(${at})` : `dv.${GETTER[f.type]}(${at}, true)`;
  }
}

function writeStmt(f: Field, i: number): string {
  const at = `base + ${f.offset}`;
  switch (f.type) {
    case 'bytes':
      return `h.writeBytes(bytes, F[${i}], ${at}, v);`;
    case 'array':
      return `h.writeArray(dv, bytes, F[${i}], ${at}, v);`;
    case 'struct':
      return `h.encodeAt(F[${i}].of, dv, bytes, ${at}, v);`;
    case 'u8':
      return `dv.setUint8(${at}, v);`;
    case 'u64':
      return `dv.setBigUint64(${at}, typeof v === 'bigint' ? v : BigInt(v), true);`;
    default:
      return `dv.${SETTER[f.type]}(${at}, v, true);`;
  }
}

function namesOf(f: Field): string[] {
  return [f.name, ...(f.aliases ?? [])];
}

function compileDecode(layout: AnyLayout): Codec['decode'] {
  const lines = layout.fields.map((f, i) => `const v${i} = ${readExpr(f, i)};`);
  const props = layout.fields.flatMap((f, i) => namesOf(f).map((n) => `${JSON.stringify(n)}: v${i}`));
  const src = `return function decode(dv, bytes, base) {\n${lines.join('\n')}\nreturn { ${props.join(', ')} };\n};`;
  return new Function('h', 'F', src)(HELPERS, layout.fields) as Codec['decode'];
}

function compileEncode(layout: AnyLayout): Codec['encode'] {
  const lines = layout.fields.map((f, i) => {
    const [first, ...aliases] = namesOf(f).map((n) => JSON.stringify(n));
    const fallbacks = aliases.map((a) => `if (v === undefined) v = o[${a}];`).join(' ');
    return `v = o[${first}]; ${fallbacks} if (v !== undefined) ${writeStmt(f, i)}`;
  });
  const src = `return function encode(dv, bytes, base, o) {\nlet v;\n${lines.join('\n')}\n};`;
  return new Function('h', 'F', src)(HELPERS, layout.fields) as Codec['encode'];
}

function codecOf(layout: AnyLayout): Codec {
  let c = CODECS.get(layout);
  if (c === undefined) {
    c = { decode: compileDecode(layout), encode: compileEncode(layout) };
    CODECS.set(layout, c);
  }
  return c;
}

function decodeAt(layout: AnyLayout, dv: DataView, bytes: Uint8Array, base: number): Record<string, unknown> {
  return codecOf(layout).decode(dv, bytes, base);
}

function encodeAt(layout: AnyLayout, dv: DataView, bytes: Uint8Array, base: number, obj: Record<string, unknown>): void {
  codecOf(layout).encode(dv, bytes, base, obj);
}

// ---------------------------------------------------------------- self-check

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function fieldProblems(layout: AnyLayout, f: Field): string[] {
  const out: string[] = [];
  const size = fieldSize(f);
  if (!Number.isInteger(f.offset) || f.offset < 0) out.push(`${f.name}: bad offset ${f.offset}`);
  if (size <= 0) out.push(`${f.name}: empty field`);
  if (f.offset + size > layout.size) out.push(`${f.name}: ends at ${f.offset + size} beyond size ${layout.size}`);
  if (f.offset % fieldAlign(f) !== 0) out.push(`${f.name}: offset ${f.offset} not ${fieldAlign(f)}-aligned`);
  if (f.type === 'array' && typeof f.of !== 'string') {
    out.push(...layoutProblems(f.of).map((p) => `${f.name}[]: ${p}`));
  }
  if (f.type === 'struct') out.push(...layoutProblems(f.of).map((p) => `${f.name}: ${p}`));
  return out;
}

function overlapProblems(layout: AnyLayout): string[] {
  const out: string[] = [];
  const sorted = [...layout.fields].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (prev.offset + fieldSize(prev) > cur.offset) out.push(`${cur.name} overlaps ${prev.name}`);
  }
  return out;
}

function nameProblems(layout: AnyLayout): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of layout.fields) {
    for (const n of [f.name, ...(f.aliases ?? [])]) {
      if (seen.has(n)) out.push(`duplicate field name ${n}`);
      seen.add(n);
    }
  }
  return out;
}

/**
 * Everything wrong with a layout as C would lay it out: fields outside the
 * struct, overlapping or misaligned fields, a size that is not a multiple of
 * the alignment.  Empty means the layout is plausible ABI.
 */
export function layoutProblems(layout: AnyLayout): string[] {
  const out = layout.fields.flatMap((f) => fieldProblems(layout, f));
  out.push(...overlapProblems(layout), ...nameProblems(layout));
  if (!isPowerOfTwo(layout.align)) out.push(`alignment ${layout.align} is not a power of two`);
  const widest = Math.max(1, ...layout.fields.map(fieldAlign));
  if (layout.align < widest) out.push(`alignment ${layout.align} below widest field alignment ${widest}`);
  if (layout.size % layout.align !== 0) out.push(`size ${layout.size} not a multiple of alignment ${layout.align}`);
  return out.map((p) => `${layout.name}: ${p}`);
}
