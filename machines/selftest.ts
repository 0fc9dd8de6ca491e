/**
 * SELFTEST lifecycle (IOMMU_TEST_OP_MOCK_DOMAIN's "stdev"): owns one mock
 * device bound to the iommufd.  Live until IOMMU_DESTROY (or the context's
 * release), whose teardown asks the context to detach and unbind the mock
 * device and waits for that answer (`request.ret`) before it is freed.
 *
 * `requestTeardownMachine` is the shared shape: liveObjectMachine's states,
 * with the context's answer to a teardown request counted as a teardown
 * step.  The selftest ACCESS object (machines/access.ts) uses it too.
 */
import { destroyingStates, objectSetup } from './common.ts';

export function requestTeardownMachine(id: string) {
  return objectSetup.createMachine({
    id,
    context: ({ input }) => input,
    initial: 'live',
    states: {
      live: {
        on: {
          op: { actions: 'handleOp' },
          event: { actions: 'handleEvent' },
          destroy: { target: 'destroying', actions: 'beginDestroy' },
          // The answer to a request made while live (e.g. an fd release): nothing to do.
          'request.ret': {},
        },
      },
      destroying: {
        ...destroyingStates.destroying,
        on: { ...destroyingStates.destroying.on, 'request.ret': { actions: 'destroyStep' } },
      },
      freed: destroyingStates.freed,
    },
  });
}

export const selftestMachine = requestTeardownMachine('selftest');
