/**
 * The physical IOMMU actor: machines/iommu.ts's lifecycle with the host's
 * actions.  It keeps the record of what is attached through it (so it
 * cannot be removed under a device) and answers whether it is translating;
 * the translation tables themselves live in the translation actor.
 */
import { XStateActor, currentDelivery, hostPost } from '../runtime/xstate-actor.ts';
import { iommuMachine, type IommuContext } from '../../machines/iommu.ts';
import type { Envelope } from '../runtime/envelope.ts';
import type { World } from '../world.ts';
import type { SimActor } from '../runtime/actor.ts';

export const IOMMU_KIND = 'iommu';

export function iommuActorId(id: string): string {
  return `iommu:${id}`;
}

type Args = { context: IommuContext; event: { type: string; env: Envelope<any> } };

const machine = iommuMachine.provide({
  actions: {
    post: hostPost as never,
    probed: ({ context }: Args) => {
      context.data.attached = {};
    },
    handleOp: ({ context, event }: Args) => {
      const b = event.env.body as { device: string; pasid: number; domain?: number };
      const key = `${b.device}/${b.pasid}`;
      const att = (context.data.attached ??= {});
      if (event.type === 'attach') att[key] = b.domain;
      else if (event.type === 'detach') delete att[key];
    },
    rejectOp: ({ context, event }: Args) => {
      const log = ((context.data.refused as unknown[] | undefined) ??= []) as unknown[];
      log.push({ type: event.type, seq: event.env.seq });
    },
    handleEvent: () => {},
    dropEvent: ({ context }: Args) => {
      context.data.dropped = ((context.data.dropped as number | undefined) ?? 0) + 1;
    },
    finishRemove: ({ event }: Args) => currentDelivery().retire(event.env.dst),
  } as never,
});

export function createIommuActor(id: string, kind: string): SimActor<World> {
  return new XStateActor<World>(iommuActorId(id), IOMMU_KIND, machine, { input: { id, kind, data: {} } });
}

export function restoreIommuActor(id: string, state: unknown): SimActor<World> {
  return new XStateActor<World>(id, IOMMU_KIND, machine, { snapshot: state });
}
