/**
 * The per-context object table: the kernel's `ictx->objects` xarray and the
 * `users`/`shortterm_users` counts of each object (Linux main.c).
 *
 * Ids are lowest-free in [1, 0x7FFFFFFF], one namespace for every type, and
 * reused at once after destroy.  A slot is `reserved` while its object is
 * being built (lookups and DESTROY see ENOENT), `live` once finalized, and a
 * `tombstone` when a VDEVICE was torn down by its device's unbind (neither
 * usable nor reusable until the context closes).
 *
 * `users` counts the table's own reference (1) plus every holder: other
 * objects that depend on it and ioctls in flight that looked it up (those are
 * also counted in `shortterm`).  DESTROY succeeds only at users == 1.
 */
import { EBUSY, ENOENT, ENOSPC } from '../../uapi/errno.ts';

export type ObjType =
  | 'ioas'
  | 'device'
  | 'hwpt_paging'
  | 'hwpt_nested'
  | 'fault'
  | 'viommu'
  | 'vdevice'
  | 'veventq'
  | 'hw_queue'
  | 'access'
  | 'selftest';

export const OBJ_TYPES: readonly ObjType[] = ['ioas', 'device', 'hwpt_paging', 'hwpt_nested', 'fault', 'viommu', 'vdevice', 'veventq', 'hw_queue', 'access', 'selftest'];

export type SlotState = 'reserved' | 'live' | 'tombstone';

export interface ObjEntry {
  id: number;
  type: ObjType;
  state: SlotState;
  users: number;
  shortterm: number;
  /** Actor that holds the object's state (`obj:<file>:<id>`). */
  actor: string;
}

export interface ObjTable {
  entries: Record<number, ObjEntry>;
  /** No id below this is free (speeds up lowest-free search). */
  minFree: number;
  count: number;
}

export const OBJ_ID_MAX = 0x7fffffff;

export function createObjTable(): ObjTable {
  return { entries: {}, minFree: 1, count: 0 };
}

export function objActorId(file: number, id: number): string {
  return `obj:${file}:${id}`;
}

/** Reserve the lowest free id for an object being built. */
export function objReserve(t: ObjTable, file: number, type: ObjType): ObjEntry | number {
  let id = t.minFree;
  while (t.entries[id] !== undefined) id++;
  if (id > OBJ_ID_MAX) return ENOSPC;
  const e: ObjEntry = { id, type, state: 'reserved', users: 1, shortterm: 0, actor: objActorId(file, id) };
  t.entries[id] = e;
  t.minFree = id + 1;
  t.count++;
  return e;
}

/** Publish a reserved object (iommufd_object_finalize). */
export function objFinalize(t: ObjTable, id: number): void {
  const e = t.entries[id];
  if (!e || e.state !== 'reserved') throw new Error(`object table: finalize of id ${id} that is not reserved`);
  e.state = 'live';
}

/** Give the id back (creation failed, or the object is gone). */
export function objRelease(t: ObjTable, id: number): void {
  if (t.entries[id] === undefined) return;
  delete t.entries[id];
  t.count--;
  if (id < t.minFree) t.minFree = id;
}

/**
 * iommufd_get_object: a live object of the wanted type (or any) whose users
 * did not drop to zero, with a short-term reference taken.
 */
export function objGet(t: ObjTable, id: number, type: ObjType | 'any'): ObjEntry | number {
  const e = t.entries[id];
  if (!e || e.state !== 'live' || e.users === 0) return ENOENT;
  if (type !== 'any' && e.type !== type) return ENOENT;
  e.users++;
  e.shortterm++;
  return e;
}

/** iommufd_put_object: drop a short-term reference. */
export function objPut(t: ObjTable, id: number): void {
  const e = t.entries[id];
  if (!e) throw new Error(`object table: put of id ${id} that is not in the table`);
  if (e.shortterm <= 0 || e.users <= 0) throw new Error(`object table: put of id ${id} without a reference (users ${e.users}, shortterm ${e.shortterm})`);
  e.shortterm--;
  e.users--;
}

/** A long-lived dependency (refcount_inc(&obj->users)) from another object. */
export function objIncUsers(t: ObjTable, id: number): void {
  const e = t.entries[id];
  if (!e) throw new Error(`object table: reference to id ${id} that is not in the table`);
  e.users++;
}

export function objDecUsers(t: ObjTable, id: number): void {
  const e = t.entries[id];
  if (!e) throw new Error(`object table: dropping a reference to id ${id} that is not in the table`);
  if (e.users <= 1) throw new Error(`object table: users of id ${id} would drop to ${e.users - 1}`);
  e.users--;
}

/**
 * The decision part of iommufd_object_remove (flags 0): ENOENT for a missing,
 * reserved or tombstoned id, EBUSY while anyone else holds it.  On success the
 * slot is emptied (or tombstoned) and the caller destroys the object.
 */
export function objRemove(t: ObjTable, id: number, opts: { tombstone?: boolean } = {}): ObjEntry | number {
  const e = t.entries[id];
  if (!e || e.state !== 'live') return ENOENT;
  if (e.users !== 1) return EBUSY;
  e.users = 0;
  if (opts.tombstone) {
    e.state = 'tombstone';
  } else {
    delete t.entries[id];
    t.count--;
    if (id < t.minFree) t.minFree = id;
  }
  return e;
}

/** Live ids in ascending order (the release passes walk this). */
export function objLiveIds(t: ObjTable): number[] {
  const ids: number[] = [];
  for (const k in t.entries) if (t.entries[k]!.state === 'live') ids.push(Number(k));
  return ids.sort((a, b) => a - b);
}

/**
 * The KASAN analogue for model variants of use-after-free bugs (spec/bugs.md
 * B02, B04): code that the buggy kernel runs on freed memory records what it
 * touched here, in the shared world, so invariants and replays see it.
 */
export function reportUseAfterFree(kobj: Record<string, any>, what: string): void {
  (kobj.kasan ??= [] as string[]).push(what);
}

/**
 * A kernel WARN_ON the model reaches (e.g. iommufd_object_destroy_user
 * failing in a driver's unbind, spec/bugs.md B08): recorded in the shared
 * world so invariants and replays see it.
 */
export function reportWarn(kobj: Record<string, any>, what: string): void {
  (kobj.warn ??= [] as string[]).push(what);
}
