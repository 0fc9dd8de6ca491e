// Generator of walkers.ts: two walk functions per page-table format with the
// format's parameters as literals. The full walk has the levels unrolled
// (the level count's tests fall through from the top level down to the
// 4 KiB level), descriptors read as two 32-bit halves, and the leaf rules of
// the format's style inlined; the exported walk is a fast path small enough
// for V8 to inline into callers (the remembered level-1 table, a smallest
// page, no fault) in front of it. The format objects in registry.ts stay the
// single source of truth; test/hardware/walkers.test.ts fails when
// walkers.ts is out of date and checks every walker against ptWalkGeneric.
//
//   npx tsx hardware/pagetable/gen_walkers.ts   (rewrites walkers.ts)

import {
  STYLE_AMDV1, STYLE_LPAE_S1, STYLE_LPAE_S2, STYLE_VTD_SL, STYLE_X86, type PageTableFormat,
} from './format.ts';
import { LAST_TABLE_WORDS } from './pool.ts';
import { FORMATS } from './registry.ts';

/** walker function name per format id */
export const WALKER_NAMES = ['walkMock', 'walkVtdSl', 'walkVtdFl', 'walkSmmuS1', 'walkSmmuS2', 'walkAmdV1', 'walkAmdV2'] as const;

/** the largest leaf is 1 GiB-class (internal level 2), as in radix.ts */
const MAX_LEAF_LEVEL = 2;

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** int32 expression for the 9-bit table index of level `lvl` (`lo`, `hi` = IOVA halves) */
function indexExpr(f: PageTableFormat, lvl: number): string {
  const s = f.granuleShift + 9 * lvl;
  if (s >= 32) return `(hi >>> ${s - 32}) & 511`;
  if (s + 9 <= 32) return `(lo >>> ${s}) & 511`;
  return `((lo >>> ${s}) | (hi << ${32 - s})) & 511`;
}

function validTest(f: PageTableFormat): string {
  return `(dlo & ${hex(f.validLo)}) === 0`;
}

function leafTest(f: PageTableFormat): string {
  return `(dlo & ${hex(f.leafMaskLo)}) === ${hex(f.leafValLo)}`;
}

/**
 * Table pointer of the descriptor: the node index. Pool nodes stay below
 * 2^20 (pool.ts MAX_NODES) and only ptMap writes table descriptors, so the
 * index is bits 31:12 of the lo half and the hi half is never read on the
 * way down (one load per level instead of two).
 */
function descend(f: PageTableFormat, lvl: number, x86: boolean): string[] {
  return [
    `e = (node << 10) | ((${indexExpr(f, lvl)}) << 1);`,
    `dlo = words[e]! | 0;`,
    `if (${validTest(f)}) return walkFault(out, FAULT_TRANSLATION, ${lvl}, F);`,
    ...(x86 ? ['path &= dlo;'] : []),
  ];
}

function pointer(_f: PageTableFormat): string[] {
  return ['node = dlo >>> 12;'];
}

/**
 * Leaf rules of the style (same as format.ts leafEval); `lvl`, `e`, `dlo`,
 * `dhi`, `path` are set. `fault(code)` is the statement for a fault: every
 * fault is decided before the one descriptor write, so the fast path can
 * hand a faulting walk to the full walker, which starts over and finds it.
 * Access bits are literals (ACC_WRITE 2, ACC_UPDATE 4, ACC_PRIV 8): an
 * imported binding costs a load and a hole check in the inlined fast path.
 */
