/**
 * The exploration loop: many runs of one scenario under a strategy, with
 * schedule budgets, slices (for --shard and workers) and results that merge.
 *
 * A schedule's identity is its key: `[k]` for the k-th seeded random / PCT
 * schedule, the choice-index path for DFS / POR.  Slice j of m takes the
 * schedules whose k (or root branch) is j mod m, so slices are disjoint and
 * their merge — runs sorted by key — is exactly the unsliced exploration.
 * Wall-clock time only ever decides how many schedules run, never which.
 */
import { chooserOf, runScenario, type RunResult } from './run.ts';
import { Dfs } from './por.ts';
import { usesVars, type Scenario } from './scenario.ts';
import { scenarioThreadIds } from './run.ts';

export type StrategyName = 'random' | 'pct' | 'dfs' | 'por';

export interface ExploreOptions {
  scenario: Scenario;
  variant?: string | null;
  strategy: StrategyName;
  /** PCT depth (bug depth d: d-1 priority change points). */
  depth?: number;
  seed?: number | string;
  /** Schedule budget: indices [0, schedules) for random/PCT, that many runs for DFS/POR. */
  schedules?: number;
  /** Wall-clock budget in ms (decides only when to stop). */
  timeMs?: number;
  maxSteps?: number;
  /** Collect every failure instead of stopping at the first. */
  all?: boolean;
  slice?: [number, number];
  onProgress?(p: Progress): void;
}

export interface Progress {
  schedules: number;
  distinct: number;
  failures: number;
}

export interface FailureRecord {
  key: number[];
  invariant: string;
  message: string;
  seq: number;
  /** The run's explore-phase choices: replaying them reproduces the failure. */
  choices: number[];
}

export interface RunRecord {
  key: number[];
  end: string | null;
  /** Index into `failures`. */
  fail?: number;
}

export interface ExploreResult {
  format: 'iommufd-sim-explore/1';
  scenario: string;
  variant: string | null;
  strategy: StrategyName;
  depth: number;
  seed: number | string;
  maxSteps: number;
  all: boolean;
  slices: [number, number][];
  /** Runs the tree search abandoned because every message was asleep (not schedules). */
  pruned: number;
  schedules: number;
  bounded: number;
  distinctEndStates: number;
  endStates: string[];
  failures: FailureRecord[];
  runs: RunRecord[];
  /** Runs made per second of wall-clock (informational; not merged meaningfully). */
  schedulesPerSecond?: number;
}

export function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Explore-phase deliveries of a FIFO run: the step range PCT draws change points from. */
export function calibrateSteps(sc: Scenario, variant: string | null, maxSteps: number): number {
  const r = runScenario(sc, { variant, chooser: chooserOf({ name: 'fifo' }), maxSteps });
  return Math.max(1, r.deliveries - r.setupSeq);
}

