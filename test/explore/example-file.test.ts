import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadExploreScenario } from '../../cli/explore.ts';
import { explore } from '../../explore/explorer.ts';

describe('explorer scenarios from files (examples/destroy-race.explore.json)', () => {
  it('the race the example describes is found in the B01 variant and not in the correct model', () => {
    const scenario = loadExploreScenario(join(import.meta.dirname, '../../examples/destroy-race.explore.json'));
    const bad = explore({ scenario, strategy: 'random', schedules: 50, variant: 'B01' });
    expect(bad.failures.length).toBeGreaterThan(0);
    expect(bad.failures[0]!.invariant).toBe('oracle:destroy-pair');
    const good = explore({ scenario, strategy: 'random', schedules: 50 });
    expect(good.failures).toEqual([]);
  });

  it('a file that is not a scenario is refused with its name', () => {
    expect(() => loadExploreScenario(join(import.meta.dirname, '../../package.json'))).toThrow(/package\.json: not an explorer scenario/);
  });
});
