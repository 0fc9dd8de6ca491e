/**
 * DMA pages per second end to end through the bus (bench/lib/dma-e2e.ts):
 * dev0 (VT-d) on an IOAS mapping 64 MiB of a process's memory, bursts of 256
 * writes at random mapped pages via `sim.dma`, next to the bare
 * `translateBurst` engine on the same accesses, tables and memory, and the
 * memory floor (the same copies to the same pages and nothing else: what no
 * simulator of this machine's memory can beat).
 *
 * A "page" is one translated page access. The headline writes 64 B per page
 * (a cache line): it measures the translation path, which is what the
 * simulator adds. The 4 KiB figure is printed beside it with its GB/s: at
 * that size the copy dominates (10 M pages/s would be 40 GB/s, more than
 * one core moves), so it measures memory bandwidth as much as translation.
 *
 * Flags: --bursts=N (per round, default 2000), --rounds=R (best of R, default 5,
 * as bench/translate's figures: a round is ~50 ms, and the machine's speed
 * drifts by a third within a minute).
 * Ends with one JSON line.
 */
import { measureDma, measureJournaled } from './lib/dma-e2e.ts';

const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
const BURSTS = arg('bursts', 2000);
const ROUNDS = arg('rounds', 5);

const small = measureDma(64, BURSTS, ROUNDS);
const big = measureDma(4096, BURSTS, ROUNDS);
const journaled = measureJournaled(64, BURSTS, 3);
const fmt = (n: number) => `${(n / 1e6).toFixed(2)} M pages/s`;
const gbs = (n: number, bytes: number) => `${((n * bytes) / 1e9).toFixed(2)} GB/s`;
console.log(`64 MiB IOAS on VT-d dev0, ${BURSTS} bursts x 256 random pages, best of ${ROUNDS}; ${small.deliveriesPerBurst.toFixed(0)} deliveries/burst, IOTLB hit ${(small.iotlbHit * 100).toFixed(1)}%`);
console.log(`end to end (sim.dma: bus + translation actor + device actor)`);
console.log(`  64 B per page   ${fmt(small.bus)}  (${gbs(small.bus, 64)})   target >= 10 M pages/s: ${small.bus >= 10e6 ? 'met' : 'not met'}`);
console.log(`  4 KiB per page  ${fmt(big.bus)}  (${gbs(big.bus, 4096)})`);
console.log(`bare translateBurst engine, same accesses`);
console.log(`  64 B per page   ${fmt(small.engine)}   bus / engine = ${(small.bus / small.engine).toFixed(3)}`);
console.log(`  4 KiB per page  ${fmt(big.engine)}  (${gbs(big.engine, 4096)})   bus / engine = ${(big.bus / big.engine).toFixed(3)}`);
console.log(`memory floor: the same bytes copied to the same pages, nothing else`);
console.log(`  64 B per page   ${fmt(small.floor)}   bus / floor = ${(small.bus / small.floor).toFixed(3)}`);
console.log(`  4 KiB per page  ${fmt(big.floor)}  (${gbs(big.floor, 4096)})   bus / floor = ${(big.bus / big.floor).toFixed(3)}`);
console.log(`with a journal on (bytes counted, not kept), best of 3`);
console.log(`  64 B per page   ${fmt(journaled.perS)}   ${(journaled.bytesPerBurst / 1024).toFixed(1)} KiB of journal per burst (most of it the periodic snapshots of the memory written)`);
console.log(JSON.stringify({
  bench: 'dma', rounds: ROUNDS, bytes_per_page: 64, dma_pages_per_s: Math.round(small.bus), engine_pages_per_s: Math.round(small.engine),
  bus_over_engine: Number((small.bus / small.engine).toFixed(4)), dma_4k_pages_per_s: Math.round(big.bus),
  dma_4k_gb_per_s: Number(((big.bus * 4096) / 1e9).toFixed(3)), engine_4k_pages_per_s: Math.round(big.engine),
  floor_pages_per_s: Math.round(small.floor), bus_over_floor: Number((small.bus / small.floor).toFixed(4)), floor_4k_pages_per_s: Math.round(big.floor),
  journaled_pages_per_s: Math.round(journaled.perS), journal_bytes_per_burst: Math.round(journaled.bytesPerBurst),
}));
