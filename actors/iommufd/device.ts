/**
 * DEVICE (Linux device.c): binding a physical device to an iommufd, and
 * attaching, replacing and detaching its RID or a PASID to an IOAS
 * (automatic domain) or a HWPT — with the group rules, reserved regions and
 * the driver's compatibility checks.  Also IOMMU_GET_HW_INFO.
 *
 * An attach is one atomic step: the kernel holds the group mutex and the
 * IOAS mutex from the auto-domain search to the group update, so nothing
 * the scheduler could run in between is allowed by its locks.
 */
import { deviceMachine } from '../../machines/device.ts';
import { defineObjectKind, invokeOp } from './object-actor.ts';
import type { Call, Ictx, IoctlHandler } from './ioctl.ts';
import { objRemove, reportUseAfterFree, reportWarn, type ObjEntry } from './object.ts';
import { armTimer, cancelTimer, stallMs, timers } from '../timer.ts';
import { ioasMutex, mutexLock, mutexUnlock } from './locks.ts';
import { hw, deviceSpec, modelOf, type GroupAttach } from '../hw/state.ts';
import { translation } from '../hw/translation.ts';
import { iommuActorId } from '../hw/iommu.ts';
import { svaHandleAt } from '../hw/sva-state.ts';
import { putRef } from './ioas.ts';
import { hwptPagingAlloc, objData, type HwptNestedData, type HwptPagingData } from './hw_pagetable.ts';
import { ioasReservedRegions } from '../../hardware/models/index.ts';
import { EBUSY, EFAULT, EINVAL, ENODEV, ENOENT, ENOMEM, EOPNOTSUPP, EPERM } from '../../uapi/errno.ts';
import { shouldFail } from '../world.ts';
import { checkUpfront } from '../../uapi/checks.ts';
import { encode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import { IOMMU_HW_INFO_FLAG_INPUT_TYPE } from '../../uapi/enums.ts';
import { writeUser } from '../mm/process.ts';

export const NO_PASID = 0;

export interface DeviceData {
  /** Topology device id. */
  dev: string;
  iommu: string;
  group: number;
  /** Created by IOMMU_TEST_OP_MOCK_DOMAIN (not by VFIO). */
  mock: boolean;
  /** pasid → HWPT id; the lifecycle machine's attached/blocked guard reads it. */
  attach: Record<number, number>;
  vdevice: number;
}

export const deviceKind = defineObjectKind(deviceMachine, {
  type: 'device',
  ops: {
    set_attach: (o, a: { pasid: number; hwpt: number }) => {
      const d = o.data as DeviceData;
      if (a.hwpt) d.attach[a.pasid] = a.hwpt;
      else delete d.attach[a.pasid];
      return { errno: 0 };
    },
    set_vdevice: (o, a: { vdevice: number }) => {
      (o.data as DeviceData).vdevice = a.vdevice;
      return { errno: 0 };
    },
  },
  finish(o) {
    const d = o.data as DeviceData;
    const h = hw(o.world);
    h.bound[d.dev] = null;
  },
});

// ---------------------------------------------------------------- bind / unbind

/**
 * iommufd_device_bind: the device must be free (DMA ownership), have an
 * IOMMU, and isolate MSIs unless unsafe interrupts are allowed.  A real
 * device's binding holds the file; the driver keeps its own reference on the
 * object, so IOMMU_DESTROY of a device id is always EBUSY.
 */
export function deviceBind(x: Ictx, devName: string, opts: { mock: boolean }): ObjEntry | number {
  const spec = deviceSpec(x.c.world, devName);
  if (!spec) return ENODEV;
  const h = hw(x.c.world);
  if (h.bound[devName]) return EBUSY;
  if (!spec.msiIsolated && !x.c.world.config.allowUnsafeInterrupts) return EPERM;
  // iommufd_get_group: the igroup of a group seen for the first time (fail_nth point).
  if (shouldFail(x.c.world, 'device_igroup_alloc')) return ENOMEM;
  const data: DeviceData = { dev: devName, iommu: spec.iommu, group: spec.group, mock: opts.mock, attach: {}, vdevice: 0 };
  const e = x.alloc(deviceKind, data as unknown as Record<string, unknown>);
  if (typeof e === 'number') return e;
  x.finalize(e.id);
  x.incUsers(e.id);
  h.bound[devName] = { file: x.d.file, devId: e.id };
  if (!opts.mock) x.d.fileRefs++;
  return e;
}

/** iommufd_device_unbind: detach everything, drop the driver's reference, destroy the object. */
export function deviceUnbind(x: Ictx, call: Call | null, devId: number): number {
  return unbindBegin(x, devId) || unbindRemove(x, call, devId);
}

/** Detach everything and drop the driver's reference; the object is still in the table. */
function unbindBegin(x: Ictx, devId: number): number {
  const e = x.d.table.entries[devId];
  if (!e || e.type !== 'device') return ENOENT;
  const d = objData<DeviceData>(x.c, e);
  for (const pasid of Object.keys(d.attach).map(Number).sort((a, b) => b - a)) deviceDetach(x, devId, pasid);
  const tomb = UNBIND_HOOKS.vdevice;
  if (tomb && d.vdevice) tomb(x, d.vdevice);
  x.decUsers(devId);
  return 0;
}

/** iommufd_object_remove once nobody else holds the device; iommufd_ctx_put. */
function unbindRemove(x: Ictx, call: Call | null, devId: number): number {
  const d = objData<DeviceData>(x.c, x.d.table.entries[devId]!);
  const r = objRemove(x.d.table, devId);
  if (typeof r === 'number') return r;
  if (!d.mock) x.d.fileRefs--;
  x.destroy(call, r);
  return 0;
}

/**
 * iommufd_object_dec_wait_shortterm's timeout (msecs_to_jiffies): 60 s since
 * d9df72c6acd6 ("iommu: iommufd: fix WARNING in iommufd_device_unbind"),
 * 10 s before it (B08).
 */
const UNBIND_WAIT_MS = 60_000;
const B08_UNBIND_WAIT_MS = 10_000;

/** The timer or the wake a waiting unbind gets (one of them is outstanding at a time). */
function unbindWaitArm(x: Ictx, call: Call): void {
  call.s.timer = armTimer(x.c, { at: call.s.deadline }, { dst: x.actorId, type: 'op.ret', body: { call: call.id, from: call.s.devId, errno: 0, out: { timeout: true } } });
}

/**
 * wake_up_interruptible_all(&ictx->destroy_wait) from a call that is about
 * to drop its short-term reference on a device: each waiting unbind
 * re-checks (after this delivery, when the reference is gone).  A waiter
 * whose timer already fired gets the timeout instead, and re-checks there.
 */
export function wakeDestroyWaiters(x: Ictx): void {
  for (const k in x.d.calls) {
    const w = x.d.calls[k]!;
    if (w.name !== 'request:vfio.unbind' || !w.s.waiting || !cancelTimer(x.c.world, w.s.timer)) continue;
    x.c.post(x.actorId, 'internal', 'op.ret', { call: w.id, from: w.s.devId, errno: 0, out: { woken: true } });
  }
}

/** vIOMMU code tears down a device's VDEVICE on unbind (viommu.ts fills this in). */
export const UNBIND_HOOKS: { vdevice: ((x: Ictx, vdeviceId: number) => void) | null } = { vdevice: null };

// ---------------------------------------------------------------- attach / replace / detach

type Hwpt = { e: ObjEntry; paging: boolean; data: HwptPagingData | HwptNestedData };

function hwptOf(x: Ictx, id: number): Hwpt | null {
  const e = x.d.table.entries[id];
  if (!e || e.state !== 'live' || e.users === 0 || (e.type !== 'hwpt_paging' && e.type !== 'hwpt_nested')) return null;
  return { e, paging: e.type === 'hwpt_paging', data: objData<HwptPagingData | HwptNestedData>(x.c, e) };
}

/** The IOAS a HWPT's mappings come from (a nested HWPT's parent's). */
function ioasOfHwpt(x: Ictx, h: Hwpt): number {
  if (h.paging) return (h.data as HwptPagingData).ioas;
  const parent = hwptOf(x, (h.data as HwptNestedData).parent);
  return parent ? (parent.data as HwptPagingData).ioas : 0;
}

function groupAttach(x: Ictx, dev: DeviceData, pasid: number): GroupAttach | undefined {
  return hw(x.c.world).groups[dev.group]?.[pasid];
}

const resvOwner = (devId: number) => `device:${devId}`;

/** Reserve the device's regions in the HWPT's IOAS (EADDRINUSE on a clash with a mapping or allowed range). */
function reserveRegions(x: Ictx, devId: number, dev: DeviceData, ioasId: number): number {
  const spec = deviceSpec(x.c.world, dev.dev)!;
  const r = ioasReservedRegions(modelOf(x.c.world, dev.iommu).reservedRegions(spec));
  if (r.errno) return r.errno;
  const ioas = x.d.table.entries[ioasId];
  if (!ioas) return ENOENT;
  return invokeOp(x.c, ioas.actor, 'reserve', { owner: resvOwner(devId), ranges: r.reserve.map((g) => ({ start: g.start, last: g.last })) }).errno;
}

function unreserveRegions(x: Ictx, devId: number, ioasId: number): void {
  const ioas = x.d.table.entries[ioasId];
  if (ioas && x.c.has(ioas.actor)) invokeOp(x.c, ioas.actor, 'unreserve', { owner: resvOwner(devId) });
}

/** The driver's and the core's refusals for putting (dev, pasid) on this HWPT. */
function attachChecks(x: Ictx, dev: DeviceData, pasid: number, h: Hwpt): number {
  const model = modelOf(x.c.world, dev.iommu);
  const spec = deviceSpec(x.c.world, dev.dev)!;
  const params = h.data.params;
  if (params.iommu !== dev.iommu) return EINVAL;
  const iommu = x.c.peek(iommuActorId(dev.iommu));
  if (iommu && iommu.status() !== 'ready') return ENODEV;
  if (pasid !== NO_PASID) {
    if (pasid >= model.devMaxPasids(spec)) return EINVAL;
    if (!params.pasidCapable) return EINVAL;
    const rid = groupAttach(x, dev, NO_PASID);
    const ridHwpt = rid ? hwptOf(x, rid.hwpt) : null;
    if (ridHwpt && !ridHwpt.data.params.pasidCapable) return EINVAL;
  } else if (!params.pasidCapable && Object.keys(dev.attach).some((p) => Number(p) !== NO_PASID)) {
    return EINVAL;
  }
  if (h.data.fault) {
    // A fault-capable HWPT: the core refuses a PCI VF with PRI; the driver must turn on IOPF for the
    // device (intel_iommu_enable_iopf / arm_smmu_master_enable_iopf: -ENODEV without PRI or stall).
    if (spec.isVf && spec.pri) return EINVAL;
    if (!spec.pri && spec.mockFlags === undefined) return ENODEV;
  }
  // iommu_attach_device_pasid: the group's pasid_array slot is taken by an SVA bond (xa_insert), before the driver is asked.
  if (pasid !== NO_PASID && svaHandleAt(x.c.world, dev.group, pasid)) return EBUSY;
  const hasVdevice = h.paging ? undefined : (h.data as HwptNestedData).viommu !== 0 && dev.vdevice !== 0;
  return model.canAttach(params, spec, { pasid, hasVdevice, pasidsAttached: Object.keys(dev.attach).filter((p) => Number(p) !== NO_PASID).length });
}

/**
 * The hardware domain the context entry / STE points at: an SMMUv3 bypass
 * vSTE installs the parent's stage-2-only STE (hardware.md §3.2), so the
 * device's addresses are GPAs translated by stage 2.
 */
function hwDomainOf(h: Hwpt): number {
  if (!h.paging) {
    const n = h.data as HwptNestedData;
    if (n.params.config.kind === 'smmuv3' && n.params.config.config === 'bypass') return n.parentDomain;
  }
  return h.data.domain;
}

/** Make (group, pasid) point at `h` for `devId`: reserved regions, references, hardware. */
function doAttach(x: Ictx, devId: number, dev: DeviceData, pasid: number, h: Hwpt, old: Hwpt | null): number {
  const e = attachChecks(x, dev, pasid, h);
  if (e) return e;
  const newIoas = ioasOfHwpt(x, h);
  const oldIoas = old ? ioasOfHwpt(x, old) : 0;
  const moved = newIoas !== oldIoas;
  if (moved) {
    const r = reserveRegions(x, devId, dev, newIoas);
    if (r) return r;
  }
  // iommufd_hwpt_attach_device / _replace_device: the attach handle (fail_nth point), after the reservations.
  if (shouldFail(x.c.world, 'attach_handle_alloc')) {
    // err_unresv.  B16 (spec/bugs.md, "iommufd/device: Fix hwpt at err_unresv in
    // iommufd_device_do_replace()"): the replace unwind removed them from the old HWPT's IOAS.
    if (moved) unreserveRegions(x, devId, x.c.world.config.variant === 'B16' && oldIoas ? oldIoas : newIoas);
    return ENOMEM;
  }
  if (moved && oldIoas) unreserveRegions(x, devId, oldIoas);
  x.incUsers(h.e.id);
  invokeOp(x.c, h.e.actor, 'attach_count', { delta: 1 });
  const groups = (hw(x.c.world).groups[dev.group] ??= {});
  const g = groups[pasid];
  if (g && g.hwpt === h.e.id) {
    if (!g.devices.includes(devId)) g.devices.push(devId);
  } else {
    groups[pasid] = { file: x.d.file, hwpt: h.e.id, domain: h.data.domain, devices: [devId] };
  }
  translation(x.c)?.attach(dev.dev, pasid, hwDomainOf(h), deviceSpec(x.c.world, dev.dev)?.ats ?? false);
  x.c.post(iommuActorId(dev.iommu), 'hw', 'attach', { device: dev.dev, pasid, domain: h.data.domain });
  invokeOp(x.c, x.d.table.entries[devId]!.actor, 'set_attach', { pasid, hwpt: h.e.id });
  if (old) {
    // Replacing away from a fault-capable HWPT answers its pending faults INVALID (iommufd_hwpt_replace_device).
    if (old.e.id !== h.e.id) DETACH_HOOKS.fault?.(x, devId, pasid, old.e.id);
    dropAttach(x, devId, dev, pasid, old);
  }
  return 0;
}

/** The old HWPT loses this device's reference; an automatic one with no device left is destroyed. */
function dropAttach(x: Ictx, devId: number, dev: DeviceData, pasid: number, h: Hwpt): void {
  const n = invokeOp(x.c, h.e.actor, 'attach_count', { delta: -1 }).out!.attached as number;
  x.decUsers(h.e.id);
  const g = groupAttach(x, dev, pasid);
  if (g && g.hwpt === h.e.id) {
    g.devices = g.devices.filter((d) => d !== devId);
    if (!g.devices.length) delete hw(x.c.world).groups[dev.group]![pasid];
  }
  if (h.paging && (h.data as HwptPagingData).auto && n === 0) {
    const r = objRemove(x.d.table, h.e.id);
    if (typeof r !== 'number') x.destroy(null, r);
  }
}

/**
 * Attach to an IOAS: reuse the first existing automatic HWPT the device can
 * use (EINVAL from the driver means "incompatible, try the next"; anything
 * else aborts), or allocate one with flags 0.
 */
function attachIoas(x: Ictx, devId: number, dev: DeviceData, pasid: number, ioas: ObjEntry, old: Hwpt | null): { errno: number; hwpt: number } {
  const ids = invokeOp(x.c, ioas.actor, 'auto_hwpts', {}).out!.ids as number[];
  for (const id of ids) {
    // A HWPT whose last user is going away is skipped (iommufd_lock_obj fails on it).
    const h = hwptOf(x, id);
    if (!h) {
      // B06 (spec/bugs.md): the walk took no "get unless zero" reference, so a HWPT whose last
      // device detached (users 0, destroy under way) was attached to.  KASAN analogue, then skip.
      if (x.c.world.config.variant === 'B06' && (x.d.destroying ?? []).some((a) => (x.c.peek(a) as { context?: { id?: number } } | undefined)?.context?.id === id)) {
        reportUseAfterFree(x.c.world.kobj, `device ${devId} attached to auto HWPT ${id} of IOAS ${ioas.id}, whose last user is gone (being destroyed)`);
      }
      continue;
    }
    if (old && old.e.id === id) return { errno: 0, hwpt: id };
    const e = doAttach(x, devId, dev, pasid, h, old);
    if (e === 0) return { errno: 0, hwpt: id };
    if (e !== EINVAL) return { errno: e, hwpt: 0 };
  }
  // Automatic domains are allocated with flags 0, PASID attach or not: they are never
  // PASID-compatible, so a PASID attach to an IOAS fails EINVAL (selftest pasid_attach).
  // iommufd_device_auto_get_domain holds ioas->mutex until the new HWPT is complete (or aborted).
  const mutex = ioasMutex(x.actorId, ioas.id);
  mutexLock(x.c.world, mutex);
  const ne = hwptPagingAlloc(x, ioas, dev, 0, true);
  if (typeof ne === 'number') {
    mutexUnlock(x.c.world, mutex);
    return { errno: ne, hwpt: 0 };
  }
  x.finalize(ne.id);
  const h = hwptOf(x, ne.id)!;
  const e = doAttach(x, devId, dev, pasid, h, old);
  if (e) {
    const r = objRemove(x.d.table, ne.id);
    if (typeof r !== 'number') x.destroy(null, r);
    mutexUnlock(x.c.world, mutex);
    return { errno: e, hwpt: 0 };
  }
  invokeOp(x.c, ioas.actor, 'auto_add', { hwpt: ne.id });
  mutexUnlock(x.c.world, mutex);
  if (x.c.world.config.variant === 'B05') {
    // B05 (spec/bugs.md): the new HWPT is on the auto list (another attach can pick it up) but its
    // domain joins the IOAS, and gets the IOAS mappings, only in a later delivery.
    const p = (h.data as HwptPagingData).params;
    x.c.post(ioas.actor, 'internal', 'op', { call: 0, op: 'b05_populate', args: { id: h.data.domain, pgsizeBitmap: p.pgsizeBitmap, apertureStart: p.apertureStart, apertureEnd: p.apertureEnd } });
  }
  return { errno: 0, hwpt: ne.id };
}

/**
 * iommufd_device_attach (replace = false) / iommufd_device_replace: returns
 * the id actually attached (the automatic HWPT's for an IOAS).
 */
export function deviceAttach(x: Ictx, call: Call, devId: number, ptId: number, pasid: number, replace: boolean): { errno: number; ptId: number } {
  const r = attachPt(x, call, devId, ptId, pasid, replace);
  // The target's lookup is put before returning, as iommufd_device_attach does: the caller may
  // have to unbind the device right after (MOCK_DOMAIN with pt_id = the new device's own id).
  putRef(x, call, ptId);
  return r;
}

function attachPt(x: Ictx, call: Call, devId: number, ptId: number, pasid: number, replace: boolean): { errno: number; ptId: number } {
  const devE = x.d.table.entries[devId];
  if (!devE || devE.type !== 'device') return { errno: ENOENT, ptId: 0 };
  const dev = objData<DeviceData>(x.c, devE);
  const pt = x.get(call, ptId, 'any');
  if (typeof pt === 'number') return { errno: pt, ptId: 0 };
  if (pt.type !== 'ioas' && pt.type !== 'hwpt_paging' && pt.type !== 'hwpt_nested') return { errno: EINVAL, ptId: 0 };
  const cur = groupAttach(x, dev, pasid);
  const curHwpt = cur ? hwptOf(x, cur.hwpt) : null;
  const mine = dev.attach[pasid] !== undefined;
  if (!replace && cur && !mine && pt.type !== 'ioas' && cur.hwpt !== pt.id) return { errno: EINVAL, ptId: 0 };
  // The device is already in this (group, pasid)'s device array (xa_insert): EBUSY.
  if (!replace && mine) return { errno: EBUSY, ptId: 0 };
  if (replace && !mine) return { errno: EINVAL, ptId: 0 };
  const old = replace ? curHwpt : null;
  if (pt.type === 'ioas') {
    const r = attachIoas(x, devId, dev, pasid, pt, old);
    return { errno: r.errno, ptId: r.hwpt };
  }
  if (old && old.e.id === pt.id) return { errno: 0, ptId: pt.id };
  const h = hwptOf(x, pt.id)!;
  const e = doAttach(x, devId, dev, pasid, h, old);
  return { errno: e, ptId: e ? 0 : pt.id };
}

/** iommufd_device_detach: never fails; the (dev, pasid) blocks DMA afterwards. */
export function deviceDetach(x: Ictx, devId: number, pasid: number): void {
  const devE = x.d.table.entries[devId];
  if (!devE) return;
  const dev = objData<DeviceData>(x.c, devE);
  const id = dev.attach[pasid];
  if (id === undefined) return;
  const h = hwptOf(x, id) ?? { e: x.d.table.entries[id]!, paging: x.d.table.entries[id]!.type === 'hwpt_paging', data: objData<HwptPagingData>(x.c, x.d.table.entries[id]!) };
  const hooks = DETACH_HOOKS.fault;
  if (hooks) hooks(x, devId, pasid, id);
  translation(x.c)?.detach(dev.dev, pasid);
  x.c.post(iommuActorId(dev.iommu), 'hw', 'detach', { device: dev.dev, pasid });
  invokeOp(x.c, devE.actor, 'set_attach', { pasid, hwpt: 0 });
  const ioasId = ioasOfHwpt(x, h);
  const stillAttached = Object.values(dev.attach).some((hid) => hid !== id && ioasOfHwpt(x, hwptOf(x, hid)!) === ioasId);
  if (ioasId && !stillAttached) unreserveRegions(x, devId, ioasId);
  dropAttach(x, devId, dev, pasid, h);
}

/** Pending page faults of a detached attachment are answered INVALID (eventq.ts fills this in). */
export const DETACH_HOOKS: { fault: ((x: Ictx, devId: number, pasid: number, hwpt: number) => void) | null } = { fault: null };

// ---------------------------------------------------------------- IOMMU_GET_HW_INFO

export const getHwInfoIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    if (cmd.flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) return EOPNOTSUPP;
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    const devE = x.get(call, cmd.dev_id, 'device');
    if (typeof devE === 'number') return devE;
    const stall = stallMs(x.c.world, 'hw_info');
    if (stall) {
      // The driver's hw_info is slow (an injected stall) while the device reference is held.
      call.s.cmd = cmd;
      armTimer(x.c, { ms: stall }, { dst: x.actorId, type: 'op.ret', body: { call: call.id, from: devE.id, errno: 0, out: null } });
      return 'wait';
    }
    return hwInfo(x, call, cmd, devE);
  },
  resume(x, call) {
    // This call's put is next: waiting unbinds re-check once it is done.
    wakeDestroyWaiters(x);
    return hwInfo(x, call, call.s.cmd, x.d.table.entries[call.s.cmd.dev_id]!);
  },
};

