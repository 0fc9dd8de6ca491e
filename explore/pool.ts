/**
 * Exploration spread over worker_threads: worker w of W explores slice
 * (shard + n·w) of (n·W) — every schedule of the shard exactly once — and the
 * slices are merged in key order, so W workers give the same result as one
 * process.  With a --time budget each worker stops on its own clock.
 *
 * Workers can be started once (startWorkers) and reused for several
 * explorations; exploreParallel without a pool starts and stops its own.
 * Which schedules a worker runs depends only on its slice, never on timing.
 */
import { Worker } from 'node:worker_threads';
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

type Msg = { type: 'ready' | 'warmed' | 'progress' | 'done'; result?: CompactResult } & Partial<Progress>;

/** Worker threads started once (tsx loader and modules loaded) and reused. */
export class WorkerPool {
  private constructor(private readonly ws: Worker[]) {}

  get size(): number {
    return this.ws.length;
  }

  /** Start `n` workers and wait until each has loaded the explorer. */
  static async start(n: number): Promise<WorkerPool> {
    const ws = Array.from({ length: n }, () => new Worker(new URL('./worker-boot.mjs', import.meta.url)));
    await Promise.all(ws.map((w, i) => WorkerPool.next(w, i, 'ready')));
    return new WorkerPool(ws);
  }

  private static next(w: Worker, i: number, want: Msg['type'], onMsg?: (m: Msg) => void): Promise<Msg> {
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
        } else onMsg?.(m);
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

  /** Explore slice w of the pool's size in worker w; the merge equals one process's result. */
  async explore(o: ExploreOptions): Promise<ExploreResult> {
    const workers = this.ws.length;
    const [si, sn] = o.slice ?? [0, 1];
    const { onProgress, ...plain } = o;
    const per = Array.from({ length: workers }, () => ({ schedules: 0, distinct: 0, failures: 0 }));
    const report = () => {
      onProgress?.(per.reduce((a, p) => ({ schedules: a.schedules + p.schedules, distinct: Math.max(a.distinct, p.distinct), failures: a.failures + p.failures }), { schedules: 0, distinct: 0, failures: 0 }));
    };
    const results = await Promise.all(
      this.ws.map(async (w, i) => {
        const p = WorkerPool.next(w, i, 'done', (m) => {
          if (m.type === 'progress' && onProgress) {
            per[i] = { schedules: m.schedules!, distinct: m.distinct!, failures: m.failures! };
            report();
          }
        });
        w.postMessage({ type: 'explore', options: { ...plain, slice: [si + sn * i, sn * workers] } });
        return expandResult((await p).result!);
      }),
    );
    return mergeResults(results);
  }

  async close(): Promise<void> {
    await Promise.all(this.ws.map((w) => w.terminate()));
  }
}

export const startWorkers = (n: number): Promise<WorkerPool> => WorkerPool.start(n);

/** Explore over `workers` threads, or over an already started pool (reused, not closed). */
export async function exploreParallel(o: ExploreOptions, workers: number | WorkerPool): Promise<ExploreResult> {
  if (typeof workers !== 'number') return workers.explore(o);
  if (workers <= 1) return explore(o);
  const pool = await WorkerPool.start(workers);
  try {
    return await pool.explore(o);
  } finally {
    await pool.close();
  }
}
