/**
 * IOMMU_DESTROY (Linux main.c iommufd_destroy → iommufd_object_remove).
 *
 * The decision is made atomically on the table (ENOENT for unknown, reserved
 * or tombstoned ids; EBUSY while anyone else holds the object — a device is
 * always held by its driver and an access by its creator, so both are EBUSY);
 * the type's destroy then runs in the object's actor and the ioctl returns
 * when it reports back.
 */
import { objRemove } from './object.ts';
import type { IoctlHandler } from './ioctl.ts';

export const destroyIoctl: IoctlHandler = {
  start(x, call, cmd: { id: number }) {
    const e = objRemove(x.d.table, cmd.id);
    if (typeof e === 'number') return e;
    if (x.d.vfioIoas === cmd.id) x.d.vfioIoas = 0;
    x.destroy(call, e);
    return 'wait';
  },
  resume() {
    return 0;
  },
};