function hwInfo(x: Ictx, call: Call, cmd: any, devE: ObjEntry): number {
  const dev = objData<DeviceData>(x.c, devE);
  const spec = deviceSpec(x.c.world, dev.dev)!;
  const requested = cmd.flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE ? cmd.in_data_type : 0;
  const r = modelOf(x.c.world, dev.iommu).hwInfo(spec, requested);
  if (r.errno) return r.errno;
  if (cmd.data_len > 0) {
    // The kernel's bytes, then zeros up to the user's length.
    const buf = new Uint8Array(cmd.data_len);
    buf.set(r.data.subarray(0, Math.min(cmd.data_len, r.data.length)));
    const mm = x.c.world.mem.mms[call.pid];
    if (!mm || writeUser(x.c.world.mem, mm, cmd.data_uptr, buf)) return EFAULT;
  }
  encode(S.iommu_hw_info, { data_len: r.data.length, out_data_type: r.type, out_max_pasid_log2: r.maxPasidLog2, out_capabilities: BigInt(r.capabilities) }, call.kbuf);
  return 0;
}


// ---------------------------------------------------------------- VFIO cdev requests (vfio.ts)

/** VFIO_DEVICE_BIND_IOMMUFD reaches the context as this request. */
export const vfioBindRequest: IoctlHandler = {
  start(x, call, b: { dev: string }) {
    const e = deviceBind(x, b.dev, { mock: false });
    if (typeof e === 'number') return e;
    call.s.out = { devId: e.id };
    return 0;
  },
};

