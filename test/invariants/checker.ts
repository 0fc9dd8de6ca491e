/**
 * Runs actors/invariants.ts after every delivery of a simulation (a
 * subscriber of `sim.rt.bus.delivered$`) and keeps the first violations with
 * the delivery that produced them.  Subscribers must not throw (rxjs would
 * report it asynchronously), so tests assert with `expectClean()`.
 */
import { expect } from 'vitest';
import type { Simulation } from '../../actors/sim.ts';
import { checkInvariants } from '../../actors/invariants.ts';

export interface Watch {
  violations: string[];
  deliveries: number;
  stop(): void;
  expectClean(what?: string): void;
}

export function watchInvariants(sim: Simulation, o: { max?: number; check?: (sim: Simulation) => string[] } = {}): Watch {
  const max = o.max ?? 5;
  const check = o.check ?? checkInvariants;
  const w: Watch = {
    violations: [],
    deliveries: 0,
    stop: () => sub.unsubscribe(),
    expectClean: (what = 'invariants') => expect(w.violations, what).toEqual([]),
  };
  // A violation that persists is reported once, at the delivery that introduced it.
  const seen = new Set<string>();
  const sub = sim.rt.bus.delivered$.subscribe((env) => {
    w.deliveries++;
    if (w.violations.length >= max) return;
    for (const m of check(sim)) {
      if (seen.has(m)) continue;
      seen.add(m);
      w.violations.push(`after seq ${env.seq} (${env.type} ${env.src} → ${env.dst}): ${m}`);
      if (w.violations.length >= max) break;
    }
  });
  return w;
}
