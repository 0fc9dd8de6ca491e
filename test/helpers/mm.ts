// A bare address space for the mm unit tests: one process (pid 1, uid 1) in
// a world of `totalPages` frames, with no simulation around it.
import { createMmWorld } from '../../actors/mm/world.ts';
import { createMm } from '../../actors/mm/process.ts';

export function mmWorld(totalPages: number) {
  const w = createMmWorld({ totalPages });
  return { w, mm: createMm(w, { pid: 1, uid: 1 }) };
}

/** The address an mmap returned; a test that expected it to succeed fails with the errno. */
export function addr(r: { addr: bigint } | { errno: number }): bigint {
  if ('errno' in r) throw new Error(`errno ${r.errno}`);
  return r.addr;
}
