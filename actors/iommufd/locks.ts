/**
 * A small lockdep for the mutexes kernel code holds across a sequence of
 * calls inside one delivery (e.g. ioas->mutex around automatic HWPT
 * creation).  The held set lives in the world, so snapshots and replays see
 * it; between deliveries it is empty.  Taking a mutex already held is the
 * self-deadlock lockdep reports; it is recorded as a WARN (the model goes
 * on where the kernel would hang, so the run can report it).
 */
import type { World } from '../world.ts';
import { reportWarn } from './object.ts';

function held(world: World): string[] {
  return (world.kobj.locks ??= []) as string[];
}

export const ioasMutex = (ctx: string, ioasId: number) => `${ctx}:ioas ${ioasId}->mutex`;

/** mutex_lock: false (and a lockdep report) if this code already holds it. */
export function mutexLock(world: World, name: string): boolean {
  const h = held(world);
  if (h.includes(name)) {
    reportWarn(world.kobj, `possible recursive locking detected: ${name} is already held (self-deadlock)`);
    return false;
  }
  h.push(name);
  return true;
}

export function mutexUnlock(world: World, name: string): void {
  const h = held(world);
  const i = h.lastIndexOf(name);
  if (i < 0) throw new Error(`mutex_unlock of ${name}, which is not held`);
  h.splice(i, 1);
  // Nothing is held between deliveries: leave the world as it was.
  if (h.length === 0) delete world.kobj.locks;
}

/** lockdep_assert_held: a WARN if the caller does not hold it. */
export function assertHeld(world: World, name: string): void {
  if (!held(world).includes(name)) reportWarn(world.kobj, `lockdep_assert_held: ${name} is not held`);
}

/** Locks still held at the end of a delivery (none, unless a path forgot an unlock). */
export function locksHeld(world: World): readonly string[] {
  return (world.kobj.locks as string[] | undefined) ?? [];
}
