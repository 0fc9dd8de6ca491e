/**
 * bench/explore: schedules per second per core on a ~200-delivery scenario
 * (churn: 3 threads × 15 IOAS ioctls, then close), the speed-up of 2 worker
 * threads over one process on the same schedule set, and what POR saves:
 * schedules needed to cover every distinct end state of a small scenario
 * with plain DFS enumeration vs DFS with sleep sets.
 */
import { explore, exploreParallel, runScenario, chooserOf, SCENARIOS, resultSignature } from '../explore/index.ts';
import { startWorkers } from '../explore/pool.ts';

const N = Number(process.env.BENCH_SCHEDULES ?? 2000);
const churn = SCENARIOS.churn!;

// Deliveries per schedule (after setup), for the record.
const probe = runScenario(churn, { chooser: chooserOf({ name: 'random', seed: 'probe' }) });
const perSchedule = probe.deliveries - probe.setupSeq;
explore({ scenario: churn, strategy: 'random', schedules: 100, all: true }); // warm-up (JIT)

let best = 0;
let one = explore({ scenario: churn, strategy: 'random', schedules: N, all: true });
for (let i = 0; i < 2; i++) {
  const t0 = performance.now();
  one = explore({ scenario: churn, strategy: 'random', schedules: N, all: true });
  best = Math.max(best, (N / (performance.now() - t0)) * 1000);
}
// Two workers on the same N schedules each.  The workers are started once
// (tsx loader, module load) and warmed up like the single process was; that
// start-up is timed on its own and reported both apart and included.
const ts = performance.now();
const pool = await startWorkers(2);
const startMs = performance.now() - ts;
const tw = performance.now();
await pool.warm({ scenario: churn, strategy: 'random', schedules: 200, all: true });
const warmMs = performance.now() - tw;
let two = await pool.explore({ scenario: churn, strategy: 'random', schedules: 2 * N, all: true });
let twoMs = Number.POSITIVE_INFINITY;
for (let i = 0; i < 2; i++) {
  const t1 = performance.now();
  two = await exploreParallel({ scenario: churn, strategy: 'random', schedules: 2 * N, all: true }, pool);
  twoMs = Math.min(twoMs, performance.now() - t1);
}
await pool.close();
const twoRate = ((2 * N) / twoMs) * 1000;
const twoRateCold = ((2 * N) / (twoMs + startMs + warmMs)) * 1000;
// The old way: start fresh workers inside the timed call (cold JIT), for comparison.
const tc = performance.now();
const twoFresh = await exploreParallel({ scenario: churn, strategy: 'random', schedules: 2 * N, all: true }, 2);
const twoRateFresh = ((2 * N) / (performance.now() - tc)) * 1000;
const oneRef = explore({ scenario: churn, strategy: 'random', schedules: 2 * N, all: true });
const same = JSON.stringify(resultSignature(oneRef)) === JSON.stringify(resultSignature(two)) && JSON.stringify(resultSignature(oneRef)) === JSON.stringify(resultSignature(twoFresh));
if (!same) throw new Error('2 workers gave a different merged result than one process');

// POR: plain DFS vs sleep sets, each to exhaustion of a small scenario.
const small = SCENARIOS['destroy-race']!;
const plain = explore({ scenario: small, strategy: 'dfs', schedules: 1_000_000, all: true });
const por = explore({ scenario: small, strategy: 'por', schedules: 1_000_000, all: true });
if (plain.distinctEndStates !== por.distinctEndStates) throw new Error('POR lost end states');

console.log(`churn: ${perSchedule} deliveries per schedule (explore phase; ~${probe.deliveries} with setup)`);
console.log(`1 process: ${best.toFixed(0)} schedules/s (target ≥ 200/s/core at 200 steps); ${one.distinctEndStates} distinct end states in ${N}`);
console.log(`2 workers: ${twoRate.toFixed(0)} schedules/s over ${2 * N} schedules on started, warmed workers = ${(twoRate / best).toFixed(2)}x (target ≥ 1.7x); merged result identical to one process: ${same}`);
console.log(`  worker start ${startMs.toFixed(0)} ms + warm-up ${warmMs.toFixed(0)} ms; counting both once: ${twoRateCold.toFixed(0)} schedules/s = ${(twoRateCold / best).toFixed(2)}x; fresh cold workers inside the timer: ${twoRateFresh.toFixed(0)} schedules/s = ${(twoRateFresh / best).toFixed(2)}x`);
console.log(`POR on ${small.name}: ${por.schedules} schedules (+${por.pruned} pruned runs) vs ${plain.schedules} for plain DFS, both reaching ${por.distinctEndStates} distinct end states`);
console.log(JSON.stringify({
  bench: 'explore',
  schedules_per_s_core: Math.round(best),
  speedup_2_workers: Number((twoRate / best).toFixed(2)),
  speedup_2_workers_incl_start: Number((twoRateCold / best).toFixed(2)),
  speedup_2_workers_fresh: Number((twoRateFresh / best).toFixed(2)),
  worker_start_ms: Math.round(startMs),
  por_schedules: por.schedules,
  no_por_schedules: plain.schedules,
}));