function leafRules(f: PageTableFormat, fault: (code: string) => string): string[] {
  switch (f.style) {
    case STYLE_VTD_SL:
      return [
        'const write = (access & 2) !== 0;',
        `if (write ? (dlo & 2) === 0 : (dlo & 1) === 0) ${fault('FAULT_PERMISSION')}`,
        'let dirtyOk = 1;',
        'if (t.tracking) {',
        '  if ((access & 4) !== 0) {',
        '    const nlo = dlo | 0x100 | (write ? 0x200 : 0); // A, D',
        '    if (nlo !== dlo) words[e] = nlo;',
        '  }',
        '  dirtyOk = (dlo & 0x300) === 0x300 ? 1 : 0;',
        '}',
        'out.prot = dlo & 3;',
        'out.dirtyOk = dirtyOk;',
      ];
    case STYLE_X86:
      return [
        'const write = (access & 2) !== 0;',
        `if ((access & 8) === 0 && (path & 4) === 0) ${fault('FAULT_PERMISSION')}`,
        `if (write && (path & 2) === 0) ${fault('FAULT_PERMISSION')}`,
        'if ((access & 4) !== 0) {',
        '  const nlo = dlo | 0x20 | (write ? 0x40 : 0); // A, D',
        '  if (nlo !== dlo) words[e] = nlo;',
        '}',
        'out.prot = 1 | (path & 2);',
        'out.dirtyOk = (dlo & 0x60) === 0x60 ? 1 : 0;',
      ];
    case STYLE_LPAE_S1:
      return [
        'const write = (access & 2) !== 0;',
        'const ro = (dlo & 0x80) !== 0;',
        'const dbm = (dhi & 0x80000) !== 0 && t.tracking;',
        `if ((dlo & 0x400) === 0 && !t.ha) ${fault('FAULT_ACCESS')}`,
        `if ((access & 8) === 0 && (dlo & 0x40) === 0) ${fault('FAULT_PERMISSION')}`,
        `if (write && ro && !dbm) ${fault('FAULT_PERMISSION')}`,
        'if ((access & 4) !== 0) {',
        '  let nlo = dlo | 0x400; // AF',
        '  if (write && ro) nlo &= ~0x80; // writable-clean -> writable-dirty',
        '  if (nlo !== dlo) words[e] = nlo;',
        '}',
        'out.prot = 1 | (!ro || dbm ? 2 : 0);',
        'out.dirtyOk = ro || (dlo & 0x400) === 0 ? 0 : 1;',
      ];
    case STYLE_LPAE_S2:
      return [
        'const write = (access & 2) !== 0;',
        'const w = (dlo & 0x80) !== 0;',
        'const dbm = (dhi & 0x80000) !== 0 && t.tracking;',
        `if ((dlo & 0x400) === 0 && !t.ha) ${fault('FAULT_ACCESS')}`,
        `if (write ? !w && !dbm : (dlo & 0x40) === 0) ${fault('FAULT_PERMISSION')}`,
        'if ((access & 4) !== 0) {',
        '  const nlo = dlo | 0x400 | (write ? 0x80 : 0); // AF; S2AP[1] = writable-dirty',
        '  if (nlo !== dlo) words[e] = nlo;',
        '}',
        'out.prot = ((dlo >>> 6) & 1) | (w || dbm ? 2 : 0);',
        'out.dirtyOk = w && (dlo & 0x400) !== 0 ? 1 : 0;',
      ];
    case STYLE_AMDV1:
      return [
        'const write = (access & 2) !== 0;',
        `if (write ? (dhi & 0x40000000) === 0 : (dhi & 0x20000000) === 0) ${fault('FAULT_PERMISSION')}`,
        ...(f.hwUpdates
          ? [
            'let dirtyOk = 1;',
            'if (t.tracking) {',
            '  if ((access & 4) !== 0) {',
            '    const nlo = dlo | 0x20 | (write ? 0x40 : 0); // A, D',
            '    if (nlo !== dlo) words[e] = nlo;',
            '  }',
            '  dirtyOk = (dlo & 0x60) === 0x60 ? 1 : 0;',
            '}',
            'out.dirtyOk = dirtyOk;',
          ]
          : ['out.dirtyOk = 1; // no hardware A/D updates: dirtiness is injected']),
        'out.prot = (dhi >>> 29) & 3;',
      ];
    default:
      throw new Error(`gen_walkers: no leaf rules for style ${f.style}`);
  }
}

/** The IOVA bits above what one level-1 table translates: equal keys share the path down to it. */
function keyExpr(f: PageTableFormat): string {
  const s = f.granuleShift + 18;
  return `hi * ${2 ** (32 - s)} + (lo >>> ${s})`;
}

