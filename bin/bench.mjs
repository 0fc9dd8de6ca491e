#!/usr/bin/env node
// Runs the benchmarks in bench/: `npm run bench` runs all of them one after
// another, `npm run bench -- NAME` only bench/NAME.ts.  Each bench prints its
// side-by-side ratios and ends with one JSON line of its figures.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'bench');
const all = readdirSync(benchDir).filter((f) => f.endsWith('.ts') && !f.startsWith('_')).map((f) => f.slice(0, -3)).sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const extra = process.argv.slice(2).filter((a) => a.startsWith('-'));
for (const name of wanted) {
  if (!existsSync(join(benchDir, `${name}.ts`))) {
    console.error(`bench: no benchmark named '${name}' (have: ${all.join(', ')})`);
    process.exit(2);
  }
}
let failed = 0;
for (const name of wanted.length ? wanted : all) {
  console.log(`\n== bench/${name}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(benchDir, `${name}.ts`), ...extra], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
