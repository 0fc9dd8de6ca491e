/**
 * The one shape for everything that moves between actors.
 *
 * `seq` is the global delivery order (assigned when the scheduler delivers),
 * `t` the logical time, `src`/`dst` stable actor ids derived from object ids
 * and names, `cause` the `seq` of the delivery whose handling produced this
 * message (0 for scenario inputs).  Bodies are plain data: numbers, strings,
 * booleans, null, arrays, plain objects, bigints (64-bit values) and
 * Uint8Array — so msgpack round-trips them bit-exactly.
 */
export type EnvelopeKind = 'ioctl' | 'reply' | 'hw' | 'dma' | 'internal' | 'choice';

export interface Envelope<B = unknown> {
  seq: number;
  t: number;
  src: string;
  dst: string;
  kind: EnvelopeKind;
  type: string;
  body: B;
  cause: number;
}

export const ENVELOPE_KINDS: readonly EnvelopeKind[] = ['ioctl', 'reply', 'hw', 'dma', 'internal', 'choice'];
