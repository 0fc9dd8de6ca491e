/**
 * Exploration spread over threads.  The schedule space of the shard is cut
 * into chunks (chunk j of C is slice shard + n·j of n·C: every schedule in
 * exactly one chunk) and every participant — worker threads, and with
 * exploreParallel the calling thread too — takes the next chunk from a
 * shared counter until none is left.  Who runs which chunk depends on
 * timing; what the merge holds does not: chunks merge in key order, so W
 * threads give the same result as one process.
 *
 * The counter, the lowest failing key found so far and every participant's
 * progress live in one SharedArrayBuffer, so balancing and the progress
 * display take no messages: a thread that started late, shares its core
 * with something else or drew slow schedules simply takes fewer chunks.
 *
 * Workers can be started once (startWorkers) and reused for several
 * explorations.  A worker boots from a bundle of the explorer (built with
 * tsx's esbuild, cached under node_modules/.cache and rebuilt when a source
 * changes), because loading ~150 TypeScript modules through tsx's loader
 * costs each worker several times more than the bundle (bench/explore.ts
 * prints both); without esbuild, or with IOMMUFD_SIM_WORKER_BOOT=tsx, it
 * boots through tsx.
 */
import { Worker, threadId } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { explore, mergeResults, type ExploreOptions, type ExploreResult, type FailureRecord, type Progress, type RunRecord } from './explorer.ts';

/** A result with its runs packed into flat arrays (cheap to clone across threads). */
export interface CompactResult extends Omit<ExploreResult, 'runs'> {
  runs: [];
  /** Key lengths, then all key elements, one run after another. */
  keyLens: Int32Array;
  keyData: Int32Array;
  /** Index into endStates, or -1 for null. */
  endIdx: Int32Array;
  /** Index into failures, or -1. */
  failIdx: Int32Array;
}

export function compactResult(r: ExploreResult): CompactResult {
  const n = r.runs.length;
  const idx = new Map<string, number>();
  r.endStates.forEach((e, i) => idx.set(e, i));
  const keyLens = new Int32Array(n);
  const endIdx = new Int32Array(n);
  const failIdx = new Int32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += r.runs[i]!.key.length;
  const keyData = new Int32Array(total);
  let o = 0;
  for (let i = 0; i < n; i++) {
    const rec = r.runs[i]!;
    keyLens[i] = rec.key.length;
    for (const k of rec.key) keyData[o++] = k;
    endIdx[i] = rec.end === null ? -1 : idx.get(rec.end)!;
    failIdx[i] = rec.fail ?? -1;
  }
  return { ...r, runs: [], keyLens, keyData, endIdx, failIdx };
}

export function expandResult(c: CompactResult): ExploreResult {
  const { keyLens, keyData, endIdx, failIdx, ...rest } = c;
  const runs: RunRecord[] = new Array(keyLens.length);
  let o = 0;
  for (let i = 0; i < keyLens.length; i++) {
    const key = Array.from(keyData.subarray(o, o + keyLens[i]!));
    o += keyLens[i]!;
    const rec: RunRecord = { key, end: endIdx[i]! < 0 ? null : c.endStates[endIdx[i]!]! };
    if (failIdx[i]! >= 0) rec.fail = failIdx[i]!;
    runs[i] = rec;
  }
  const failures: FailureRecord[] = c.failures;
  return { ...rest, failures, runs };
}

// ---------------------------------------------------------------- chunks

/** Control block: [next chunk, lowest failing key (random/PCT), then schedules, distinct, failures per participant]. */
const NEXT = 0;
const MIN_FAIL = 1;
const PER = 3;
const NO_FAIL = 0x7fffffff;

/** What a participant needs to take part: the plain options, the chunks and the shared control block. */
export interface ChunkJob {
  options: Omit<ExploreOptions, 'onProgress' | 'slice'>;
  chunks: [number, number][];
  control: SharedArrayBuffer;
  /** This participant's progress slot. */
  slot: number;
}

/** Chunks below this many schedules cost more in per-call overhead (PCT calibration, merging) than they balance. */
const MIN_CHUNK = 32;
/** Chunks per participant: the last one to finish idles for about half a chunk. */
const CHUNKS_PER_THREAD = 32;

/**
 * Chunk slices for `threads` participants.  Random/PCT with a schedule
 * budget get many small chunks; a wall-clock budget (each chunk would run
 * to the deadline) and DFS/POR (chunks are root branches, a handful) get
 * one per participant, the old static split.
 */
