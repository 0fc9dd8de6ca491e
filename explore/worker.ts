/**
 * Worker-thread entry, serving a WorkerPool: `{type:'chunks', job}` takes
 * chunks from the shared counter until none is left and posts `done` with
 * the merge of the chunks it ran (compact; null if it got none); `{type:
 * 'warm', options}` runs an exploration whose result is dropped, to get the
 * JIT going before timed work, and posts `warmed`.  Progress goes through the
 * job's shared counters, not messages.
 */
import { parentPort } from 'node:worker_threads';
import { explore, type ExploreOptions } from './explorer.ts';
import { compactResult, newChunkStats, runChunks, type ChunkJob } from './pool.ts';

parentPort!.on('message', (m: { type: 'chunks'; job: ChunkJob } | { type: 'warm'; options: Omit<ExploreOptions, 'onProgress'> }) => {
  if (m.type === 'chunks') {
    const stats = newChunkStats();
    const r = runChunks(m.job, undefined, stats);
    parentPort!.postMessage({ type: 'done', result: r ? compactResult(r) : null, stats });
  } else if (m.type === 'warm') {
    explore(m.options);
    parentPort!.postMessage({ type: 'warmed' });
  }
});
parentPort!.postMessage({ type: 'ready' });
