/**
 * What the host needs from an actor.  Object actors wrap xstate machines
 * (xstate-actor.ts); client threads and the file context are plain actors.
 * All state an actor keeps must be plain data so `persist()` can be written
 * into a snapshot and `restore` can rebuild the actor bit-exactly.
 */
import type { Envelope, EnvelopeKind } from './envelope.ts';

export interface DeliveryContext<W = unknown> {
  /** The delivery being handled. */
  readonly env: Envelope;
  /** Shared simulated kernel/hardware memory (see actors/world.ts). */
  readonly world: W;
  /** Logical time of this delivery. */
  readonly now: number;
  /** Hand a message to the scheduler; it is caused by this delivery. */
  post(dst: string, kind: EnvelopeKind, type: string, body: unknown): void;
  /** Start a new actor (e.g. a newly allocated object). */
  spawn(actor: SimActor<W>): void;
  /** Retire an actor; later messages to it are a use-after-free. */
  retire(id: string): void;
  /** Is an actor alive? */
  has(id: string): boolean;
  /** Read another actor's state synchronously (what the kernel reads under a shared lock). */
  peek(id: string): SimActor<W> | undefined;
}

export interface SimActor<W = unknown> {
  readonly id: string;
  /** Key into the restore registry. */
  readonly kind: string;
  deliver(env: Envelope, ctx: DeliveryContext<W>): void;
  /** Plain data: the actor's whole state. */
  persist(): unknown;
  /** Lifecycle state name, for inspection. */
  status(): string;
}

export type ActorRestorer<W = unknown> = (id: string, state: unknown) => SimActor<W>;