export function chunkSlices(o: ExploreOptions, threads: number): [number, number][] {
  const [si, sn] = o.slice ?? [0, 1];
  let c = threads;
  const keyed = o.strategy === 'random' || o.strategy === 'pct';
  if (keyed && o.schedules !== undefined) {
    const keys = Math.ceil(Math.max(0, o.schedules - si) / sn);
    c = Math.max(threads, Math.min(threads * CHUNKS_PER_THREAD, Math.floor(keys / MIN_CHUNK / threads) * threads));
  }
  return Array.from({ length: c }, (_, j) => [si + sn * j, sn * c] as [number, number]);
}

/**
 * Take chunks until none is left; returns the merge of the chunks this
 * participant ran (null if it got none).  Stopping at the first failure: a
 * chunk started after some participant found a failure at key f runs only
 * keys below f — the merge drops everything after the earliest failure, and
 * every key below it is still run by its chunk.
 */
export function runChunks(job: ChunkJob, onProgress?: (p: Progress) => void, stats?: ChunkStats): ExploreResult | null {
  const ctl = new Int32Array(job.control);
  const base = 2 + PER * job.slot;
  const keyed = job.options.strategy === 'random' || job.options.strategy === 'pct';
  const stopAtFirst = !job.options.all;
  const mine: ExploreResult[] = [];
  let done = { schedules: 0, distinct: 0, failures: 0 };
  const t0 = performance.now();
  const c0 = stats ? threadCpuMs() : 0;
  for (;;) {
    const j = Atomics.add(ctl, NEXT, 1);
    if (j >= job.chunks.length) break;
    const o: ExploreOptions = { ...job.options, slice: job.chunks[j]! };
    if (job.options.timeMs !== undefined) o.timeMs = Math.max(1, job.options.timeMs - (performance.now() - t0));
    if (keyed && stopAtFirst) {
      const f = Atomics.load(ctl, MIN_FAIL);
      if (f !== NO_FAIL) o.schedules = Math.min(o.schedules ?? Number.POSITIVE_INFINITY, f);
    }
    const before = done;
    const r = explore({
      ...o,
      onProgress: (p) => {
        // Counts, stored where every thread can read them; no message per schedule.
        Atomics.store(ctl, base, before.schedules + p.schedules);
        Atomics.store(ctl, base + 1, Math.max(before.distinct, p.distinct));
        Atomics.store(ctl, base + 2, before.failures + p.failures);
        onProgress?.(totalProgress(ctl, (ctl.length - 2) / PER));
      },
    });
    if (keyed && stopAtFirst && r.failures.length) {
      const k = r.failures[0]!.key[0]!;
      for (let cur = Atomics.load(ctl, MIN_FAIL); k < cur; cur = Atomics.load(ctl, MIN_FAIL)) {
        if (Atomics.compareExchange(ctl, MIN_FAIL, cur, k) === cur) break;
      }
    }
    mine.push(r);
    if (stats) {
      stats.chunks++;
      stats.schedules += r.schedules;
    }
    done = { schedules: before.schedules + r.schedules, distinct: Math.max(before.distinct, r.distinctEndStates), failures: before.failures + r.failures.length };
  }
  if (stats) {
    stats.busyMs = performance.now() - t0;
    stats.cpuMs = threadCpuMs() - c0;
    stats.endAt = performance.timeOrigin + performance.now();
  }
  return mine.length ? mergeResults(mine) : null;
}

/** What one participant did in an exploration (for the bench: are the threads balanced?). */
export interface ChunkStats {
  chunks: number;
  schedules: number;
  /** From taking its first chunk to finding none left. */
  busyMs: number;
  /** When it found none left, on the shared clock (performance.timeOrigin + now). */
  endAt: number;
  /** This thread's CPU time over busyMs (NaN where the OS does not tell): wall minus CPU is time it waited for a core. */
  cpuMs: number;
}

export const newChunkStats = (): ChunkStats => ({ chunks: 0, schedules: 0, busyMs: 0, endAt: 0, cpuMs: Number.NaN });

/**
 * CPU time of the calling thread in ms, from Linux's /proc/thread-self/stat
 * (utime + stime, in clock ticks of 10 ms); NaN elsewhere.  process.cpuUsage
 * counts every thread of the process, so it cannot tell the threads apart.
 */
