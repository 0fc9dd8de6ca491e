/**
 * Shrinking a failure: delta debugging over the thread programs and the
 * choice list.  Every candidate is re-run (replay strategy, FIFO past the
 * recorded choices) and kept only if the SAME invariant still fails.  Order:
 * whole threads, single calls, simpler arguments, then the choices (shortest
 * failing prefix, then each remaining choice set to the default 0).
 *
 * The result is written as a journal of the minimal run plus an explanation:
 * the causal chain (envelope `cause` links) from the first scheduling choice
 * where the failing schedule leaves a passing one, to the violation.
 */
import { chooserOf, runScenario, type RunResult, type Violation } from './run.ts';
import { scenarioSize, simplerArgs, type Scenario } from './scenario.ts';
import { JournalWriter, memorySink } from '../journal/index.ts';
import type { Envelope } from '../actors/runtime/envelope.ts';

export interface ShrinkInput {
  scenario: Scenario;
  variant: string | null;
  choices: readonly number[];
  invariant: string;
  maxSteps?: number;
  /** Re-runs allowed (default 2000). */
  budget?: number;
}

export interface Explanation {
  /** Index in the choice list of the first choice that differs from a passing schedule (-1: fails under FIFO too). */
  divergenceChoice: number;
  divergenceSeq: number;
  violation: Violation;
  /** Deliveries from the divergence to the violation, linked by cause, oldest first. */
  chain: Envelope[];
  text: string;
}

export interface ShrinkResult {
  scenario: Scenario;
  choices: number[];
  violation: Violation;
  runs: number;
  size: { threads: number; calls: number; choices: number };
  journal: Uint8Array;
  explanation: Explanation;
}

function trimZeros(c: readonly number[]): number[] {
  let n = c.length;
  while (n > 0 && c[n - 1] === 0) n--;
  return c.slice(0, n);
}

export function shrink(inp: ShrinkInput): ShrinkResult {
  const budget = inp.budget ?? 2000;
  let runs = 0;
  const run = (sc: Scenario, choices: readonly number[], extra: { record?: boolean; journal?: JournalWriter } = {}): RunResult => {
    runs++;
    return runScenario(sc, { variant: inp.variant, chooser: chooserOf({ name: 'replay', choices, fallback: 'fifo' }), ...(inp.maxSteps ? { maxSteps: inp.maxSteps } : {}), ...extra });
  };
  const fails = (sc: Scenario, choices: readonly number[]): RunResult | null => {
    if (runs >= budget) return null;
    let r: RunResult;
    try {
      r = run(sc, choices);
    } catch {
      return null; // a candidate whose setup no longer makes sense
    }
    return r.violation?.invariant === inp.invariant ? r : null;
  };
  let sc: Scenario = structuredClone(inp.scenario);
  let choices = [...inp.choices];
  const first = fails(sc, choices);
  if (!first) throw new Error(`shrink: the failure (${inp.invariant}) does not reproduce from its choices`);
  choices = trimZeros(first.choices);
  for (let round = 0; round < 4; round++) {
    let progress = false;
    const accept = (cand: Scenario, ch: readonly number[]): boolean => {
      const r = fails(cand, ch);
      if (!r) return false;
      sc = cand;
      choices = trimZeros(r.choices);
      progress = true;
      return true;
    };
    // Threads.
    for (let t = sc.threads.length - 1; t >= 0 && sc.threads.length > 1; t--) {
      accept({ ...sc, threads: sc.threads.filter((_, i) => i !== t) }, choices);
    }
    // Calls.
    for (let t = 0; t < sc.threads.length; t++) {
      for (let j = sc.threads[t]!.length - 1; j >= 0; j--) {
        if (sc.threads[t]!.length <= 1 && sc.threads.length > 1) {
          if (accept({ ...sc, threads: sc.threads.filter((_, i) => i !== t) }, choices)) break;
          continue;
        }
        accept({ ...sc, threads: sc.threads.map((p, i) => (i === t ? p.filter((_, k) => k !== j) : p)) }, choices);
      }
    }
    // Arguments.
    for (let t = 0; t < sc.threads.length; t++) {
      for (let j = 0; j < sc.threads[t]!.length; j++) {
        for (const simpler of simplerArgs(sc.threads[t]![j]!)) {
          if (accept({ ...sc, threads: sc.threads.map((p, i) => (i === t ? p.map((c, k) => (k === j ? simpler : c)) : p)) }, choices)) break;
        }
      }
    }
    // Choices: the shortest failing prefix (binary search), then single choices to 0.
    let lo = 0;
    let hi = choices.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (fails(sc, choices.slice(0, mid))) hi = mid;
      else lo = mid + 1;
    }
    if (hi < choices.length) accept(sc, choices.slice(0, hi));
    for (let i = 0; i < choices.length; i++) {
      if (choices[i] === 0) continue;
      const c = [...choices];
      c[i] = 0;
      accept(sc, c);
    }
    if (!progress) break;
  }
  // The minimal run, journaled and recorded for the explanation.
  const sink = memorySink();
  const final = run(sc, choices, { record: true, journal: new JournalWriter(sink) });
  if (final.violation?.invariant !== inp.invariant) throw new Error('shrink: the minimal run no longer fails');
  const explanation = explain(sc, choices, final, (ch) => !fails(sc, ch));
  return {
    scenario: sc,
    choices,
    violation: final.violation,
    runs,
    size: { ...scenarioSize(sc), choices: choices.length },
    journal: sink.bytes(),
    explanation,
  };
}

