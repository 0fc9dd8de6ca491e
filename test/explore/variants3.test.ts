/**
 * Auto-HWPT creation and fault-queue race variants (spec/bugs.md B05, B07):
 * the explorer finds each within a fixed budget per strategy (200 unless the
 * variant names a larger one), the shrunk journal replays (ReplaySession,
 * byte-exact) to the same violation, and the correct model passes the same
 * budget and its whole POR tree.
 */
import { describe, expect, it } from 'vitest';
import { explore, replayViolation, shrink, SCENARIOS, VARIANTS } from '../../explore/index.ts';

const BUDGET = 200;
const suite3 = Object.entries(VARIANTS).filter(([, v]) => v.suite === 3);

describe.each(suite3)('variant %s', (variant, { scenario: name, budget }) => {
  const scenario = SCENARIOS[name]!;
  const limit = (s: 'random' | 'pct' | 'por') => budget?.[s] ?? BUDGET;

  it.each(['random', 'pct', 'por'] as const)('is found by %s within its budget', (strategy) => {
    const r = explore({ scenario, variant, strategy, schedules: limit(strategy) });
    expect(r.failures.length).toBe(1);
    expect(r.schedules).toBeLessThanOrEqual(limit(strategy));
  }, 120_000);

  it('shrinks to a journal that replays to the same violation', () => {
    const r = explore({ scenario, variant, strategy: 'random', schedules: BUDGET });
    const f = r.failures[0]!;
    const s = shrink({ scenario, variant, choices: f.choices, invariant: f.invariant });
    expect(s.violation.invariant).toBe(f.invariant);
    expect(s.size.threads).toBeLessThanOrEqual(scenario.threads.length);
    expect(s.explanation.chain.at(-1)?.seq).toBe(s.violation.seq);
    const rep = replayViolation(s.journal, s.scenario);
    expect(rep.divergence).toBeNull();
    expect(rep.violation?.invariant).toBe(f.invariant);
    expect(rep.violation?.message).toBe(s.violation.message);
  }, 120_000);

  it('the correct model passes the same budget (random) and the whole POR tree', () => {
    expect(explore({ scenario, strategy: 'random', schedules: BUDGET, all: true }).failures).toEqual([]);
    const por = explore({ scenario, strategy: 'por', schedules: 5000, all: true });
    expect(por.failures).toEqual([]);
    expect(por.schedules).toBeLessThan(5000);
  }, 300_000);
});
