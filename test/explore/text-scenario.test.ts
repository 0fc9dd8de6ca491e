/**
 * Text scenarios (.scn) explored: lanes of the parallel block are the
 * threads, setup is the text before it, closes and DMA after it run once the
 * threads are quiet; lane `expect` clauses are the oracle.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { explore, exploreParallel, replayViolation, resultSignature, runScenario, chooserOf, shrink } from '../../explore/index.ts';
import { scenarioFromText } from '../../explore/text.ts';
import { scenarioThreadIds } from '../../explore/run.ts';
import { ScenarioError } from '../../scenario/parse.ts';
import { deviceActorId } from '../../actors/hw/device.ts';
import { JournalWriter, memorySink } from '../../journal/index.ts';
import { threadActorId } from '../../actors/thread.ts';

const file = join(import.meta.dirname, '../../examples/destroy-race.scn');
const destroyRace = () => scenarioFromText(readFileSync(file, 'utf8'), 'examples/destroy-race.scn');

// Two processes, so the lanes' threads are not tids 2, 3 of pid 1; a DMA and closes after the block.
const DMA = `# map/unmap race under an attached device, then the device reads and the files close
proc other uid=1000
proc qemu uid=1000 memlock=64M
thread t1 of qemu
thread t2 of other
mmap ram = qemu 1M rw
mmap oram = other 1M rw
open iommufd = qemu /dev/iommu
open ofd = other /dev/iommu
open vfio = qemu vfio0
qemu: IOMMU_IOAS_ALLOC -> ioas expect ok
other: IOMMU_IOAS_ALLOC on ofd -> oioas expect ok
qemu: VFIO_DEVICE_BIND_IOMMUFD on vfio iommufd=$iommufd -> dev expect ok
qemu: VFIO_DEVICE_ATTACH_IOMMUFD_PT on vfio pt_id=$ioas expect ok
parallel {
  t1: IOMMU_IOAS_MAP ioas_id=$ioas flags=READABLE|WRITEABLE|FIXED_IOVA user_va=$ram length=64K iova=0x100000 expect ok
  t1: IOMMU_IOAS_UNMAP ioas_id=$ioas iova=0x100000 length=64K expect ok
  t2: IOMMU_IOAS_MAP on ofd ioas_id=$oioas flags=READABLE|WRITEABLE|FIXED_IOVA user_va=$oram length=64K iova=0x100000 expect ok
}
dma dev0 read 0x100000 64
close vfio
close iommufd
close ofd
`;

describe('explore: text scenarios', () => {
  it('turns each lane into a thread of line calls and keeps the text for the setup', () => {
    const sc = destroyRace();
    expect(sc.name).toBe('destroy-race');
    expect(sc.setup).toEqual([]);
    expect(sc.threads).toEqual([
      [{ op: 'line', line: 11, col: 3, text: 't1: IOMMU_DESTROY id=$ioas expect ok|ENOENT', expect: [0, 2] }],
      [{ op: 'line', line: 12, col: 3, text: 't2: IOMMU_DESTROY id=$ioas expect ok|ENOENT', expect: [0, 2] }],
    ]);
    expect(sc.script?.file).toBe('examples/destroy-race.scn');
  });

  it.each(['random', 'pct', 'por'] as const)('B01 is found by %s in the text version of destroy-race', (strategy) => {
    const r = explore({ scenario: destroyRace(), variant: 'B01', strategy, schedules: 200 });
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]!.invariant).toMatch(/^expect:1[12]$/);
    expect(r.failures[0]!.message).toMatch(new RegExp(`^examples/destroy-race\\.scn:1[12]:3: t[12]: IOMMU_DESTROY id=\\$ioas expect ok\\|ENOENT: expected ok\\|ENOENT, got EBUSY$`));
  });

  it('the correct model passes random schedules and the whole POR tree', () => {
    expect(explore({ scenario: destroyRace(), strategy: 'random', schedules: 100, all: true }).failures).toEqual([]);
    const por = explore({ scenario: destroyRace(), strategy: 'por', schedules: 5000, all: true });
    expect(por.failures).toEqual([]);
    expect(por.schedules).toBeLessThan(5000);
    expect(por.distinctEndStates).toBe(2);
  });

  it('the shrunk failure journals and replays byte for byte to the same violation', () => {
    const sc = destroyRace();
    const f = explore({ scenario: sc, variant: 'B01', strategy: 'random', schedules: 200 }).failures[0]!;
    const s = shrink({ scenario: sc, variant: 'B01', choices: f.choices, invariant: f.invariant });
    expect(s.violation.invariant).toBe(f.invariant);
    const rep = replayViolation(s.journal, s.scenario);
    expect(rep.divergence).toBeNull();
    expect(rep.violation?.message).toBe(s.violation.message);
    // The same run journaled twice is the same bytes.
    const again = () => {
      const sink = memorySink();
      runScenario(s.scenario, { variant: 'B01', chooser: chooserOf({ name: 'replay', choices: s.choices, fallback: 'fifo' }), journal: new JournalWriter(sink) });
      return sink.bytes();
    };
    expect(Buffer.from(again()).equals(Buffer.from(s.journal))).toBe(true);
    expect(Buffer.from(again()).equals(Buffer.from(again()))).toBe(true);
  });

  it('lanes of two processes run in their processes; DMA and closes after the block run once the threads are quiet', () => {
    const sc = scenarioFromText(DMA, 'dma.scn');
    expect(scenarioThreadIds(sc)).toEqual([threadActorId(2, 2), threadActorId(1, 2)]);
    const r = runScenario(sc, { chooser: chooserOf({ name: 'random', seed: 3 }), record: true });
    expect(r.violation).toBeNull();
    expect(r.results.map((rs) => rs.map((x) => x.errno))).toEqual([[0, 0], [0]]);
    const envs = r.envs!;
    const lanes = new Set([threadActorId(2, 2), threadActorId(1, 2)]);
    const lastThreadRet = Math.max(...envs.map((e, i) => (lanes.has(e.dst) && e.type.endsWith('.ret') ? i : -1)));
    expect(lastThreadRet).toBeGreaterThan(0);
    const dma = envs.findIndex((e) => e.dst === deviceActorId('dev0') && e.type === 'dma.ret');
    const closes = envs.filter((e) => e.type === 'syscall' && (e.body as { call: string }).call === 'close').map((e) => e.src);
    expect(dma).toBeGreaterThan(lastThreadRet);
    // The device reads after t1's unmap: the IOVA is no longer mapped.
    expect(envs[dma]!.body).toEqual({ results: [{ ok: false, fault: 'translation', stage: 0 }], faults: 1 });
    expect(closes).toEqual([threadActorId(2, 1), threadActorId(2, 1), threadActorId(1, 1)]);
    expect(envs.findIndex((e) => e.type === 'syscall' && (e.body as { call: string }).call === 'close')).toBeGreaterThan(dma);
    expect(explore({ scenario: sc, strategy: 'random', schedules: 150, all: true }).failures).toEqual([]);
  });

  it('workers give the same merged result as one process on a text scenario', async () => {
    const o = { scenario: scenarioFromText(DMA, 'dma.scn'), strategy: 'random' as const, schedules: 40, all: true };
    expect(resultSignature(await exploreParallel(o, 2))).toEqual(resultSignature(explore(o)));
  });

  it('refuses what it cannot explore, naming the place', () => {
    const err = (text: string) => {
      try {
        scenarioFromText(text, 'x.scn');
      } catch (e) {
        expect(e).toBeInstanceOf(ScenarioError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err('proc p\nopen fd = p /dev/iommu\n')).toBe('x.scn:1:1: no parallel { } block: explore needs the lanes whose interleavings it tries');
    expect(err('proc p\nthread t of p\nparallel {\n t: IOMMU_IOAS_ALLOC\n}\nparallel {\n t: IOMMU_IOAS_ALLOC\n}\n')).toBe('x.scn:6:1: explore runs one parallel { } block; this is a second one (put its lanes into the first, or split the file)');
    expect(err('proc p\nthread t of p\nparallel {\n t: IOMMU_IOAS_ALLOC\n}\np: IOMMU_IOAS_ALLOC\n')).toBe("x.scn:6:1: 'ioctl' after the parallel block cannot be explored (after it: close, exit, dma)");
  });

  it('a setup statement that misses its expectation fails the run with its place', () => {
    const sc = scenarioFromText('proc p\nthread t of p\nopen fd = p /dev/iommu\np: IOMMU_DESTROY id=7 expect ok\nparallel {\n t: IOMMU_IOAS_ALLOC\n}\n', 'y.scn');
    expect(() => runScenario(sc, { chooser: chooserOf({ name: 'fifo' }) })).toThrow('y.scn:4:1: setup: IOMMU_DESTROY: expected ok, got ENOENT');
  });
});
