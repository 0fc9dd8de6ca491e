/**
 * The bus: every delivery and every scheduler choice passes through here as an
 * rxjs stream, in order.  The journal writer, invariant checkers, the
 * inspector and UIs are subscribers; none of them can change what happens.
 */
import { Subject } from 'rxjs';
import type { Envelope } from './envelope.ts';

export interface Delivered {
  env: Envelope;
  /** Messages the delivery posted, already in the scheduler. */
  posted: number;
}

export class Bus {
  /** A delivery has been handled by its actor (state is post-delivery). */
  readonly delivered$ = new Subject<Envelope>();
  /** A choice among several deliverable messages, journaled before that delivery. */
  readonly choice$ = new Subject<Envelope>();
  /**
   * A message entered the model from outside (a scenario input).  Its `seq`
   * is the number of deliveries made before it was posted, so a replay can
   * inject it at the same point; its `cause` is 0.
   */
  readonly input$ = new Subject<Envelope>();
  /** A snapshot was taken (seq, encoded-ready state). */
  readonly snapshot$ = new Subject<{ seq: number; state: unknown }>();

  complete(): void {
    this.delivered$.complete();
    this.choice$.complete();
    this.input$.complete();
    this.snapshot$.complete();
  }
}
