/**
 * Kernel timers in virtual time (jiffies, 1 ms each): what timed waits
 * (wait_event_timeout) and stalls measure against.
 *
 * Ordinary deliveries take no virtual time.  Time moves only when the
 * kernel delivers a `timer.advance`: it jumps to the earliest armed
 * deadline and fires that timer (a message to its owner).  One advance is
 * pending whenever a timer is armed, so *when* time moves relative to
 * everything else is a scheduling choice the explorer makes, while timers
 * still fire in deadline order.  The state is shared kernel memory (world),
 * so it is snapshotted and replayed with the rest.
 */
import type { DeliveryContext } from './runtime/actor.ts';
import type { World } from './world.ts';
import { KERNEL_ACTOR, registerSyscall } from './kernel.ts';

export interface Timer {
  id: number;
  /** Absolute jiffies at which it fires. */
  deadline: number;
  dst: string;
  type: string;
  body: unknown;
}

export interface TimerState {
  jiffies: number;
  nextId: number;
  /** Armed timers, by deadline then arming order. */
  list: Timer[];
  /** A timer.advance is on its way to the kernel. */
  advancing: boolean;
}

const ADVANCE = 'timer.advance';

export function timers(world: World): TimerState {
  return (world.kobj.timers ??= { jiffies: 0, nextId: 1, list: [], advancing: false }) as TimerState;
}

/** Arm a timer `ms` from now (or at `at`, absolute); its message is posted to `dst` when it fires.  Returns its id. */
export function armTimer(c: DeliveryContext<World>, when: { ms: number } | { at: number }, fire: { dst: string; type: string; body: unknown }): number {
  const t = timers(c.world);
  const deadline = 'at' in when ? when.at : t.jiffies + when.ms;
  const timer: Timer = { id: t.nextId++, deadline, ...fire };
  let i = t.list.length;
  while (i > 0 && t.list[i - 1]!.deadline > deadline) i--;
  t.list.splice(i, 0, timer);
  if (!t.advancing) {
    t.advancing = true;
    c.post(KERNEL_ACTOR, 'internal', 'syscall', { call: ADVANCE, pid: 0, args: {} });
  }
  return timer.id;
}

/** del_timer: true if it was still armed (its message will not come). */
export function cancelTimer(world: World, id: number): boolean {
  const t = timers(world);
  const i = t.list.findIndex((x) => x.id === id);
  if (i < 0) return false;
  t.list.splice(i, 1);
  return true;
}

/** The deadline of an armed timer, or null once it fired or was cancelled. */
export function timerDeadline(world: World, id: number): number | null {
  return timers(world).list.find((x) => x.id === id)?.deadline ?? null;
}

registerSyscall(ADVANCE, (ctx) => {
  const t = timers(ctx.world);
  const first = t.list.shift();
  if (first) {
    t.jiffies = Math.max(t.jiffies, first.deadline);
    ctx.post(first.dst, 'internal', first.type, first.body);
  }
  if (t.list.length) ctx.post(KERNEL_ACTOR, 'internal', 'syscall', { call: ADVANCE, pid: 0, args: {} });
  else t.advancing = false;
  return null;
});

/**
 * Injected stalls (the simulator's analogue of a slow driver or a preempted
 * thread): `fault_inject.stall {site, ms}` makes the code at `site` take
 * `ms` of virtual time; 0 clears it.
 */
export function stallMs(world: World, site: string): number {
  return (world.kobj.stalls as Record<string, number> | undefined)?.[site] ?? 0;
}

registerSyscall('fault_inject.stall', (ctx, b) => {
  (ctx.world.kobj.stalls ??= {})[String(b.args.site)] = Number(b.args.ms);
  return { errno: 0, ret: 0 };
});
