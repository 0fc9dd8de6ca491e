/**
 * IOAS_MAP + IOAS_UNMAP pairs per second end to end through the raw ABI
 * (`Simulation.ioctl` with packed struct bytes) with the journal written to
 * a file in the system temp directory (as `run` writes one), next to the
 * bare xstate delivery rate of the same number of messages (createActor on
 * a trivial machine, actor.send per message).
 *
 * Flags: --pairs=N (default 20000), --rounds=R (best of R, default 5), after
 * a warm-up of 10000 pairs (the JIT settles late on this path).
 * Wall time is the figure; on a shared machine the process's own CPU time
 * (user + system, `process.cpuUsage`) is printed next to it, since it does
 * not count the time other processes held the core.
 * Ends with one JSON line.
 */
import { createActor, setup } from 'xstate';
import { Simulation } from '../actors/sim.ts';
import { spawnProc } from '../actors/api.ts';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalWriter, fileSink } from '../journal/index.ts';
import { ioctlEntry } from '../uapi/dispatch.ts';
import { pack } from '../uapi/layout.ts';
import * as S from '../uapi/structs.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../uapi/enums.ts';

const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
const PAIRS = arg('pairs', 20_000);
const ROUNDS = arg('rounds', 5);

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function simRun(pairs: number): { ms: number; cpu: number; deliveries: number; journalBytes: number } {
  const path = join(TMP, 'ioctl.journal');
  const sim = new Simulation({ seed: 1, journal: new JournalWriter(fileSink(path)), scenario: { name: 'bench-ioctl' } });
  const p = spawnProc(sim, { rlimitMemlock: 1 << 30 });
  const buf = p.mmap({ length: 1n << 20n });
  const fd = p.open('/dev/iommu');
  const alloc = sim.ioctl(p.pid, fd, ioctlEntry('IOMMU_IOAS_ALLOC')!.cmd, pack(S.iommu_ioas_alloc, { size: 12 }));
  if (alloc.errno) throw new Error(`IOAS_ALLOC: ${alloc.errno}`);
  const ioas = new DataView(alloc.arg.buffer, alloc.arg.byteOffset).getUint32(8, true);
  const MAP = ioctlEntry('IOMMU_IOAS_MAP')!.cmd;
  const UNMAP = ioctlEntry('IOMMU_IOAS_UNMAP')!.cmd;
  const flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_FIXED_IOVA;
  const d0 = sim.deliveries;
  const c0 = cpuMs();
  const t0 = performance.now();
  for (let i = 0; i < pairs; i++) {
    const iova = BigInt((i & 255) + 1) << 12n;
    // A fresh argument each call, as a C program's stack struct would be.
    const m = sim.ioctl(p.pid, fd, MAP, pack(S.iommu_ioas_map, { size: 40, flags, ioas_id: ioas, user_va: buf, length: 4096n, iova }));
    if (m.errno) throw new Error(`MAP ${i}: ${m.errno}`);
    const u = sim.ioctl(p.pid, fd, UNMAP, pack(S.iommu_ioas_unmap, { size: 24, ioas_id: ioas, iova, length: 4096n }));
    if (u.errno) throw new Error(`UNMAP ${i}: ${u.errno}`);
  }
  const ms = performance.now() - t0;
  const cpu = cpuMs() - c0;
  const deliveries = sim.deliveries - d0;
  sim.close();
  return { ms, cpu, deliveries, journalBytes: statSync(path).size };
}

let received = 0;
const trivial = setup({}).createMachine({ id: 'bare', on: { msg: { actions: () => void received++ } } });

function bareRun(messages: number): { ms: number; cpu: number } {
  const actor = createActor(trivial);
  actor.start();
  const ev = { type: 'msg' as const };
  received = 0;
  const c0 = cpuMs();
  const t0 = performance.now();
  for (let i = 0; i < messages; i++) actor.send(ev);
  const ms = performance.now() - t0;
  const cpu = cpuMs() - c0;
  if (received !== messages) throw new Error('bare actor lost messages');
  return { ms, cpu };
}

const TMP = mkdtempSync(join(tmpdir(), 'iommufd-sim-bench-'));
process.on('exit', () => rmSync(TMP, { recursive: true, force: true }));

// Warm-up (JIT), then the best of ROUNDS.
simRun(Math.min(10_000, PAIRS));
let best = { ms: Infinity, cpu: Infinity, deliveries: 0, journalBytes: 0 };
for (let r = 0; r < ROUNDS; r++) {
  const x = simRun(PAIRS);
  if (x.ms < best.ms) best = { ...x, cpu: Math.min(best.cpu, x.cpu) };
  else best.cpu = Math.min(best.cpu, x.cpu);
}
bareRun(best.deliveries);
let bareMs = Infinity;
let bareCpu = Infinity;
for (let r = 0; r < ROUNDS; r++) {
  const b = bareRun(best.deliveries);
  bareMs = Math.min(bareMs, b.ms);
  bareCpu = Math.min(bareCpu, b.cpu);
}

const pairsPerS = (PAIRS / best.ms) * 1000;
const cpuPairsPerS = (PAIRS / best.cpu) * 1000;
const bareMsgsPerS = (best.deliveries / bareMs) * 1000;
const simMsgsPerS = (best.deliveries / best.ms) * 1000;
const cost = best.ms / bareMs;
const cpuCost = best.cpu / bareCpu;
const perPair = best.deliveries / PAIRS;

console.log(`MAP+UNMAP pairs (raw ABI, journal on):  ${fmt(pairsPerS)} pairs/s  (${fmt(PAIRS)} pairs in ${best.ms.toFixed(0)} ms)`);
console.log(`  on CPU time (this process only):     ${fmt(cpuPairsPerS)} pairs/s  (${best.cpu.toFixed(0)} ms)`);
console.log(`  deliveries per pair: ${perPair.toFixed(1)}  →  ${fmt(simMsgsPerS)} deliveries/s; journal ${(best.journalBytes / 1e6).toFixed(1)} MB`);
console.log(`bare xstate actor.send, same ${fmt(best.deliveries)} messages: ${fmt(bareMsgsPerS)} msgs/s (${bareMs.toFixed(0)} ms; CPU ${bareCpu.toFixed(0)} ms)`);
console.log(`cost over bare delivery: ${cost.toFixed(1)}x wall, ${cpuCost.toFixed(1)}x CPU   (target ≥ 50,000 pairs/s: ${pairsPerS >= 50_000 ? 'met' : 'NOT met'})`);
console.log(JSON.stringify({ bench: 'ioctl', map_unmap_pairs_per_s: Math.round(pairsPerS), cpu_pairs_per_s: Math.round(cpuPairsPerS), cost_over_bare: Number(cost.toFixed(2)), cpu_cost_over_bare: Number(cpuCost.toFixed(2)) }));
