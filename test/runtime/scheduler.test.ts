import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../actors/runtime/envelope.ts';
import { pingWorld, pingActor } from '../../scenarios/pingpong.ts';
import { Runtime, type RuntimeSnapshot } from '../../actors/runtime/runtime.ts';
import { createPrng, nextInt, nextU32 } from '../../actors/runtime/prng.ts';

function trace(rt: Runtime<null>): { deliveries: Envelope[]; choices: number[] } {
  const deliveries: Envelope[] = [];
  const choices: number[] = [];
  rt.bus.delivered$.subscribe((e) => deliveries.push({ ...e }));
  rt.bus.choice$.subscribe((e) => choices.push((e.body as { index: number }).index));
  rt.run();
  return { deliveries, choices };
}

const order = (ds: Envelope[]) => ds.map((e) => `${e.src}>${e.dst}`).join(' ');

describe('prng', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = createPrng(42), b = createPrng(42), c = createPrng(43);
    const sa = [1, 2, 3, 4].map(() => nextU32(a));
    expect([1, 2, 3, 4].map(() => nextU32(b))).toEqual(sa);
    expect([1, 2, 3, 4].map(() => nextU32(c))).not.toEqual(sa);
  });
  it('nextInt stays in range', () => {
    const p = createPrng('x');
    for (let i = 0; i < 1000; i++) {
      const v = nextInt(p, 7);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(7);
    }
  });
});

describe('scheduler', () => {
  it('FIFO delivers in posting order and every actor runs out its budget', () => {
    const rt = pingWorld({ name: 'fifo' });
    const { deliveries } = trace(rt);
    expect(deliveries.length).toBe(3 * 11);
    expect(deliveries.slice(0, 3).map((e) => e.dst)).toEqual(['a1', 'b1', 'c1']);
    expect(deliveries.map((e) => e.seq)).toEqual(deliveries.map((_, i) => i + 1));
    expect(rt.scheduler.pendingCount).toBe(0);
  });

  it('the same seed gives the same order; another seed another order', () => {
    const one = trace(pingWorld({ name: 'random', seed: 7 }));
    const two = trace(pingWorld({ name: 'random', seed: 7 }));
    const other = trace(pingWorld({ name: 'random', seed: 8 }));
    expect(order(two.deliveries)).toBe(order(one.deliveries));
    expect(order(other.deliveries)).not.toBe(order(one.deliveries));
  });

  it('replaying recorded choices reproduces the run exactly', () => {
    const rec = trace(pingWorld({ name: 'random', seed: 99 }));
    expect(rec.choices.length).toBeGreaterThan(5);
    const rep = trace(pingWorld({ name: 'replay', choices: rec.choices, fallback: 'error' }));
    expect(rep.deliveries).toEqual(rec.deliveries);
  });

  it('cause links every reply to the delivery that posted it', () => {
    const { deliveries } = trace(pingWorld({ name: 'random', seed: 3 }));
    const bySeq = new Map(deliveries.map((e) => [e.seq, e]));
    for (const e of deliveries) {
      if (e.cause === 0) continue;
      const parent = bySeq.get(e.cause)!;
      expect(parent.seq).toBeLessThan(e.seq);
      expect(parent.dst).toBe(e.src);
    }
  });

  it('PCT with the same seed is deterministic', () => {
    const spec = { name: 'pct' as const, seed: 5, depth: 3, steps: 30 };
    expect(order(trace(pingWorld(spec)).deliveries)).toBe(order(trace(pingWorld(spec)).deliveries));
  });

  it('snapshot → restore → continue equals the uninterrupted run', () => {
    const full = trace(pingWorld({ name: 'random', seed: 11 }));
    const rt = pingWorld({ name: 'random', seed: 11 });
    rt.run(12);
    // A deep copy through structuredClone stands for "written to the journal and read back".
    const snap = structuredClone(rt.snapshot()) as RuntimeSnapshot<null>;
    const restored = Runtime.restore<null>(snap, { restorers: { ping: (id, st) => pingActor(id, undefined, st) } });
    const rest = trace(restored);
    expect(order(rest.deliveries)).toBe(order(full.deliveries.slice(12)));
    expect(rest.deliveries).toEqual(full.deliveries.slice(12));
  });

  it('a message to a retired actor is a dead letter, not a crash', () => {
    const rt = pingWorld({ name: 'fifo' }, 1);
    rt.retire('a2');
    rt.run();
    expect(rt.deadLetters.map((d) => [d.env.dst, d.retired])).toEqual([['a2', true]]);
  });
});
