// Random 4 KiB translations per second over 1 GiB of IOVA fully mapped with
// 4 KiB pages (VT-d second-level format, 4 levels): (a) the typed-array walk,
// (b) IOTLB first, (c) a JS Map per page as the naive baseline, (d) the same
// walk in C, (e) DMA pages through translateBurst (the burst engine itself,
// not yet end-to-end through the bus). Same xorshift32 IOVA sequence for all.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ptCreate, ptMap, ptWalk, WalkOut } from '../hardware/pagetable/radix.ts';
import { poolCreate } from '../hardware/pagetable/pool.ts';
import { ACC_READ, FMT_VTD_SL, PROT_READ, PROT_WRITE } from '../hardware/pagetable/format.ts';
import { NO_TAG2, TAG_DOMAIN, TlbOut, iotlbCreate, iotlbInsert, iotlbLookup } from '../hardware/iotlb.ts';
import {
  BurstResults, engineAddPagingDomain, engineAttach, engineCreate, engineMap, translateBurst, type DmaAccess, type PhysMemPort,
} from '../hardware/translate.ts';

const GIB = 2 ** 30;
const PA_BASE = 2 ** 32;
const N = Number(process.env.BENCH_N ?? 20_000_000);
const SEED = 2463534242;

function xorshiftSeq(n: number): Uint32Array {
  const a = new Uint32Array(n);
  let x = SEED;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    a[i] = x & 0x3fffffff;
  }
  return a;
}

function rate(n: number, ms: number): number {
  return Math.round((n / ms) * 1000);
}

function fmt(r: number): string {
  return `${(r / 1e6).toFixed(1)} M/s`;
}

const iovas = xorshiftSeq(N);
const pool = poolCreate(1024);
const table = ptCreate(pool, FMT_VTD_SL, { blocks: 1 });
for (let iova = 0; iova < GIB; iova += 4096) ptMap(pool, table, iova, iova + PA_BASE, 4096, PROT_READ | PROT_WRITE);

// (a) typed-array walk
function benchWalk(): { perS: number; sum: number } {
  const out = new WalkOut();
  let sum = 0;
  for (let i = 0; i < 1_000_000; i++) { ptWalk(pool, table, iovas[i]!, ACC_READ, out); sum += out.pa; }
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    ptWalk(pool, table, iovas[i]!, ACC_READ, out);
    sum += out.pa;
  }
  return { perS: rate(N, performance.now() - t0), sum };
}

// (b) IOTLB first, walk and fill on miss
function benchIotlb(capacity: number): { perS: number; hitRate: number } {
  const tlb = iotlbCreate(capacity, 8);
  const out = new WalkOut();
  const to = new TlbOut();
  let sum = 0;
  const step = (iova: number) => {
    if (iotlbLookup(tlb, TAG_DOMAIN, 1, NO_TAG2, 0, iova, to) >= 0) return to.pa;
    ptWalk(pool, table, iova, ACC_READ, out);
    iotlbInsert(tlb, TAG_DOMAIN, 1, NO_TAG2, 0, iova, out.pageSize, out.pa - (iova & 4095), out.prot, 1);
    return out.pa;
  };
  for (let i = 0; i < Math.min(N, 2_000_000); i++) sum += step(iovas[i]!);
  const h0 = tlb.hits, m0 = tlb.misses;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) sum += step(iovas[i]!);
  const ms = performance.now() - t0;
  if (sum === -1) console.log(sum);
  return { perS: rate(N, ms), hitRate: (tlb.hits - h0) / (tlb.hits - h0 + tlb.misses - m0) };
}

// (c) naive baseline: one Map entry per page
function benchMap(): number {
  const m = new Map<number, number>();
  for (let iova = 0; iova < GIB; iova += 4096) m.set(iova / 4096, iova + PA_BASE);
  let sum = 0;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const iova = iovas[i]!;
    const pa = m.get(Math.floor(iova / 4096));
    if (pa !== undefined) sum += pa + (iova & 4095);
  }
  const ms = performance.now() - t0;
  if (sum === -1) console.log(sum);
  return rate(N, ms);
}

