/**
 * A physical device's DMA side: it issues bursts to the translation actor
 * and keeps what came back (and, later, its page-request state).  Bursts are
 * scenario inputs; the results are part of the device's state, so they are
 * snapshotted and replayed like everything else.
 */
import type { DeliveryContext, SimActor } from '../runtime/actor.ts';
import type { Envelope } from '../runtime/envelope.ts';
import type { World } from '../world.ts';
import { TRANSLATION_ACTOR, type DmaOutcome, type DmaRequest, type DmaReturn } from './translation.ts';
import { burstOf, type DmaAccess, type DmaBurst } from '../../hardware/burst.ts';
import { registerSyscall } from '../kernel.ts';
import { deviceSpec } from './state.ts';
import { EFAULT, ENODEV } from '../../uapi/errno.ts';

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
  pending: Record<number, { pasid: number; burst: DmaBurst }>;
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
    if (this.st.unplugged) {
      // a removed device drops its work; a thread waiting on a burst hears ENODEV, not nothing
      const reply = env.type === 'submit' ? (env.body as { reply?: string }).reply : undefined;
      if (reply) ctx.post(reply, 'reply', 'syscall.ret', { errno: ENODEV, ret: -1 });
      return;
    }
    if (env.type === 'dma.ret') return this.burstDone(env, ctx);
    if (env.type === 'page.response') return this.pageResponse(env, ctx);
    // Work submitted to the device (an SVA work queue descriptor, a doorbell a thread rang): the device performs its DMA.
    if (env.type === 'submit') {
      const b = env.body as { accesses: DmaAccess[]; reply?: string };
      const req: DmaRequest = { device: this.st.dev, burst: burstOf(b.accesses) };
      if (b.reply) req.reply = b.reply;
      return ctx.post(TRANSLATION_ACTOR, 'dma', 'dma', req);
    }
    throw new Error(`${this.id}: unexpected message ${env.type}`);
  }

  private burstDone(env: Envelope, ctx: DeliveryContext<World>): void {
    const b = env.body as DmaReturn;
    this.st.bursts++;
    const faults = b.faults;
    this.st.faults += faults;
    this.st.last = b.results;
    this.st.completed++;
    // A page request is outstanding until the host answers it.
    if (b.prq) this.st.pending[b.prq.grpid] = { pasid: b.prq.pasid, burst: b.prq.burst };
    // The thread that rang the doorbell learns how the burst went (a PRI retry is the device's own business).
    if (b.reply) ctx.post(b.reply, 'reply', 'syscall.ret', { errno: faults ? EFAULT : 0, ret: b.results.length - faults });
  }

  /** The host answered a page request: SUCCESS retries the faulted accesses, INVALID fails them. */
  private pageResponse(env: Envelope, ctx: DeliveryContext<World>): void {
    const r = env.body as { grpid: number; pasid: number; code: number };
    const key = String(r.grpid);
    this.st.responses[key] = (this.st.responses[key] ?? 0) + 1;
    const p = this.st.pending[r.grpid];
    if (!p) return;
    delete this.st.pending[r.grpid];
    if (r.code === 0) ctx.post(TRANSLATION_ACTOR, 'dma', 'dma', { device: this.st.dev, burst: p.burst } satisfies DmaRequest);
    else this.st.prqFailed++;
  }
}

/**
 * `dma {dev, accesses}`: a thread starts one burst of a device (the doorbell
 * a driver or VMM writes) and waits for it: 0 when every access went
 * through, EFAULT when any faulted, ENODEV for a device the topology does
 * not have or one that was removed. The burst reaches the translation actor
 * as a delivery of its own, so a scheduler can put it anywhere among the
 * other threads' work.
 */
registerSyscall('dma', (ctx, b, replyTo) => {
  const dev = String(b.args.dev);
  if (!deviceSpec(ctx.world, dev)) return { errno: ENODEV, ret: -1 };
  ctx.post(deviceActorId(dev), 'dma', 'submit', { accesses: b.args.accesses as DmaAccess[], reply: replyTo });
  return null;
});
