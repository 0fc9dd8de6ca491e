// The commands through cli/main.ts main(argv): run a .scn file, export, import syz, and hostile journals
// (truncated, bit-flipped, oversized length) that must give an error naming the offset, never a crash.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyJournal, JournalReader, JournalError } from '../../journal/index.ts';
import { ReplaySession } from '../../replay/session.ts';
import { exportScenario } from '../../scenario/export.ts';
import { cli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'scn-cli-'));
const EX = join(import.meta.dirname, '../../examples/cold-plug.scn');

describe('run / export / import from the command line', () => {
  it('run SCENARIO.scn journals it; replay matches; export gives scenario text that runs to the same journal', async () => {
    const j1 = join(dir, 'a.journal');
    const r = await cli(['run', EX, '--journal', j1]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('IOMMU_IOAS_ALLOC -> ok ioas=1');
    expect((await cli(['replay', j1])).out).toContain('replay matched');
    const scn = join(dir, 'b.scn');
    expect((await cli(['export', j1, '--to', 'scenario', '--out', scn])).code).toBe(0);
    const j2 = join(dir, 'b.journal');
    expect((await cli(['run', scn, '--journal', j2])).code).toBe(0);
    // the header and the trailer name the scenario file: compare everything between
    const inputs = (f: string) => [...JournalReader.fromBytes(readFileSync(f)).records()].filter((x) => x.type !== 'header' && x.type !== 'end').map((x) => JSON.stringify(x.value, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    expect(inputs(j2)).toEqual(inputs(j1));
  });

  it('a scenario with a typo exits 2 with file:line:col; a missed expectation exits 1', async () => {
    const bad = join(dir, 'bad.scn');
    writeFileSync(bad, 'proc p\nopen fd = p /dev/iommu\np: IOMMU_IOAS_ALLOC flagz=1\n');
    const r = await cli(['run', bad, '--journal', join(dir, 'bad.journal')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${bad}:3:21: unknown field 'flagz' for IOMMU_IOAS_ALLOC (fields: size, flags, out_ioas_id)`);
    const miss = join(dir, 'miss.scn');
    writeFileSync(miss, 'proc p\nopen fd = p /dev/iommu\np: IOMMU_IOAS_ALLOC flags=1 expect ok\n');
    const m = await cli(['run', miss, '--journal', join(dir, 'miss.journal')]);
    expect(m.code).toBe(1);
    expect(m.err).toContain(`${miss}:3:1: expectation failed: IOMMU_IOAS_ALLOC: expected ok, got EOPNOTSUPP`);
  });

  it('import syz --run journals the program and reports unsupported lines', async () => {
    const prog = join(dir, 'p.syz');
    writeFileSync(prog, "r0 = openat$iommufd(0xffffffffffffff9c, &(0x7f0000000000)='/dev/iommu\\x00', 0x2, 0x0)\nioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x0, <r1=>0x0})\npipe(&(0x7f0000000100))\n");
    const j = join(dir, 'p.journal');
    const r = await cli(['import', 'syz', prog, '--run', '--journal', j]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`${prog}:3: unsupported: system call pipe`);
    expect(verifyJournal(readFileSync(j)).ok).toBe(true);
    const s = await cli(['export', j, '--to', 'syz']);
    expect(s.out).toContain('ioctl$IOMMU_IOAS_ALLOC(r0, 0x3b81, &(0x7f0000000040)={0xc, 0x0, <r1=>0x0})');
  });
});

describe('hostile journals', async () => {
  const good = join(dir, 'good.journal');
  await cli(['run', EX, '--journal', good]);
  const bytes = new Uint8Array(readFileSync(good));
  const u32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getUint32(o, true);
  const second = 12 + 12 + u32(bytes, 12);

  const cases: [string, Uint8Array][] = [];
  for (const cut of [5, 12, 20, second + 3, Math.floor(bytes.length / 2), bytes.length - 1]) cases.push([`truncated at ${cut}`, bytes.slice(0, cut)]);
  for (const at of [9, 14, 30, second + 9, Math.floor(bytes.length / 3), bytes.length - 6]) {
    const b = bytes.slice();
    b[at]! ^= 0x40;
    cases.push([`bit flip at ${at}`, b]);
  }
  for (const len of [0xffffffff, 0x40000001, 0x3ffffff0, 0]) {
    const b = bytes.slice();
    new DataView(b.buffer).setUint32(second, len, true);
    cases.push([`length ${len.toString(16)} in record 1`, b]);
  }

  for (const [name, b] of cases) {
    it(`${name}: replay and journal verify name the offset and exit 1 or 2, never crash`, async () => {
      const f = join(dir, `${name.replace(/\W+/g, '_')}.journal`);
      writeFileSync(f, b);
      for (const cmd of [['replay', f], ['journal', 'verify', f], ['export', f]]) {
        const r = await cli(cmd);
        expect(r.code, `${cmd.join(' ')}: ${r.err}`).toBeGreaterThanOrEqual(1);
        expect(r.code).toBeLessThanOrEqual(2);
        expect(r.err).not.toContain('internal error');
        expect(r.err).toMatch(/byte \d+|shorter than|bad magic|unsupported format version/);
      }
      // the functions too: a JournalError with an offset inside the file
      const v = verifyJournal(b);
      expect(v.ok).toBe(false);
      if (!v.ok) expect(v.offset).toBeLessThanOrEqual(b.length);
      expect(() => ReplaySession.fromBytes(b).runToEnd()).toThrow(JournalError);
      expect(() => exportScenario(b)).toThrow(JournalError);
    });
  }
});
