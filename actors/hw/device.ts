/**
 * A physical device's DMA side: it issues bursts to the translation actor
 * and keeps what came back (and, later, its page-request state).  Bursts are
 * scenario inputs; the results are part of the device's state, so they are
 * snapshotted and replayed like everything else.
 */
import type { DeliveryContext, SimActor } from '../runtime/actor.ts';
import type { Envelope } from '../runtime/envelope.ts';
import type { World } from '../world.ts';
import { TRANSLATION_ACTOR, type DmaOutcome, type DmaRequest } from './translation.ts';

export const DEVICE_KIND = 'device';

export function deviceActorId(dev: string): string {
  return `device:${dev}`;
}

export interface DeviceState {
  dev: string;
  bursts: number;
  faults: number;
  /** Results of the last completed burst. */
  last: DmaOutcome[] | null;
  completed: number;
  /** Page-request groups awaiting a response, by group index, with the accesses to retry. */
  pending: Record<number, { pasid: number; accesses: DmaRequest['accesses'] }>;
  /** Responses received per group index (exactly one each is the rule). */
  responses: Record<string, number>;
  prqFailed: number;
  /** A mock device removed by the selftest: it answers nothing and drops what still arrives. */
  unplugged?: boolean;
}

export class DeviceActor implements SimActor<World> {
  readonly kind = DEVICE_KIND;
  constructor(
    readonly id: string,
    readonly st: DeviceState,
  ) {}

  static create(dev: string): DeviceActor {
    return new DeviceActor(deviceActorId(dev), { dev, bursts: 0, faults: 0, last: null, completed: 0, pending: {}, responses: {}, prqFailed: 0 });
  }

  persist(): DeviceState {
    return this.st;
  }

  status(): string {
    return `${this.st.bursts} bursts, ${this.st.faults} faults`;
  }

  deliver(env: Envelope, ctx: DeliveryContext<World>): void {
    if (this.st.unplugged) return;
    if (env.type === 'dma.ret') return this.burstDone(env);
    if (env.type === 'page.response') return this.pageResponse(env, ctx);
    // Work submitted to the device (an SVA work queue descriptor): the device performs its DMA.
    if (env.type === 'submit') return ctx.post(TRANSLATION_ACTOR, 'dma', 'dma', { device: this.st.dev, accesses: (env.body as { accesses: DmaRequest['accesses'] }).accesses });
    throw new Error(`${this.id}: unexpected message ${env.type}`);
  }

  private burstDone(env: Envelope): void {
    const b = env.body as { results: DmaOutcome[]; prq?: { grpid: number; pasid: number; accesses: DmaRequest['accesses'] } };
    this.st.bursts++;
    let faults = 0;
    for (let i = 0; i < b.results.length; i++) if (!b.results[i]!.ok) faults++;
    this.st.faults += faults;
    this.st.last = b.results;
    this.st.completed++;
    // A page request is outstanding until the host answers it.
    if (b.prq) this.st.pending[b.prq.grpid] = { pasid: b.prq.pasid, accesses: b.prq.accesses };
  }

  /** The host answered a page request: SUCCESS retries the faulted accesses, INVALID fails them. */
  private pageResponse(env: Envelope, ctx: DeliveryContext<World>): void {
    const r = env.body as { grpid: number; pasid: number; code: number };
    const key = String(r.grpid);
    this.st.responses[key] = (this.st.responses[key] ?? 0) + 1;
    const p = this.st.pending[r.grpid];
    if (!p) return;
    delete this.st.pending[r.grpid];
    if (r.code === 0) ctx.post(TRANSLATION_ACTOR, 'dma', 'dma', { device: this.st.dev, accesses: p.accesses });
    else this.st.prqFailed++;
  }
}
