import { describe, expect, it } from 'vitest';
import { record } from '../helpers/record.ts';
import { openVfio, spawnProc } from '../../actors/api.ts';
import { ReplaySession } from '../../replay/session.ts';
import { totalPins } from '../../hardware/physmem.ts';
import type { Simulation } from '../../actors/sim.ts';

/** Nothing of the iommufd is left: no context or object actor, no dead letter, no pin. */
function clean(sim: Simulation): void {
  expect(sim.rt.actorIds().filter((a) => a.startsWith('iommufd:') || a.startsWith('obj:') || a.startsWith('vfio:'))).toEqual([]);
  expect(sim.rt.deadLetters).toEqual([]);
  expect(totalPins(sim.world.mem.pm)).toBe(0);
}

describe('teardown order (fuzzer finds)', () => {
  it('closing /dev/iommu before the VFIO device: the release waits for the unbind and every destroy it starts', () => {
    for (const attach of [false, true]) {
      const { bytes, sim } = record((s) => {
        const p = spawnProc(s, { rlimitMemlock: 1 << 30 });
        const buf = p.mmap({ length: 1 << 20 });
        const fd = p.openIommufd();
        const ioas = fd.ioasAlloc().out.out_ioas_id;
        expect(fd.ioasMap({ ioas_id: ioas, flags: 7, user_va: buf, length: 1n << 20n, iova: 0x100000n }).errno).toBe(0);
        const v = openVfio(p, 0);
        expect(v.bind(fd).errno).toBe(0);
        if (attach) expect(v.attach(ioas).errno).toBe(0);
        expect(p.close(fd.fd)).toBe(0);
        // The bound device still holds the file: the context lingers.
        expect(s.rt.actorIds().some((a) => a.startsWith('iommufd:'))).toBe(true);
        expect(p.close(v.fd)).toBe(0);
      });
      clean(sim);
      expect(ReplaySession.fromBytes(bytes).runToEnd()).toBeNull();
    }
  });
});

describe('attach lookups are put before the caller goes on (fuzzer find)', () => {
  it('MOCK_DOMAIN with pt_id naming the new device itself fails EINVAL and leaves no device behind', async () => {
    const { setup } = await import('./helpers.ts');
    const { mockDomainErr } = await import('../selftest/helpers.ts');
    const { EINVAL, ENOENT } = await import('../../uapi/errno.ts');
    const h = setup();
    const ioas = h.p.iommufd(h.fd).ioasAlloc().out.out_ioas_id;
    // ids: 1 the IOAS, 2 the stdev, 3 the device the op binds — and tries to attach to itself.
    expect(mockDomainErr(h, 3).errno).toBe(EINVAL);
    const info = h.p.iommufd(h.fd).getHwInfo({ dev_id: 3, data_len: 0 });
    expect(info.errno).toBe(ENOENT);
    expect(h.p.iommufd(h.fd).destroy(ioas).errno).toBe(0);
    expect(h.p.close(h.fd)).toBe(0);
    clean(h.sim);
  });
});

describe('concurrent ioctls on one VFIO device file (fuzzer find)', () => {
  it('every one is answered, in an order the schedule picks, while BIND is with the iommufd', async () => {
    const { runScenario } = await import('../../scenario/run.ts');
    const { Simulation } = await import('../../actors/sim.ts');
    // FIFO delivers BIND first, so the other two wait behind it; random seeds try other orders.
    for (const strategy of [{ name: 'fifo' as const }, ...[1, 2, 3, 4].map((seed) => ({ name: 'random' as const, seed }))]) {
      const sim = new Simulation({ strategy });
      const r = runScenario(sim, [
        'proc p uid=1000',
        'open fd = p /dev/iommu',
        'open dev = p vfio0',
        'thread a of p',
        'thread b of p',
        'thread c of p',
        'parallel {',
        '  a: VFIO_DEVICE_BIND_IOMMUFD on $dev iommufd=$fd expect ok',
        '  b: 0x3be9 on $dev @raw=hex:0011223344556677 expect ENOTTY',
        '  c: 0x3bea on $dev @raw=hex:0011223344556677 expect ENOTTY',
        '}',
      ].join('\n'));
      expect(r.failures ?? []).toEqual([]);
      expect(sim.rt.deadLetters).toEqual([]);
    }
  });
});

describe('a mock device destroyed with page requests pending (found while writing B07)', () => {
  it('its faults are answered INVALID and the answers reach an unplugged device, not a freed actor', async () => {
    const { fixture, mockDomain, hwptAllocOk, testCmd, mockDomainReplace } = await import('../selftest/helpers.ts');
    const E = await import('../../uapi/enums.ts');
    const h = fixture();
    const dev = mockDomain(h, h.ioas);
    const f = h.p.iommufd(h.fd).faultQueueAlloc().out;
    const hwpt = hwptAllocOk(h, { dev: dev.idev, pt: h.ioas, flags: E.IOMMU_HWPT_FAULT_ID_VALID, faultId: f.out_fault_id });
    expect(mockDomainReplace(h, dev.stdev, hwpt).errno).toBe(0);
    expect(testCmd(h, E.IOMMU_TEST_OP_TRIGGER_IOPF, 'trigger_iopf', { dev_id: dev.idev, pasid: 0, grpid: 1, perm: E.IOMMU_PGFAULT_PERM_READ, addr: 0x1000000n }).errno).toBe(0);
    expect(h.p.iommufd(h.fd).destroy(dev.stdev).errno).toBe(0);
    expect(h.sim.rt.deadLetters).toEqual([]);
    expect(h.p.close(f.out_fault_fd)).toBe(0);
    expect(h.p.close(h.fd)).toBe(0);
    expect(h.sim.rt.deadLetters).toEqual([]);
  });
});
