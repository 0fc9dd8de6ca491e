/** Worker-thread entry: explore one slice and post the result back. */
import { parentPort, workerData } from 'node:worker_threads';
import { explore, type ExploreOptions } from './explorer.ts';

const o = workerData as Omit<ExploreOptions, 'onProgress'>;
let last = 0;
const r = explore({
  ...o,
  onProgress: (p) => {
    // Progress is throttled by count, not time, so messages do not depend on speed.
    if (p.schedules - last >= 16 || p.failures) {
      last = p.schedules;
      parentPort!.postMessage({ type: 'progress', ...p });
    }
  },
});
parentPort!.postMessage({ type: 'done', result: r });