// (d) C
function benchC(): { perS: number | null; sum: number | null; note: string } {
  const gcc = spawnSync('gcc', ['--version']);
  if (gcc.error || gcc.status !== 0) return { perS: null, sum: null, note: 'gcc not found: C comparison skipped' };
  const dir = mkdtempSync(join(tmpdir(), 'iommufd-sim-bench-'));
  try {
    const src = join(dirname(fileURLToPath(import.meta.url)), 'translate_walk.c');
    const exe = join(dir, 'translate_walk');
    execFileSync('gcc', ['-O2', '-o', exe, src]);
    const [n, ns, sum] = execFileSync(exe, [String(N)]).toString().trim().split(' ').map(Number);
    return { perS: Math.round((n! / ns!) * 1e9), sum: sum!, note: `gcc -O2 in ${dir}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// (e) DMA pages through translateBurst: one 64-byte write per page, bursts of 256
class FlatMem implements PhysMemPort {
  // PA_BASE .. PA_BASE + 1 GiB is backed by a single 1 GiB... too big; alias every page to a 64 KiB window
  buf = new Uint8Array(1 << 16);
  readPhys(pa: number, len: number): Uint8Array { const o = (pa & 0xffff); return this.buf.subarray(o, o + len); }
  writePhys(pa: number, data: Uint8Array): void { this.buf.set(data, pa & 0xffff & ~(data.length - 1)); }
  read64(): bigint { return 0n; }
  write64(): void {}
}

function benchBurst(len: number, checkStale: boolean): number {
  const s = engineCreate({ iotlbCapacity: 4096, checkStale });
  engineAddPagingDomain(s, 1, FMT_VTD_SL, { blocks: 1 });
  for (let iova = 0; iova < GIB; iova += 4096) engineMap(s, 1, iova, iova + PA_BASE, 4096, PROT_READ | PROT_WRITE);
  engineAttach(s, 1, { iommu: 0, kind: TAG_DOMAIN, tag: 1 });
  const mem = new FlatMem();
  const data = new Uint8Array(len).fill(0xa5);
  const accesses: DmaAccess[] = [];
  for (let i = 0; i < 256; i++) accesses.push({ iova: 0, length: len, write: true, data });
  const req = { iommu: 0, domain: 1, accesses };
  const res = new BurstResults();
  const bursts = Math.floor(Math.min(N, 4_000_000) / 256);
  const run = (from: number) => {
    for (let b = 0; b < bursts; b++) {
      for (let i = 0; i < 256; i++) accesses[i]!.iova = iovas[(from + b * 256 + i) % N]! & ~4095;
      translateBurst(s, req, mem, res);
    }
  };
  run(0);
  const t0 = performance.now();
  run(bursts * 256);
  return rate(bursts * 256, performance.now() - t0);
}

const a = benchWalk();
const bBig = benchIotlb(1 << 18);
const bSmall = benchIotlb(4096);
const c = benchMap();
const d = benchC();
const e = benchBurst(64, false);
const e4k = benchBurst(4096, false);
const eStale = benchBurst(64, true);

console.log(`1 GiB of 4 KiB pages (VT-d SL, 4 levels), ${N.toLocaleString('en')} random translations each`);
console.log(`(a) typed-array walk, no IOTLB         ${fmt(a.perS)}`);
console.log(`(b) IOTLB 256K entries (warm, hit ${(bBig.hitRate * 100).toFixed(0)}%)  ${fmt(bBig.perS)}`);
console.log(`    IOTLB 4K entries (hit ${(bSmall.hitRate * 100).toFixed(1)}%)        ${fmt(bSmall.perS)}`);
console.log(`(c) JS Map per page                   ${fmt(c)}   walk/map = ${(a.perS / c).toFixed(2)}x`);
if (d.perS) console.log(`(d) C radix walk (${d.note.split(' in ')[0]})          ${fmt(d.perS)}   C/walk = ${(d.perS / a.perS).toFixed(2)}x`);
else console.log(`(d) ${d.note}`);
console.log(`(e) translateBurst engine only (not the bus), 256-access bursts, IOTLB 4K entries:`);
console.log(`    64 B write per page                ${fmt(e)} pages`);
console.log(`    4 KiB write per page               ${fmt(e4k)} pages (${((e4k * 4096) / 1e9).toFixed(1)} GB/s moved)`);
console.log(`    64 B, checkStale on                ${fmt(eStale)} pages`);
console.log(JSON.stringify({ bench: 'translate', walk_per_s: a.perS, iotlb_per_s: bBig.perS, map_per_s: c, c_per_s: d.perS, dma_pages_per_s: e }));
