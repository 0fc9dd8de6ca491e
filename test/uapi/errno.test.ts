import { describe, expect, it } from 'vitest';
import * as errno from '../../uapi/errno.ts';
import { errnoFromName, errnoName, ERRNO_NAMES } from '../../uapi/errno.ts';

// Values as in asm-generic/errno-base.h and errno.h (the brief's list plus the few the spec uses).
const LINUX: Record<string, number> = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENXIO: 6, E2BIG: 7, EBADF: 9, EAGAIN: 11,
  ENOMEM: 12, EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22, EMFILE: 24, ENOTTY: 25,
  ENOSPC: 28, ESPIPE: 29, ERANGE: 34, EDEADLK: 35, EBADE: 52, EOVERFLOW: 75, EBADFD: 77,
  EMSGSIZE: 90, EOPNOTSUPP: 95, EADDRINUSE: 98, ETIMEDOUT: 110,
};

describe('errno', () => {
  it.each(Object.entries(LINUX))('%s = %i', (name, n) => {
    expect((errno as unknown as Record<string, number>)[name]).toBe(n);
    expect(errnoName(n)).toBe(name);
    expect(errnoFromName(name)).toBe(n);
  });

  it('aliases resolve to the canonical number and name', () => {
    expect(errno.EDEADLOCK).toBe(35);
    expect(errnoFromName('EDEADLOCK')).toBe(35);
    expect(errnoName(errno.EDEADLOCK)).toBe('EDEADLK');
    expect(errnoFromName('EWOULDBLOCK')).toBe(errno.EAGAIN);
    expect(errnoFromName('ENOTSUP')).toBe(errno.EOPNOTSUPP);
  });

  it('names are case-insensitive on lookup; unknown ones are undefined', () => {
    expect(errnoFromName('enotty')).toBe(25);
    expect(errnoFromName('ENOPE')).toBeUndefined();
  });

  it('unnamed numbers never masquerade as a name', () => {
    expect(errnoName(4095)).toBe('errno(4095)');
    expect(errnoFromName(errnoName(4095))).toBeUndefined();
  });

  it('canonical names are unique, numbers unique and sorted', () => {
    const nums = ERRNO_NAMES.map(([, n]) => n);
    expect(new Set(nums).size).toBe(nums.length);
    expect([...nums].sort((a, b) => a - b)).toEqual(nums);
    for (const [name, n] of ERRNO_NAMES) expect(errnoFromName(name)).toBe(n);
  });

  it('ENOIOCTLCMD is the kernel-internal 515', () => {
    expect(errno.ENOIOCTLCMD).toBe(515);
  });
});
