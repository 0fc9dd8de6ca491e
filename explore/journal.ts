/** Journals of explored failures: replay one and check it fails the same way. */
import { ReplaySession } from '../replay/session.ts';
import { Checker, type Violation } from './run.ts';
import type { Scenario } from './scenario.ts';

/**
 * Replay a journal written by the explorer (ReplaySession: every delivery
 * compared byte for byte) with the invariants attached, and return the
 * violation the replayed run shows, or the divergence if it parts from the
 * journal.
 */
export function replayViolation(bytes: Uint8Array, scenario: Scenario): { violation: Violation | null; divergence: string | null; deliveries: number } {
  const session = ReplaySession.fromBytes(bytes);
  const sim = session.simulation;
  const checker = new Checker(sim, scenario);
  let violation: Violation | null = null;
  const sub = sim.rt.bus.delivered$.subscribe((env) => {
    violation ??= checker.onDelivery(env);
  });
  const div = session.runToEnd();
  sub.unsubscribe();
  if (div) return { violation, divergence: div.message, deliveries: session.position };
  violation ??= checker.finish();
  return { violation, divergence: null, deliveries: session.position };
}
