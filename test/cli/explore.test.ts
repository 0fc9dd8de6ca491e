/** `iommufd-sim explore` on text scenarios, its errors and its --help. */
import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import { SCENARIOS, VARIANTS } from '../../explore/scenarios.ts';
import { replayViolation } from '../../explore/journal.ts';
import { parseScenario } from '../../explore/scenario.ts';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(['node', 'iommufd-sim', ...args]);
    return { code, out: out.mock.calls.map((c) => String(c[0])).join(''), err: err.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const USAGE = 'usage: iommufd-sim explore [options] <scenario>  (iommufd-sim explore --help lists the built-in scenarios and variants)';
const example = join(import.meta.dirname, '../../examples/destroy-race.scn');

describe('explore FILE.scn', () => {
  it('finds B01 in a two-thread text scenario (exit 1, shrunk journal replays), and the correct model passes (exit 0)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iommufd-sim-explore-'));
    const bad = await cli('explore', example, '--variant', 'B01', '--schedules', '200', '--out', dir);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe('iommufd-sim: 1 failure(s) found\n');
    expect(bad.out).toMatch(/^destroy-race \(variant B01\): \d+ schedule\(s\) under random/);
    expect(bad.out).toMatch(/\nFAIL schedule \[\d+\]: expect:1[12]: .*destroy-race\.scn:1[12]:3: t[12]: IOMMU_DESTROY id=\$ioas expect ok\|ENOENT: expected ok\|ENOENT, got EBUSY\n/);
    const files = readdirSync(dir).sort();
    const journal = files.find((f) => f.endsWith('.journal'))!;
    expect(journal).toMatch(/^destroy-race-B01-expect_1[12]\.journal$/);
    const report = JSON.parse(readFileSync(join(dir, journal.replace(/\.journal$/, '.scenario.json')), 'utf8'));
    const rep = replayViolation(new Uint8Array(readFileSync(join(dir, journal))), parseScenario(report.scenario));
    expect(rep.divergence).toBeNull();
    expect(rep.violation?.invariant).toMatch(/^expect:1[12]$/);

    const good = await cli('explore', example, '--schedules', '100', '--strategy', 'pct');
    expect(good.code).toBe(0);
    expect(good.err).toBe('');
    expect(good.out).toMatch(/^destroy-race: 100 schedule\(s\) under pct depth 3, 2 distinct end state\(s\)\nno invariant failed\n/);
  });

  it('2 workers give the same result on a text scenario as one', async () => {
    const one = await cli('explore', example, '--schedules', '60', '--all', '--json', '--no-shrink');
    const two = await cli('explore', example, '--schedules', '60', '--all', '--json', '--no-shrink', '--workers', '2');
    const body = (s: string) => {
      const r = JSON.parse(s.split('\n').find((l) => l.startsWith('{'))!);
      return { schedules: r.schedules, endStates: r.endStates, runs: r.runs, failures: r.failures };
    };
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    expect(body(two.out)).toEqual(body(one.out));
  });

  it('a malformed .scn gives file:line:col, the usage line and exit 2, no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iommufd-sim-explore-'));
    const f = join(dir, 'bad.scn');
    writeFileSync(f, 'proc p\nthread t1 of p\nopen fd = p /dev/iommu\nparallel {\n  t1: IOMMU_IOAS_MAP iovaa=1\n}\n');
    const r = await cli('explore', f);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe(`iommufd-sim: ${f}:5:22: unknown field 'iovaa' for IOMMU_IOAS_MAP (fields: size, flags, ioas_id, __reserved, user_va, length, iova)\n${USAGE}\n`);

    // Errors the setup finds (an unset variable in a lane) are reported the same way, before anything runs.
    writeFileSync(f, 'proc p\nthread t1 of p\nopen fd = p /dev/iommu\nparallel {\n  t1: IOMMU_DESTROY id=$nope\n}\n');
    const s = await cli('explore', f, '--workers', '2');
    expect(s.code).toBe(2);
    expect(s.err).toBe(`iommufd-sim: ${f}:5:24: $nope is not set (no earlier statement defines it, or the call that would have set it failed)\n${USAGE}\n`);

    const missing = await cli('explore', join(dir, 'nope.scn'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(new RegExp(`^iommufd-sim: cannot read ${join(dir, 'nope.scn').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ENOENT`));
  });

  it('--help lists every built-in scenario and every variant, one line each', async () => {
    const r = await cli('explore', '--help');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    for (const s of Object.values(SCENARIOS)) {
      expect(lines.filter((l) => new RegExp(`^  ${s.name} +${s.description.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`).test(l))).toHaveLength(1);
    }
    for (const [id, v] of Object.entries(VARIANTS)) {
      expect(lines.filter((l) => l.startsWith(`  ${id} `) && l.endsWith(`${v.summary} [${v.scenario}]`))).toHaveLength(1);
    }
  });
});
