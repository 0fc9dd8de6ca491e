/**
 * Generic field checks that handlers call at the top, driven by the table's
 * FieldChecks data, so "which bits are reserved" is written once.
 *
 * Handlers keep their own order for everything else.  The kernel order per
 * ioctl (uapi.md §3, §5.2, §6), "→" meaning "checked before":
 *
 * | ioctl                      | order                                                                        |
 * |----------------------------|------------------------------------------------------------------------------|
 * | DESTROY                    | lookup (ENOENT) → users != 1 (EBUSY)                                          |
 * | IOAS_ALLOC                 | flags (EOPNOTSUPP) → alloc (ENOMEM) → respond (EFAULT, abort object)          |
 * | IOAS_ALLOW_IOVAS           | __reserved (EOPNOTSUPP) → IOAS (ENOENT) → per entry: copy (EFAULT), start>=last (EINVAL), overlap (EINVAL) → reserved clash (EADDRINUSE) |
 * | IOAS_IOVA_RANGES           | __reserved (EOPNOTSUPP) → IOAS (ENOENT) → copy ranges (EFAULT) → respond → total>cap (EMSGSIZE) |
 * | IOAS_MAP                   | flags/__reserved (EOPNOTSUPP) → iova/length >= ULONG_MAX (EOVERFLOW) → no R/W (EINVAL) → IOAS (ENOENT) → §4.3 |
 * | IOAS_MAP_FILE              | flags (EOPNOTSUPP) → EOVERFLOW → no R/W (EINVAL) → IOAS (ENOENT) → fd (EBADF) → §4.3 |
 * | IOAS_COPY                  | flags (EOPNOTSUPP) → EOVERFLOW → no R/W (EINVAL) → src IOAS (ENOENT) → length 0 (EINVAL) → wrap (EOVERFLOW) → src coverage (ENOENT) → dst IOAS (ENOENT) → §4.3 |
 * | IOAS_UNMAP                 | (no generic checks) §4.4                                                       |
 * | OPTION                     | __reserved (EOPNOTSUPP) → option_id (EOPNOTSUPP) → per option (§3.10)          |
 * | VFIO_IOAS                  | __reserved (EOPNOTSUPP) → op (EOPNOTSUPP for unknown)                          |
 * | HWPT_ALLOC                 | __reserved (EOPNOTSUPP) → data_type/data_len (EINVAL) → dev_id (ENOENT) → pt_id (EINVAL) → flags per pt type (EOPNOTSUPP, *late*) → ... → fault_id (ENOENT) |
 * | GET_HW_INFO                | flags (EOPNOTSUPP) → __reserved[3] (EOPNOTSUPP) → dev_id (ENOENT) → driver      |
 * | HWPT_SET_DIRTY_TRACKING    | flags (EOPNOTSUPP) → HWPT_PAGING (ENOENT) → dirty ops (EOPNOTSUPP)              |
 * | HWPT_GET_DIRTY_BITMAP      | flags/__reserved (EOPNOTSUPP) → HWPT_PAGING (ENOENT) → EOVERFLOW → EINVAL alignment/page_size → EOPNOTSUPP dirty ops |
 * | HWPT_INVALIDATE            | __reserved (EOPNOTSUPP) → entry_num && (!uptr or !entry_len) (EINVAL) → lookup (ENOENT) → by type; struct always written back |
 * | FAULT_QUEUE_ALLOC          | flags (EOPNOTSUPP) → fd (EMFILE) → respond (EFAULT)                            |
 * | VIOMMU_ALLOC               | flags/type==DEFAULT (EOPNOTSUPP) → dev (ENOENT) → driver support/type (EOPNOTSUPP) → hwpt (ENOENT) → NEST_PARENT (EINVAL) |
 * | VDEVICE_ALLOC              | (no generic checks) §6.2                                                       |
 * | IOAS_CHANGE_PROCESS        | __reserved (EOPNOTSUPP) → non-file area (EINVAL) → accounting (ENOMEM)          |
 * | VEVENTQ_ALLOC              | flags/__reserved/type==DEFAULT (EOPNOTSUPP) → depth 0 (EINVAL) → VIOMMU (ENOENT) → same type (EEXIST) |
 * | HW_QUEUE_ALLOC             | flags/type==DEFAULT (EOPNOTSUPP) → length 0 (EINVAL) → wrap (EOVERFLOW) → VIOMMU (ENOENT) → driver (EOPNOTSUPP) → ERANGE → pin |
 * | TEST_CMD                   | op unknown (EOPNOTSUPP); __reserved not checked                               |
 *
 * Everything `checkUpfront` tests fails EOPNOTSUPP, so the order among those
 * checks cannot change the errno.
 */
import { EOPNOTSUPP } from './errno.ts';
import type { IoctlEntry } from './dispatch.ts';

export interface ReservedCheckOptions {
  /** Also enforce fields whose kernel check is unconfirmed (uapi.md §11). */
  readonly includeUnverified?: boolean;
}

function isZero(v: unknown): boolean {
  if (typeof v === 'number') return v === 0;
  if (typeof v === 'bigint') return v === 0n;
  if (v instanceof Uint8Array) return v.every((b) => b === 0);
  if (Array.isArray(v)) return v.every(isZero);
  return v === undefined;
}

function allZero(names: readonly string[], decoded: Readonly<Record<string, unknown>>): boolean {
  for (const n of names) if (!isZero(decoded[n])) return false;
  return true;
}

/** Non-zero `__reserved`-style field → EOPNOTSUPP, else 0. */
export function checkReserved(
  entry: IoctlEntry,
  decoded: Readonly<Record<string, unknown>>,
  opts: ReservedCheckOptions = {},
): number {
  if (!allZero(entry.checks.reserved, decoded)) return EOPNOTSUPP;
  if (opts.includeUnverified === true && !allZero(entry.checks.unverifiedReserved, decoded)) return EOPNOTSUPP;
  return 0;
}

/**
 * Unknown flag bits → EOPNOTSUPP, else 0.  `valid` overrides the table mask
 * where the accepted set depends on context (HWPT_ALLOC nested vs paging).
 */
export function checkFlags(entry: IoctlEntry, decoded: Readonly<Record<string, unknown>>, valid?: number): number {
  const spec = entry.checks.flags;
  if (spec === undefined) return 0;
  const flags = decoded[spec.field] as number;
  return (flags & ~(valid ?? spec.valid)) !== 0 ? EOPNOTSUPP : 0;
}

/** An enum field left at DEFAULT (0) where the ioctl needs a real type → EOPNOTSUPP. */
export function checkNonDefault(entry: IoctlEntry, decoded: Readonly<Record<string, unknown>>): number {
  for (const n of entry.checks.nonDefault) if (isZero(decoded[n])) return EOPNOTSUPP;
  return 0;
}

/**
 * All checks the kernel does first thing in the handler: reserved fields,
 * up-front flag masks, DEFAULT types.  0 or EOPNOTSUPP.
 */
export function checkUpfront(
  entry: IoctlEntry,
  decoded: Readonly<Record<string, unknown>>,
  opts: ReservedCheckOptions = {},
): number {
  if (entry.checks.flags?.upfront === true && checkFlags(entry, decoded) !== 0) return EOPNOTSUPP;
  if (checkReserved(entry, decoded, opts) !== 0) return EOPNOTSUPP;
  return checkNonDefault(entry, decoded);
}
