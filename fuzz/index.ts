/**
 * The fuzz loop: generate, execute with invariant checks, count distinct
 * (ioctl, errno) pairs, and for each new kind of failure shrink the program
 * and save it as a journal plus the scenario text the journal exports to.
 * Program generation is a function of the seed alone; the wall clock only
 * decides when to stop and when to print progress.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JournalWriter, memorySink } from '../journal/index.ts';
import { exportScenario } from '../scenario/export.ts';
import { execute, shrink, type Failure, type FuzzProgram } from './exec.ts';
import { generate } from './gen.ts';

export { execute, shrink, generate };
export type { Failure, FuzzProgram };

export interface FuzzOptions {
  seed?: number | string;
  /** Seconds of wall-clock budget. */
  time?: number;
  /** Stop after this many programs (whichever comes first). */
  programs?: number;
  /** Directory for failure journals and scenarios (none: keep them in memory only). */
  out?: string;
  callsPerProgram?: number;
  onProgress?: (s: FuzzStats) => void;
}

export interface SavedFailure {
  failure: Failure;
  programSeed: string;
  calls: number;
  shrunkCalls: number;
  /** The shrunk program: executing it again gives the same failure. */
  program: FuzzProgram;
  journal: Uint8Array;
  scenario: string;
  files: string[];
}

export interface FuzzStats {
  programs: number;
  ioctls: number;
  seconds: number;
  pairs: number;
  failures: number;
}

export interface FuzzReport extends FuzzStats {
  pairList: string[];
  saved: SavedFailure[];
}

/** Two failures are the same bug when kind and message agree once numbers are blurred. */
function signature(f: Failure): string {
  return `${f.kind}:${f.message.split('; ')[0]!.replace(/0x[0-9a-f]+|\d+/g, 'N').slice(0, 160)}`;
}

export function saveFailure(prog: FuzzProgram, failure: Failure, seed: string, dir: string | undefined, index: number): SavedFailure {
  const small = shrink(prog, failure.kind);
  const sink = memorySink();
  const r = execute(small, { journal: new JournalWriter(sink) });
  const journal = sink.bytes();
  let scenario: string;
  try {
    scenario = exportScenario(journal, `fuzz program ${seed}`).text;
  } catch (e) {
    scenario = `# the journal could not be exported: ${(e as Error).message}\n`;
  }
  const f = r.failure ?? failure;
  const files: string[] = [];
  if (dir) {
    mkdirSync(dir, { recursive: true });
    const base = join(dir, `failure-${index}`);
    writeFileSync(`${base}.journal`, journal);
    writeFileSync(`${base}.scn`, `# ${f.kind} at call ${f.at}: ${f.message}\n# program seed ${seed}\n${scenario}`);
    files.push(`${base}.journal`, `${base}.scn`);
  }
  return { failure: f, programSeed: seed, calls: prog.calls.length, shrunkCalls: small.calls.length, program: small, journal, scenario, files };
}

export function fuzz(o: FuzzOptions = {}): FuzzReport {
  const seed = o.seed ?? 1;
  const start = Date.now();
  const deadline = start + (o.time ?? 10) * 1000;
  const pairs = new Set<string>();
  const seen = new Set<string>();
  const saved: SavedFailure[] = [];
  let programs = 0;
  let ioctls = 0;
  let failures = 0;
  let lastProgress = start;
  const stats = (): FuzzStats => ({ programs, ioctls, seconds: (Date.now() - start) / 1000, pairs: pairs.size, failures });
  while (Date.now() < deadline && (o.programs === undefined || programs < o.programs)) {
    const ps = `${seed}:${programs}`;
    const prog = generate(ps, o.callsPerProgram ?? 24);
    const r = execute(prog);
    programs++;
    ioctls += r.ioctls;
    for (const p of r.pairs) pairs.add(p);
    if (r.failure) {
      failures++;
      const sig = signature(r.failure);
      if (!seen.has(sig)) {
        seen.add(sig);
        const s = saveFailure(prog, r.failure, ps, o.out, saved.length + 1);
        const shrunk = signature(s.failure);
        // the shrunk program may show the same bug another program already showed
        if (shrunk === sig || !seen.has(shrunk)) saved.push(s);
        seen.add(shrunk);
      }
    }
    if (o.onProgress && Date.now() - lastProgress > 1000) {
      lastProgress = Date.now();
      o.onProgress(stats());
    }
  }
  return { ...stats(), pairList: [...pairs].sort(), saved };
}
