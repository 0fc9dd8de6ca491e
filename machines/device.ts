/**
 * DEVICE lifecycle: bound by VFIO_DEVICE_BIND_IOMMUFD (or a mock device),
 * DMA-blocked until attached, attached to a HWPT (per PASID too), and
 * unbound only by its driver — IOMMU_DESTROY of a device id is always EBUSY,
 * which the context decides before anything reaches this machine.  Unbind
 * first tears down its VDEVICE and detaches, then the object is freed.
 */
import { setup } from 'xstate';
import { destroyingStates, objectActions, objectGuards, type ObjContext, type ObjEvent } from './common.ts';

export const deviceMachine = setup({
  types: {} as { context: ObjContext; input: ObjContext; events: ObjEvent },
  actions: objectActions,
  guards: {
    ...objectGuards,
    attached: ({ context }) => Object.keys(context.data.attach ?? {}).length > 0,
    detached: ({ context }) => Object.keys(context.data.attach ?? {}).length === 0,
  },
}).createMachine({
  id: 'device',
  context: ({ input }) => input,
  initial: 'bound',
  states: {
    bound: {
      initial: 'blocked',
      on: {
        op: { actions: 'handleOp' },
        event: { actions: 'handleEvent' },
        destroy: { target: 'destroying', actions: 'beginDestroy' },
      },
      states: {
        /** No domain: the IOMMU blocks the device's DMA. */
        blocked: { always: { guard: 'attached', target: 'attached' } },
        attached: { always: { guard: 'detached', target: 'blocked' } },
      },
    },
    ...destroyingStates,
  },
});
