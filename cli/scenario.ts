/**
 * Scenario-language commands: `export FILE --to scenario|syz` (a journal back
 * into text) and `import syz FILE [--run] [--journal F]`, plus the loader
 * `run` uses for `.scn`/`.txt` files.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Simulation } from '../actors/sim.ts';
import type { StrategySpec } from '../actors/runtime/strategy.ts';
import { JournalWriter, fileSink, JournalError } from '../journal/index.ts';
import { exportScenario } from '../scenario/export.ts';
import { runScenario } from '../scenario/run.ts';
import { ScenarioError } from '../scenario/parse.ts';
import { exportSyz, importSyz } from '../scenario/syz.ts';
import { openJournal } from './journal.ts';
import { CliError, err, out, parseSeed } from './util.ts';

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Run scenario text in `sim`, print what each line did; parse errors exit 2, missed expectations exit 1. */
export function runScenarioText(sim: Simulation, text: string, file: string, quiet = false): void {
  let r;
  try {
    r = runScenario(sim, text, file);
  } catch (e) {
    if (e instanceof ScenarioError) throw new CliError(e.message);
    throw e;
  }
  if (!quiet) for (const l of r.log) out(`  ${l}`);
  for (const f of r.failures) err(`${file}:${f.pos.line}:${f.pos.col}: expectation failed: ${f.message}`);
  if (r.failures.length) throw new CliError(`${r.failures.length} expectation(s) failed`, 1);
}

/** The `run` loader for scenario text files. */
export function scenarioFileFn(path: string): (sim: Simulation) => void {
  const text = readText(path);
  return (sim) => runScenarioText(sim, text, path);
}

function journalBytes(file: string): Uint8Array {
  return openJournal(file).bytes;
}

export function registerScenarioCommands(program: Command): void {
  program
    .command('export')
    .description('turn a journal back into a scenario (text format) or a syz program')
    .argument('<file>', 'journal file')
    .option('--to <format>', 'scenario or syz', 'scenario')
    .option('--out <file>', 'write here instead of stdout')
    .action((file: string, o: { to: string; out?: string }) => {
      if (o.to !== 'scenario' && o.to !== 'syz') throw new CliError(`--to must be scenario or syz (got '${o.to}')`);
      const bytes = journalBytes(file);
      let text: string;
      let notes: string[];
      try {
        if (o.to === 'scenario') {
          const r = exportScenario(bytes, file);
          text = r.text;
          notes = r.warnings;
        } else {
          const r = exportSyz(bytes);
          text = r.program;
          notes = r.skipped;
        }
      } catch (e) {
        if (e instanceof JournalError) throw new CliError(`${file}: ${e.message}`);
        throw new CliError(`${file}: ${(e as Error).message}`, 1);
      }
      if (o.out) writeFileSync(o.out, text);
      else process.stdout.write(text);
      for (const n of notes) err(`note: not expressible in ${o.to}: ${n}`);
    });

  const imp = program.command('import').description('import programs from other tools');
  imp
    .command('syz')
    .description('import a syzkaller program (iommufd ioctls) as a scenario; --run runs it')
    .argument('<file>', 'syz program')
    .option('--run', 'run the imported program and journal it')
    .option('--journal <file>', 'journal path for --run (default: <file>.journal)')
    .option('--scenario <file>', 'also write the scenario text here')
    .option('--seed <s>', 'PRNG seed', parseSeed, 1 as number | string)
    .option('--strategy <name>', 'fifo, random or pct', 'fifo')
    .action((file: string, o: { run?: boolean; journal?: string; scenario?: string; seed: number | string; strategy: string }) => {
      const r = importSyz(readText(file));
      for (const u of r.unsupported) err(`${file}:${u.line}: unsupported: ${u.message}`);
      if (o.scenario) writeFileSync(o.scenario, r.scenario);
      if (!o.run) {
        if (!o.scenario) process.stdout.write(r.scenario);
        return;
      }
      if (!['fifo', 'random', 'pct'].includes(o.strategy)) throw new CliError(`--strategy must be fifo, random or pct (got '${o.strategy}')`);
      const strategy: StrategySpec = o.strategy === 'fifo' ? { name: 'fifo' } : o.strategy === 'random' ? { name: 'random', seed: o.seed } : { name: 'pct', seed: o.seed, depth: 3, steps: 1000 };
      const jf = o.journal ?? `${file}.journal`;
      const sim = new Simulation({ seed: o.seed, strategy, journal: new JournalWriter(fileSink(jf)), scenario: { name: file, source: 'syz' } });
      try {
        runScenarioText(sim, r.scenario, `${file} (imported)`);
      } finally {
        sim.close({ scenario: file });
      }
      out(`${file}: ${r.calls} ioctl(s), ${r.unsupported.length} unsupported, ${sim.deliveries} deliveries, journal written to ${jf}`);
    });
}
