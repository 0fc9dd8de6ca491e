/**
 * ACCESS lifecycle: an in-kernel user (emulated device) of an IOAS.  While
 * live it pins and unpins ranges; the IOAS asks it to unpin ('event') before
 * unmapping an area it uses.  Only its creator destroys it.
 */
import { liveObjectMachine } from './common.ts';

export const accessMachine = liveObjectMachine('access', { events: true });