export function explore(o: ExploreOptions): ExploreResult {
  const variant = o.variant ?? null;
  const maxSteps = o.maxSteps ?? 20_000;
  const depth = o.depth ?? 3;
  const seed = o.seed ?? 1;
  const slice = o.slice ?? [0, 1];
  const budget = o.schedules ?? (o.timeMs ? Number.POSITIVE_INFINITY : 1000);
  // Wall-clock budget (--time): allowed here because it only decides when to stop.
  const t0 = performance.now();
  const deadline = o.timeMs ? t0 + o.timeMs : Number.POSITIVE_INFINITY;
  const res: ExploreResult = {
    format: 'iommufd-sim-explore/1', scenario: o.scenario.name, variant, strategy: o.strategy, depth, seed, maxSteps,
    all: o.all ?? false, slices: [slice], pruned: 0, schedules: 0, bounded: 0, distinctEndStates: 0, endStates: [], failures: [], runs: [],
  };
  const ends = new Set<string>();
  const record = (key: number[], r: RunResult): boolean => {
    const rec: RunRecord = { key, end: r.endState };
    if (r.bounded) res.bounded++;
    if (r.endState) ends.add(r.endState);
    if (r.violation) {
      rec.fail = res.failures.length;
      res.failures.push({ key, invariant: r.violation.invariant, message: r.violation.message, seq: r.violation.seq, choices: r.choices });
    }
    res.runs.push(rec);
    res.schedules++;
    o.onProgress?.({ schedules: res.schedules, distinct: ends.size, failures: res.failures.length });
    return !!r.violation && !res.all;
  };
  if (o.strategy === 'random' || o.strategy === 'pct') {
    const steps = o.strategy === 'pct' ? calibrateSteps(o.scenario, variant, maxSteps) : 0;
    for (let k = slice[0]; k < budget && performance.now() < deadline; k += slice[1]) {
      const s = `${seed}/${k}`;
      const chooser = chooserOf(o.strategy === 'random' ? { name: 'random', seed: s } : { name: 'pct', seed: s, depth, steps });
      if (record([k], runScenario(o.scenario, { variant, chooser, maxSteps }))) break;
    }
  } else {
    const varThreads = new Set<string>();
    const ids = scenarioThreadIds(o.scenario);
    o.scenario.threads.forEach((t, i) => usesVars(t) && varThreads.add(ids[i]!));
    const dfs = new Dfs({ sleepSets: o.strategy === 'por', varThreads, slice });
    let runs = 0;
    for (;;) {
      if (runs >= budget || performance.now() >= deadline) break;
      const r = runScenario(o.scenario, { variant, chooser: dfs.chooser(), maxSteps });
      runs++;
      if (r.blocked) res.pruned++;
      else if (record(dfs.key(), r)) break;
      if (!dfs.advance()) break;
    }
  }
  res.endStates = [...ends].sort();
  res.distinctEndStates = ends.size;
  const dt = performance.now() - t0;
  if (dt > 0) res.schedulesPerSecond = Math.round((res.schedules / dt) * 1000);
  return res;
}

/**
 * Merge results of disjoint slices of one exploration.  Runs are ordered by
 * key; when the exploration stops at its first failure, runs after the
 * earliest failure are dropped, so the merge equals a single-process run.
 */
export function mergeResults(rs: readonly ExploreResult[]): ExploreResult {
  if (rs.length === 0) throw new Error('merge: nothing to merge');
  const a = rs[0]!;
  for (const r of rs) {
    for (const f of ['format', 'scenario', 'variant', 'strategy', 'depth', 'seed', 'maxSteps', 'all'] as const) {
      if (r[f] !== a[f]) throw new Error(`merge: results differ in ${f} (${String(a[f])} vs ${String(r[f])})`);
    }
  }
  const runs: { rec: RunRecord; fail?: FailureRecord }[] = [];
  for (const r of rs) for (const rec of r.runs) runs.push(rec.fail !== undefined ? { rec, fail: r.failures[rec.fail]! } : { rec });
  runs.sort((x, y) => compareKeys(x.rec.key, y.rec.key));
  for (let i = 1; i < runs.length; i++) {
    if (compareKeys(runs[i - 1]!.rec.key, runs[i]!.rec.key) === 0) throw new Error(`merge: schedule [${runs[i]!.rec.key.join(',')}] appears twice (overlapping slices)`);
  }
  let kept = runs;
  if (!a.all) {
    const first = runs.findIndex((x) => x.fail);
    if (first >= 0) kept = runs.slice(0, first + 1);
  }
  const failures: FailureRecord[] = [];
  const out: RunRecord[] = [];
  const ends = new Set<string>();
  let bounded = 0;
  for (const x of kept) {
    const rec: RunRecord = { key: x.rec.key, end: x.rec.end };
    if (x.fail) {
      rec.fail = failures.length;
      failures.push(x.fail);
    }
    if (x.rec.end) ends.add(x.rec.end);
    else if (!x.fail) bounded++;
    out.push(rec);
  }
  const slices = rs.flatMap((r) => r.slices).sort((x, y) => x[1] - y[1] || x[0] - y[0]);
  return {
    format: a.format, scenario: a.scenario, variant: a.variant, strategy: a.strategy, depth: a.depth, seed: a.seed, maxSteps: a.maxSteps, all: a.all,
    slices, pruned: rs.reduce((n, r) => n + r.pruned, 0), schedules: out.length, bounded, distinctEndStates: ends.size,
    endStates: [...ends].sort(), failures, runs: out,
  };
}

/** The comparable part of a result (what must be equal however it was split). */
export function resultSignature(r: ExploreResult): unknown {
  return { schedules: r.schedules, endStates: r.endStates, failures: r.failures, runs: r.runs };
}