export function threadCpuMs(): number {
  try {
    const f = readFileSync('/proc/thread-self/stat', 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** Everybody's progress: schedules and failures summed, distinct end states the largest (sets are not shared). */
function totalProgress(ctl: Int32Array, participants: number): Progress {
  const p = { schedules: 0, distinct: 0, failures: 0 };
  for (let i = 0; i < participants; i++) {
    const b = 2 + PER * i;
    p.schedules += Atomics.load(ctl, b);
    p.distinct = Math.max(p.distinct, Atomics.load(ctl, b + 1));
    p.failures += Atomics.load(ctl, b + 2);
  }
  return p;
}

function newControl(participants: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(4 * (2 + PER * participants));
  new Int32Array(sab)[MIN_FAIL] = NO_FAIL;
  return sab;
}

/** The merged result, reporting the coverage as `threads` slices (every chunk lies in one of them) like the shards of `explore merge`. */
function finish(parts: (ExploreResult | null)[], o: ExploreOptions, threads: number): ExploreResult {
  // Every chunk was taken by someone, so at least one part is there.
  const m = mergeResults(parts.filter((r): r is ExploreResult => r !== null));
  const [si, sn] = o.slice ?? [0, 1];
  m.slices = Array.from({ length: threads }, (_, w) => [si + sn * w, sn * threads] as [number, number]);
  return m;
}

// ---------------------------------------------------------------- worker boot

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const cacheDir = join(root, 'node_modules', '.cache', 'iommufd-sim');

/** Per-process: a worker entry resolved once (bundle checked or built), reused by every pool. */
let entry: Promise<URL> | null = null;

export interface BootInfo {
  kind: 'bundle' | 'tsx';
  /** ms spent checking or building the bundle (main thread, once per process). */
  prepareMs: number;
  built: boolean;
}
export let lastBoot: BootInfo | null = null;

/** The bundle the manifest names, if every source it was built from is unchanged. */
function freshBundle(manifest: string): string | null {
  try {
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { bundle: string; inputs: Record<string, [number, number]> };
    for (const [f, [mtime, size]] of Object.entries(m.inputs)) {
      const s = statSync(join(root, f));
      if (s.mtimeMs !== mtime || s.size !== size) return null;
    }
    const b = join(cacheDir, m.bundle);
    return Object.keys(m.inputs).length > 0 && statSync(b).isFile() ? b : null;
  } catch {
    return null;
  }
}

async function bundleEntry(): Promise<URL> {
  const t0 = performance.now();
  const manifest = join(cacheDir, 'explore-worker.json');
  const fresh = freshBundle(manifest);
  if (fresh) {
    lastBoot = { kind: 'bundle', prepareMs: performance.now() - t0, built: false };
    return pathToFileURL(fresh);
  }
  try {
    const esbuild = await import('esbuild');
    const r = await esbuild.build({
      entryPoints: [join(here, 'worker.ts')], absWorkingDir: root, bundle: true, platform: 'node', format: 'esm', target: 'node20', write: false, metafile: true, logLevel: 'silent',
      // CommonJS dependencies inside an ESM bundle still need a require.
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    });
    const inputs: Record<string, [number, number]> = {};
    for (const f of Object.keys(r.metafile!.inputs)) {
      const s = statSync(join(root, f));
      inputs[f] = [s.mtimeMs, s.size];
    }
    mkdirSync(cacheDir, { recursive: true });
    // Concurrent processes may build at once: a bundle is named by its content and written before the
    // manifest that names it, each by a whole rename, so a manifest never names another build's bundle.
    const code = r.outputFiles![0]!.contents;
    const name = `explore-worker-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`;
    const tag = `${process.pid}.${threadId}.tmp`;
    writeFileSync(join(cacheDir, `${name}.${tag}`), code);
    renameSync(join(cacheDir, `${name}.${tag}`), join(cacheDir, name));
    writeFileSync(`${manifest}.${tag}`, JSON.stringify({ bundle: name, inputs }));
    renameSync(`${manifest}.${tag}`, manifest);
    pruneBundles(name);
    lastBoot = { kind: 'bundle', prepareMs: performance.now() - t0, built: true };
    return pathToFileURL(join(cacheDir, name));
  } catch {
    lastBoot = { kind: 'tsx', prepareMs: performance.now() - t0, built: false };
    return new URL('./worker-boot.mjs', import.meta.url);
  }
}

/** Bundles of older sources, an hour after they were replaced (a process that just read the old manifest may still start one). */
function pruneBundles(keep: string): void {
  try {
    for (const f of readdirSync(cacheDir)) {
      if (f === keep || !/^explore-worker-[0-9a-f]{16}\.mjs$/.test(f)) continue;
      const p = join(cacheDir, f);
      if (Date.now() - statSync(p).mtimeMs > 3_600_000) rmSync(p, { force: true });
    }
  } catch {
    // Best effort: a leftover bundle only takes disk space.
  }
}

/** The URL a worker thread starts from: the fresh bundle, built now if needed, or tsx's boot file. */
export function workerEntry(): Promise<URL> {
  if (process.env.IOMMUFD_SIM_WORKER_BOOT === 'tsx') return Promise.resolve(new URL('./worker-boot.mjs', import.meta.url));
  return (entry ??= bundleEntry());
}

// ---------------------------------------------------------------- pool

type Msg = { type: 'ready' | 'warmed' | 'done'; result?: CompactResult | null; stats?: ChunkStats };

/** Worker threads started once (explorer loaded) and reused. */
export class WorkerPool {
  private constructor(private readonly ws: Worker[]) {}

  /** Per participant (workers, then the caller if it took part) of the last exploration. */
  lastStats: ChunkStats[] = [];

  get size(): number {
    return this.ws.length;
  }

  /** Start `n` workers and wait until each has loaded the explorer. */
  static async start(n: number): Promise<WorkerPool> {
    const pool = await WorkerPool.spawn(n);
    await Promise.all(pool.ws.map((w, i) => WorkerPool.next(w, i, 'ready')));
    return pool;
  }

  /** Start `n` workers without waiting for them: jobs posted now wait in their queues while they load. */
  static async spawn(n: number): Promise<WorkerPool> {
    const url = await workerEntry();
    return new WorkerPool(Array.from({ length: n }, () => new Worker(url)));
  }

  private static next(w: Worker, i: number, want: Msg['type']): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        w.off('message', msg);
        w.off('error', err);
        w.off('exit', exit);
      };
      const msg = (m: Msg) => {
        if (m.type === want) {
          cleanup();
          resolve(m);
        }
      };
      const err = (e: Error) => {
        cleanup();
        reject(e);
      };
      const exit = (code: number) => {
        cleanup();
        reject(new Error(`explore worker ${i} exited with code ${code}`));
      };
      w.on('message', msg);
      w.on('error', err);
      w.on('exit', exit);
    });
  }

  /** Run an exploration in every worker and drop the results (JIT warm-up). */
  async warm(o: Omit<ExploreOptions, 'onProgress'>): Promise<void> {
    await Promise.all(this.ws.map((w, i) => {
      const p = WorkerPool.next(w, i, 'warmed');
      w.postMessage({ type: 'warm', options: o });
      return p;
    }));
  }

  /**
   * Explore the shard over the pool's workers, and over the calling thread
   * too when `withCaller` (it takes chunks between starting the workers and
   * collecting their results).  The merge equals one process's result.
   */
  async explore(o: ExploreOptions, withCaller = false): Promise<ExploreResult> {
    const threads = this.ws.length + (withCaller ? 1 : 0);
    const chunks = chunkSlices(o, threads);
    const control = newControl(threads);
    const { onProgress, slice: _slice, ...plain } = o;
    const job = (slot: number): ChunkJob => ({ options: plain, chunks, control, slot });
    const pending = this.ws.map((w, i) => {
      const p = WorkerPool.next(w, i, 'done');
      w.postMessage({ type: 'chunks', job: job(i) });
      return p;
    });
    // While the calling thread waits, the display reads the shared counters (display only: results never depend on it).
    const ctl = new Int32Array(control);
    const timer = onProgress ? setInterval(() => onProgress(totalProgress(ctl, threads)), 100) : null;
    try {
      const ownStats = newChunkStats();
      const own = withCaller ? runChunks(job(this.ws.length), onProgress, ownStats) : null;
      const msgs = await Promise.all(pending);
      this.lastStats = [...msgs.map((m) => m.stats!), ...(withCaller ? [ownStats] : [])];
      const results = msgs.map((m) => (m.result ? expandResult(m.result) : null));
      onProgress?.(totalProgress(ctl, threads));
      return finish([...results, own], o, threads);
    } finally {
      if (timer) clearInterval(timer);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.ws.map((w) => w.terminate()));
  }
}

export const startWorkers = (n: number): Promise<WorkerPool> => WorkerPool.start(n);

/**
 * Explore over `threads` threads — this one and threads − 1 fresh workers —
 * or over an already started pool (its workers only; reused, not closed).
 */
export async function exploreParallel(o: ExploreOptions, threads: number | WorkerPool): Promise<ExploreResult> {
  if (typeof threads !== 'number') return threads.explore(o);
  if (threads <= 1) return explore(o);
  // The caller explores while the workers load: a slow start costs only the chunks the caller takes instead.
  const pool = await WorkerPool.spawn(threads - 1);
  try {
    const r = await pool.explore(o, true);
    lastParallelStats = pool.lastStats;
    return r;
  } finally {
    await pool.close();
  }
}

/** ChunkStats of the last exploreParallel with fresh workers. */
export let lastParallelStats: ChunkStats[] = [];
