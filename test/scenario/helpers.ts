import { Simulation, type SimOptions } from '../../actors/sim.ts';
import { JournalWriter, memorySink } from '../../journal/index.ts';
import { runScenario, type ScenarioResult } from '../../scenario/run.ts';

/** Run scenario text in a journaled simulation; the same name and options give the same header. */
export function journalScenario(text: string, o: Omit<SimOptions, 'journal'> = {}): { bytes: Uint8Array; result: ScenarioResult; sim: Simulation } {
  const sink = memorySink();
  const sim = new Simulation({ seed: 1, ...o, journal: new JournalWriter(sink), scenario: { name: 'test' } });
  const result = runScenario(sim, text, 'test.scn');
  sim.close({ scenario: 'test' });
  return { bytes: sink.bytes(), result, sim };
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** Run a CLI command through cli/main.ts with stdout and stderr captured. */
export async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('../../cli/main.ts');
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'iommufd-sim', ...argv]);
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}