/** pa of `lo`/`hi` through the leaf at level `lvl` (a literal) */
function paExpr(f: PageTableFormat, lvl: number): string {
  const g = f.granuleShift;
  const s = g + 9 * lvl;
  const off = 2 ** s - 1;
  const hiPart = `(dhi & ${hex(f.addrHiMask)}) * ${2 ** (20 + g)}`;
  if (g === 12) return `${hiPart} + (((dlo & ${hex(~off & 0xfffff000)}) | (lo & ${hex(off)})) >>> 0)`;
  const frameMask = 9 * lvl >= 20 ? 0 : (~(2 ** (9 * lvl) - 1)) >>> 0;
  return `${hiPart} + ((dlo >>> 12) & ${hex(frameMask)}) * ${2 ** g} + (lo & ${hex(off)})`;
}


/**
 * The full walk: every level count, leaf size and fault. It remembers the
 * level-1 table it reached in the pool's lastTable words for the format.
 */
function fullWalker(f: PageTableFormat, name: string): string[] {
  const x86 = f.style === STYLE_X86;
  const top = f.maxLevels - 1;
  const c = f.id * LAST_TABLE_WORDS;
  const L: string[] = [];
  const ind = (n: number, lines: string[]) => lines.forEach((l) => L.push(' '.repeat(n) + l));
  L.push(`/** ${f.name}, the whole walk: ${f.minLevels}..${f.maxLevels} levels, ${2 ** f.granuleShift}-byte granule */`);
  L.push(`function ${name}Full(pool: PoolState, t: TableState, iova: number, access: number, out: WalkOut): number {`);
  ind(2, [
    'if (!(iova < t.limit && iova >= 0)) return walkFault(out, FAULT_ADDRESS_SIZE, t.levels - 1, F);',
    'const words = pool.words;',
    'const last = pool.lastTable;',
    'const lo = iova | 0;',
    'const hi = iova < 4294967296 ? 0 : (iova / 4294967296) | 0;',
    'let node = t.root;',
    ...(x86 ? ['let path = -1;'] : []),
    'let e = 0;',
    'let dlo = 0;',
    'let dhi = 0;',
    'let lvl = 0;',
    `const key = ${keyExpr(f)};`,
    'found: {',
  ]);
  const upper: string[] = [];
  const lower: string[] = [];
  for (let lvl = top; lvl >= 0; lvl--) {
    const into = lvl >= 2 ? upper : lower;
    const body: string[] = [...descend(f, lvl, x86)];
    if (lvl === 0) {
      if (f.pageMaskLo !== 0) body.push(`if ((dlo & ${hex(f.pageMaskLo)}) !== ${hex(f.pageValLo)}) return walkFault(out, FAULT_TRANSLATION, 0, F);`);
      body.push('dhi = words[e + 1]! | 0;');
    } else if (lvl > MAX_LEAF_LEVEL) {
      body.push(`if (${leafTest(f)}) return walkFault(out, FAULT_TRANSLATION, ${lvl}, F);`);
      body.push(...pointer(f));
    } else {
      body.push(`if (${leafTest(f)}) {`, `  dhi = words[e + 1]! | 0;`, `  lvl = ${lvl};`, '  break found;', '}');
      body.push(...pointer(f));
    }
    if (lvl === 2) {
      // a generation past int32 would wrap onto another table's: none is remembered then
      body.push(`last[${c}] = t.gen <= 0x7fffffff ? t.gen : 0;`, `last[${c + 1}] = key;`, `last[${c + 2}] = node;`);
      if (x86) body.push(`last[${c + 3}] = path;`);
    }
    const comment = `// level ${lvl} (${f.lpaeLevels ? 'LPAE level ' + (3 - lvl) : 'level ' + (lvl + 1)})`;
    // a table of n levels starts at internal level n - 1
    if (lvl + 1 > f.minLevels) into.push(`if (t.levels > ${lvl}) {`, `  ${comment}`, ...body.map((l) => '  ' + l), '}');
    else into.push(comment, ...body);
  }
  // A generation names one table of the pool, so it also proves that table
  // has 3 or more levels: the words are written at level 2.
  ind(4, [
    `if (key === last[${c + 1}] && t.gen === last[${c}]) {`,
    `  node = last[${c + 2}]!;`,
    ...(x86 ? [`  path = last[${c + 3}]! | 0;`] : []),
    '} else {',
    ...upper.map((l) => '  ' + l),
    '}',
    ...lower,
  ]);
  ind(2, ['}']);
  ind(2, leafRules(f, (code) => `return walkFault(out, ${code}, lvl, F);`));
  ind(2, [
    'if (lvl === 0) {',
    ...leafOut(f, 0).map((l) => '  ' + l),
    '} else if (lvl === 1) {',
    ...leafOut(f, 1).map((l) => '  ' + l),
    '} else {',
    ...leafOut(f, 2).map((l) => '  ' + l),
    '}',
    'out.lvl = lvl;',
    'out.fault = 0;',
    'return 0;',
  ]);
  L.push('}');
  return L;
}

