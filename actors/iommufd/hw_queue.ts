/**
 * HW_QUEUE (Linux viommu.c iommufd_hw_queue_alloc): a guest command queue
 * that the hardware reads directly from guest memory.  The core pins the
 * queue's range of the parent IOAS through an internal access and locks it
 * (IOAS_UNMAP of it fails EBUSY) until the queue is destroyed.  Only the
 * mock driver implements HW queues here (Tegra241 CMDQV is not modelled).
 */
import { hwQueueMachine } from '../../machines/hw_queue.ts';
import { defineObjectKind, invokeOp, type ObjSelf } from './object-actor.ts';
import type { IoctlHandler } from './ioctl.ts';
import type { ObjEntry } from './object.ts';
import { EEXIST, EINVAL, EIO, EOPNOTSUPP, EOVERFLOW } from '../../uapi/errno.ts';
import { checkUpfront } from '../../uapi/checks.ts';
import { encode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import { IOMMU_HW_QUEUE_TYPE_SELFTEST, IOMMU_TEST_HW_QUEUE_MAX } from '../../uapi/enums.ts';
import { objData, type HwptPagingData } from './hw_pagetable.ts';
import type { ViommuData } from './viommu.ts';
import { ULONG_MAX } from './io_pagetable.ts';

export interface HwQueueData {
  viommu: number;
  type: number;
  index: number;
  iova: bigint;
  length: bigint;
  /** The parent HWPT's IOAS, where the internal access pins the queue. */
  ioas: number;
  /** Internal access id in that IOAS (never a visible object id). */
  access: number;
  /** The queue this one depends on (index - 1), which it keeps busy. */
  prev: number;
}

/** Internal accesses live in the io_pagetable under ids no object can have (object ids are < 2^31). */
const INTERNAL_ACCESS_BASE = 0x8000_0000;

function ioasActor(o: ObjSelf, id: number): string {
  const ctx = o.c.peek(o.context.ctx) as unknown as { context: { data: { table: { entries: Record<number, ObjEntry> } } } };
  return ctx.context.data.table.entries[id]!.actor;
}

export const hwQueueKind = defineObjectKind(hwQueueMachine, {
  type: 'hw_queue',
  ops: {},
  destroy(o) {
    const d = o.data as HwQueueData;
    if (o.data.aborted) return;
    invokeOp(o.c, ioasActor(o, d.ioas), 'hwq_unpin', { access: d.access, iova: d.iova, length: d.length });
    const v = o.c.peek(ioasActor(o, d.viommu)) as unknown as { context: { data: ViommuData & { hwQueues?: Record<string, number> } } } | undefined;
    if (v) delete v.context.data.hwQueues?.[`${d.type}/${d.index}`];
    o.request('unref', { id: d.viommu });
    if (d.prev) o.request('unref', { id: d.prev });
  },
});

export const hwQueueAllocIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    if (cmd.flags !== 0 || cmd.type === 0) return EOPNOTSUPP;
    if (cmd.length === 0n) return EINVAL;
    if (cmd.nesting_parent_iova + cmd.length - 1n > ULONG_MAX) return EOVERFLOW;
    const v = x.get(call, cmd.viommu_id, 'viommu');
    if (typeof v === 'number') return v;
    const vd = objData<ViommuData & { hwQueues?: Record<string, number> }>(x.c, v);
    if (vd.params.kind !== 'mock' || cmd.type !== IOMMU_HW_QUEUE_TYPE_SELFTEST) return EOPNOTSUPP;
    if (cmd.index >= IOMMU_TEST_HW_QUEUE_MAX) return EINVAL;
    const queues = (vd.hwQueues ??= {});
    if (queues[`${cmd.type}/${cmd.index}`]) return EEXIST;
    const prev = cmd.index > 0 ? queues[`${cmd.type}/${cmd.index - 1}`] ?? 0 : 0;
    if (cmd.index > 0 && !prev) return EIO;
    const ioas = objData<HwptPagingData>(x.c, x.d.table.entries[vd.parent]!).ioas;
    const ioasE = x.d.table.entries[ioas]!;
    const data: HwQueueData = { viommu: v.id, type: cmd.type, index: cmd.index, iova: cmd.nesting_parent_iova, length: cmd.length, ioas, access: 0, prev };
    const obj = x.alloc(hwQueueKind, data as unknown as Record<string, unknown>);
    if (typeof obj === 'number') return obj;
    const access = INTERNAL_ACCESS_BASE + obj.id;
    objData<HwQueueData>(x.c, obj).access = access;
    const pin = invokeOp(x.c, ioasE.actor, 'hwq_pin', { access, iova: cmd.nesting_parent_iova, length: cmd.length });
    if (pin.errno) {
      // Nothing was pinned and no reference taken: the half-built queue just goes.
      objData<any>(x.c, obj).aborted = true;
      x.abort({ refs: [] } as never, obj.id);
      return pin.errno;
    }
    x.incUsers(v.id);
    if (prev) x.incUsers(prev);
    queues[`${cmd.type}/${cmd.index}`] = obj.id;
    x.finalize(obj.id);
    encode(S.iommu_hw_queue_alloc, { out_hw_queue_id: obj.id }, call.kbuf);
    return 0;
  },
};
