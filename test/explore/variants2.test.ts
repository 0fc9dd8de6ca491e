/**
 * Device / auto-HWPT / VFIO-compat bug variants (spec/bugs.md B06, B14)
 * get the shared checks of variant-suite.ts, with longer timeouts for
 * their larger budgets, and the compat-unmap-empty oracle.
 */
import { describe, expect, it } from 'vitest';
import { SCENARIOS } from '../../explore/index.ts';
import { variantSuite } from './variant-suite.ts';

variantSuite(2, { find: 120_000, shrink: 120_000, correct: 300_000 });

describe('compat-unmap-empty oracle', () => {
  it('accepts type1 success with size 0 and native ENOENT, rejects the compat ENOENT', async () => {
    const { oracle } = await import('../../explore/invariants.ts');
    const o = oracle('compat-unmap-empty')!;
    const sc = SCENARIOS['compat-unmap-empty']!;
    const compat = { op: 'vfioUnmapDma' as const, fd: '$fd', iova: 0x100000n, size: 0x1000n };
    const native = { op: 'unmap' as const, fd: '$fd', ioas: '$ioas', iova: 0x100000n, length: 0x1000n };
    expect(o([[{ op: compat, errno: 0 }], [{ op: native, errno: 2 }]], {}, sc)).toBeNull();
    expect(o([[{ op: compat, errno: 2 }]], {}, sc)).toMatch(/errno 2/);
    expect(o([[{ op: native, errno: 0 }]], {}, sc)).toMatch(/ENOENT expected/);
  });
});
