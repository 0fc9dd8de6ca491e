/**
 * VIOMMU and VDEVICE (Linux viommu.c): a vIOMMU is the host side of a
 * guest's IOMMU instance — it wraps a nest-parent HWPT on one physical
 * IOMMU (SMMUv3: its VMID), owns the guest-visible device ids (vDEVICEs),
 * takes nested HWPTs allocated on it, forwards the guest's cache
 * invalidations and reports hardware events into its vEVENTQs.
 */
import { viommuMachine } from '../../machines/viommu.ts';
import { vdeviceMachine } from '../../machines/vdevice.ts';
import { defineObjectKind, invokeOp, type ObjSelf } from './object-actor.ts';
import { copyFromUser, type Call, type Ictx, type IoctlHandler, type Step } from './ioctl.ts';
import { objRemove, type ObjEntry } from './object.ts';
import { deviceSpec, modelOf } from '../hw/state.ts';
import { translation } from '../hw/translation.ts';
import type { DeviceSpec } from '../../hardware/topology.ts';
import type { ViommuParams } from '../../hardware/models/index.ts';
import { EEXIST, EFAULT, EINVAL, EOPNOTSUPP } from '../../uapi/errno.ts';
import { checkUpfront } from '../../uapi/checks.ts';
import { encode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import { IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_FAULT_ID_VALID } from '../../uapi/enums.ts';
import { writeUser } from '../mm/process.ts';
import { memfdCreate, memfdRelease, memfdWrite } from '../mm/memfd.ts';
import {
  VIOMMU_NESTED_ALLOC, finishAlloc, hwDomains, hwptNestedKind, installNested, objData, userArray, type HwptNestedData, type HwptPagingData,
  type UserArrayArgs,
} from './hw_pagetable.ts';
import { applyViommuFlush } from '../hw/invalidate.ts';
import { UNBIND_HOOKS, type DeviceData } from './device.ts';
import { allocDomainId } from '../hw/state.ts';

export interface ViommuData {
  iommu: string;
  /** The nest-parent HWPT_PAGING and its hardware domain (stage 2). */
  parent: number;
  parentDomain: number;
  params: ViommuParams;
  /** virt_id (decimal string) → VDEVICE id. */
  vdevs: Record<string, number>;
  /** vEVENTQ type → VEVENTQ id. */
  veventqs: Record<number, number>;
  /** Mock: per-device cache slots (IOMMU_TEST_DEV_CACHE_DEFAULT until invalidated), by device name. */
  devCache: Record<string, number[]>;
  /** The region this vIOMMU exports through mmap of the iommufd (the mock's two pages). */
  mmap?: MmapRegion;
}

/** An mmap-able region of an iommufd file (uapi.md §8): pages backed by a memfd the object owns. */
export interface MmapRegion {
  offset: bigint;
  length: bigint;
  memfd: number;
  obj: number;
}

/**
 * The mock allocates two zeroed pages with in_data in the first u32 and
 * registers them as a region of the iommufd file at an offset cookie.
 * Cookies are 16 MiB apart so no offset inside one region names another.
 */
function exportMmapRegion(x: Ictx, obj: number, inData: number, length: number): MmapRegion {
  const memfd = memfdCreate(x.c.world.mem, length);
  const first = new Uint8Array(4);
  new DataView(first.buffer).setUint32(0, inData >>> 0, true);
  memfdWrite(x.c.world.mem, memfd, 0n, first);
  const region: MmapRegion = { offset: BigInt(obj) << 24n, length: BigInt(length), memfd, obj };
  (x.d.mmaps ??= {})[region.offset.toString()] = region;
  return region;
}

export interface VdeviceData {
  viommu: number;
  devId: number;
  dev: string;
  virtId: bigint;
}

export const IOMMU_TEST_DEV_CACHE_DEFAULT = 0xbaddad;

export const viommuKind = defineObjectKind(viommuMachine, {
  type: 'viommu',
  ops: {
    invalidate: (o, a: UserArrayArgs) => {
      const d = o.data as ViommuData;
      if (!d.params.hasCacheInvalidate) return { errno: EOPNOTSUPP, out: { processed: 0 } };
      const vdevs: Record<string, DeviceSpec> = {};
      for (const [virt, vid] of Object.entries(d.vdevs)) {
        const vd = vdevData(o, vid);
        const spec = vd && deviceSpec(o.world, vd.dev);
        if (spec) vdevs[virt] = spec;
      }
      const r = modelOf(o.world, d.iommu).invalidateViommu(d.params, userArray(o.world, a), { vdevs, vmid: d.parentDomain });
      const tr = translation(o.c);
      for (const f of r.flushes) {
        if (f.scope === 'mock-dev-cache') {
          const slots = (d.devCache[f.device] ??= [0, 1, 2, 3].map(() => IOMMU_TEST_DEV_CACHE_DEFAULT));
          if (f.all) slots.fill(0);
          else slots[f.index] = 0;
        } else if (tr) {
          // Only what the command names: the stage-2 parent's own entries (the host's mappings) stay cached.
          applyViommuFlush(tr, d.iommu, f);
        }
      }
      return { errno: r.errno, out: { processed: r.processed } };
    },
  },
  /** A hardware event for one of the vIOMMU's streams: to the queue of its type, if there is one. */
  event(o, b: { type: string; veventqType: number; data: Uint8Array }) {
    if (b.type !== 'vevent') return;
    const d = o.data as ViommuData;
    const q = d.veventqs[b.veventqType];
    if (!q) return;
    o.post(actorIn(o, q), 'internal', 'event', { type: 'vevent', data: b.data });
  },
  destroy(o) {
    const d = o.data as ViommuData;
    if (d.mmap) {
      o.request('mmap.gone', { offset: d.mmap.offset });
      memfdRelease(o.world.mem, d.mmap.memfd);
    }
    o.request('unref', { id: d.parent });
  },
});

/** The region's owner is gone: the offset no longer maps. */
export const mmapGoneRequest: IoctlHandler = {
  start(x, _call, b: { offset: bigint }) {
    if (x.d.mmaps) delete x.d.mmaps[b.offset.toString()];
    return 0;
  },
};

function ctxEntries(o: ObjSelf): Record<number, ObjEntry> {
  const ctx = o.c.peek(o.context.ctx) as { context?: { data: { table: { entries: Record<number, ObjEntry> } } } } | undefined;
  return ctx?.context?.data.table.entries ?? {};
}

function actorIn(o: ObjSelf, id: number): string {
  return ctxEntries(o)[id]?.actor ?? '';
}

function vdevData(o: ObjSelf, id: number): VdeviceData | null {
  const e = ctxEntries(o)[id];
  const a = e && (o.c.peek(e.actor) as { context?: { data: VdeviceData } } | undefined);
  return a?.context?.data ?? null;
}

export const vdeviceKind = defineObjectKind(vdeviceMachine, {
  type: 'vdevice',
  ops: {},
  destroy(o) {
    const d = o.data as VdeviceData;
    const entries = ctxEntries(o);
    const v = entries[d.viommu];
    if (v && o.c.has(v.actor)) delete objDataOf<ViommuData>(o, v.actor).vdevs[String(d.virtId)];
    const dev = entries[d.devId];
    if (dev && o.c.has(dev.actor)) invokeOp(o.c, dev.actor, 'set_vdevice', { vdevice: 0 });
    o.request('unref', { id: d.viommu });
  },
});

function objDataOf<T>(o: ObjSelf, actor: string): T {
  return (o.c.peek(actor) as unknown as { context: { data: T } }).context.data;
}

// ---------------------------------------------------------------- ioctls


export const viommuAllocIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    if (cmd.flags !== 0 || cmd.type === 0) return EOPNOTSUPP;
    const devE = x.get(call, cmd.dev_id, 'device');
    if (typeof devE === 'number') return devE;
    const dev = objData<DeviceData>(x.c, devE);
    const model = modelOf(x.c.world, dev.iommu);
    if (!model.caps.viommuTypes.includes(cmd.type)) return EOPNOTSUPP;
    const hw = x.get(call, cmd.hwpt_id, 'hwpt_paging');
    if (typeof hw === 'number') return hw;
    const parent = objData<HwptPagingData>(x.c, hw);
    if (!parent.params.nestParent || parent.auto) return EINVAL;
    const data = copyFromUser(x, call, cmd.data_uptr, cmd.data_len);
    if (typeof data === 'number') return data;
    const r = model.allocViommu(cmd.type, parent.params, deviceSpec(x.c.world, dev.dev)!, data.length ? { type: cmd.type, bytes: data } : undefined);
    if ('errno' in r) return r.errno;
    const vd: ViommuData = { iommu: dev.iommu, parent: hw.id, parentDomain: parent.domain, params: r.viommu, vdevs: {}, veventqs: {}, devCache: {} };
    const obj = x.alloc(viommuKind, vd as unknown as Record<string, unknown>);
    if (typeof obj === 'number') return obj;
    x.incUsers(hw.id);
    // The mock echoes in_data and reports its mmap region in the data buffer.
    if (r.viommu.mock && data.length >= 8) {
      const region = exportMmapRegion(x, obj.id, r.viommu.mock.inData, r.viommu.mock.mmapLength);
      objData<ViommuData>(x.c, obj).mmap = region;
      const out = data.slice();
      encode(S.iommu_viommu_selftest, { out_data: r.viommu.mock.inData, out_mmap_offset: region.offset, out_mmap_length: BigInt(r.viommu.mock.mmapLength) }, out);
      const mm = x.c.world.mem.mms[call.pid];
      if (!mm || writeUser(x.c.world.mem, mm, cmd.data_uptr, out.subarray(0, Math.min(out.length, cmd.data_len)))) return abortObj(x, obj, EFAULT);
    }
    x.finalize(obj.id);
    encode(S.iommu_viommu_alloc, { out_viommu_id: obj.id }, call.kbuf);
    return 0;
  },
};

