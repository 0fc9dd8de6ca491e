/**
 * The iommufd file context (struct iommufd_ctx): one per open of /dev/iommu.
 *
 * `open` serves ioctls.  Closing the last user fd does not release the
 * context while bound devices or open FAULT/vEVENTQ fds still hold the file
 * (`lingering`); once the last such reference goes, `releasing` destroys the
 * objects in passes of ascending id (leaves first) and the context is freed.
 */
import { setup } from 'xstate';
import type { ObjEvent } from './common.ts';

export interface IctxContext {
  /** File number, also in the actor id (`iommufd:<file>`). */
  file: number;
  data: any;
}

const noop = () => {};

export const ictxActions = {
  post: (_: unknown, _params: unknown) => noop(),
  /** Start an ioctl: dispatcher checks, lookups, first message to an object. */
  ioctl: noop,
  /** An object answered a call in progress: continue or finish the ioctl. */
  resume: noop,
  /** A file-level reference (device bind, event fd) was taken or dropped. */
  fileRef: noop,
  /** Something other than an ioctl asked the context for work (e.g. an fd write routed here). */
  request: noop,
  /** The last user fd closed. */
  userClose: noop,
  /** Start tearing down: first pass over the object table. */
  beginRelease: noop,
  /** An object finished destroying (for a DESTROY ioctl, an unbind, or a release pass). */
  destroyed: noop,
  finishRelease: noop,
};

export const ictxMachine = setup({
  types: {} as { context: IctxContext; input: IctxContext; events: ObjEvent },
  actions: ictxActions,
  guards: {
    noFileRefs: ({ context }) => context.data.fileRefs === 0,
    // Every destroy started by the release, or still running from before it, has reported back.
    releaseDone: ({ context }) =>
      context.data.releasing !== undefined && context.data.releasing.pending.length === 0 && !context.data.destroying?.length,
  },
}).createMachine({
  id: 'ictx',
  context: ({ input }) => input,
  initial: 'open',
  states: {
    open: {
      on: {
        ioctl: { actions: 'ioctl' },
        'op.ret': { actions: 'resume' },
        'file.ref': { actions: 'fileRef' },
        request: { actions: 'request' },
        'destroy.done': { actions: 'destroyed' },
        close: { target: 'lingering', actions: 'userClose' },
      },
    },
    lingering: {
      always: { guard: 'noFileRefs', target: 'releasing' },
      on: {
        // An ioctl holds its file (fdget), so one issued before the close still runs.
        ioctl: { actions: 'ioctl' },
        'op.ret': { actions: 'resume' },
        'file.ref': { actions: 'fileRef' },
        request: { actions: 'request' },
        'destroy.done': { actions: 'destroyed' },
      },
    },
    releasing: {
      entry: 'beginRelease',
      always: { guard: 'releaseDone', target: 'released', actions: 'finishRelease' },
      on: {
        'op.ret': { actions: 'resume' },
        'destroy.done': { actions: 'destroyed' },
        'file.ref': { actions: 'fileRef' },
        request: { actions: 'request' },
      },
    },
    released: { type: 'final' },
  },
});