function leafOut(f: PageTableFormat, lvl: number): string[] {
  return [
    `out.pa = ${paExpr(f, lvl)};`,
    `out.pageSize = ${2 ** (f.granuleShift + 9 * lvl)};`,
    `out.level = ${f.nativeLevel(lvl)};`,
  ];
}

/**
 * The fast path's leaf rules: leafRules, except that the LPAE styles take
 * only the settled case (access flag set, S1 writable or S2 write-permitted,
 * so no fault but a privilege or read-permission one and no descriptor
 * write) and leave the rest (DBM, AF updates, HA) to the full walk. Their
 * whole rules did not fit V8's inlining limit.
 */
function fastLeafRules(f: PageTableFormat): string[] {
  switch (f.style) {
    case STYLE_LPAE_S1:
      return [
        'if ((dlo & 0x480) !== 0x400 || ((access & 8) === 0 && (dlo & 0x40) === 0)) break fast; // AF, not read-only; AP[1]',
        'out.prot = 3;',
        'out.dirtyOk = 1;',
      ];
    case STYLE_LPAE_S2:
      return [
        'if ((dlo & 0x480) !== 0x480 || ((access & 2) === 0 && (dlo & 0x40) === 0)) break fast; // AF, S2AP[1]; S2AP[0]',
        'out.prot = ((dlo >>> 6) & 1) | 2;',
        'out.dirtyOk = 1;',
      ];
    default:
      return leafRules(f, () => 'break fast;');
  }
}

const oneBit = (x: number): boolean => x !== 0 && (x & (x - 1)) === 0;

/**
 * True when the level-1 descriptor `dlo` is not a table pointer (invalid or
 * a block), in as few operations as the format's bits allow: the fast
 * path's bytecode is near V8's inlining limit.
 */
function notTableTest(f: PageTableFormat): string {
  const v = f.validLo;
  const m = f.leafMaskLo;
  // valid bit V and a separate leaf bit L: a table has V and not L
  if (oneBit(v) && oneBit(m) && (m & v) === 0 && f.leafValLo === m) return `(dlo & ${hex(v | m)}) !== ${hex(v)}`;
  // LPAE: V plus a type bit T, a block has V and not T, a table both
  if (oneBit(v) && (m & v) === v && oneBit(m & ~v) && f.leafValLo === v) return `(dlo & ${hex(m)}) !== ${hex(m)}`;
  return `${validTest(f)} || ${leafTest(f)}`;
}

/** True when the level-0 descriptor `dlo` is not a page; a page check that implies validity stands alone. */
function notPageTest(f: PageTableFormat): string {
  if (f.pageMaskLo === 0) return validTest(f);
  const page = `(dlo & ${hex(f.pageMaskLo)}) !== ${hex(f.pageValLo)}`;
  if ((f.validLo & ~f.pageMaskLo) === 0 && (f.pageValLo & f.validLo) !== 0) return page;
  return `${validTest(f)} || ${page}`;
}

/**
 * The walk callers use: small enough for V8 to inline into their loops. It
 * takes the common case alone (the remembered level-1 table, a table
 * pointer there, a smallest-size page below it, no fault) and hands
 * everything else, faults included, to the full walk, which starts over.
 * Same results and side effects either way.
 */
