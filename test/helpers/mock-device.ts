/**
 * The setup several variant tests share: a simulation running `variant`, a
 * process with an iommufd, an IOAS, and a mock device on it
 * (IOMMU_TEST_OP_MOCK_DOMAIN, which also gives it an automatic HWPT).
 */
import { expect } from 'vitest';
import { Simulation } from '../../actors/sim.ts';
import { spawnProc } from '../../actors/api.ts';
import { IOMMU_TEST_CMD } from '../../uapi/ioctl.ts';
import { decode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import { mockDomainArg } from '../../explore/scenario.ts';

export function mockDeviceOnIoas(variant: string | null) {
  const sim = new Simulation({ seed: 1, config: { variant } });
  const p = spawnProc(sim);
  const ifd = p.openIommufd();
  const ioas = ifd.ioasAlloc().out.out_ioas_id;
  const md = p.ioctl(ifd.fd, IOMMU_TEST_CMD, mockDomainArg(ioas));
  expect(md.errno).toBe(0);
  const dev = (decode(S.iommu_test_cmd_views.mock_domain, md.arg) as { mock_domain: { out_idev_id: number } }).mock_domain.out_idev_id;
  return { sim, p, ifd, ioas, dev };
}
