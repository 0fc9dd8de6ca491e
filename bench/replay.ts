/**
 * bench/replay: record a journal of N deliveries from a realistic workload,
 * then replay it (checking every delivery and snapshot), and seek to 100
 * random steps — all in one run, so the ratios compare like with like.
 */
import { Simulation, DEFAULT_SNAPSHOT_EVERY } from '../actors/sim.ts';
import { JournalWriter, JournalReader, memorySink } from '../journal/index.ts';
import { ReplaySession } from '../replay/session.ts';
import { churn } from '../scenarios/churn.ts';
import { createPrng, nextInt } from '../actors/runtime/prng.ts';

const N = Number(process.env.BENCH_N ?? 1_000_000);
const SEEKS = 100;

function recordJournal(snapshotEvery: number): { bytes: Uint8Array; rate: number; deliveries: number } {
  const sink = memorySink();
  const sim = new Simulation({ seed: 1, snapshotEvery, journal: new JournalWriter(sink) });
  const t0 = performance.now();
  churn(sim, N);
  sim.close();
  const dt = performance.now() - t0;
  return { bytes: sink.bytes(), rate: (sim.deliveries / dt) * 1000, deliveries: sim.deliveries };
}

const rec = recordJournal(DEFAULT_SNAPSHOT_EVERY);
const noSnap = recordJournal(0);
const reader = JournalReader.fromBytes(rec.bytes);
const session = new ReplaySession(reader);
const t0 = performance.now();
const div = session.runToEnd();
const replayDt = performance.now() - t0;
if (div) throw new Error(`replay diverged: ${div.message}`);
const replayRate = (session.position / replayDt) * 1000;

const prng = createPrng(7);
const lat: number[] = [];
for (let i = 0; i < SEEKS; i++) {
  const target = nextInt(prng, session.total + 1);
  const s0 = performance.now();
  session.seek(target);
  lat.push(performance.now() - s0);
}
lat.sort((x, y) => x - y);
const pct = (p: number) => lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)]!;
const bytesPerDelivery = rec.bytes.length / rec.deliveries;
const snapOverhead = rec.bytes.length / noSnap.bytes.length - 1;

console.log(`journal: ${rec.deliveries.toLocaleString()} deliveries, ${(rec.bytes.length / 1e6).toFixed(1)} MB, ${reader.snapshots().length} snapshots every ${DEFAULT_SNAPSHOT_EVERY}`);
console.log(`record: ${Math.round(rec.rate).toLocaleString()} deliveries/s (typed API + journal)`);
console.log(`replay: ${Math.round(replayRate).toLocaleString()} deliveries/s (every delivery and snapshot compared) = ${(replayRate / rec.rate).toFixed(2)}x recording (target ≥ 0.8)`);
console.log(`bytes/delivery: ${bytesPerDelivery.toFixed(1)}; snapshot overhead on journal size: ${(snapOverhead * 100).toFixed(1)}%`);
console.log(`seek to ${SEEKS} random steps: p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms (target p99 < 100 ms)`);
console.log(JSON.stringify({
  bench: 'replay',
  record_per_s: Math.round(rec.rate),
  replay_per_s: Math.round(replayRate),
  replay_over_record: Number((replayRate / rec.rate).toFixed(3)),
  bytes_per_delivery: Number(bytesPerDelivery.toFixed(1)),
  seek_p50_ms: Number(pct(50).toFixed(2)),
  seek_p99_ms: Number(pct(99).toFixed(2)),
  snapshot_overhead: Number(snapOverhead.toFixed(3)),
}));
