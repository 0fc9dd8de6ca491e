/**
 * bench/explore: schedules per second per core on a ~200-delivery scenario
 * (churn: 3 threads × 15 IOAS ioctls, then close), the speed-up of 2
 * exploring threads over one on the same schedule set, where the 2-thread
 * time goes, and what POR saves: schedules needed to cover every distinct
 * end state of a small scenario with plain DFS enumeration vs sleep sets.
 *
 * Two 2-thread figures: warm (workers started and JIT-warmed before the
 * timer: the rate a long `explore --workers 2` run settles at, the headline)
 * and cold (`exploreParallel(o, 2)` inside the timer: this thread plus a
 * fresh worker that boots and warms up on the clock, what a run of this
 * length pays).  Timing on a shared machine is noisy; the parts (CPU ms of a
 * worker boot, of the JIT warm-up, main-thread ms per 1000 schedules) are
 * what to compare across runs.
 */
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { explore, exploreParallel, runScenario, chooserOf, SCENARIOS, resultSignature, mergeResults, type ExploreOptions } from '../explore/index.ts';
import { chunkSlices, compactResult, expandResult, lastBoot, lastParallelStats, startWorkers, threadCpuMs, workerEntry, type ChunkStats } from '../explore/pool.ts';

const N = Number(process.env.BENCH_SCHEDULES ?? 2000);
const churn = SCENARIOS.churn!;
const opts = (schedules: number, seed: number | string = 1): ExploreOptions => ({ scenario: churn, strategy: 'random', schedules, all: true, seed });
const f0 = (x: number) => x.toFixed(0);
const f2 = (x: number) => x.toFixed(2);
const cpuMs = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};

// Deliveries per schedule (after setup), for the record.
const probe = runScenario(churn, { chooser: chooserOf({ name: 'random', seed: 'probe' }) });
const perSchedule = probe.deliveries - probe.setupSeq;

// JIT warm-up of a cold thread, in CPU (this process is single-threaded here, so process CPU is this thread's):
// the first 300 schedules against the same count once warm.
let c = process.cpuUsage();
explore(opts(300, 'jit-cold'));
const coldCpu = cpuMs(c);
explore(opts(300, 'jit-2'));
c = process.cpuUsage();
explore(opts(300, 'jit-warm'));
const warmCpu = cpuMs(c);

let best = 0;
let one = explore(opts(N));
let oneCpu = Number.POSITIVE_INFINITY;
for (let i = 0; i < 2; i++) {
  const t0 = performance.now();
  const tc0 = threadCpuMs();
  one = explore(opts(N));
  best = Math.max(best, (N / (performance.now() - t0)) * 1000);
  oneCpu = Math.min(oneCpu, (threadCpuMs() - tc0) / N);
}

// Main-thread work of a 2-thread run, per 1000 schedules: packing a result, unpacking it, merging.
const twoHalves = [explore({ ...opts(2 * N), slice: [0, 2] }), explore({ ...opts(2 * N), slice: [1, 2] })];
const per1000 = (fn: () => unknown) => {
  const t = performance.now();
  for (let i = 0; i < 5; i++) fn();
  return (performance.now() - t) / 5 / ((2 * N) / 1000);
};
const packed = twoHalves.map(compactResult);
const compactMs = per1000(() => twoHalves.map(compactResult));
const expandMs = per1000(() => packed.map(expandResult));
const cloneMs = per1000(() => structuredClone(packed));
const mergeMs = per1000(() => mergeResults(twoHalves));

// Worker boot: the bundle (checked or built once per process) and a worker loading it, against tsx loading the sources.
const bootOne = async (url: URL) => {
  const t = performance.now();
  const cc = process.cpuUsage();
  const w = new Worker(url);
  await new Promise<void>((res, rej) => {
    w.on('message', (m: { type: string }) => m.type === 'ready' && res());
    w.on('error', rej);
  });
  const r = { wallMs: performance.now() - t, cpuMs: cpuMs(cc) };
  await w.terminate();
  return r;
};

// Warm: two started, warmed workers (this thread idle), best of two.
const ts = performance.now();
const pool = await startWorkers(2);
const startMs = performance.now() - ts;
const boot = lastBoot;
const tw = performance.now();
await pool.warm(opts(300, 'warm'));
const warmMs = performance.now() - tw;
let two = await pool.explore(opts(2 * N));
let twoMs = Number.POSITIVE_INFINITY;
let warmStats: ChunkStats[] = [];
for (let i = 0; i < 2; i++) {
  const t1 = performance.now();
  two = await exploreParallel(opts(2 * N), pool);
  const ms = performance.now() - t1;
  if (ms < twoMs) warmStats = pool.lastStats;
  twoMs = Math.min(twoMs, ms);
}
await pool.close();
const twoRate = ((2 * N) / twoMs) * 1000;

// Cold: what `explore --workers 2` does — this thread and one fresh worker, started inside the timer.
const tc = performance.now();
const twoCold = await exploreParallel(opts(2 * N), 2);
const coldMs = performance.now() - tc;
const twoRateCold = ((2 * N) / coldMs) * 1000;
const coldStats = lastParallelStats;
/** Who ran what, and how long the first thread to run out waited for the last. */
const balance = (st: ChunkStats[], names: string[]) => {
  const last = Math.max(...st.map((x) => x.endAt));
  return st.map((x, i) => `${names[i]} ${x.chunks} chunks / ${x.schedules} schedules in ${f0(x.busyMs)} ms (${f0(x.cpuMs)} ms CPU = ${f2(x.cpuMs / x.schedules)} ms/schedule), idle at the end ${f0(last - x.endAt)} ms`).join('; ');
};

