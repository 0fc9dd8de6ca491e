/**
 * DMA pages per second end to end through the bus: a Simulation with dev0
 * (VT-d) attached to an IOAS mapping 64 MiB of a process's memory, bursts of
 * 256 page-sized (4 KiB) writes at random mapped IOVAs via `sim.dma` (inject
 * the burst, the scheduler delivers it to the translation actor, which
 * translates and moves the bytes and answers the device actor), next to the
 * bare `translateBurst` engine on the same accesses, the same tables and
 * the same physical memory (no actor, no bus).
 *
 * Flags: --bursts=N (per round, default 2000), --rounds=R (best of R, default 3),
 * --bytes=B (bytes per access, default 4096).  Ends with one JSON line.
 */
import { Simulation } from '../actors/sim.ts';
import { openVfio, spawnProc } from '../actors/api.ts';
import { translationActor } from '../actors/invariants-hw.ts';
import { physMemPort } from '../actors/hw/physmem-port.ts';
import { BurstResults, translateBurst, type DmaAccess } from '../hardware/translate.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../uapi/enums.ts';

const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
const BURSTS = arg('bursts', 2000);
const ROUNDS = arg('rounds', 3);
const BYTES = arg('bytes', 4096);
const BURST = 256;
const MIB64 = 64 << 20;
const PAGES = MIB64 / 4096;
const IOVA = 0x1_0000_0000;

function xorshiftPages(n: number, seed: number): Uint32Array {
  const a = new Uint32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    a[i] = x % PAGES;
  }
  return a;
}

function setup(): Simulation {
  const sim = new Simulation({ seed: 1, totalPages: PAGES + (1 << 13) });
  const p = spawnProc(sim, { rlimitMemlock: 1 << 30, sysResource: true });
  const ifd = p.openIommufd();
  const ioas = ifd.ioasAlloc().out.out_ioas_id;
  const v = openVfio(p, 0);
  if (v.bind(ifd).errno || v.attach(ioas).errno) throw new Error('bind/attach dev0 failed');
  const va = p.mmap({ length: MIB64 });
  const m = ifd.ioasMap({
    ioas_id: ioas, flags: IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_FIXED_IOVA,
    user_va: va, length: BigInt(MIB64), iova: BigInt(IOVA),
  });
  if (m.errno) throw new Error(`IOAS_MAP 64 MiB: errno ${m.errno}`);
  return sim;
}

const seq = xorshiftPages(BURSTS * BURST, 2463534242);
const data = new Uint8Array(BYTES).fill(0xa5);
const accesses: DmaAccess[] = [];
for (let i = 0; i < BURST; i++) accesses.push({ iova: 0, length: BYTES, write: true, data });
const fill = (b: number) => {
  for (let i = 0; i < BURST; i++) accesses[i]!.iova = IOVA + seq[b * BURST + i]! * 4096;
};

/** End to end: one `sim.dma` per burst (two deliveries: translation actor, device actor). */
function busRound(sim: Simulation): { perS: number; deliveries: number } {
  const d0 = sim.deliveries;
  const t0 = performance.now();
  for (let b = 0; b < BURSTS; b++) {
    fill(b);
    const out = sim.dma('dev0', accesses);
    if (!out[BURST - 1]!.ok) throw new Error(`burst ${b}: ${JSON.stringify(out[BURST - 1])}`);
  }
  const ms = performance.now() - t0;
  return { perS: (BURSTS * BURST * 1000) / ms, deliveries: sim.deliveries - d0 };
}

/** The engine alone on the same domain, tables and frames. */
function engineRound(sim: Simulation): number {
  const tr = translationActor(sim);
  const domain = tr.domainOf('dev0')!;
  const iommu = tr.st.iommuIndex[tr.st.domainIommu[domain]!]!;
  const req = { iommu, domain, device: tr.st.deviceIndex['dev0']!, accesses };
  const mem = physMemPort(sim.world.mem.pm);
  const res = new BurstResults();
  const t0 = performance.now();
  for (let b = 0; b < BURSTS; b++) {
    fill(b);
    translateBurst(tr.st.engine, req, mem, res);
    if (res.status[BURST - 1] !== 0) throw new Error(`engine burst ${b} faulted`);
  }
  return (BURSTS * BURST * 1000) / (performance.now() - t0);
}

const busSim = setup();
const engSim = setup();
busRound(busSim);
engineRound(engSim);
let bus = 0;
let eng = 0;
let deliveries = 0;
for (let r = 0; r < ROUNDS; r++) {
  const b = busRound(busSim);
  if (b.perS > bus) bus = b.perS;
  deliveries = b.deliveries;
  eng = Math.max(eng, engineRound(engSim));
}
const st = translationActor(busSim).st.engine.stats;
const fmt = (n: number) => `${(n / 1e6).toFixed(2)} M pages/s`;
console.log(`64 MiB IOAS on VT-d dev0, ${BURSTS} bursts x ${BURST} accesses of ${BYTES} B (random pages), best of ${ROUNDS}`);
console.log(`end to end (sim.dma: bus + translation actor + device actor)  ${fmt(bus)}  (${(deliveries / BURSTS).toFixed(0)} deliveries/burst, ${((bus * BYTES) / 1e9).toFixed(2)} GB/s moved)`);
console.log(`bare translateBurst engine, same accesses                      ${fmt(eng)}`);
console.log(`bus / engine = ${(bus / eng).toFixed(3)}   IOTLB hit rate ${((st.iotlbHits / Math.max(1, st.iotlbHits + st.walks)) * 100).toFixed(1)}%   target >= 10 M pages/s end to end: ${bus >= 10e6 ? 'met' : 'not met'}`);
console.log(JSON.stringify({ bench: 'dma', dma_pages_per_s: Math.round(bus), engine_pages_per_s: Math.round(eng), bus_over_engine: Number((bus / eng).toFixed(4)) }));
