/**
 * HW_QUEUE lifecycle: a guest queue in the nest-parent IOAS, pinned through
 * an internal access for as long as the queue lives.
 */
import { liveObjectMachine } from './common.ts';

export const hwQueueMachine = liveObjectMachine('hw_queue', { events: false });
