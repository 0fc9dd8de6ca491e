/**
 * Chunked exploration over threads: whoever takes which chunk, the merge is
 * the single-process result, including a stop at the first failure found in
 * some other thread's chunk.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explore, resultSignature, SCENARIOS, type ExploreOptions } from '../../explore/index.ts';
import { chunkSlices, exploreParallel, lastBoot, runChunks, startWorkers, type WorkerPool } from '../../explore/pool.ts';

function keysOf(slice: [number, number], budget: number): number[] {
  const out: number[] = [];
  for (let k = slice[0]; k < budget; k += slice[1]) out.push(k);
  return out;
}

describe('chunks', () => {
  it('partition the shard: every key of it in exactly one chunk', () => {
    for (const [slice, budget, threads] of [[[0, 1], 6000, 2], [[1, 3], 1000, 2], [[0, 1], 50, 3], [[2, 5], 20000, 4]] as const) {
      const cs = chunkSlices({ scenario: SCENARIOS['map-unmap']!, strategy: 'random', schedules: budget, slice: [...slice] }, threads);
      expect(cs.length % threads).toBe(0);
      const all = cs.flatMap((c) => keysOf(c, budget)).sort((a, b) => a - b);
      expect(all).toEqual(keysOf([...slice], budget));
    }
    expect(chunkSlices({ scenario: SCENARIOS['map-unmap']!, strategy: 'random', schedules: 6000 }, 2)).toHaveLength(64);
    // A wall-clock budget and the tree searches keep one chunk per thread.
    expect(chunkSlices({ scenario: SCENARIOS['map-unmap']!, strategy: 'random', timeMs: 1000 }, 2)).toEqual([[0, 2], [1, 2]]);
    expect(chunkSlices({ scenario: SCENARIOS['map-unmap']!, strategy: 'por', schedules: 6000 }, 2)).toEqual([[0, 2], [1, 2]]);
  });

  it('one participant taking every chunk gives the single-process result, and a found failure bounds the later chunks', () => {
    const o: ExploreOptions = { scenario: SCENARIOS['put-destroy-race']!, variant: 'B02', strategy: 'random', schedules: 640 };
    const whole = explore(o);
    expect(whole.failures).toHaveLength(1);
    const chunks = chunkSlices(o, 2);
    expect(chunks.length).toBe(20);
    const control = new SharedArrayBuffer(4 * (2 + 3 * 2));
    new Int32Array(control)[1] = 0x7fffffff;
    const { scenario, variant, strategy, schedules } = o;
    const mine = runChunks({ options: { scenario, variant, strategy, schedules }, chunks, control, slot: 0 })!;
    expect(new Int32Array(control)[0]).toBe(chunks.length + 1); // every chunk taken (and one miss)
    expect(new Int32Array(control)[1]).toBe(whole.failures[0]!.key[0]);
    // Chunks taken after the failure ran only keys below it: about 600 of the 640 schedules were never run.
    expect(whole.failures[0]!.key[0]).toBeLessThan(20);
    expect(new Int32Array(control)[2]).toBeLessThan(3 * 32);
    expect(resultSignature(mine)).toEqual(resultSignature(whole));
  });
});

describe('threads', () => {
  let pool: WorkerPool;
  beforeAll(async () => {
    pool = await startWorkers(2);
  });
  afterAll(async () => {
    await pool.close();
  });

  it.each([
    ['random', 'churn', undefined, true],
    ['pct', 'map-unmap', undefined, true],
    ['random', 'put-destroy-race', 'B02', false],
    ['pct', 'destroy-race', 'B01', false],
  ] as const)('%s on %s (variant %s, all %s): many chunks over 2 workers, over this thread and 2 workers, and over a fresh pair equal one process', async (strategy, name, variant, all) => {
    const o: ExploreOptions = { scenario: SCENARIOS[name]!, variant: variant ?? null, strategy, schedules: name === 'churn' ? 256 : 768, all };
    expect(chunkSlices(o, 2).length).toBeGreaterThan(2);
    const want = resultSignature(explore(o));
    const onPool = await pool.explore(o);
    expect(onPool.slices).toEqual([[0, 2], [1, 2]]);
    expect(resultSignature(onPool)).toEqual(want);
    const withCaller = await pool.explore(o, true);
    expect(withCaller.slices).toEqual([[0, 3], [1, 3], [2, 3]]);
    expect(resultSignature(withCaller)).toEqual(want);
    expect(resultSignature(await exploreParallel(o, 2))).toEqual(want);
  }, 60_000);

  it('a shard over threads equals the shard in one process', async () => {
    const o: ExploreOptions = { scenario: SCENARIOS['map-unmap']!, strategy: 'random', schedules: 900, all: true, slice: [1, 3] };
    expect(resultSignature(await pool.explore(o, true))).toEqual(resultSignature(explore(o)));
  });

  it('workers boot from the cached bundle, and the tsx boot gives the same result', async () => {
    expect(lastBoot?.kind).toBe('bundle');
    const o: ExploreOptions = { scenario: SCENARIOS['map-unmap']!, strategy: 'random', schedules: 200, all: true };
    process.env.IOMMUFD_SIM_WORKER_BOOT = 'tsx';
    try {
      expect(resultSignature(await exploreParallel(o, 2))).toEqual(resultSignature(explore(o)));
    } finally {
      delete process.env.IOMMUFD_SIM_WORKER_BOOT;
    }
  }, 60_000);
});
