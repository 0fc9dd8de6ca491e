/**
 * Linux errno numbers (asm-generic/errno-base.h, asm-generic/errno.h; x86 and
 * arm64 share these values).  User-visible results of the simulator are
 * expressed with these numbers so a C client sees exactly what Linux returns.
 */

export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const ENOEXEC = 8;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const ENOTBLK = 15;
export const EBUSY = 16;
export const EEXIST = 17;
export const EXDEV = 18;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const ENOTTY = 25;
export const ETXTBSY = 26;
export const EFBIG = 27;
export const ENOSPC = 28;
export const ESPIPE = 29;
export const EROFS = 30;
export const EMLINK = 31;
export const EPIPE = 32;
export const EDOM = 33;
export const ERANGE = 34;
export const EDEADLK = 35;
export const ENAMETOOLONG = 36;
export const ENOLCK = 37;
export const ENOSYS = 38;
export const ENOTEMPTY = 39;
export const ELOOP = 40;
export const ENOMSG = 42;
/** Returned by the mock's ACCESS_PAGES when the pinned page is not the one behind uptr. */
export const EBADE = 52;
export const EOVERFLOW = 75;
export const EBADFD = 77;
export const EMSGSIZE = 90;
export const EOPNOTSUPP = 95;
export const EADDRINUSE = 98;
export const ETIMEDOUT = 110;
export const ECANCELED = 125;

// Aliases with the same number in Linux; errnoName() reports the canonical name.
export const EWOULDBLOCK = EAGAIN;
export const EDEADLOCK = EDEADLK;
export const ENOTSUP = EOPNOTSUPP;

/**
 * Kernel-internal: handlers return it for "not my ioctl" and the VFS turns it
 * into ENOTTY before user space sees it (fs/ioctl.c vfs_ioctl).  Kept so the
 * model can distinguish "unknown to this handler" from a real ENOTTY.
 */
export const ENOIOCTLCMD = 515;

const CANONICAL: ReadonlyArray<readonly [string, number]> = [
  ['EPERM', EPERM], ['ENOENT', ENOENT], ['ESRCH', ESRCH], ['EINTR', EINTR], ['EIO', EIO],
  ['ENXIO', ENXIO], ['E2BIG', E2BIG], ['ENOEXEC', ENOEXEC], ['EBADF', EBADF], ['ECHILD', ECHILD],
  ['EAGAIN', EAGAIN], ['ENOMEM', ENOMEM], ['EACCES', EACCES], ['EFAULT', EFAULT],
  ['ENOTBLK', ENOTBLK], ['EBUSY', EBUSY], ['EEXIST', EEXIST], ['EXDEV', EXDEV],
  ['ENODEV', ENODEV], ['ENOTDIR', ENOTDIR], ['EISDIR', EISDIR], ['EINVAL', EINVAL],
  ['ENFILE', ENFILE], ['EMFILE', EMFILE], ['ENOTTY', ENOTTY], ['ETXTBSY', ETXTBSY],
  ['EFBIG', EFBIG], ['ENOSPC', ENOSPC], ['ESPIPE', ESPIPE], ['EROFS', EROFS],
  ['EMLINK', EMLINK], ['EPIPE', EPIPE], ['EDOM', EDOM], ['ERANGE', ERANGE],
  ['EDEADLK', EDEADLK], ['ENAMETOOLONG', ENAMETOOLONG], ['ENOLCK', ENOLCK],
  ['ENOSYS', ENOSYS], ['ENOTEMPTY', ENOTEMPTY], ['ELOOP', ELOOP], ['ENOMSG', ENOMSG],
  ['EBADE', EBADE], ['EOVERFLOW', EOVERFLOW], ['EBADFD', EBADFD], ['EMSGSIZE', EMSGSIZE],
  ['EOPNOTSUPP', EOPNOTSUPP], ['EADDRINUSE', EADDRINUSE], ['ETIMEDOUT', ETIMEDOUT],
  ['ECANCELED', ECANCELED], ['ENOIOCTLCMD', ENOIOCTLCMD],
];

const ALIASES: ReadonlyArray<readonly [string, number]> = [
  ['EWOULDBLOCK', EWOULDBLOCK], ['EDEADLOCK', EDEADLOCK], ['ENOTSUP', ENOTSUP],
];

const NAME_BY_NUMBER: ReadonlyMap<number, string> = new Map(CANONICAL.map(([name, n]) => [n, name]));
const NUMBER_BY_NAME: ReadonlyMap<string, number> = new Map([...CANONICAL, ...ALIASES]);

/** Every canonical errno name with its number, ascending by number. */
export const ERRNO_NAMES: ReadonlyArray<readonly [string, number]> =
  [...CANONICAL].sort((a, b) => a[1] - b[1]);

/**
 * Canonical name of an errno ('EDEADLK' for 35).  Unnamed numbers come back as
 * `errno(<n>)` so a report never invents a plausible-looking name.
 */
export function errnoName(n: number): string {
  return NAME_BY_NUMBER.get(n) ?? `errno(${n})`;
}

/** Number of an errno name, aliases included ('EDEADLOCK' → 35); undefined if unknown. */
export function errnoFromName(s: string): number | undefined {
  return NUMBER_BY_NAME.get(s.toUpperCase());
}
