/**
 * Exploration spread over worker_threads: worker w of W explores slice
 * (shard + n·w) of (n·W) — every schedule of the shard exactly once — and the
 * slices are merged in key order, so W workers give the same result as one
 * process.  With a --time budget each worker stops on its own clock.
 */
import { Worker } from 'node:worker_threads';
import { explore, mergeResults, type ExploreOptions, type ExploreResult, type Progress } from './explorer.ts';

export async function exploreParallel(o: ExploreOptions, workers: number): Promise<ExploreResult> {
  const [si, sn] = o.slice ?? [0, 1];
  if (workers <= 1) return explore(o);
  const { onProgress, ...plain } = o;
  const per = Array.from({ length: workers }, () => ({ schedules: 0, distinct: 0, failures: 0 }));
  const report = () => {
    onProgress?.(per.reduce((a, p) => ({ schedules: a.schedules + p.schedules, distinct: Math.max(a.distinct, p.distinct), failures: a.failures + p.failures }), { schedules: 0, distinct: 0, failures: 0 }));
  };
  const slices: [number, number][] = Array.from({ length: workers }, (_, w) => [si + sn * w, sn * workers]);
  const results = await Promise.all(
    slices.map(
      (slice, w) =>
        new Promise<ExploreResult>((resolve, reject) => {
          const workerData = { ...plain, slice, ...(plain.schedules !== undefined ? { schedules: plain.schedules } : {}) };
          const wk = new Worker(new URL('./worker-boot.mjs', import.meta.url), { workerData });
          wk.on('message', (m: { type: string; result?: ExploreResult } & Progress) => {
            if (m.type === 'progress') {
              per[w] = { schedules: m.schedules, distinct: m.distinct, failures: m.failures };
              report();
            } else if (m.type === 'done') resolve(m.result!);
          });
          wk.on('error', reject);
          wk.on('exit', (code) => code !== 0 && reject(new Error(`explore worker ${w} exited with code ${code}`)));
        }),
    ),
  );
  return mergeResults(results);
}
