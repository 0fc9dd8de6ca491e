/**
 * Journal throughput against raw msgpackr on the same envelope objects.
 * Writes then reads back N realistic envelopes (ioctl requests with 40-byte
 * args, replies, internal messages), and packs/unpacks the same objects with
 * a bare msgpackr Packr configured like the journal codec (plain maps,
 * moreTypes), so the ratios measure what framing, CRC and interning cost.
 */
import { Packr, Unpackr } from 'msgpackr';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Envelope } from '../actors/runtime/envelope.ts';
import { JournalReader, JournalWriter, fileSink, memorySink } from '../journal/index.ts';

const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
const N = arg('n', 1_000_000);
/** Each measurement is repeated and the best run kept: GC pauses make single runs of this size noisy. */
const ROUNDS = arg('rounds', 3);

const ACTORS = ['thread:1.1', 'thread:1.2', 'thread:2.1', 'ctx:3', 'ctx:4', 'obj:3:1', 'obj:3:2', 'obj:4:1', 'iommu:0', 'dev:0'];
const IOCTLS: [string, number][] = [['IOMMU_IOAS_ALLOC', 0x3b81], ['IOMMU_IOAS_MAP', 0x3b85], ['IOMMU_IOAS_UNMAP', 0x3b86], ['IOMMU_HWPT_ALLOC', 0x3b89]];
const INTERNAL = ['obj.get', 'obj.put', 'ioas.lock', 'ioas.unlock', 'hwpt.attach'];

/** Deterministic mix: 40% ioctl, 40% reply, 20% internal. */
function makeEnvelopes(n: number): Envelope[] {
  const out: Envelope[] = new Array(n);
  let x = 12345;
  const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8);
  for (let i = 0; i < n; i++) {
    const seq = i + 1;
    const src = ACTORS[rnd() % ACTORS.length]!;
    const dst = ACTORS[rnd() % ACTORS.length]!;
    const r = i % 5;
    const arg = new Uint8Array(40);
    for (let k = 0; k < 40; k += 4) arg[k] = rnd() & 0xff;
    if (r < 2) {
      const [type, cmd] = IOCTLS[rnd() % IOCTLS.length]!;
      out[i] = { seq, t: seq * 10, src, dst, kind: 'ioctl', type, body: { cmd, arg }, cause: 0 };
    } else if (r < 4) {
      out[i] = { seq, t: seq * 10, src, dst, kind: 'reply', type: 'reply', body: { errno: 0, arg }, cause: seq - 1 };
    } else {
      const type = INTERNAL[rnd() % INTERNAL.length]!;
      out[i] = { seq, t: seq * 10, src, dst, kind: 'internal', type, body: { id: rnd() % 64, ref: 1 }, cause: seq - 2 };
    }
  }
  return out;
}

function rate(n: number, ms: number): number {
  return Math.round((n / ms) * 1000);
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function timeWriter(envs: Envelope[]): { ms: number; bytes: Uint8Array } {
  const sink = memorySink(envs.length * 100);
  const t0 = performance.now();
  const w = new JournalWriter(sink);
  w.writeHeader({ simulatorVersion: 'bench', seed: 1n });
  for (let i = 0; i < envs.length; i++) w.writeEnvelope(envs[i]!);
  w.writeEnd();
  w.close();
  const ms = performance.now() - t0;
  return { ms, bytes: sink.bytes() };
}

function timeReader(bytes: Uint8Array): { ms: number; count: number } {
  const t0 = performance.now();
  const r = JournalReader.fromBytes(bytes);
  let count = 0;
  for (const e of r.envelopes()) count += e.seq > 0 ? 1 : 0;
  return { ms: performance.now() - t0, count };
}

function timeRawPack(envs: Envelope[], packr: Packr): { ms: number; packed: Uint8Array[]; bytes: number } {
  const packed: Uint8Array[] = new Array(envs.length);
  let bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < envs.length; i++) {
    const b = packr.pack(envs[i]);
    packed[i] = b;
    bytes += b.length;
  }
  return { ms: performance.now() - t0, packed, bytes };
}

