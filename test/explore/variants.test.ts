/**
 * The bug variants without a suite number (the shared checks of
 * variant-suite.ts), and the invariant registry and oracles.
 */
import { describe, expect, it } from 'vitest';
import { explore, SCENARIOS } from '../../explore/index.ts';
import { variantSuite } from './variant-suite.ts';

// Variants with a `suite` number are tested in variants<N>.test.ts.
variantSuite(undefined);

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
