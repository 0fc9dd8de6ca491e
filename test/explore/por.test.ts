/** Partial-order reduction explores fewer schedules than plain enumeration and reaches the same end states. */
import { describe, expect, it } from 'vitest';
import { dependent, explore, SCENARIOS, touches } from '../../explore/index.ts';

describe('POR (sleep sets)', () => {
  it.each(['destroy-race', 'put-destroy-race', 'alloc-destroy'])('%s: fewer schedules, same distinct end states', (name) => {
    const scenario = SCENARIOS[name]!;
    const plain = explore({ scenario, strategy: 'dfs', schedules: 100_000, all: true });
    const por = explore({ scenario, strategy: 'por', schedules: 100_000, all: true });
    expect(plain.schedules).toBeLessThan(100_000); // exhaustive
    expect(por.endStates).toEqual(plain.endStates);
    expect(por.schedules).toBeLessThan(plain.schedules);
    expect(plain.pruned).toBe(0);
  });

  it('deliveries to the same actor, or sharing written world state, are dependent; two threads are not', () => {
    const none = new Set<string>();
    expect(dependent(touches('iommufd:1', none), touches('iommufd:1', none))).toBe(true);
    expect(dependent(touches('obj:1:1', none), touches('obj:1:2', none))).toBe(true);
    expect(dependent(touches('kernel', none), touches('thread:1.2', none))).toBe(true);
    expect(dependent(touches('thread:1.2', none), touches('thread:1.3', none))).toBe(false);
    expect(dependent(touches('thread:1.2', none), touches('obj:1:1', none))).toBe(false);
    const vars = new Set(['thread:1.2', 'thread:1.3']);
    expect(dependent(touches('thread:1.2', vars), touches('thread:1.3', vars))).toBe(true);
  });
});