function describe(e: Envelope): string {
  const b = e.body as { op?: string; call?: string; cmd?: number; errno?: number } | null;
  const what = b?.op ? ` ${b.op}` : b?.call ? ` ${b.call}` : b?.cmd !== undefined ? ` cmd 0x${b.cmd.toString(16)}` : b?.errno !== undefined ? ` errno ${b.errno}` : '';
  return `#${e.seq} ${e.src} → ${e.dst}: ${e.type}${what}`;
}

/**
 * Find the passing schedule nearest to the failing one (the longest prefix
 * of its choices that, continued FIFO, passes); the choice right after that
 * prefix is where the failure is decided.  Then walk cause links back from
 * the violating delivery.
 */
function explain(sc: Scenario, choices: readonly number[], r: RunResult, passes: (ch: readonly number[]) => boolean): Explanation {
  let div = -1;
  for (let j = choices.length - 1; j >= 0; j--) {
    if (passes(choices.slice(0, j))) {
      div = j;
      break;
    }
  }
  const envs = new Map<number, Envelope>();
  for (const e of r.envs ?? []) envs.set(e.seq, e);
  const divSeq = div >= 0 ? r.choiceSeqs[div] ?? r.setupSeq + 1 : r.setupSeq + 1;
  const v = r.violation!;
  const chain: Envelope[] = [];
  for (let c = v.seq; c > 0 && chain.length < 64; ) {
    const e = envs.get(c);
    if (!e) break;
    chain.push(e);
    c = e.cause;
  }
  chain.reverse();
  const divEnv = envs.get(divSeq);
  const lines = [
    `scenario ${sc.name}: ${scenarioSize(sc).threads} thread(s), ${scenarioSize(sc).calls} call(s), ${choices.length} scheduling choice(s)`,
    `violation: ${v.invariant}: ${v.message} (after delivery #${v.seq})`,
    div >= 0
      ? `decided at choice ${div} (delivery #${divSeq}${divEnv ? `: ${describe(divEnv)}` : ''}): with choices [${choices.slice(0, div).join(',')}] and FIFO afterwards the run passes, the failing schedule picks #${choices[div]} there`
      : 'the failure needs no scheduling choice (it happens under FIFO too)',
    'causal chain to the violation (cause links):',
    ...chain.map((e) => `  ${e.seq >= divSeq ? '' : '(before) '}${describe(e)}`),
  ];
  return { divergenceChoice: div, divergenceSeq: divSeq, violation: v, chain, text: lines.join('\n') };
}
