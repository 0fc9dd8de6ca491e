/**
 * DMA as a lane of a parallel block: `t2: dma dev0 …` rings the device's
 * doorbell (the dma system call) and waits for the burst, which reaches the
 * translation actor as a delivery of its own, so a schedule can put it
 * before, between or after another lane's deliveries.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { explore, replayViolation, shrink } from '../../explore/index.ts';
import { scenarioFromText } from '../../explore/text.ts';
import { parseScenario, ScenarioError } from '../../scenario/parse.ts';
import { runScenario as runText } from '../../scenario/run.ts';
import { Simulation } from '../../actors/sim.ts';
import { spawnProc } from '../../actors/api.ts';
import { DeviceActor, deviceActorId } from '../../actors/hw/device.ts';
import { EFAULT, ENODEV } from '../../uapi/errno.ts';

const FILE = 'examples/dma-unmap-race.scn';
const TEXT = readFileSync(join(import.meta.dirname, '../..', FILE), 'utf8');
const DMA_LINE = TEXT.split('\n').findIndex((l) => l.includes('t2: dma')) + 1;

function parseError(text: string): string {
  try {
    parseScenario(text, 'x.scn');
  } catch (e) {
    if (e instanceof ScenarioError) return e.message;
    throw e;
  }
  throw new Error('no error');
}

describe('dma in a parallel lane', () => {
  it('parses as the lane thread\'s dma, and refuses what its thread cannot see, naming the place', () => {
    const body = TEXT.split('\n').slice(0, DMA_LINE - 1).join('\n');
    const p = parseScenario(`${body}\n  t2: dma dev0 write 0x100000 4 expect ok|fault\n}\n`, 'x.scn');
    const block = p.stmts.find((s) => s.op === 'parallel') as Extract<(typeof p.stmts)[number], { op: 'parallel' }>;
    expect(block.body.at(-1)).toMatchObject({ op: 'dma', who: 't2', dev: 'dev0', expect: ['ok', 'fault'] });
    expect(parseError('parallel {\n  t2: dma dev0 read 0x1000 8 expect translation\n}\n')).toBe(
      "x.scn:2:37: a lane's dma can expect ok or fault, not 'translation' (the thread learns only whether an access faulted)",
    );
    expect(parseError('parallel {\n  t2: dma dev0 read 0x1000 8 expect ok data=hex:00\n}\n')).toMatch(/^x\.scn:2:40: a lane's dma cannot expect data/);
    expect(parseError('t2: dma dev0 read 0x1000 8\n')).toBe("x.scn:1:5: 't2: dma' is for parallel lanes; outside one write 'dma DEV …' (the device's own burst)");
  });

  it('the example runs: under FIFO the unmap comes first and the lane\'s write faults; under some seeds it lands first', () => {
    const fifo = runText(new Simulation({ seed: 1 }), TEXT, FILE);
    expect(fifo.failures).toEqual([]);
    expect(fifo.log).toContain(`${DMA_LINE}: dma dev0 -> EFAULT`);
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 12; seed++) {
      const r = runText(new Simulation({ seed, strategy: { name: 'random', seed } }), TEXT, FILE);
      expect(r.failures).toEqual([]);
      outcomes.add(r.log.find((l) => l.startsWith(`${DMA_LINE}: dma`))!);
    }
    expect([...outcomes].sort()).toEqual([`${DMA_LINE}: dma dev0 -> EFAULT`, `${DMA_LINE}: dma dev0 -> ok`]);
  });

  it('explore: the correct model passes every schedule tried, and the DMA lands on both sides of the unmap', () => {
    const r = explore({ scenario: scenarioFromText(TEXT, FILE), strategy: 'random', schedules: 150, all: true });
    expect(r.failures).toEqual([]);
    // a landed write leaves different bytes in the freed-for-reuse buffer than a faulted one
    expect(r.distinctEndStates).toBeGreaterThanOrEqual(2);
  });

  it('explore finds the schedule where the unmap wins when the lane insists on ok, and the shrunk journal replays byte for byte', () => {
    const strict = TEXT.replace('expect ok|fault', 'expect ok');
    const sc = scenarioFromText(strict, FILE);
    const r = explore({ scenario: sc, strategy: 'por', schedules: 500 });
    expect(r.failures).toHaveLength(1);
    const f = r.failures[0]!;
    expect(f.invariant).toBe(`expect:${DMA_LINE}`);
    expect(f.message).toBe(`${FILE}:${DMA_LINE}:3: t2: dma dev0 write 0x100000 4 data=hex:a5a5a5a5 expect ok: expected ok, got EFAULT`);
    const s = shrink({ scenario: sc, variant: null, choices: f.choices, invariant: f.invariant });
    const rep = replayViolation(s.journal, s.scenario);
    expect(rep.divergence).toBeNull();
    expect(rep.violation?.message).toBe(s.violation.message);
  });

  it('the dma system call: ENODEV for a device the topology lacks or one that was removed, EFAULT when an access faults', () => {
    const sim = new Simulation({ seed: 1 });
    const p = spawnProc(sim, {});
    expect(p.syscall('dma', { dev: 'nodev', accesses: [] }).errno).toBe(ENODEV);
    // dev0 is attached to nothing: the IOMMU blocks its DMA
    expect(p.syscall('dma', { dev: 'dev0', accesses: [{ iova: 0x1000n, length: 8, write: false }] })).toMatchObject({ errno: EFAULT, ret: 0 });
    const d = sim.rt.actor(deviceActorId('mock0')) as DeviceActor;
    d.st.unplugged = true; // as the selftest's removal of a mock device leaves it
    expect(p.syscall('dma', { dev: 'mock0', accesses: [{ iova: 0x1000n, length: 8, write: false }] }).errno).toBe(ENODEV);
    expect(sim.rt.deadLetters).toEqual([]);
  });
});
