/**
 * The checks every bug variant gets, shared by the variants*.test.ts files
 * (one file per `suite` so vitest runs them in parallel): the explorer finds
 * it within its budget (200 unless the variant names a larger one) under
 * each strategy, the shrunk journal replays (ReplaySession, byte-exact) to
 * the same violation, and the correct model passes the same budget and its
 * whole POR tree.
 */
import { describe, expect, it } from 'vitest';
import { explore, replayViolation, shrink, SCENARIOS, VARIANTS } from '../../explore/index.ts';

export const BUDGET = 200;

/** Per-test timeouts in ms; unset ones use vitest.config.ts's. */
export interface SuiteTimeouts {
  find?: number;
  shrink?: number;
  correct?: number;
}

export function variantSuite(suite: number | undefined, timeouts: SuiteTimeouts = {}): void {
  // Variants with a plain test (no race, nothing for the explorer to search) are checked there.
  const members = Object.entries(VARIANTS).filter(([, v]) => v.suite === suite && !v.plain);
  describe.each(members)('variant %s', (variant, { scenario: name, budget }) => {
    const scenario = SCENARIOS[name]!;
    const limit = (s: 'random' | 'pct' | 'por') => budget?.[s] ?? BUDGET;

    it.each(['random', 'pct', 'por'] as const)('is found by %s within its budget', (strategy) => {
      const r = explore({ scenario, variant, strategy, schedules: limit(strategy) });
      expect(r.failures.length).toBe(1);
      expect(r.schedules).toBeLessThanOrEqual(limit(strategy));
    }, timeouts.find);

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
    }, timeouts.shrink);

    it('the correct model passes the same budget (random) and the whole POR tree', () => {
      expect(explore({ scenario, strategy: 'random', schedules: BUDGET, all: true }).failures).toEqual([]);
      const por = explore({ scenario, strategy: 'por', schedules: 5000, all: true });
      expect(por.failures).toEqual([]);
      expect(por.schedules).toBeLessThan(5000); // the tree was exhausted, not cut by the budget
    }, timeouts.correct);
  });
}
