/** Shards are disjoint slices whose merge equals the unsharded run; workers give the same merged result. */
import { describe, expect, it } from 'vitest';
import { explore, exploreParallel, mergeResults, resultSignature, SCENARIOS, type ExploreOptions } from '../../explore/index.ts';

const keys = (r: { runs: { key: number[] }[] }) => r.runs.map((x) => x.key.join(','));

function shards(o: ExploreOptions, n: number) {
  return Array.from({ length: n }, (_, i) => explore({ ...o, slice: [i, n] }));
}

describe('shards', () => {
  it.each([
    ['random', 'map-unmap'],
    ['pct', 'map-unmap'],
    ['por', 'put-destroy-race'],
  ] as const)('%s on %s: disjoint, and merged equal to one run', (strategy, name) => {
    const o: ExploreOptions = { scenario: SCENARIOS[name]!, strategy, schedules: 40, all: true };
    const whole = explore(o);
    const parts = shards(o, 3);
    const all = parts.flatMap(keys);
    expect(new Set(all).size).toBe(all.length);
    expect(resultSignature(mergeResults(parts))).toEqual(resultSignature(whole));
  });

  it('stopping at the first failure: the merge keeps runs up to the earliest failure, as one process would', () => {
    const o: ExploreOptions = { scenario: SCENARIOS['put-destroy-race']!, variant: 'B02', strategy: 'random', schedules: 200 };
    const whole = explore(o);
    expect(whole.failures.length).toBe(1);
    expect(resultSignature(mergeResults(shards(o, 2)))).toEqual(resultSignature(whole));
  });

  it('overlapping results do not merge', () => {
    const r = explore({ scenario: SCENARIOS['destroy-race']!, strategy: 'random', schedules: 4, all: true });
    expect(() => mergeResults([r, r])).toThrow(/appears twice/);
  });
});

describe('workers', () => {
  it('2 worker threads give the same merged result as one process', async () => {
    const o: ExploreOptions = { scenario: SCENARIOS['map-unmap']!, strategy: 'random', schedules: 60, all: true };
    const par = await exploreParallel(o, 2);
    expect(par.slices).toEqual([[0, 2], [1, 2]]);
    expect(resultSignature(par)).toEqual(resultSignature(explore(o)));
  });
});
