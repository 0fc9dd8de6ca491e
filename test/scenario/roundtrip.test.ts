// scenario → journal → scenario → journal: the exported text reproduces the journal byte for byte,
// with object ids, fds and pointers written symbolically.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportScenario } from '../../scenario/export.ts';
import { ReplaySession } from '../../replay/session.ts';
import { JournalReader, verifyJournal } from '../../journal/index.ts';
import { journalScenario, sameBytes } from './helpers.ts';
import type { StrategySpec } from '../../actors/runtime/strategy.ts';

const EXAMPLES = join(import.meta.dirname, '../../examples');

const MIXED = `
proc vmm uid=1000 memlock=64M
thread t1 of vmm
thread t2 of vmm
mmap ram = vmm 16M rw
memfd mf = vmm 1M
mmap shm = vmm 1M rw memfd=mf shared
open fd = vmm /dev/iommu
open dev0 = vmm vfio0
vmm: IOMMU_IOAS_ALLOC -> ioas
vmm: VFIO_DEVICE_BIND_IOMMUFD on dev0 iommufd=$fd -> devid expect ok
vmm: VFIO_DEVICE_ATTACH_IOMMUFD_PT on dev0 pt_id=$ioas -> hwpt expect ok
t1: IOMMU_IOAS_MAP ioas_id=$ioas flags=READABLE|WRITEABLE|FIXED_IOVA user_va=$ram length=1M iova=0x100000 expect ok
t1: IOMMU_IOAS_MAP ioas_id=$ioas flags=READABLE|WRITEABLE user_va=$shm length=64K -> auto expect ok
vmm: IOMMU_IOAS_MAP ioas_id=$ioas size=45 flags=READABLE @tail=hex:0000000001 expect E2BIG
vmm: IOMMU_IOAS_MAP ioas_id=$ioas @bytes=16 expect EFAULT
vmm: IOMMU_IOAS_MAP ioas_id=$ioas size=32 expect EINVAL
vmm: 0x3bff @raw=hex:0800000001000000 expect ENOTTY
poke vmm $ram "hello"
dma dev0 read 0x100000 5 expect ok data="hello"
dma dev0 write 0x100000 4 data=hex:41424344, read 0x200000 4 pasid=0
peek vmm $ram 5 expect "ABCDo"
parallel {
  t1: IOMMU_IOAS_ALLOC -> second
  t2: IOMMU_IOAS_MAP ioas_id=$second flags=READABLE length=4K user_va=$ram expect ok|ENOENT
  t2: IOMMU_DESTROY id=$second expect ok|EBUSY|ENOENT
  t1: close dev0
}
vmm: IOMMU_IOAS_UNMAP ioas_id=$ioas iova=0 length=-1
munmap vmm $ram+8M 8M
close fd
`;

function roundTrip(text: string, strategy?: StrategySpec) {
  const a = journalScenario(text, strategy ? { strategy } : {});
  expect(a.result.failures).toEqual([]);
  const exported = exportScenario(a.bytes);
  expect(exported.warnings).toEqual([]);
  const b = journalScenario(exported.text, strategy ? { strategy } : {});
  return { a, b, text: exported.text };
}

describe('journal → scenario export', () => {
  it('a scenario with sequential calls, memfd, raw bytes, DMA, a parallel block with saves: identical journals', () => {
    const { a, b, text } = roundTrip(MIXED);
    expect(b.result.failures).toEqual([]);
    expect(sameBytes(a.bytes, b.bytes)).toBe(true);
    expect(verifyJournal(b.bytes).ok).toBe(true);
    // ids, fds and pointers come back as names
    expect(text).toContain('p1: IOMMU_IOAS_ALLOC -> ioas1 expect ok');
    expect(text).toContain('VFIO_DEVICE_BIND_IOMMUFD iommufd=$iommufd1 -> dev1 expect ok');
    expect(text).toContain('pt_id=$ioas1');
    expect(text).toContain('user_va=$buf1 length=1M iova=0x100000');
    expect(text).toMatch(/t\d: IOMMU_IOAS_ALLOC -> second=out_ioas_id expect ok/);
    expect(text).toMatch(/ioas_id=\$second/);
    expect(text).toContain('@tail=hex:0000000001 expect E2BIG');
    expect(text).toContain('0x3bff @raw=hex:0800000001000000 expect ENOTTY');
  });

  it('under a random schedule the exported scenario replays the same schedule', () => {
    for (const seed of [1, 2, 3]) {
      const { a, b } = roundTrip(MIXED, { name: 'random', seed });
      expect(sameBytes(a.bytes, b.bytes)).toBe(true);
    }
  });

  it('a second export of the re-run journal is the same text (a fixed point)', () => {
    const { b, text } = roundTrip(MIXED);
    expect(exportScenario(b.bytes).text).toBe(text);
  });

  for (const f of readdirSync(EXAMPLES).filter((x) => x.endsWith('.scn'))) {
    it(`example ${f}: round trip`, () => {
      const { a, b } = roundTrip(readFileSync(join(EXAMPLES, f), 'utf8'));
      expect(sameBytes(a.bytes, b.bytes)).toBe(true);
    });
  }
});

describe('examples', () => {
  for (const f of readdirSync(EXAMPLES).filter((x) => x.endsWith('.scn'))) {
    it(`${f} runs with every expectation met and replays without divergence`, () => {
      for (const strategy of [{ name: 'fifo' }, { name: 'random', seed: 5 }] as StrategySpec[]) {
        const { bytes, result, sim } = journalScenario(readFileSync(join(EXAMPLES, f), 'utf8'), { strategy });
        expect(result.failures).toEqual([]);
        expect(sim.rt.deadLetters).toEqual([]);
        expect(ReplaySession.fromBytes(bytes).runToEnd()).toBeNull();
        // and exports back to a scenario that makes the same journal records (the parallel
        // example's lanes export as fresh threads, which the roundtrip tests above cover)
        if (/^\s*parallel\b/m.test(readFileSync(join(EXAMPLES, f), 'utf8'))) continue;
        const again = journalScenario(exportScenario(bytes).text, { strategy }).bytes;
        const recs = (b: Uint8Array) => [...JournalReader.fromBytes(b).records()].filter((r) => r.type === 'env' || r.type === 'input').map((r) => r.value);
        expect(recs(again)).toEqual(recs(bytes));
      }
    });
  }

  it('the race example sees different interleavings under different seeds', () => {
    const text = readFileSync(join(EXAMPLES, 'race-map-destroy.scn'), 'utf8');
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      const { result } = journalScenario(text, { strategy: { name: 'random', seed } });
      expect(result.failures).toEqual([]);
      outcomes.add(result.log.filter((l) => /IOMMU_(IOAS_MAP|DESTROY)/.test(l)).join(';'));
    }
    expect(outcomes.size).toBeGreaterThan(1);
  });
});
