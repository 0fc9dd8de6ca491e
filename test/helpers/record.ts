/** Run a scenario with an in-memory journal and hand back the bytes. */
import { Simulation, type SimOptions } from '../../actors/sim.ts';
import { JournalWriter, memorySink } from '../../journal/index.ts';

export function record(fn: (sim: Simulation) => unknown, opts: SimOptions = {}): { bytes: Uint8Array; sim: Simulation } {
  const sink = memorySink();
  const sim = new Simulation({ snapshotEvery: 16, ...opts, journal: new JournalWriter(sink) });
  fn(sim);
  sim.close();
  return { bytes: sink.bytes(), sim };
}
