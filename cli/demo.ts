/** `iommufd-sim demo`: the built-in scenario, with a readable trace and a journal. */
import type { Command } from 'commander';
import { Simulation } from '../actors/sim.ts';
import { JournalWriter, fileSink } from '../journal/index.ts';
import { runDemo } from '../scenarios/demo.ts';
import { formatEnvelope } from './format.ts';
import { out } from './util.ts';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the built-in demo (a VMM mapping guest RAM) and write its journal')
    .option('--journal <file>', 'where to write the journal', 'iommufd-sim-demo.journal')
    .option('--trace', 'print every delivery, not just the steps')
    .action((o: { journal: string; trace?: boolean }) => {
      const sim = new Simulation({ seed: 1, journal: new JournalWriter(fileSink(o.journal)), scenario: { name: 'demo' }, snapshotEvery: 16 });
      if (o.trace) sim.rt.bus.delivered$.subscribe((e) => out(formatEnvelope(e)));
      const steps = runDemo(sim);
      sim.close({ scenario: 'demo' });
      out('iommufd-sim demo: a VMM maps 16 MiB of guest RAM through /dev/iommu and a VT-d device DMAs from it\n');
      const w = Math.max(...steps.map((s) => s.what.length));
      for (const s of steps) out(`  ${s.what.padEnd(w)}  → ${s.result}`);
      out(`\n${sim.deliveries} deliveries journaled to ${o.journal}`);
      out(`next: iommufd-sim journal dump ${o.journal}   |   iommufd-sim replay ${o.journal}   |   iommufd-sim tt ${o.journal}`);
    });
}
