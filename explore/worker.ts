/**
 * Worker-thread entry.  Started with `workerData` (one-shot, the old form) it
 * explores that slice and posts the result; started without, it serves jobs
 * from a WorkerPool: `{type:'explore', options}` → progress…, `done`; and
 * `{type:'warm', options}` → `warmed` (an exploration whose result is dropped,
 * to get the JIT going before the timed work).  Results travel compactly.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { explore, type ExploreOptions } from './explorer.ts';
import { compactResult } from './pool.ts';

type Plain = Omit<ExploreOptions, 'onProgress'>;

function run(o: Plain): void {
  let last = 0;
  let lastFail = 0;
  const r = explore({
    ...o,
    onProgress: (p) => {
      // Progress is throttled by count, not time, so messages do not depend on speed.
      if (p.schedules - last >= 64 || p.failures !== lastFail) {
        last = p.schedules;
        lastFail = p.failures;
        parentPort!.postMessage({ type: 'progress', ...p });
      }
    },
  });
  parentPort!.postMessage({ type: 'done', result: compactResult(r) });
}

if (workerData) run(workerData as Plain);
else {
  parentPort!.on('message', (m: { type: string; options: Plain }) => {
    if (m.type === 'explore') run(m.options);
    else if (m.type === 'warm') {
      explore(m.options);
      parentPort!.postMessage({ type: 'warmed' });
    }
  });
  parentPort!.postMessage({ type: 'ready' });
}
