// The fuzzer: seeded generation, bounded execution with invariant checks, shrinking, and a bounded
// CI run (about 20 s) whose every failure must be saved as a journal that verifies and reproduces.
import { describe, expect, it } from 'vitest';
import { execute, fuzz, generate, shrink } from '../../fuzz/index.ts';
import { verifyJournal } from '../../journal/index.ts';
import { encodeValue } from '../../journal/index.ts';
import { IOMMU_IOAS_ALLOC } from '../../uapi/ioctl.ts';

describe('fuzz program generation and execution', () => {
  it('a seed names a program: same seed, same bytes, same results', () => {
    const a = generate('s:1');
    const b = generate('s:1');
    expect(Buffer.from(encodeValue(a)).equals(Buffer.from(encodeValue(b)))).toBe(true);
    expect(Buffer.from(encodeValue(generate('s:2'))).equals(Buffer.from(encodeValue(a)))).toBe(false);
    expect(execute(a)).toEqual(execute(b));
  });

  it('generates valid, mutated and garbage calls: many distinct errnos per ioctl', () => {
    const pairs = new Set<string>();
    for (let i = 0; i < 40; i++) for (const p of execute(generate(`mix:${i}`)).pairs) pairs.add(p);
    const errnos = new Set([...pairs].map((p) => p.split(' ')[1]));
    for (const e of ['ok', 'EINVAL', 'ENOTTY', 'EOPNOTSUPP', 'ENOENT', 'EFAULT', 'E2BIG']) expect(errnos).toContain(e);
    expect(pairs.size).toBeGreaterThan(40);
  });

  it('a call that needs more deliveries than the bound is reported as a hang, not run forever', () => {
    const arg = new Uint8Array(12);
    arg[0] = 12;
    const r = execute({ calls: [{ k: 'ioctl', fd: 0, cmd: IOMMU_IOAS_ALLOC, arg, refs: [] }] }, { bound: 1 });
    expect(r.failure).toMatchObject({ kind: 'hang', at: 0 });
    expect(execute({ calls: [{ k: 'ioctl', fd: 0, cmd: IOMMU_IOAS_ALLOC, arg, refs: [] }] }).failure).toBeNull();
  });

  it('shrinking drops every call the failure does not need', () => {
    const noise = generate('noise:1').calls.slice(0, 8);
    // with a bound of one delivery even the teardown (proc.exit) hangs: no call is needed at all
    const small = shrink(noise.length ? { calls: noise } : { calls: [] }, 'hang', { bound: 1 });
    expect(small.calls).toEqual([]);
    expect(execute(small, { bound: 1 }).failure).toMatchObject({ kind: 'hang', at: 0 });
    // with the normal bound the same calls do not hang
    expect(execute({ calls: noise }).failure?.kind).not.toBe('hang');
  });
});

describe('bounded fuzz run (CI)', () => {
  it('runs for ~20 s; the simulator answers every call; every failure is saved, verifies and reproduces', () => {
    const r = fuzz({ time: 18, seed: 'ci' });
    console.log(`fuzz CI: ${r.programs} programs, ${r.ioctls} ioctls in ${r.seconds.toFixed(1)} s (${Math.round(r.ioctls / r.seconds)} ioctls/s), ${r.pairs} errno/ioctl pairs, ${r.failures} failing programs, ${r.saved.length} distinct`);
    for (const s of r.saved) console.log(`  ${s.failure.kind} (${s.calls} -> ${s.shrunkCalls} calls): ${s.failure.message.split(' | ')[0]}`);
    expect(r.programs).toBeGreaterThan(30);
    expect(r.pairs).toBeGreaterThan(60);
    for (const s of r.saved) {
      // the harness itself never throws: a throw must come from the model
      if (s.failure.kind === 'throw') expect(s.failure.message).not.toMatch(/\/(fuzz|scenario)\//);
      expect(verifyJournal(s.journal).ok).toBe(true);
      expect(s.scenario).toMatch(/^(# |proc )/m);
      expect(s.shrunkCalls).toBeLessThanOrEqual(s.calls);
      expect(execute(s.program).failure?.kind).toBe(s.failure.kind);
    }
  });
});
