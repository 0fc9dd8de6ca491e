import { describe, expect, it } from 'vitest';
import { record } from '../helpers/record.ts';
import { openVfio, spawnProc } from '../../actors/api.ts';
import { ReplaySession } from '../../replay/session.ts';
import { IOMMU_HWPT_FAULT_ID_VALID } from '../../uapi/enums.ts';
import { EBADF } from '../../uapi/errno.ts';

const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLRDNORM = 0x40;

describe('poll on event fds', () => {
  it('a FAULT fd is always writable, and readable exactly while a page-request group waits to be read', () => {
    const { bytes } = record((sim) => {
      const p = spawnProc(sim, { rlimitMemlock: 1 << 30 });
      const fd = p.openIommufd();
      const ioas = fd.ioasAlloc().out.out_ioas_id;
      const v = openVfio(p, 1);
      const dev = v.bind(fd).out.out_devid;
      const f = fd.faultQueueAlloc().out;
      const h = fd.hwptAlloc({ dev_id: dev, pt_id: ioas, flags: IOMMU_HWPT_FAULT_ID_VALID, fault_id: f.out_fault_id }).out.out_hwpt_id;
      expect(v.attach(h).errno).toBe(0);
      const poll = () => p.syscall('poll', { fd: f.out_fault_fd });
      expect(Number(poll().ret)).toBe(EPOLLOUT);
      sim.dma('dev1', [{ iova: 0x200000n, length: 8, write: false }]);
      expect(Number(poll().ret)).toBe(EPOLLOUT | EPOLLIN | EPOLLRDNORM);
      expect(p.read(f.out_fault_fd, 40).ret).toBe(40);
      expect(Number(poll().ret)).toBe(EPOLLOUT);
      expect(p.syscall('poll', { fd: 99 }).errno).toBe(EBADF);
      p.close(v.fd);
      p.close(f.out_fault_fd);
      p.close(fd.fd);
    });
    expect(ReplaySession.fromBytes(bytes).runToEnd()).toBeNull();
  });
});
