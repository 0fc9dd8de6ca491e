/** `iommufd-sim fuzz [--time S] [--seed S] [--out DIR]`: random raw-ABI programs with invariant checks. */
import type { Command } from 'commander';
import { fuzz, type FuzzStats } from '../fuzz/index.ts';
import { CliError, err, out, parseIntOpt, parseSeed } from './util.ts';

function line(s: FuzzStats): string {
  const rate = s.seconds > 0 ? (s.programs / s.seconds).toFixed(1) : '0';
  const irate = s.seconds > 0 ? Math.round(s.ioctls / s.seconds) : 0;
  return `${s.seconds.toFixed(0)}s: ${s.programs} programs (${rate}/s, ${irate} ioctls/s), ${s.pairs} distinct errno/ioctl pairs, ${s.failures} failures`;
}

export function registerFuzzCommand(program: Command): void {
  program
    .command('fuzz')
    .description('run random ioctl programs (valid, mutated, garbage, concurrent) and check the simulator never breaks')
    .option('--time <s>', 'seconds to run', parseIntOpt, 60)
    .option('--seed <s>', 'seed of the program generator', parseSeed, 1 as number | string)
    .option('--out <dir>', 'where failing programs go (journal + scenario)', 'fuzz-failures')
    .option('--programs <n>', 'stop after this many programs', parseIntOpt)
    .option('--calls <n>', 'calls per program', parseIntOpt, 24)
    .option('--pairs', 'list the errno/ioctl pairs reached at the end')
    .action((o: { time: number; seed: number | string; out: string; programs?: number; calls: number; pairs?: boolean }) => {
      const tty = process.stderr.isTTY;
      const r = fuzz({
        time: o.time, seed: o.seed, out: o.out, programs: o.programs, callsPerProgram: o.calls,
        onProgress: (s) => (tty ? process.stderr.write(`\r${line(s)}   `) : err(line(s))),
      });
      if (tty) process.stderr.write('\n');
      out(line(r));
      if (o.pairs) for (const p of r.pairList) out(`  ${p}`);
      for (const s of r.saved) {
        out(`failure (${s.failure.kind}) from program ${s.programSeed}, shrunk ${s.calls} -> ${s.shrunkCalls} calls: ${s.failure.message.split(' | ')[0]}`);
        for (const f of s.files) out(`  ${f}`);
      }
      if (r.failures) throw new CliError(`${r.failures} failing program(s), ${r.saved.length} distinct`, 1);
    });
}