export const vfioAttachRequest: IoctlHandler = {
  start(x, call, b: { devId: number; ptId: number; pasid: number; replace: boolean }) {
    const r = deviceAttach(x, call, b.devId, b.ptId, b.pasid, b.replace);
    call.s.out = { ptId: r.ptId };
    return r.errno;
  },
};

export const vfioDetachRequest: IoctlHandler = {
  start(x, _call, b: { devId: number; pasid: number }) {
    deviceDetach(x, b.devId, b.pasid);
    return 0;
  },
};

export const vfioUnbindRequest: IoctlHandler = {
  start(x, call, b: { devId: number }) {
    const r = unbindBegin(x, b.devId);
    if (r) return r;
    if (x.d.table.entries[b.devId]!.shortterm === 0) return unbindRemove(x, null, b.devId);
    // iommufd_object_remove(REMOVE_WAIT_SHORTTERM): wait_event_timeout for the short-term users to drain.
    const ms = x.c.world.config.variant === 'B08' ? B08_UNBIND_WAIT_MS : UNBIND_WAIT_MS;
    call.s.devId = b.devId;
    call.s.ms = ms;
    call.s.deadline = timers(x.c.world).jiffies + ms;
    call.s.waiting = true;
    unbindWaitArm(x, call);
    return 'wait';
  },
  resume(x, call, ret) {
    const e = x.d.table.entries[call.s.devId]!;
    if (e.shortterm === 0) {
      call.s.waiting = false;
      return unbindRemove(x, null, call.s.devId);
    }
    // Woken, but someone took a new short-term reference since: wait again until the same deadline.
    if (ret.out?.woken) {
      unbindWaitArm(x, call);
      return 'wait';
    }
    // pr_crit("Time out waiting for iommufd object to become free"); iommufd_object_destroy_user's WARN_ON:
    // the device object stays in the table, unbound from its driver.
    call.s.waiting = false;
    reportWarn(x.c.world.kobj, `iommufd_device_unbind: timed out after ${call.s.ms} ms waiting for device ${call.s.devId} to become free (shortterm ${e.shortterm}); the object stays in the table`);
    if (!objData<DeviceData>(x.c, e).mock) x.d.fileRefs--;
    return 0;
  },
};
