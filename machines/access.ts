/**
 * ACCESS lifecycle: an in-kernel user (emulated device) of an IOAS.  While
 * live it pins and unpins ranges; the IOAS tells it ('event') which of its
 * pins an unmap dropped.  Only its creator destroys it: for the selftest
 * access, closing its fd asks the context to destroy it; teardown waits for
 * the context's answer to that request (machines/selftest.ts).
 */
import { requestTeardownMachine } from './selftest.ts';

export const accessMachine = requestTeardownMachine('access');
