/**
 * `iommufd-sim explore SCENARIO`: race exploration of a built-in scenario
 * under random walk, PCT or partial-order-reduced DFS, with invariants after
 * every delivery; failures are shrunk and written as journals with an
 * explanation.  `explore merge A.json B.json …` merges the results of shards.
 */
import { writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { exploreParallel, mergeResults, type ExploreResult, type StrategyName } from '../explore/index.ts';
import { SCENARIOS, VARIANTS, scenarioByName } from '../explore/scenarios.ts';
import { shrink } from '../explore/shrink.ts';
import { parseScenario, scenarioToJson, type Scenario } from '../explore/scenario.ts';
import { scenarioFromText } from '../explore/text.ts';
import { chooserOf, runScenario } from '../explore/run.ts';
import { ScenarioError } from '../scenario/parse.ts';
import { CliError, out, parseIntOpt, parseSeed, toJson } from './util.ts';

const USAGE = 'usage: iommufd-sim explore [options] <scenario>  (iommufd-sim explore --help lists the built-in scenarios and variants)';

/** One line per built-in scenario and per variant, for --help. */
export function builtinsHelp(): string {
  const w = Math.max(...Object.keys(SCENARIOS).map((n) => n.length), ...Object.keys(VARIANTS).map((n) => n.length));
  const line = (n: string, d: string) => `  ${n.padEnd(w)}  ${d}`;
  return [
    'Built-in scenarios:',
    ...Object.values(SCENARIOS).map((s) => line(s.name, s.description)),
    '',
    'Variants (--variant; spec/bugs.md), with the scenario that exposes each:',
    ...Object.entries(VARIANTS).map(([id, v]) => line(id, `${v.summary} [${v.scenario}]`)),
  ].join('\n');
}

function parseShard(v: string): [number, number] {
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new InvalidArgumentError('expected i/n with 0 ≤ i < n');
  return [Number(m[1]), Number(m[2])];
}

function parseStrategy(v: string): StrategyName {
  if (v !== 'random' && v !== 'pct' && v !== 'por' && v !== 'dfs') throw new InvalidArgumentError('expected random, pct, por or dfs');
  return v;
}

function summary(r: ExploreResult): string[] {
  const lines = [
    `${r.scenario}${r.variant ? ` (variant ${r.variant})` : ''}: ${r.schedules} schedule(s) under ${r.strategy}${r.strategy === 'pct' ? ` depth ${r.depth}` : ''}, ${r.distinctEndStates} distinct end state(s)` +
      (r.pruned ? `, ${r.pruned} redundant run(s) pruned` : '') + (r.bounded ? `, ${r.bounded} hit the step bound` : ''),
  ];
  if (r.failures.length === 0) lines.push('no invariant failed');
  for (const f of r.failures.slice(0, 10)) lines.push(`FAIL schedule [${f.key.join(',')}]: ${f.invariant}: ${f.message}`);
  if (r.failures.length > 10) lines.push(`… and ${r.failures.length - 10} more failure(s)`);
  return lines;
}

/**
 * A built-in scenario by name, a text scenario (`.scn`, scenario/FORMAT.md),
 * or a JSON file: a scenario as scenarioToJson writes it, or an explorer
 * report (`*.scenario.json`) holding one.
 */
export function loadExploreScenario(name: string): Scenario {
  if (/\.(scn|txt)$/.test(name)) {
    let text: string;
    try {
      text = readFileSync(name, 'utf8');
    } catch (e) {
      throw new Error(`cannot read ${name}: ${(e as Error).message}`);
    }
    return scenarioFromText(text, name);
  }
  if (!name.endsWith('.json')) return scenarioByName(name);
  let v: any;
  try {
    v = JSON.parse(readFileSync(name, 'utf8'));
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`);
  }
  const sc = parseScenario(v && typeof v === 'object' && 'scenario' in v ? v.scenario : v);
  if (!sc || !Array.isArray((sc as Scenario).threads)) throw new Error(`${name}: not an explorer scenario (no threads)`);
  return sc;
}

export function registerExploreCommand(program: Command): void {
  const cmd = program
    .command('explore')
    .description('explore thread interleavings of a scenario and check invariants after every delivery')
    .argument('<scenario>', 'built-in scenario name (below), a text scenario .scn (its parallel block\'s lanes are the threads), or a scenario .json file')
    .addHelpText('after', () => `\n${builtinsHelp()}\n`)
    .option('--strategy <name>', 'random | pct | por | dfs (plain enumeration)', parseStrategy, 'random' as StrategyName)
    .option('--depth <d>', 'PCT bug depth', parseIntOpt, 3)
    .option('--schedules <n>', 'schedule budget', parseIntOpt)
    .option('--time <s>', 'wall-clock budget in seconds (decides only how many schedules run)', parseIntOpt)
    .option('--workers <w>', 'threads exploring (this one and w-1 worker threads; the result is the same for any w)', parseIntOpt, 1)
    .option('--shard <i/n>', 'run the i-th of n disjoint slices of the schedule space', parseShard)
    .option('--variant <id>', 'run a known-bug variant of the model (spec/bugs.md)')
    .option('--seed <seed>', 'base seed of the schedules', parseSeed, 1)
    .option('--max-steps <n>', 'delivery bound per schedule', parseIntOpt, 20_000)
    .option('--out <dir>', 'write result JSON, shrunk journals and explanations here')
    .option('--all', 'collect every failure instead of stopping at the first')
    .option('--no-shrink', 'do not shrink failures')
    .option('--json', 'print the result JSON on stdout')
    .action(async (name: string, o: { strategy: StrategyName; depth: number; schedules?: number; time?: number; workers: number; shard?: [number, number]; variant?: string; seed: number | string; maxSteps: number; out?: string; all?: boolean; shrink: boolean; json?: boolean }) => {
      if (o.variant && !VARIANTS[o.variant]) throw new CliError(`unknown variant '${o.variant}' (implemented: ${Object.keys(VARIANTS).join(', ')})`);
      let scenario;
      try {
        scenario = loadExploreScenario(name);
        // A text scenario's setup runs its statements: errors there are the file's, so find them now, not in a worker.
        if (scenario.script) runScenario(scenario, { variant: o.variant ?? null, chooser: chooserOf({ name: 'fifo' }), maxSteps: o.maxSteps });
      } catch (e) {
        if (e instanceof ScenarioError) throw new CliError(`${e.message}\n${USAGE}`);
        throw new CliError((e as Error).message);
      }
      // Output files are named after the scenario, whether it came by name or from a file.
      const label = scenario.name ?? basename(name, '.json');
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: 'explore [{bar}] {value} schedules | {rate}/s | {distinct} end states | {failures} failures', stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
        : null;
      const total = o.schedules ?? (o.time ? 0 : 1000);
      // Wall clock only for the progress display's rate.
      const t0 = performance.now();
      bar?.start(total || 1, 0, { rate: 0, distinct: 0, failures: 0 });
      const result = await exploreParallel(
        {
          scenario, variant: o.variant ?? null, strategy: o.strategy, depth: o.depth, seed: o.seed, maxSteps: o.maxSteps, all: o.all ?? false,
          ...(o.schedules !== undefined ? { schedules: o.schedules } : {}), ...(o.time !== undefined ? { timeMs: o.time * 1000 } : {}),
          ...(o.shard ? { slice: o.shard } : {}),
          onProgress: (p) => bar?.update(p.schedules, { rate: Math.round(p.schedules / Math.max(0.001, (performance.now() - t0) / 1000)), distinct: p.distinct, failures: p.failures }),
        },
        o.workers,
      );
      bar?.stop();
      const secs = (performance.now() - t0) / 1000;
      for (const l of summary(result)) out(l);
      out(`${(result.schedules / Math.max(secs, 1e-3)).toFixed(0)} schedules/s over ${secs.toFixed(1)} s with ${o.workers} worker(s)`);
      if (o.out) mkdirSync(o.out, { recursive: true });
      if (o.out) {
        const file = join(o.out, `${label}${o.variant ? `-${o.variant}` : ''}${o.shard ? `-shard${o.shard[0]}of${o.shard[1]}` : ''}.json`);
        writeFileSync(file, toJson(result, 1) + '\n');
        out(`result: ${file}`);
      }
      if (o.json) out(toJson(result));
      if (o.shrink && result.failures.length > 0) {
        const f = result.failures[0]!;
        const s = shrink({ scenario, variant: o.variant ?? null, choices: f.choices, invariant: f.invariant, maxSteps: o.maxSteps });
        out(`shrunk in ${s.runs} re-runs to ${s.size.threads} thread(s), ${s.size.calls} call(s), ${s.size.choices} choice(s):`);
        out(s.explanation.text);
        if (o.out) {
          const base = join(o.out, `${label}${o.variant ? `-${o.variant}` : ''}-${f.invariant.replace(/[^a-z0-9-]/gi, '_')}`);
          writeFileSync(`${base}.journal`, s.journal);
          writeFileSync(`${base}.txt`, s.explanation.text + '\n');
          writeFileSync(`${base}.scenario.json`, toJson({ scenario: scenarioToJson(s.scenario), variant: o.variant ?? null, choices: s.choices, violation: s.violation }, 1) + '\n');
          out(`journal: ${base}.journal (iommufd-sim replay ${base}.journal)`);
        }
      }
      // main() returns the exit code, so a found failure has to travel as an error to make it 1.
      if (result.failures.length > 0) throw new CliError(`${result.failures.length} failure(s) found`, 1);
    });
  cmd
    .command('merge')
    .description('merge explore results of disjoint shards (JSON files) into one')
    .argument('<files...>', 'result JSON files')
    .option('-o, --output <file>', 'write the merged JSON here instead of stdout')
    .action((files: string[], o: { output?: string }) => {
      const rs = files.map((f) => {
        try {
          return JSON.parse(readFileSync(f, 'utf8')) as ExploreResult;
        } catch (e) {
          throw new CliError(`cannot read ${f}: ${(e as Error).message}`);
        }
      });
      let m: ExploreResult;
      try {
        m = mergeResults(rs);
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      if (o.output) {
        writeFileSync(o.output, toJson(m, 1) + '\n');
        for (const l of summary(m)) out(l);
      } else out(toJson(m, 1));
    });
}
