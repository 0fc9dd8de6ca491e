/** `iommufd-sim run SCENARIO`: run a scenario and write its journal. */
import { basename, extname, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { parseTopology, type TopologySpec } from '../hardware/topology.ts';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { Simulation } from '../actors/sim.ts';
import type { StrategySpec } from '../actors/runtime/strategy.ts';
import { JournalWriter, fileSink } from '../journal/index.ts';
import { runDemo } from '../scenarios/demo.ts';
import { CliError, out, parseIntOpt, parseSeed } from './util.ts';
import { scenarioFileFn } from './scenario.ts';

/** A scenario module exports `default` (or `run`): a function that drives the simulation. */
export type ScenarioFn = (sim: Simulation) => unknown;

const BUILTIN: Record<string, ScenarioFn> = { demo: (sim) => runDemo(sim) };

async function loadScenario(name: string): Promise<{ fn: ScenarioFn; label: string }> {
  if (BUILTIN[name]) return { fn: BUILTIN[name]!, label: name };
  const path = resolve(name);
  if (!existsSync(path)) throw new CliError(`no scenario '${name}': not a built-in (${Object.keys(BUILTIN).join(', ')}) and no such file`);
  if (/\.(scn|txt)$/.test(path)) return { fn: scenarioFileFn(path), label: basename(path, extname(path)) };
  const mod = (await import(pathToFileURL(path).href)) as { default?: ScenarioFn; run?: ScenarioFn };
  const fn = mod.default ?? mod.run;
  if (typeof fn !== 'function') throw new CliError(`${name}: a scenario module must export a default (or 'run') function taking the simulation`);
  return { fn, label: basename(path, extname(path)) };
}

/** A topology file: JSON as hardware/topology.ts parseTopology accepts it; every problem is listed. */
export function loadTopology(path: string): TopologySpec {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CliError(`--topology ${path}: ${(e as Error).message}`);
  }
  const r = parseTopology(json);
  if (!r.ok) throw new CliError(`--topology ${path}: ${r.errors.join('; ')}`);
  return r.spec;
}

function parseStrategy(v: string): StrategySpec['name'] {
  if (v !== 'fifo' && v !== 'random' && v !== 'pct') throw new CliError(`--strategy must be fifo, random or pct (got '${v}')`);
  return v;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run a scenario (built-in name or a module exporting a function of the simulation) and journal it')
    .argument('<scenario>', `built-in (${Object.keys(BUILTIN).join(', ')}) or path to a .ts/.js module`)
    .option('--seed <s>', 'PRNG seed', parseSeed, 1 as number | string)
    .option('--strategy <name>', 'scheduling strategy: fifo, random or pct', parseStrategy, 'fifo' as StrategySpec['name'])
    .option('--journal <file>', 'journal path (default: <scenario>.journal)')
    .option('--snapshot-every <n>', 'deliveries between snapshots', parseIntOpt, 1000)
    .option('--topology <file>', 'JSON description of the IOMMUs and devices (default: the built-in topology)')
    .action(async (scenario: string, o: { seed: number | string; strategy: StrategySpec['name']; journal?: string; snapshotEvery: number; topology?: string }) => {
      const { fn, label } = await loadScenario(scenario);
      const topology = o.topology ? loadTopology(o.topology) : undefined;
      const file = o.journal ?? `${label}.journal`;
      const strategy: StrategySpec = o.strategy === 'fifo' ? { name: 'fifo' } : o.strategy === 'random' ? { name: 'random', seed: o.seed } : { name: 'pct', seed: o.seed, depth: 3, steps: 1000 };
      const sim = new Simulation({ seed: o.seed, strategy, journal: new JournalWriter(fileSink(file)), snapshotEvery: o.snapshotEvery, scenario: { name: label, source: scenario }, ...(topology ? { topology } : {}) });
      try {
        await fn(sim);
      } finally {
        sim.close({ scenario: label });
      }
      out(`${label}: ${sim.deliveries} deliveries, journal written to ${file}`);
    });
}
