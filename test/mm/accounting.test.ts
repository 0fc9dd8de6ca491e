import { describe, expect, it } from 'vitest';
import { createMmWorld, userStruct } from '../../actors/mm/world.ts';
import { createMm } from '../../actors/mm/process.ts';
import { accountPages, unaccountPages } from '../../actors/mm/accounting.ts';
import { ENOMEM } from '../../uapi/errno.ts';

describe('locked-memory accounting', () => {
  it('per-user mode shares locked_vm between processes of one uid', () => {
    const w = createMmWorld({ totalPages: 16 });
    const a = createMm(w, { pid: 1, uid: 7, rlimitMemlock: 4 * 4096 });
    const b = createMm(w, { pid: 2, uid: 7, rlimitMemlock: 4 * 4096 });
    const u = userStruct(w, 7);
    expect(accountPages(0, u, a, 3)).toBe(0);
    expect(accountPages(0, u, b, 2)).toBe(ENOMEM);
    expect(accountPages(0, u, b, 1)).toBe(0);
    expect(u.lockedVm).toBe(4);
    expect([a.pinnedVm, b.pinnedVm, a.lockedVm]).toEqual([3, 1, 0]);
    unaccountPages(0, u, a, 3);
    unaccountPages(0, u, b, 1);
    expect(u.lockedVm).toBe(0);
  });

  it('per-process mode charges mm locked_vm (VmLck) and pinned_vm (VmPin)', () => {
    const w = createMmWorld({ totalPages: 16 });
    const a = createMm(w, { pid: 1, uid: 7, rlimitMemlock: 2 * 4096 });
    const b = createMm(w, { pid: 2, uid: 7, rlimitMemlock: 2 * 4096 });
    const u = userStruct(w, 7);
    expect(accountPages(1, u, a, 2)).toBe(0);
    expect(accountPages(1, u, b, 2)).toBe(0);
    expect(accountPages(1, u, a, 1)).toBe(ENOMEM);
    expect([a.lockedVm, a.pinnedVm, u.lockedVm]).toEqual([2, 2, 0]);
  });

  it('CAP_IPC_LOCK is never limited but still shows in VmPin', () => {
    const w = createMmWorld({ totalPages: 16 });
    const a = createMm(w, { pid: 1, uid: 7, rlimitMemlock: 0, ipcLock: true });
    const u = userStruct(w, 7);
    expect(accountPages(0, u, a, 100)).toBe(0);
    expect([u.lockedVm, a.lockedVm, a.pinnedVm]).toEqual([0, 0, 100]);
  });
});
