/**
 * DMA bursts end to end through the bus, shared by bench/dma.ts and
 * bench/translate.ts: a Simulation with dev0 (VT-d) attached to an IOAS
 * mapping 64 MiB of a process's memory; each burst is BURST writes of
 * `bytes` bytes at the start of random mapped pages, injected with
 * `sim.dma` (the scheduler delivers it to the translation actor, which
 * translates, moves the bytes and answers the device actor: two deliveries),
 * next to the bare `translateBurst` engine on the same accesses, tables and
 * physical memory (no actor, no bus), and the memory floor: the same bytes
 * copied to the same pages with nothing else.
 *
 * A "page" is one translated page access. Its size is the caller's choice:
 * 64 B (a cache line, a descriptor or a small packet) measures the
 * translation path; 4 KiB measures memory copy bandwidth as much as
 * translation (10 M such pages/s would be 40 GB/s, more than one core
 * copies).
 */
import { Simulation } from '../../actors/sim.ts';
import { openVfio, spawnProc } from '../../actors/api.ts';
import { translationActor } from '../../actors/invariants-hw.ts';
import { physMemPort } from '../../actors/hw/physmem-port.ts';
import { BurstResults, translateBurst, type DmaAccess } from '../../hardware/translate.ts';
import { BLOCK_FRAMES } from '../../hardware/physmem.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../uapi/enums.ts';
import { xorshift32 } from './xorshift.ts';

export const BURST = 256;
const MIB64 = 64 << 20;
const PAGES = MIB64 / 4096;
const IOVA = 0x1_0000_0000;

export function xorshiftPages(n: number, seed = 2463534242): Uint32Array {
  return xorshift32(n, seed, (x) => x % PAGES);
}

export function dmaSetup(): Simulation {
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

/** One burst's accesses, rewritten in place per burst (the bench allocates nothing per burst). */
export function burstAccesses(bytes: number): DmaAccess[] {
  const data = new Uint8Array(bytes).fill(0xa5);
  const accesses: DmaAccess[] = [];
  for (let i = 0; i < BURST; i++) accesses.push({ iova: 0, length: bytes, write: true, data });
  return accesses;
}

function fill(accesses: DmaAccess[], seq: Uint32Array, b: number): void {
  for (let i = 0; i < BURST; i++) accesses[i]!.iova = IOVA + seq[b * BURST + i]! * 4096;
}

/** End to end: one `sim.dma` per burst; pages per second and deliveries. */
export function busRound(sim: Simulation, accesses: DmaAccess[], seq: Uint32Array, bursts: number): { perS: number; deliveries: number } {
  const d0 = sim.deliveries;
  const t0 = performance.now();
  for (let b = 0; b < bursts; b++) {
    fill(accesses, seq, b);
    const out = sim.dma('dev0', accesses);
    if (!out[BURST - 1]!.ok) throw new Error(`burst ${b}: ${JSON.stringify(out[BURST - 1])}`);
  }
  const ms = performance.now() - t0;
  return { perS: (bursts * BURST * 1000) / ms, deliveries: sim.deliveries - d0 };
}

/** What the engine needs to run dev0's bursts of `accesses` directly: its state, request, memory and results. */
function engineOf(sim: Simulation, accesses: DmaAccess[]) {
  const tr = translationActor(sim);
  const domain = tr.domainOf('dev0')!;
  const iommu = tr.st.iommuIndex[tr.st.domainIommu[domain]!]!;
  return {
    tr, req: { iommu, domain, device: tr.st.deviceIndex['dev0']!, accesses }, mem: physMemPort(sim.world.mem.pm), res: new BurstResults(),
  };
}

/** The engine alone on the same domain, tables and frames. */
export function engineRound(sim: Simulation, accesses: DmaAccess[], seq: Uint32Array, bursts: number): number {
  const { tr, req, mem, res } = engineOf(sim, accesses);
  const t0 = performance.now();
  for (let b = 0; b < bursts; b++) {
    fill(accesses, seq, b);
    translateBurst(tr.st.engine, req, mem, res);
    if (res.status[BURST - 1] !== 0) throw new Error(`engine burst ${b} faulted`);
  }
  return (bursts * BURST * 1000) / (performance.now() - t0);
}

/**
 * The memory floor: the same bytes copied to the same physical pages the
 * engine chose, with nothing else (one `set` into the frame's block per
 * page, the engine's own copy), in pages per second. What the simulator can
 * never beat on this machine: the rest of bus or engine is its own cost.
 */
export function floorRound(sim: Simulation, accesses: DmaAccess[], pas: Float64Array, bursts: number): number {
  const mem = physMemPort(sim.world.mem.pm);
  const t0 = performance.now();
  for (let b = 0; b < bursts; b++) {
    for (let i = 0; i < BURST; i++) {
      const a = accesses[i]!;
      const pa = pas[b * BURST + i]!;
      const fo = (pa | 0) & 4095;
      const pfn = (pa - fo) / 4096;
      const off = ((pfn & (BLOCK_FRAMES - 1)) << 12) + fo;
      const data = a.data!;
      // the 4 KiB case crosses no block: frames are 4 KiB-aligned inside 64 KiB blocks
      mem.frameBlock!(pfn, true)!.set(data.length === a.length ? data : data.subarray(0, a.length), off);
    }
  }
  return (bursts * BURST * 1000) / (performance.now() - t0);
}

/** The physical address of every access of `seq`, as the engine translates them (for floorRound). */
function pagesOf(sim: Simulation, accesses: DmaAccess[], seq: Uint32Array, bursts: number): Float64Array {
  const { tr, req, mem, res } = engineOf(sim, accesses);
  const pas = new Float64Array(bursts * BURST);
  for (let b = 0; b < bursts; b++) {
    fill(accesses, seq, b);
    translateBurst(tr.st.engine, req, mem, res);
    for (let i = 0; i < BURST; i++) pas[b * BURST + i] = res.chunkPa[res.chunkFirst[i]!]!;
  }
  return pas;
}

export interface DmaFigures {
  bus: number;
  engine: number;
  /** floorRound on the engine's simulation: bare copies to the same pages */
  floor: number;
  deliveriesPerBurst: number;
  iotlbHit: number;
}

/**
 * Best of `rounds` for `bytes`-byte accesses, after one warm-up round each;
 * bus and engine rounds alternate so machine noise hits both alike.
 */
export function measureDma(bytes: number, bursts: number, rounds: number): DmaFigures {
  const seq = xorshiftPages(bursts * BURST);
  const busSim = dmaSetup();
  const engSim = dmaSetup();
  const accesses = burstAccesses(bytes);
  busRound(busSim, accesses, seq, bursts);
  engineRound(engSim, accesses, seq, bursts);
  const pas = pagesOf(engSim, accesses, seq, bursts);
  floorRound(engSim, accesses, pas, bursts);
  let bus = 0;
  let engine = 0;
  let floor = 0;
  let deliveries = 0;
  for (let r = 0; r < rounds; r++) {
    const b = busRound(busSim, accesses, seq, bursts);
    if (b.perS > bus) bus = b.perS;
    deliveries = b.deliveries;
    engine = Math.max(engine, engineRound(engSim, accesses, seq, bursts));
    floor = Math.max(floor, floorRound(engSim, accesses, pas, bursts));
  }
  const st = translationActor(busSim).st.engine.stats;
  return { bus, engine, floor, deliveriesPerBurst: deliveries / bursts, iotlbHit: st.iotlbHits / Math.max(1, st.iotlbHits + st.walks) };
}
