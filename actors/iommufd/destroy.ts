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
import type { Call, Ictx, IoctlHandler } from './ioctl.ts';
import { EBUSY } from '../../uapi/errno.ts';

/** Continue this call in a later delivery of the context (a scheduling point inside the ioctl). */
function resumeLater(x: Ictx, call: Call, id: number): void {
  x.c.post(x.actorId, 'internal', 'op.ret', { call: call.id, from: id, errno: 0, out: { step: call.s.b01 } });
}

export const destroyIoctl: IoctlHandler = {
  start(x, call, cmd: { id: number }) {
    if (x.c.world.config.variant === 'B01') {
      // B01 (spec/bugs.md; fixed by 99f98a7c0d69 "IOMMUFD_DESTROY should not
      // increase the refcount"): the buggy DESTROY looked the object up with a
      // users reference outside the destroy lock and decided in a later step.
      const got = x.get(call, cmd.id, 'any');
      if (typeof got === 'number') return got;
      call.s.id = cmd.id;
      call.s.b01 = 'decide';
      resumeLater(x, call, cmd.id);
      return 'wait';
    }
    const e = objRemove(x.d.table, cmd.id);
    if (typeof e === 'number') return e;
    if (x.d.vfioIoas === cmd.id) x.d.vfioIoas = 0;
    x.destroy(call, e);
    return 'wait';
  },
  resume(x, call) {
    if (call.s.b01 === 'decide') {
      // B01: "destroy if only the table and I hold it" — a concurrent
      // destroyer's reference makes both fail.  The put is its own step.
      const e = x.d.table.entries[call.s.id]!;
      if (e.users !== 2) {
        call.s.b01 = 'put';
        resumeLater(x, call, call.s.id);
        return 'wait';
      }
      call.refs = call.refs.filter((r) => r !== call.s.id);
      e.users--;
      e.shortterm--;
      const r = objRemove(x.d.table, call.s.id);
      if (typeof r === 'number') return r;
      if (x.d.vfioIoas === call.s.id) x.d.vfioIoas = 0;
      call.s.b01 = 'destroying';
      x.destroy(call, r);
      return 'wait';
    }
    if (call.s.b01 === 'put') return EBUSY;
    return 0;
  },
};
