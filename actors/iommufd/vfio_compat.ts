/**
 * VFIO container compatibility (Linux vfio_compat.c): IOMMU_VFIO_IOAS picks
 * the IOAS that the legacy type1 ioctls act on.
 *
 * Checked against the kernel source: GET with no compat IOAS set fails
 * ENODEV (get_compat_ioas); the IOAS is only created implicitly when VFIO
 * attaches a group (iommufd_vfio_compat_ioas_create), not by GET.
 */
import { ENODEV, EOPNOTSUPP } from '../../uapi/errno.ts';
import { checkUpfront } from '../../uapi/checks.ts';
import { encode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import { IOMMU_VFIO_IOAS_CLEAR, IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_SET } from '../../uapi/enums.ts';
import type { Ictx, IoctlHandler } from './ioctl.ts';
import { allocIoas } from './ioas.ts';

/** The compat IOAS if it is set and still live (iommufd_lock_obj succeeds). */
export function compatIoas(x: Ictx): number {
  const id = x.d.vfioIoas;
  const e = id ? x.d.table.entries[id] : undefined;
  return e && e.state === 'live' && e.users > 0 ? id : 0;
}

/** iommufd_vfio_compat_ioas_create: what VFIO calls when a group joins the container. */
export function compatIoasCreate(x: Ictx): number {
  if (compatIoas(x)) return 0;
  const id = allocIoas(x);
  if (id < 0) return -id;
  x.d.vfioIoas = id;
  return 0;
}

export const vfioIoasIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    switch (cmd.op) {
      case IOMMU_VFIO_IOAS_GET: {
        const id = compatIoas(x);
        if (!id) return ENODEV;
        encode(S.iommu_vfio_ioas, { ioas_id: id }, call.kbuf);
        return 0;
      }
      case IOMMU_VFIO_IOAS_SET: {
        const got = x.get(call, cmd.ioas_id, 'ioas');
        if (typeof got === 'number') return got;
        x.d.vfioIoas = cmd.ioas_id;
        return 0;
      }
      case IOMMU_VFIO_IOAS_CLEAR:
        x.d.vfioIoas = 0;
        return 0;
      default:
        return EOPNOTSUPP;
    }
  },
};