function abortObj(x: Ictx, e: ObjEntry, errno: number): number {
  x.abort({ refs: [] } as unknown as Call, e.id);
  return errno;
}

export const vdeviceAllocIoctl: IoctlHandler = {
  start(x, call, cmd) {
    const v = x.get(call, cmd.viommu_id, 'viommu');
    if (typeof v === 'number') return v;
    const devE = x.get(call, cmd.dev_id, 'device');
    if (typeof devE === 'number') return devE;
    const vd = objData<ViommuData>(x.c, v);
    const dev = objData<DeviceData>(x.c, devE);
    if (dev.iommu !== vd.iommu) return EINVAL;
    if (dev.vdevice) return EEXIST;
    if (vd.vdevs[String(cmd.virt_id)]) return EEXIST;
    const data: VdeviceData = { viommu: v.id, devId: devE.id, dev: dev.dev, virtId: cmd.virt_id };
    const obj = x.alloc(vdeviceKind, data as unknown as Record<string, unknown>);
    if (typeof obj === 'number') return obj;
    x.incUsers(v.id);
    vd.vdevs[String(cmd.virt_id)] = obj.id;
    invokeOp(x.c, devE.actor, 'set_vdevice', { vdevice: obj.id });
    x.finalize(obj.id);
    encode(S.iommu_vdevice_alloc, { out_vdevice_id: obj.id }, call.kbuf);
    return 0;
  },
};

