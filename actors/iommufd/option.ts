/**
 * IOMMU_OPTION (Linux main.c iommufd_option): RLIMIT_MODE is a property of
 * the context; HUGE_PAGES belongs to an IOAS (ioas.ts).
 */
import { EBUSY, EINVAL, EOPNOTSUPP, EPERM } from '../../uapi/errno.ts';
import { checkUpfront } from '../../uapi/checks.ts';
import { encode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_SET, IOMMU_OPTION_RLIMIT_MODE } from '../../uapi/enums.ts';
import type { Call, Ictx, IoctlHandler, Step } from './ioctl.ts';
import { ioasHugePagesOption, ioasHugePagesResume } from './ioas.ts';

function rlimitMode(x: Ictx, call: Call, cmd: { op: number; object_id: number; val64: bigint }): Step {
  if (cmd.object_id !== 0) return EOPNOTSUPP;
  if (cmd.op === IOMMU_OPTION_OP_GET) {
    encode(S.iommu_option, { val64: BigInt(x.d.rlimitMode) }, call.kbuf);
    return 0;
  }
  if (cmd.op !== IOMMU_OPTION_OP_SET) return EOPNOTSUPP;
  if (!x.c.world.mem.mms[call.pid]?.caps.sysResource) return EPERM;
  // Any object at all (reserved ones included) pins the accounting mode.
  if (x.d.table.count > 0) return EBUSY;
  if (cmd.val64 !== 0n && cmd.val64 !== 1n) return EINVAL;
  x.d.rlimitMode = cmd.val64 === 1n ? 1 : 0;
  return 0;
}

export const optionIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    switch (cmd.option_id) {
      case IOMMU_OPTION_RLIMIT_MODE:
        return rlimitMode(x, call, cmd);
      case IOMMU_OPTION_HUGE_PAGES:
        return ioasHugePagesOption(x, call, cmd);
      default:
        return EOPNOTSUPP;
    }
  },
  resume: (_x, call, ret) => ioasHugePagesResume(call, ret),
};
