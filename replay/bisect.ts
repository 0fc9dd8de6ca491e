/**
 * Predicates over the inspect view, and the search for the first step where
 * one holds.  A predicate is a JavaScript expression over `s` (the view) with
 * helpers in scope: `objects` (every object, flat), `obj(id)`, `ioas(id)`.
 * Example: `objects.some(o => o.type === 'ioas' && o.users > 1)`.
 */
import { allObjects, inspectState, type InspectView } from './inspect.ts';
import type { ReplaySession, ReplayProgress } from './session.ts';
import { ReplayError } from './session.ts';

export type Predicate = (v: InspectView) => boolean;

/** Compile an expression over the view; evaluation errors yield an Error value rather than throwing. */
export function compileExpr(expr: string): (v: InspectView) => unknown {
  let fn: Function;
  try {
    fn = new Function('s', 'objects', 'obj', 'ioas', `"use strict"; return (${expr});`);
  } catch (e) {
    throw new ReplayError(`cannot parse expression: ${(e as Error).message}`);
  }
  return (v) => {
    const objects = allObjects(v);
    const obj = (id: number) => objects.find((o) => o.id === id);
    const ioas = (id: number) => objects.find((o) => o.id === id && o.type === 'ioas');
    try {
      return fn(v, objects, obj, ioas);
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  };
}

export function compilePredicate(expr: string): Predicate {
  const f = compileExpr(expr);
  // A predicate that cannot be evaluated in a state (e.g. the object does not exist yet) is false there.
  return (v) => {
    const r = f(v);
    return !(r instanceof Error) && Boolean(r);
  };
}

/**
 * The first step (0 = initial state) at which `pred` is true, scanning
 * forward from the start; null if it never is.  Linear on purpose: a
 * predicate need not be monotonic, and replay is fast.
 */
export function bisect(session: ReplaySession, pred: Predicate, progress?: ReplayProgress): number | null {
  session.seek(0);
  if (pred(inspectState(session.state()))) return 0;
  let n = 0;
  while (session.step()) {
    if (pred(inspectState(session.state()))) return session.position;
    if (progress && ++n % 1024 === 0) progress(session.position, session.total);
  }
  if (session.divergence) throw new ReplayError(`replay diverged at step ${session.divergence.step}: ${session.divergence.message}`);
  return null;
}
