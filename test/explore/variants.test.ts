/**
 * Every implemented bug variant is found by the explorer within a fixed
 * budget, its shrunk journal replays (ReplaySession, byte-exact) to the same
 * violation, and the correct model passes the same budget.
 */
import { describe, expect, it } from 'vitest';
import { explore, replayViolation, shrink, SCENARIOS, VARIANTS } from '../../explore/index.ts';

const BUDGET = 200;

// Variants with `suite: 2` (their own budgets) are tested in variants2.test.ts.
describe.each(Object.entries(VARIANTS).filter(([, v]) => v.suite === undefined))('variant %s', (variant, { scenario: name }) => {
  const scenario = SCENARIOS[name]!;

  it.each(['random', 'pct', 'por'] as const)(`is found by %s within ${BUDGET} schedules`, (strategy) => {
    const r = explore({ scenario, variant, strategy, schedules: BUDGET });
    expect(r.failures.length).toBe(1);
    expect(r.schedules).toBeLessThanOrEqual(BUDGET);
  });

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
  });

  it('the correct model passes the same budget (random) and the whole POR tree', () => {
    expect(explore({ scenario, strategy: 'random', schedules: BUDGET, all: true }).failures).toEqual([]);
    const por = explore({ scenario, strategy: 'por', schedules: 5000, all: true });
    expect(por.failures).toEqual([]);
    expect(por.schedules).toBeLessThan(5000); // the tree was exhausted, not cut by the budget
  });
});

describe('invariants', () => {
  it('a user-registered invariant is checked after every delivery and named in the failure', async () => {
    const { registerInvariant, allInvariants } = await import('../../explore/index.ts');
    const before = allInvariants().length;
    registerInvariant({ name: 'test:no-unmap', description: 'test only', check: (v) => (v.env?.type === 'op' && (v.env.body as { op: string }).op === 'unmap' ? 'an unmap reached an IOAS' : null) });
    try {
      const r = explore({ scenario: SCENARIOS['map-unmap']!, strategy: 'random', schedules: 5 });
      expect(r.failures[0]?.invariant).toBe('test:no-unmap');
    } finally {
      // Leave the registry as it was for the other tests in this file's worker.
      (allInvariants() as unknown as unknown[]).splice(before);
    }
  });

  it('the destroy-pair oracle accepts the kernel outcome and rejects two EBUSYs', async () => {
    const { oracle } = await import('../../explore/invariants.ts');
    const o = oracle('destroy-pair')!;
    const op = { op: 'destroy' as const, fd: '$fd', id: '$ioas' };
    expect(o([[{ op, errno: 0 }], [{ op, errno: 2 }]], { id: '$ioas' }, SCENARIOS['destroy-race']!)).toBeNull();
    expect(o([[{ op, errno: 16 }], [{ op, errno: 16 }]], { id: '$ioas' }, SCENARIOS['destroy-race']!)).toMatch(/16 and 16/);
  });
});