// End to end, as a user runs it: a fresh `iommufd-sim explore` process per thread count, everything cold on both sides.
const cliMs = (workers: number) => {
  const t = performance.now();
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../bin/iommufd-sim.mjs', import.meta.url)), 'explore', 'churn', '--schedules', String(2 * N), '--all', '--no-shrink', '--workers', String(workers)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`explore --workers ${workers} failed: ${r.stderr}`);
  return performance.now() - t;
};
const cli1 = cliMs(1);
const cli2 = cliMs(2);

const bundleBoot = await bootOne(await workerEntry());
const tsxBoot = await bootOne(new URL('../explore/worker-boot.mjs', import.meta.url));

const oneRef = explore(opts(2 * N));
const sig = JSON.stringify(resultSignature(oneRef));
const same = sig === JSON.stringify(resultSignature(two)) && sig === JSON.stringify(resultSignature(twoCold));
if (!same) throw new Error('2 threads gave a different merged result than one process');

// POR: plain DFS vs sleep sets, each to exhaustion of a small scenario.
const small = SCENARIOS['destroy-race']!;
const plain = explore({ scenario: small, strategy: 'dfs', schedules: 1_000_000, all: true });
const por = explore({ scenario: small, strategy: 'por', schedules: 1_000_000, all: true });
if (plain.distinctEndStates !== por.distinctEndStates) throw new Error('POR lost end states');

console.log(`churn: ${perSchedule} deliveries per schedule (explore phase; ~${probe.deliveries} with setup)`);
console.log(`1 process: ${f0(best)} schedules/s (target ≥ 200/s/core at 200 steps), ${f2(oneCpu)} ms CPU per schedule; ${one.distinctEndStates} distinct end states in ${N}`);
console.log(`2 threads, warm (headline: what a long explore --workers 2 run settles at): ${f0(twoRate)} schedules/s over ${2 * N} schedules = ${f2(twoRate / best)}x (target ≥ 1.7x); merged result identical to one process: ${same}`);
console.log(`2 threads, cold (this thread + a fresh worker booted and warmed on the clock, as explore --workers 2 runs ${2 * N} schedules): ${f0(twoRateCold)} schedules/s = ${f2(twoRateCold / best)}x`);
console.log(`2 threads, CLI end to end (iommufd-sim explore churn --schedules ${2 * N}, fresh processes): --workers 1 ${f0(cli1)} ms, --workers 2 ${f0(cli2)} ms = ${f2(cli1 / cli2)}x`);
console.log('where the 2-thread time goes:');
console.log(`  worker boot: bundle ${f0(bundleBoot.wallMs)} ms wall / ${f0(bundleBoot.cpuMs)} ms CPU, tsx loading the sources ${f0(tsxBoot.wallMs)} ms / ${f0(tsxBoot.cpuMs)} ms CPU; bundle ${boot?.built ? 'built' : 'checked'} in ${f0(boot?.prepareMs ?? 0)} ms (once per process); pool of 2 ready in ${f0(startMs)} ms, warmed in ${f0(warmMs)} ms`);
console.log(`  JIT warm-up of a cold thread: first 300 schedules ${f0(coldCpu)} ms CPU vs ${f0(warmCpu)} ms warm (+${f0(coldCpu - warmCpu)} ms, paid by each fresh worker)`);
console.log(`  main thread per 1000 schedules: compact ${f2(compactMs)} ms, expand ${f2(expandMs)} ms, structured clone ${f2(cloneMs)} ms, merge ${f2(mergeMs)} ms (exploring them: ${f0(1000 / best * 1000)} ms)`);
console.log(`  balance (chunks from a shared counter, ${chunkSlices(opts(2 * N), 2).length} of them): warm: ${balance(warmStats, ['worker 0', 'worker 1'])}`);
console.log(`    cold: ${balance(coldStats, ['worker', 'this thread'])}`);
console.log(`POR on ${small.name}: ${por.schedules} schedules (+${por.pruned} pruned runs) vs ${plain.schedules} for plain DFS, both reaching ${por.distinctEndStates} distinct end states`);
console.log(JSON.stringify({
  bench: 'explore',
  schedules_per_s_core: Math.round(best),
  speedup_2_workers: Number(f2(twoRate / best)),
  speedup_2_workers_cold: Number(f2(twoRateCold / best)),
  speedup_2_workers_cli: Number(f2(cli1 / cli2)),
  headline: 'speedup_2_workers',
  worker_boot_ms: Math.round(bundleBoot.wallMs),
  worker_boot_cpu_ms: Math.round(bundleBoot.cpuMs),
  worker_boot_tsx_cpu_ms: Math.round(tsxBoot.cpuMs),
  jit_warmup_cpu_ms: Math.round(coldCpu - warmCpu),
  cpu_ms_per_schedule_1: Number(f2(oneCpu)),
  cpu_ms_per_schedule_2_warm: Number(f2(warmStats.reduce((a, x) => a + x.cpuMs, 0) / warmStats.reduce((a, x) => a + x.schedules, 0))),
  main_thread_ms_per_1000: Number(f2(compactMs + expandMs + cloneMs + mergeMs)),
  por_schedules: por.schedules,
  no_por_schedules: plain.schedules,
}));
