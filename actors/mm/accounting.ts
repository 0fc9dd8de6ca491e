/**
 * Locked-memory accounting for pinned pages, as iommufd does it
 * (pages.c iopt_pages_update_pinned, mm/util.c __account_locked_vm).
 *
 * Three counters exist: `user.lockedVm` (shared by all processes of a uid,
 * charged in per-user mode), `mm.lockedVm` (VmLck, charged in per-process
 * mode) and `mm.pinnedVm` (VmPin, charged in every mode, never limited).
 * All counts are in PAGE_SIZE pages.
 */
import { ENOMEM } from '../../uapi/errno.ts';
import { PAGE_SIZE } from '../../hardware/physmem.ts';
import type { UserStruct } from './world.ts';
import type { Mm } from './process.ts';

/** Kernel enum iopt_pages_account_mode, fixed per iopt_pages at creation. */
export type AccountMode = 'none' | 'user' | 'mm';

/** IOMMU_OPTION_RLIMIT_MODE value: 0 per-user, 1 per-process. */
export type RlimitMode = 0 | 1;

/**
 * CAP_IPC_LOCK at creation means "never limited"; a ctx in process mode
 * upgrades only user-mode pages, so an uncharged pages object stays uncharged.
 */
export function accountModeFor(rlimitMode: RlimitMode, mm: Mm): AccountMode {
  if (mm.caps.ipcLock) return 'none';
  return rlimitMode === 1 ? 'mm' : 'user';
}

export function lockLimitPages(mm: Mm): number {
  return Math.floor(mm.rlimitMemlock / PAGE_SIZE);
}

export function chargePinned(acct: AccountMode, user: UserStruct, mm: Mm, npages: number): number {
  if (npages === 0) return 0;
  if (acct === 'user') {
    if (user.lockedVm + npages > lockLimitPages(mm)) return ENOMEM;
    user.lockedVm += npages;
  } else if (acct === 'mm') {
    if (mm.lockedVm + npages > lockLimitPages(mm) && !mm.caps.ipcLock) return ENOMEM;
    mm.lockedVm += npages;
  }
  mm.pinnedVm += npages;
  return 0;
}

export function unchargePinned(acct: AccountMode, user: UserStruct, mm: Mm, npages: number): void {
  if (npages === 0) return;
  if (acct === 'user') user.lockedVm -= npages;
  else if (acct === 'mm') mm.lockedVm -= npages;
  mm.pinnedVm -= npages;
  if (user.lockedVm < 0 || mm.lockedVm < 0 || mm.pinnedVm < 0) throw new Error('locked-memory accounting went negative');
}

export function accountPages(mode: RlimitMode, user: UserStruct, mm: Mm, npages: number): number {
  return chargePinned(accountModeFor(mode, mm), user, mm, npages);
}

export function unaccountPages(mode: RlimitMode, user: UserStruct, mm: Mm, npages: number): void {
  unchargePinned(accountModeFor(mode, mm), user, mm, npages);
}
