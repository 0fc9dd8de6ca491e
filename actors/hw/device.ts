/**
 * A physical device's DMA side: it issues bursts to the translation actor
 * and keeps what came back (and, later, its page-request state).  Bursts are
 * scenario inputs; the results are part of the device's state, so they are
 * snapshotted and replayed like everything else.
 */
import type { DeliveryContext, SimActor } from '../runtime/actor.ts';
import type { Envelope } from '../runtime/envelope.ts';
import type { World } from '../world.ts';
import type { DmaOutcome } from './translation.ts';

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
}

export class DeviceActor implements SimActor<World> {
  readonly kind = DEVICE_KIND;
  constructor(
    readonly id: string,
    readonly st: DeviceState,
  ) {}

  static create(dev: string): DeviceActor {
    return new DeviceActor(deviceActorId(dev), { dev, bursts: 0, faults: 0, last: null, completed: 0 });
  }

  persist(): DeviceState {
    return this.st;
  }

  status(): string {
    return `${this.st.bursts} bursts, ${this.st.faults} faults`;
  }

  deliver(env: Envelope, _ctx: DeliveryContext<World>): void {
    if (env.type !== 'dma.ret') throw new Error(`${this.id}: unexpected message ${env.type}`);
    const results = (env.body as { results: DmaOutcome[] }).results;
    this.st.bursts++;
    this.st.faults += results.filter((r) => !r.ok).length;
    this.st.last = results;
    this.st.completed++;
  }
}