/** Nested HWPT on a vIOMMU: the vIOMMU must sit on the device's physical IOMMU. */
VIOMMU_NESTED_ALLOC.fn = (x: Ictx, call: Call, cmd: any, dev: { dev: string; iommu: string }, viommuE: ObjEntry): Step => {
  const v = objData<ViommuData>(x.c, viommuE);
  if (v.iommu !== dev.iommu) return EINVAL;
  if ((cmd.flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) !== 0) return EOPNOTSUPP;
  if (cmd.data_len === 0) return EOPNOTSUPP;
  const data = copyFromUser(x, call, cmd.data_uptr, cmd.data_len);
  if (typeof data === 'number') return data;
  const r = modelOf(x.c.world, dev.iommu).allocNested(v.params.parent, cmd.data_type, data, deviceSpec(x.c.world, dev.dev)!, cmd.flags & ~IOMMU_HWPT_FAULT_ID_VALID, v.params);
  if ('errno' in r) return r.errno;
  const domain = allocDomainId(x.c.world);
  const nd: HwptNestedData = { parent: v.parent, viommu: viommuE.id, domain, parentDomain: v.parentDomain, params: r.domain, attached: 0, fault: 0 };
  const obj = x.alloc(hwptNestedKind, nd as unknown as Record<string, unknown>);
  if (typeof obj === 'number') return obj;
  hwDomains(x.c.world)[domain] = r.domain;
  installNested(x, domain, v.parentDomain, r.domain);
  x.incUsers(viommuE.id);
  return finishAlloc(x, call, cmd, obj);
};

/** Unbinding a device destroys its vDEVICE and leaves the id as a tombstone until the file closes. */
UNBIND_HOOKS.vdevice = (x: Ictx, vdeviceId: number) => {
  const e = x.d.table.entries[vdeviceId];
  if (!e || e.state !== 'live') return;
  // Anyone else's short-term reference would make this wait in the kernel; the model forces it.
  e.users = 1;
  const r = objRemove(x.d.table, vdeviceId, { tombstone: true });
  if (typeof r !== 'number') x.destroy(null, r);
};

/** A vEVENTQ went away: its type slot on the vIOMMU is free again. */
export const veventqGoneRequest: IoctlHandler = {
  start(x, _call, b: { viommu: number; type: number }) {
    const v = x.d.table.entries[b.viommu];
    if (v && x.c.has(v.actor)) delete objData<ViommuData>(x.c, v).veventqs[b.type];
    return 0;
  },
};

