/**
 * B17 (spec/bugs.md; b9272d1122b1 "iommufd: Fix return value of
 * iommufd_fault_fops_write()", checked against the patch): write() on a
 * FAULT fd whose first response record cannot be read.  The kernel returns
 * -EFAULT; before the fix `rc` held copy_from_user's count of bytes not
 * copied, and `done == 0 ? rc : done` handed that positive count back as if
 * a response had been written.  Later unreadable records are the same in
 * both: write() returns the bytes of the records already applied.
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { spawnProc } from '../../actors/api.ts';
import { EFAULT, ESPIPE } from '../../uapi/errno.ts';
import * as S from '../../uapi/structs.ts';

const RESPONSE = S.iommu_hwpt_page_response.size;
/** An address no mapping covers. */
const UNMAPPED = 0x7000_0000n;

function faultFd(variant: string | null) {
  const sim = new Simulation({ seed: 1, config: { variant } });
  const p = spawnProc(sim);
  const ifd = p.openIommufd();
  const r = ifd.faultQueueAlloc();
  expect(r.errno).toBe(0);
  return { p, fd: r.out.out_fault_fd };
}

describe('B17: FAULT write() whose first record is unreadable', () => {
  it('fixed: -EFAULT', () => {
    const { p, fd } = faultFd(null);
    const r = p.syscall('write', { fd, buf: UNMAPPED, count: RESPONSE });
    expect(r.errno).toBe(EFAULT);
  });

  it('B17: the byte count copy_from_user did not copy comes back as success', () => {
    const { p, fd } = faultFd('B17');
    const r = p.syscall('write', { fd, buf: UNMAPPED, count: RESPONSE });
    expect(r.errno).toBe(0);
    expect(Number(r.ret)).toBe(RESPONSE);
  });

  it.each([null, 'B17'])('variant %s: a count that is not whole records is ESPIPE before any copy', (variant) => {
    const { p, fd } = faultFd(variant);
    expect(p.syscall('write', { fd, buf: UNMAPPED, count: RESPONSE + 1 }).errno).toBe(ESPIPE);
  });
});
