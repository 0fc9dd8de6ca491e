/**
 * HWPT_PAGING lifecycle: a paging domain whose mappings mirror its IOAS.
 * `idle` with no device attached, `attached` with at least one; destroy
 * (manual HWPTs through IOMMU_DESTROY once unreferenced, automatic ones when
 * the last device detaches) removes the domain from the IOAS first and is
 * freed when the IOAS confirms.
 */
import { setup } from 'xstate';
import { destroyingStates, objectActions, objectGuards, type ObjContext, type ObjEvent } from './common.ts';

export const hwptPagingMachine = setup({
  types: {} as { context: ObjContext; input: ObjContext; events: ObjEvent },
  actions: objectActions,
  guards: {
    ...objectGuards,
    hasDevices: ({ context }) => context.data.attached > 0,
    noDevices: ({ context }) => context.data.attached === 0,
  },
}).createMachine({
  id: 'hwpt_paging',
  context: ({ input }) => input,
  initial: 'live',
  states: {
    live: {
      initial: 'idle',
      on: {
        op: { actions: 'handleOp' },
        event: { actions: 'handleEvent' },
        destroy: { target: 'destroying', actions: 'beginDestroy' },
      },
      states: {
        idle: { always: { guard: 'hasDevices', target: 'attached' } },
        attached: { always: { guard: 'noDevices', target: 'idle' } },
      },
    },
    ...destroyingStates,
  },
});
