/**
 * The contract between the iommufd context (main.ts) and the per-type ioctl
 * handlers (ioas.ts, device.ts, hw_pagetable.ts …).
 *
 * An ioctl is a conversation, not one step: `start` runs when the ioctl
 * reaches the context (after the dispatcher's generic checks), may look up
 * objects (taking short-term references) and send operations to object
 * actors; each answer comes back to `resume`.  Either returns an errno to
 * finish, or 'wait' for the next answer.  The context drops the short-term
 * references and copies the result to user space when the call finishes.
 */
import type { DeliveryContext } from '../runtime/actor.ts';
import type { IoctlEntry } from '../../uapi/dispatch.ts';
import type { World } from '../world.ts';
import type { ObjEntry, ObjTable, ObjType } from './object.ts';
import type { ObjectKind } from './object-actor.ts';
import { readUser } from '../mm/process.ts';
import { EFAULT } from '../../uapi/errno.ts';

export interface Call {
  id: number;
  /** The calling thread's actor id (the reply goes there). */
  thread: string;
  pid: number;
  cmd: number;
  name: string;
  /** The user's argument bytes (written back on success). */
  arg: Uint8Array;
  userSize: number;
  /** Kernel copy of the struct, zero-extended to ksize; out-fields are encoded here. */
  kbuf: Uint8Array;
  /** Object ids looked up by this call (one short-term reference each). */
  refs: number[];
  /** Handler scratch: which step of the conversation, ids, partial results. */
  s: Record<string, any>;
}

/** Finish with an errno, finish but still copy the struct back (EMSGSIZE, entry_num), or wait. */
export type Step = number | 'wait' | { errno: number; respond: true };

/** What an object answered. */
export interface OpRet {
  call: number;
  from: number;
  errno: number;
  out?: any;
}

export interface IctxData {
  file: number;
  table: ObjTable;
  /** Per-id allocation count, so a reused id gets a fresh actor id. */
  gens: Record<number, number>;
  calls: Record<number, Call>;
  nextCall: number;
  /** Bound devices and open event fds: the file stays alive while any exist. */
  fileRefs: number;
  userOpen: boolean;
  /** IOMMU_OPTION_RLIMIT_MODE: 0 per-user, 1 per-process. */
  rlimitMode: 0 | 1;
  /** The VFIO-compat IOAS id (0: none). */
  vfioIoas: number;
  /** The process that opened the file (accounting owner). */
  pid: number;
  releasing?: { live: number; pass: number; leaked: number[]; pending: string[] };
  /** Regions user space can mmap from this file, by offset cookie (decimal string). */
  mmaps?: Record<string, { offset: bigint; length: bigint; memfd: number; obj: number }>;
  /** Actors of objects whose destroy is running (any cause); their destroy.done comes back here. */
  destroying?: string[];
}

/** What handlers may do; implemented by the context. */
export interface Ictx {
  readonly c: DeliveryContext<World>;
  readonly d: IctxData;
  readonly actorId: string;
  /** iommufd_get_object with a short-term reference held until the call ends. */
  get(call: Call, id: number, type: ObjType | 'any'): ObjEntry | number;
  /** Send an operation to an object; its answer arrives at the handler's `resume`. */
  send(call: Call, id: number, op: string, args: unknown): void;
  /** Reserve an id and start the object's actor (not yet visible to lookups). */
  alloc(kind: ObjectKind, data: Record<string, unknown>): ObjEntry | number;
  /** Publish a reserved object. */
  finalize(id: number): void;
  /** Creation failed: destroy the object's actor and give the id back. */
  abort(call: Call, id: number): void;
  /** Start destroying an object already removed from the table; 'destroy.done' resumes `call`. */
  destroy(call: Call | null, entry: ObjEntry): void;
  /** Long-lived references between objects (refcount on users). */
  incUsers(id: number): void;
  decUsers(id: number): void;
}

export interface IoctlHandler {
  start(x: Ictx, call: Call, cmd: any, entry: IoctlEntry): Step;
  resume?(x: Ictx, call: Call, ret: OpRet): Step;
}

/** copy_from_user of `len` bytes at `uptr` in the caller's address space: the bytes, or EFAULT. */
export function copyFromUser(x: Ictx, call: Call, uptr: bigint, len: number): Uint8Array | number {
  if (len === 0) return new Uint8Array(0);
  const mm = x.c.world.mem.mms[call.pid];
  const r = mm ? readUser(x.c.world.mem, mm, uptr, len) : { errno: EFAULT };
  return 'errno' in r ? EFAULT : r.data;
}
