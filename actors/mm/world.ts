/**
 * The memory world: physical frames plus every simulated process (mm), memfd
 * and per-user accounting record.  One plain object so the actor that owns
 * memory can snapshot it whole; processes and memfds refer to each other by
 * id, never by pointer, so a restored snapshot needs no relinking.
 */
import { createPhysMem, type PhysMem } from '../../hardware/physmem.ts';
import type { Mm } from './process.ts';
import type { Memfd } from './memfd.ts';
import type { Dmabuf } from './dmabuf.ts';

/** Kernel `struct user_struct`: locked_vm is shared by every process of a uid. */
export interface UserStruct {
  uid: number;
  lockedVm: number;
}

export interface MmWorld {
  pm: PhysMem;
  mms: Record<number, Mm>;
  memfds: Record<number, Memfd>;
  nextMemfdId: number;
  /** Exported dma-bufs (dmabuf.ts); absent until the first one. */
  dmabufs?: Record<number, Dmabuf>;
  nextDmabufId?: number;
  users: Record<number, UserStruct>;
}

export function createMmWorld(opts: { totalPages: number }): MmWorld {
  return { pm: createPhysMem({ totalPages: opts.totalPages }), mms: {}, memfds: {}, nextMemfdId: 1, users: {} };
}

export function userStruct(world: MmWorld, uid: number): UserStruct {
  let u = world.users[uid];
  if (!u) u = world.users[uid] = { uid, lockedVm: 0 };
  return u;
}