function timeRawUnpack(packed: Uint8Array[], unpackr: Unpackr): number {
  let count = 0;
  const t0 = performance.now();
  for (let i = 0; i < packed.length; i++) count += (unpackr.unpack(packed[i]!) as Envelope).seq > 0 ? 1 : 0;
  const ms = performance.now() - t0;
  if (count !== packed.length) throw new Error('raw unpack lost envelopes');
  return ms;
}

function timeFile(envs: Envelope[]): { ms: number; bytes: number } {
  const dir = mkdtempSync(join(tmpdir(), 'journal-bench-'));
  const path = join(dir, 'bench.journal');
  try {
    const t0 = performance.now();
    const w = new JournalWriter(fileSink(path));
    w.writeHeader({ simulatorVersion: 'bench', seed: 1n });
    for (let i = 0; i < envs.length; i++) w.writeEnvelope(envs[i]!);
    w.writeEnd();
    w.close();
    return { ms: performance.now() - t0, bytes: statSync(path).size };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const envs = makeEnvelopes(N);
  const packr = new Packr({ useRecords: false, moreTypes: true, variableMapSize: true } as ConstructorParameters<typeof Packr>[0]);
  const unpackr = new Unpackr({ useRecords: false, moreTypes: true });

  // warm-up on a slice so the JIT has seen every path before the timed runs
  const warm = envs.slice(0, Math.min(envs.length, 50_000));
  timeReader(timeWriter(warm).bytes);
  timeRawUnpack(timeRawPack(warm, packr).packed, unpackr);

  let w = timeWriter(envs);
  let r = timeReader(w.bytes);
  let p = timeRawPack(envs, packr);
  let u = timeRawUnpack(p.packed, unpackr);
  for (let i = 1; i < ROUNDS; i++) {
    const w2 = timeWriter(envs);
    if (w2.ms < w.ms) w = w2;
    const r2 = timeReader(w.bytes);
    if (r2.ms < r.ms) r = r2;
    const p2 = timeRawPack(envs, packr);
    if (p2.ms < p.ms) p = p2;
    u = Math.min(u, timeRawUnpack(p.packed, unpackr));
  }
  if (r.count !== N) throw new Error(`reader returned ${r.count} of ${N} envelopes`);
  const f = timeFile(envs);

  const writerRate = rate(N, w.ms);
  const readerRate = rate(N, r.ms);
  const packRate = rate(N, p.ms);
  const unpackRate = rate(N, u);
  const bytesPerRecord = w.bytes.length / N;
  const writerRatio = writerRate / packRate;
  const readerRatio = readerRate / unpackRate;

  console.log(`envelopes                 ${fmt(N)} (best of ${ROUNDS} rounds)`);
  console.log(`writer (memory sink)      ${fmt(writerRate)} records/s   (${w.ms.toFixed(0)} ms)`);
  console.log(`reader                    ${fmt(readerRate)} records/s   (${r.ms.toFixed(0)} ms)`);
  console.log(`raw msgpackr pack         ${fmt(packRate)} records/s   (${p.ms.toFixed(0)} ms, ${(p.bytes / N).toFixed(1)} bytes/record)`);
  console.log(`raw msgpackr unpack       ${fmt(unpackRate)} records/s   (${u.toFixed(0)} ms)`);
  console.log(`writer (file sink)        ${fmt(rate(N, f.ms))} records/s   (${f.ms.toFixed(0)} ms, ${fmt(f.bytes)} bytes)`);
  console.log(`writer / raw pack         ${writerRatio.toFixed(2)}`);
  console.log(`reader / raw unpack       ${readerRatio.toFixed(2)}`);
  console.log(`journal bytes/record      ${bytesPerRecord.toFixed(1)} (incl. 12 bytes framing)`);
  console.log(JSON.stringify({
    bench: 'journal',
    writer_ratio: round(writerRatio),
    reader_ratio: round(readerRatio),
    bytes_per_record: round(bytesPerRecord),
  }));
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

main();
