/**
 * What every object lifecycle machine shares: the actions the host and the
 * iommufd core provide (declared here as no-ops so machines stay pure), and
 * the event shape.  A machine only decides *which* action runs in *which*
 * state; the actions' bodies live in actors/iommufd/<type>.ts.
 */
import { setup } from 'xstate';
import type { Envelope } from '../actors/runtime/envelope.ts';

export interface ObjEvent {
  type: string;
  env: Envelope<any>;
}

/** Fields every object's context has; the rest is type-specific data. */
export interface ObjContext {
  /** The object id in its iommufd context (0 for objects without one). */
  id: number;
  /** The actor id of the owning iommufd context. */
  ctx: string;
  /** Type-specific state (plain data). */
  data: any;
}

const noop = () => {};

/**
 * The action names machines reference.  `post` is the host's (it hands a
 * message to the scheduler); the others are the object type's handlers.
 */
export const objectActions = {
  post: (_: unknown, _params: unknown) => noop(),
  /** Run an ioctl-level operation on a live object and reply to the caller. */
  handleOp: noop,
  /** Refuse an operation the current state does not allow (replies with an errno). */
  rejectOp: noop,
  /** Type destroy: release what the object holds, start any teardown conversation. */
  beginDestroy: noop,
  /** A teardown reply arrived (e.g. a domain was removed from its IOAS). */
  destroyStep: noop,
  /** Last act before the object is freed: drop references, tell the owner. */
  finishDestroy: noop,
  /** Hardware/event traffic addressed to the object (faults, events). */
  handleEvent: noop,
};

/** A teardown conversation has nothing outstanding. */
export const objectGuards = {
  teardownDone: ({ context }: { context: ObjContext }) => !context.data?.teardown || context.data.teardown.outstanding === 0,
};

/**
 * The tail every object shares: `destroying` answers late operations with an
 * errno (the object is no longer reachable), collects teardown replies, and
 * moves to the final `freed` state once nothing is outstanding.
 */
export const destroyingStates = {
  destroying: {
    always: { guard: 'teardownDone', target: 'freed', actions: 'finishDestroy' },
    on: {
      op: { actions: 'rejectOp' },
      'destroy.step': { actions: 'destroyStep' },
      event: { actions: 'handleEvent' },
    },
  },
  freed: { type: 'final' },
} as const;

/** The typed setup every object machine without guards of its own starts from. */
export const objectSetup = setup({
  types: {} as { context: ObjContext; input: ObjContext; events: ObjEvent },
  actions: objectActions,
  guards: objectGuards,
});

/**
 * The lifecycle of an object with no states between "live" and "destroying":
 * ops run while live, IOMMU_DESTROY (forwarded by the context only when no
 * one else holds the object) starts teardown.  `events` lets hardware or
 * sibling objects talk to it while live (faults, unpin requests).
 */
export function liveObjectMachine(id: string, opts: { events: boolean }) {
  return objectSetup.createMachine({
    id,
    context: ({ input }) => input,
    initial: 'live',
    states: {
      live: {
        on: {
          op: { actions: 'handleOp' },
          ...(opts.events ? { event: { actions: 'handleEvent' } } : {}),
          destroy: { target: 'destroying', actions: 'beginDestroy' },
        },
      },
      ...destroyingStates,
    },
  });
}

/**
 * FAULT and VEVENTQ share a lifecycle: the object comes with a file
 * descriptor; while the fd is open it holds a reference (so DESTROY is EBUSY,
 * decided by the context) and reads/writes are served; after the fd closes
 * the object may be destroyed.
 */
export function eventQueueMachine(id: string) {
  return objectSetup.createMachine({
    id,
    context: ({ input }) => input,
    initial: 'fdOpen',
    states: {
      fdOpen: {
        on: {
          op: { actions: 'handleOp' },
          event: { actions: 'handleEvent' },
          'fd.close': { target: 'fdClosed', actions: 'handleOp' },
        },
      },
      fdClosed: {
        on: {
          op: { actions: 'handleOp' },
          event: { actions: 'handleEvent' },
          destroy: { target: 'destroying', actions: 'beginDestroy' },
        },
      },
      ...destroyingStates,
    },
  });
}