function fastWalker(f: PageTableFormat, name: string): string[] {
  const x86 = f.style === STYLE_X86;
  const c = f.id * LAST_TABLE_WORDS;
  const L: string[] = [];
  const ind = (n: number, lines: string[]) => lines.forEach((l) => L.push(' '.repeat(n) + l));
  L.push(`/** ${f.name}: ${f.minLevels}..${f.maxLevels} levels, ${2 ** f.granuleShift}-byte granule */`);
  L.push(`export function ${name}(pool: PoolState, t: TableState, iova: number, access: number, out: WalkOut): number {`);
  // One exit to the full walk (break fast): V8 inlines at most 460 bytes of
  // bytecode, and each call site costs about 10.
  // The key's region was reached by an in-limit walk, so iova >= 0 is the only range check left.
  ind(2, [
    'fast: {',
    '  const last = pool.lastTable;',
    '  const lo = iova | 0;',
    // the same key as the full walk's (floor(iova / reach) for 0 <= iova < 2^53) without the IOVA's high half
    `  if (!(iova >= 0 && ((iova / ${2 ** (f.granuleShift + 18)}) | 0) === last[${c + 1}] && t.gen === last[${c}])) break fast;`,
    '  const words = pool.words;',
    `  let e = (last[${c + 2}]! << 10) | ((${indexExpr(f, 1)}) << 1);`,
    '  let dlo = words[e]! | 0;',
    `  if (${notTableTest(f)}) break fast;`,
    ...(x86 ? [`  let path = (last[${c + 3}]! | 0) & dlo;`] : []),
    `  e = ((dlo >>> 12) << 10) | ((${indexExpr(f, 0)}) << 1);`,
    '  dlo = words[e]! | 0;',
    `  if (${notPageTest(f)}) break fast;`,
    ...(x86 ? ['  path &= dlo;'] : []),
    '  const dhi = words[e + 1]! | 0;',
    ...fastLeafRules(f).map((l) => '  ' + l),
    ...leafOut(f, 0).map((l) => '  ' + l),
    '  out.lvl = 0;',
    '  out.fault = 0;',
    '  return 0;',
    '}',
    `return ${name}Full(pool, t, iova, access, out);`,
  ]);
  L.push('}');
  return L;
}

function walker(f: PageTableFormat): string {
  const name = WALKER_NAMES[f.id];
  return [`const F${f.id} = FORMATS[${f.id}]!;`, '', ...fullWalker(f, name), '', ...fastWalker(f, name)].join('\n');
}

export function generateWalkers(): string {
  const head = [
    '// GENERATED by hardware/pagetable/gen_walkers.ts from the format parameters',
    '// in registry.ts. Do not edit: change the generator and run',
    '//   npx tsx hardware/pagetable/gen_walkers.ts',
    '//',
    '// Per format a fast path and the full walk behind it, results and side',
    "// effects identical to radix.ts's ptWalkGeneric (test/hardware/walkers.test.ts",
    '// checks both).',
    '',
    "import { FAULT_ACCESS, FAULT_ADDRESS_SIZE, FAULT_PERMISSION, FAULT_TRANSLATION } from './format.ts';",
    "import type { PoolState } from './pool.ts';",
    "import { FORMATS } from './registry.ts';",
    "import { walkFault, type TableState, type WalkOut } from './walk_types.ts';",
    '',
    '// Each format has two walks. The full one remembers the last level-1',
    "// table it reached in the pool's lastTable words for the format (pool.ts):",
    "// a walk whose IOVA shares the bits above that table's reach, in the table",
    '// of that generation, starts there. A generation names one table of the',
    '// pool and changes with every software change of its descriptors, and the',
    '// walk itself only ever writes leaves, so the upper entries it skips are',
    '// the ones it would have read. The exported walk is the fast path over',
    '// those words. Not model state: no result, fault or side effect depends on it.',
    '',
    '// keep every import used whatever the formats need',
    'void FAULT_ACCESS;',
    '',
  ].join('\n');
  return head + FORMATS.map((f) => walker(f).replace(/\bF\)/g, `F${f.id})`)).join('\n\n') + '\n';
}

if (process.argv[1] && /gen_walkers\.ts$/.test(process.argv[1])) {
  const { writeFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  writeFileSync(fileURLToPath(new URL('./walkers.ts', import.meta.url)), generateWalkers());
}
