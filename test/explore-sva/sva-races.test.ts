/**
 * The SVA races: each buggy variant is found by every strategy within the
 * budget and its shrunk journal replays to the same violation; the correct
 * model passes the same budget.
 */
import { describe, expect, it } from 'vitest';
import { explore, replayViolation, shrink, SCENARIOS, VARIANTS } from '../../explore/index.ts';

const BUDGET = 200;
const SVA_VARIANTS = ['S01', 'S02', 'S03'] as const;
const EXPECT: Record<string, string> = { S01: 'use-after-free', S02: 'use-after-free', S03: 'hw-stale-iotlb' };

describe.each(SVA_VARIANTS)('sva race %s', (variant) => {
  const scenario = SCENARIOS[VARIANTS[variant]!.scenario]!;

  it.each(['random', 'pct', 'por'] as const)(`is found by %s within ${BUDGET} schedules`, (strategy) => {
    const r = explore({ scenario, variant, strategy, schedules: BUDGET });
    expect(r.failures.length).toBe(1);
    expect(r.failures[0]!.invariant).toBe(EXPECT[variant]);
    expect(r.schedules).toBeLessThanOrEqual(BUDGET);
  });

  it('shrinks to a journal that replays to the same violation', () => {
    const r = explore({ scenario, variant, strategy: 'random', schedules: BUDGET });
    const f = r.failures[0]!;
    const s = shrink({ scenario, variant, choices: f.choices, invariant: f.invariant });
    expect(s.violation.invariant).toBe(f.invariant);
    const rep = replayViolation(s.journal, s.scenario);
    expect(rep.divergence).toBeNull();
    expect(rep.violation?.message).toBe(s.violation.message);
  });

  it('the correct model passes the same budget (random and PCT)', () => {
    expect(explore({ scenario, strategy: 'random', schedules: BUDGET, all: true }).failures).toEqual([]);
    expect(explore({ scenario, strategy: 'pct', schedules: BUDGET, all: true }).failures).toEqual([]);
  });
});
