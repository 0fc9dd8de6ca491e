/**
 * Logical time, owned by the scheduler.  Nothing in the model reads the wall
 * clock: `t` advances by one per delivery, and timeouts in the model (e.g. the
 * kernel's wait for short-term users) are expressed in these ticks.
 */
export interface ClockState {
  now: number;
}

export function createClock(): ClockState {
  return { now: 0 };
}

export function tick(c: ClockState): number {
  return ++c.now;
}
