/**
 * Lifecycle of one physical IOMMU: `probing` (registers read, nothing may
 * attach yet), `ready` (domains attach and detach, invalidations run, DMA
 * faults are reported), `quiesced` (translation paused, e.g. around a reset:
 * detaches and invalidations still complete because they only remove
 * state, new attaches are refused, faults are dropped), `removed` (final:
 * the instance is gone, every event is ignored).
 *
 * The machine only decides which action runs in which state; the actions'
 * bodies (what an attach does to the tag allocator, how a fault is routed)
 * are the host's.  Removal is refused while a domain is still attached, so
 * a device can never be left translating through a removed IOMMU.
 */
import { setup } from 'xstate';
import type { Envelope } from '../actors/runtime/envelope.ts';

export interface IommuEvent {
  type: string;
  env: Envelope<any>;
}

export interface IommuContext {
  /** The IOMMU's topology id ('iommu0'); the actor id derives from it. */
  id: string;
  /** mock | vtd | smmuv3 | amd */
  kind: string;
  /**
   * Host-owned plain data.  The guards read `attached` (domain attachments
   * keyed by "device/pasid", any value); the rest is the host's.
   */
  data: { attached?: Record<string, unknown>; [k: string]: unknown };
}

const noop = () => {};

/** Actions the host provides (xstate `provide`); no-ops here so the machine stays pure. */
export const iommuActions = {
  /** Hand a message to the scheduler. */
  post: (_: unknown, _params: unknown) => noop(),
  /** Probe finished: record the capability registers, tell whoever waits. */
  probed: noop,
  /** An attach / detach / invalidate the current state allows: do it and reply. */
  handleOp: noop,
  /** An operation the current state does not allow: reply with an errno (no state change). */
  rejectOp: noop,
  /** Hardware traffic (faults, page requests) while translating: route it. */
  handleEvent: noop,
  /** Hardware traffic while not translating: record that it was dropped. */
  dropEvent: noop,
  /** Last act: release tags and queues, tell the owner. */
  finishRemove: noop,
};

export const iommuGuards = {
  /** nothing attached through this IOMMU any more */
  noAttachments: ({ context }: { context: IommuContext }) => Object.keys(context.data.attached ?? {}).length === 0,
};

/**
 * Event types: `probe.done`, `probe.fail`, `attach`, `detach`,
 * `invalidate`, `op` (any other driver operation, e.g. hw_info or
 * alloc), `fault`, `quiesce`, `resume`, `remove`.
 */
export const iommuMachine = setup({
  types: {} as { context: IommuContext; input: IommuContext; events: IommuEvent },
  actions: iommuActions,
  guards: iommuGuards,
}).createMachine({
  id: 'iommu',
  context: ({ input }) => input,
  initial: 'probing',
  states: {
    probing: {
      on: {
        'probe.done': { target: 'ready', actions: 'probed' },
        'probe.fail': { target: 'removed', actions: 'finishRemove' },
        attach: { actions: 'rejectOp' },
        detach: { actions: 'rejectOp' },
        invalidate: { actions: 'rejectOp' },
        op: { actions: 'rejectOp' },
        fault: { actions: 'dropEvent' },
        quiesce: { actions: 'rejectOp' },
        resume: { actions: 'rejectOp' },
        remove: { actions: 'rejectOp' },
      },
    },
    ready: {
      on: {
        attach: { actions: 'handleOp' },
        detach: { actions: 'handleOp' },
        invalidate: { actions: 'handleOp' },
        op: { actions: 'handleOp' },
        fault: { actions: 'handleEvent' },
        quiesce: { target: 'quiesced', actions: 'handleOp' },
        resume: { actions: 'rejectOp' },
        remove: [
          { guard: 'noAttachments', target: 'removed', actions: 'finishRemove' },
          { actions: 'rejectOp' },
        ],
      },
    },
    quiesced: {
      on: {
        attach: { actions: 'rejectOp' },
        detach: { actions: 'handleOp' },
        invalidate: { actions: 'handleOp' },
        op: { actions: 'handleOp' },
        fault: { actions: 'dropEvent' },
        quiesce: { actions: 'rejectOp' },
        resume: { target: 'ready', actions: 'handleOp' },
        remove: [
          { guard: 'noAttachments', target: 'removed', actions: 'finishRemove' },
          { actions: 'rejectOp' },
        ],
      },
    },
    removed: { type: 'final' },
  },
});
