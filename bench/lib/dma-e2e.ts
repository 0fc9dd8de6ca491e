/**
 * DMA bursts end to end through the bus, shared by bench/dma.ts and
 * bench/translate.ts: a Simulation with dev0 (VT-d) attached to an IOAS
 * mapping 64 MiB of a process's memory; each burst is BURST writes of
 * `bytes` bytes at the start of random mapped pages, one packed DmaBurst
 * refilled per burst as a device's descriptor ring would be, injected with
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
import { JournalWriter } from '../../journal/writer.ts';
import { openVfio, spawnProc } from '../../actors/api.ts';
import { translationActor } from '../../actors/invariants-hw.ts';
import { physMemPort } from '../../actors/hw/physmem-port.ts';
import { BurstResults, translateBurst } from '../../hardware/translate.ts';
import { burstCreate, DMA_WRITE, type DmaBurst } from '../../hardware/burst.ts';
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

/** The bench's simulation; `journal`: journal every delivery there (the default runs without a journal). */
export function dmaSetup(journal?: JournalWriter): Simulation {
  const sim = new Simulation({ seed: 1, totalPages: PAGES + (1 << 13), ...(journal ? { journal } : {}) });
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

/** One burst of BURST writes of `bytes` bytes each, its IOVAs rewritten in place per burst (a device's descriptor ring: nothing is allocated per burst). */
export function writeBurst(bytes: number): DmaBurst {
  const data = new Uint8Array(bytes).fill(0xa5);
  const b = burstCreate(BURST);
  b.length.fill(bytes);
  b.flags.fill(DMA_WRITE);
  b.data.fill(data);
  return b;
}

function fill(burst: DmaBurst, seq: Uint32Array, b: number): void {
  const iova = burst.iova;
  for (let i = 0; i < BURST; i++) iova[i] = IOVA + seq[b * BURST + i]! * 4096;
}

/** End to end: one `sim.dma` per burst; pages per second and deliveries. */
export function busRound(sim: Simulation, burst: DmaBurst, seq: Uint32Array, bursts: number): { perS: number; deliveries: number } {
  const d0 = sim.deliveries;
  const t0 = performance.now();
  for (let b = 0; b < bursts; b++) {
    fill(burst, seq, b);
    const out = sim.dma('dev0', burst);
    if (!out[BURST - 1]!.ok) throw new Error(`burst ${b}: ${JSON.stringify(out[BURST - 1])}`);
  }
  const ms = performance.now() - t0;
  return { perS: (bursts * BURST * 1000) / ms, deliveries: sim.deliveries - d0 };
}

/** What the engine needs to run dev0's `burst` directly: its state, request, memory and results. */
function engineOf(sim: Simulation, burst: DmaBurst) {
  const tr = translationActor(sim);
  const domain = tr.domainOf('dev0')!;
  const iommu = tr.st.iommuIndex[tr.st.domainIommu[domain]!]!;
  return {
    tr, req: { iommu, domain, device: tr.st.deviceIndex['dev0']!, burst }, mem: physMemPort(sim.world.mem.pm), res: new BurstResults(),
  };
}

/** The engine alone on the same domain, tables and frames. */
export function engineRound(sim: Simulation, burst: DmaBurst, seq: Uint32Array, bursts: number): number {
  const { tr, req, mem, res } = engineOf(sim, burst);
  const t0 = performance.now();
  for (let b = 0; b < bursts; b++) {
    fill(burst, seq, b);
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
export function floorRound(sim: Simulation, burst: DmaBurst, pas: Float64Array, bursts: number): number {
  const mem = physMemPort(sim.world.mem.pm);
  const t0 = performance.now();
  for (let b = 0; b < bursts; b++) {
    for (let i = 0; i < BURST; i++) {
      const pa = pas[b * BURST + i]!;
      const fo = (pa | 0) & 4095;
      const pfn = (pa - fo) / 4096;
      const off = ((pfn & (BLOCK_FRAMES - 1)) << 12) + fo;
      // the 4 KiB case crosses no block: frames are 4 KiB-aligned inside 64 KiB blocks
      mem.frameBlock!(pfn, true)!.set(burst.data[i]!, off);
    }
  }
  return (bursts * BURST * 1000) / (performance.now() - t0);
}

/** The physical address of every access of `seq`, as the engine translates them (for floorRound). */
function pagesOf(sim: Simulation, burst: DmaBurst, seq: Uint32Array, bursts: number): Float64Array {
  const { tr, req, mem, res } = engineOf(sim, burst);
  const pas = new Float64Array(bursts * BURST);
  for (let b = 0; b < bursts; b++) {
    fill(burst, seq, b);
    translateBurst(tr.st.engine, req, mem, res);
    for (let i = 0; i < BURST; i++) pas[b * BURST + i] = res.chunkPa[res.chunkFirst[i]!]!;
  }
  return pas;
}

/**
 * The bus with a journal on (its bytes counted and dropped), best of
 * `rounds`: pages per second and journal bytes per burst. Each burst's
 * write data is journaled with its input and its delivery, and the snapshot
 * every 1000 deliveries (the Simulation default) holds all the memory the
 * bench has written: measured, about three quarters of the bytes.
 */
export function measureJournaled(bytes: number, bursts: number, rounds: number): { perS: number; bytesPerBurst: number } {
  let written = 0;
  const sim = dmaSetup(new JournalWriter({ write: (c) => void (written += c.length) }));
  const seq = xorshiftPages(bursts * BURST);
  const burst = writeBurst(bytes);
  busRound(sim, burst, seq, bursts);
  let perS = 0;
  const w0 = written;
  for (let r = 0; r < rounds; r++) perS = Math.max(perS, busRound(sim, burst, seq, bursts).perS);
  return { perS, bytesPerBurst: (written - w0) / (rounds * bursts) };
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
  const burst = writeBurst(bytes);
  busRound(busSim, burst, seq, bursts);
  engineRound(engSim, burst, seq, bursts);
  const pas = pagesOf(engSim, burst, seq, bursts);
  floorRound(engSim, burst, pas, bursts);
  let bus = 0;
  let engine = 0;
  let floor = 0;
  let deliveries = 0;
  for (let r = 0; r < rounds; r++) {
    const b = busRound(busSim, burst, seq, bursts);
    if (b.perS > bus) bus = b.perS;
    deliveries = b.deliveries;
    engine = Math.max(engine, engineRound(engSim, burst, seq, bursts));
    floor = Math.max(floor, floorRound(engSim, burst, pas, bursts));
  }
  const st = translationActor(busSim).st.engine.stats;
  return { bus, engine, floor, deliveriesPerBurst: deliveries / bursts, iotlbHit: st.iotlbHits / Math.max(1, st.iotlbHits + st.walks) };
}
