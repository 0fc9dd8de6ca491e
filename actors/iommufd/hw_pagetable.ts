/**
 * HWPT_PAGING and HWPT_NESTED (Linux hw_pagetable.c): allocation in the
 * kernel's check order, the paging domain's life inside its IOAS, user
 * cache invalidation, and dirty tracking.
 *
 * A paging HWPT owns one hardware domain: the driver model decides its
 * parameters, the translation actor holds its page table, and the IOAS
 * mirrors every area into it (ioptAddDomain) for as long as the HWPT lives.
 */
import { hwptPagingMachine } from '../../machines/hwpt_paging.ts';
import { hwptNestedMachine } from '../../machines/hwpt_nested.ts';
import { defineObjectKind, invokeOp, type ObjSelf } from './object-actor.ts';
import { reportWarn } from './object.ts';
import { assertHeld, ioasMutex, mutexLock } from './locks.ts';
import { copyFromUser, type Call, type Ictx, type IoctlHandler, type Step } from './ioctl.ts';
import type { ObjEntry } from './object.ts';
import { shouldFail, type World } from '../world.ts';
import { translation } from '../hw/translation.ts';
import { allocDomainId, deviceSpec, hw, modelOf } from '../hw/state.ts';
import type { DomainParams, NestedDomainParams, AnyDomain, FlushOp, InvalidateRequest } from '../../hardware/models/index.ts';
import { applyNestedFlush } from '../hw/invalidate.ts';
import type { DeliveryContext } from '../runtime/actor.ts';
import { EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW } from '../../uapi/errno.ts';
import { checkUpfront } from '../../uapi/checks.ts';
import { encode } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DIRTY_TRACKING_ENABLE, IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
} from '../../uapi/enums.ts';
import { readUser, writeUser } from '../mm/process.ts';
import { ULONG_MAX } from './io_pagetable.ts';
import { MOCK_IOMMUPT_HUGE } from '../../uapi/enums.ts';
import { MOCK_IOMMUPT_HUGE_BLOCKS } from '../../hardware/pagetable/mock.ts';

export interface HwptPagingData {
  ioas: number;
  /** Hardware domain id (translation actor, io_pagetable domain id). */
  domain: number;
  params: DomainParams;
  /** Created by an attach to an IOAS (freed with its last device). */
  auto: boolean;
  /** Device attachments (per device and PASID) — the machine's guard reads it. */
  attached: number;
  fault: number;
  dirtyEnabled: boolean;
}

export interface HwptNestedData {
  /** Parent HWPT_PAGING id (legacy form) — also set in the vIOMMU form, reached through it. */
  parent: number;
  viommu: number;
  domain: number;
  /** The parent's hardware domain (stage 2). */
  parentDomain: number;
  params: NestedDomainParams;
  attached: number;
  fault: number;
}

/** The reference an HWPT drops when it goes: the IOAS (paging) or parent/vIOMMU (nested), and the FAULT. */
function dropRefs(o: ObjSelf, ids: number[]): void {
  for (const id of ids) if (id) o.request('unref', { id });
}

export const hwptPagingKind = defineObjectKind(hwptPagingMachine, {
  type: 'hwpt_paging',
  ops: {
    info: (o) => ({ errno: 0, out: { ...(o.data as HwptPagingData) } }),
    /** One more / one fewer device attachment (the users reference itself is the context's). */
    attach_count: (o, a: { delta: number }) => {
      (o.data as HwptPagingData).attached += a.delta;
      return { errno: 0, out: { attached: (o.data as HwptPagingData).attached } };
    },
    set_dirty: (o, a: { enable: boolean }) => {
      const d = o.data as HwptPagingData;
      const e = modelOf(o.world, d.params.iommu).setDirtyTracking(d.params, a.enable);
      if (e) return { errno: e };
      const tr = translation(o.c);
      // Enabling starts a clean interval: stale dirty bits from before must not be reported.
      if (a.enable && !d.dirtyEnabled) tr?.readDirty(d.domain, 0, 2 ** 53 - 1, false);
      // SMMUv3 HTTU (IO_PGTABLE_QUIRK_ARM_HD): hardware dirty update is always on from allocation
      // (arm_smmu_set_dirty_tracking is a no-op), only the bitmap is cleared when enabling.
      if (d.params.dirty?.enableBit !== 'cd.hd') tr?.setDirtyTracking(d.domain, a.enable);
      d.dirtyEnabled = a.enable;
      return { errno: 0 };
    },
  },
  destroy(o) {
    const d = o.data as HwptPagingData;
    // The domain leaves the IOAS (every area unmapped from it) before it is freed.
    if (o.data.joined !== false) invokeOp(o.c, actorOf(o, d.ioas), 'remove_domain', { domain: d.domain });
    if (d.auto) invokeOp(o.c, actorOf(o, d.ioas), 'auto_remove', { hwpt: o.context.id });
    translation(o.c)?.free(d.domain);
    delete hwDomains(o.world)[d.domain];
    delete hw(o.world).domainOwner[d.domain];
    if (!o.data.aborted) dropRefs(o, [d.ioas, d.fault]);
  },
});

export const hwptNestedKind = defineObjectKind(hwptNestedMachine, {
  type: 'hwpt_nested',
  ops: {
    info: (o) => ({ errno: 0, out: { ...(o.data as HwptNestedData) } }),
    attach_count: (o, a: { delta: number }) => {
      (o.data as HwptNestedData).attached += a.delta;
      return { errno: 0, out: { attached: (o.data as HwptNestedData).attached } };
    },
    invalidate: (o, a: UserArrayArgs) => {
      const d = o.data as HwptNestedData;
      const r = modelOf(o.world, d.params.iommu).invalidateHwpt(d.params, userArray(o.world, a));
      applyFlushes(o, d, r.flushes);
      return { errno: r.errno, out: { processed: r.processed } };
    },
  },
  destroy(o) {
    const d = o.data as HwptNestedData;
    translation(o.c)?.free(d.domain);
    delete hwDomains(o.world)[d.domain];
    delete hw(o.world).domainOwner[d.domain];
    if (!o.data.aborted) dropRefs(o, [d.viommu || d.parent, d.fault]);
  },
});

/** What a nested invalidation reached: mock IOTLB slots are part of the HWPT's state; the rest flush the hardware caches. */
function applyFlushes(o: ObjSelf, d: HwptNestedData, flushes: readonly FlushOp[]): void {
  const tr = translation(o.c);
  for (const f of flushes) {
    if (f.scope === 'mock-iotlb') {
      if (d.params.config.kind !== 'mock') continue;
      const slots = d.params.config.iotlb;
      if (f.all) slots.fill(0);
      else slots[f.index] = 0;
    } else if (tr) {
      applyNestedFlush(tr, d.domain, f);
    }
  }
}

/**
 * The user array as IOMMU_HWPT_INVALIDATE passes it on (struct
 * iommu_user_data_array): plain data in the op message, so the driver's
 * reads happen in the object's delivery, against the caller's memory as it
 * is then.
 */
export interface UserArrayArgs {
  dataType: number;
  entryLen: number;
  entryNum: number;
  uptr: bigint;
  pid: number;
}

/** The driver's view of the array: every read is a copy_from_user from the caller's mm. */
export function userArray(world: World, a: UserArrayArgs): InvalidateRequest {
  return {
    dataType: a.dataType,
    entryLen: a.entryLen,
    entryNum: a.entryNum,
    copy: (offset, len) => {
      if (len === 0) return new Uint8Array(0);
      const mm = world.mem.mms[a.pid];
      const r = mm ? readUser(world.mem, mm, a.uptr + BigInt(offset), len) : { errno: EFAULT };
      return 'errno' in r ? EFAULT : r.data;
    },
    alloc: () => !shouldFail(world, 'invalidate_cmds'),
  };
}

function actorOf(o: ObjSelf, id: number): string {
  const ctx = o.c.peek(o.context.ctx) as { context?: { data: { table: { entries: Record<number, ObjEntry> } } } } | undefined;
  const e = ctx?.context?.data.table.entries[id];
  if (!e) throw new Error(`object ${id} is not in ${o.context.ctx}`);
  return e.actor;
}

export function hwDomains(world: World): Record<number, AnyDomain> {
  return (world.kobj.hw as { domains: Record<number, AnyDomain> }).domains;
}

// ---------------------------------------------------------------- allocation

/** A device's DEVICE object data (device.ts keeps it; read here for the driver model). */
export function deviceDataOf(x: Ictx, devId: number): { dev: string; iommu: string } | null {
  const e = x.d.table.entries[devId];
  const a = e && (x.c.peek(e.actor) as { context?: { data: { dev: string; iommu: string } } } | undefined);
  return a?.context?.data ?? null;
}

export function objData<T>(c: DeliveryContext<World>, e: ObjEntry): T {
  const a = c.peek(e.actor) as { context?: { data: T } } | undefined;
  if (!a?.context) throw new Error(`object ${e.id} has no live actor`);
  return a.context.data;
}

/**
 * iommufd_hwpt_paging_alloc: driver domain, object, IOAS join.  Returns the
 * new (reserved, not yet finalized) HWPT entry or an errno.  `auto` HWPTs
 * come from device attach and use flags 0.
 */
export function hwptPagingAlloc(
  x: Ictx, ioas: ObjEntry, dev: { dev: string; iommu: string }, flags: number, auto: boolean, data?: { type: number; bytes: Uint8Array },
): ObjEntry | number {
  const spec = deviceSpec(x.c.world, dev.dev);
  if (!spec) return ENOENT;
  const model = modelOf(x.c.world, dev.iommu);
  if (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING && !model.dirtyCapable(spec)) return EOPNOTSUPP;
  // A nest parent never takes faults itself (its nested HWPTs do): the kernel
  // refuses the pair before allocating anything.
  if (flags & IOMMU_HWPT_FAULT_ID_VALID && flags & IOMMU_HWPT_ALLOC_NEST_PARENT) return EOPNOTSUPP;
  if (shouldFail(x.c.world, 'hwpt_alloc')) return ENOMEM;
  const r = model.allocPaging(flags & ~IOMMU_HWPT_FAULT_ID_VALID, spec, data);
  if ('errno' in r) return r.errno;
  const domain = allocDomainId(x.c.world);
  const params = r.domain;
  const hd: HwptPagingData = { ioas: ioas.id, domain, params, auto, attached: 0, fault: 0, dirtyEnabled: false };
  const e = x.alloc(hwptPagingKind, hd as unknown as Record<string, unknown>);
  if (typeof e === 'number') return e;
  hwDomains(x.c.world)[domain] = params;
  // The mock's HUGE page-table type also maps 1 MiB leaves; DEFAULT only the 2 KiB granule.
  const blocks = params.kind === 'mock' && params.mockPagetableType === MOCK_IOMMUPT_HUGE ? MOCK_IOMMUPT_HUGE_BLOCKS : undefined;
  // An HD-quirk (SMMUv3 DIRTY_TRACKING) table is built writable-clean (DBM) from the start.
  const tracking = params.dirtyTracking && params.dirty?.enableBit === 'cd.hd';
  translation(x.c)?.allocPaging(domain, params.iommu, params.formatId, { levels: params.levels, tracking, ...(blocks ? { blocks } : {}) });
  // B05 (spec/bugs.md, "Fix locking around hwpt allocation"): an automatic HWPT was linked and
  // attached with the IOAS mutex dropped before its domain was populated; the join (add_domain)
  // runs in a later delivery (attachIoas posts 'b05_populate' to the IOAS).
  if (auto && x.c.world.config.variant === 'B05') {
    x.incUsers(ioas.id);
    return e;
  }
  const join = invokeOp(x.c, ioas.actor, 'add_domain', { id: domain, pgsizeBitmap: params.pgsizeBitmap, apertureStart: params.apertureStart, apertureEnd: params.apertureEnd });
  if (join.errno) {
    objData<any>(x.c, e).joined = false;
    if (auto) {
      // The automatic path holds ioas->mutex (device.ts).  The abort op (70eadc7fc7ef "iommufd: Allow a
      // hwpt to be aborted after allocation") relies on that; B21's abort ran the normal destroy, which
      // takes the mutex again.
      const mutex = ioasMutex(x.actorId, ioas.id);
      if (x.c.world.config.variant === 'B21') mutexLock(x.c.world, mutex);
      else assertHeld(x.c.world, mutex);
    }
    abortHwpt(x, e);
    return join.errno;
  }
  x.incUsers(ioas.id);
  return e;
}

/** Creation failed after the object existed: free the domain and give the id back without dropping references never taken. */
export function abortHwpt(x: Ictx, e: ObjEntry): void {
  objData<any>(x.c, e).aborted = true;
  const fake = { id: 0, thread: '', pid: 0, cmd: 0, name: '', arg: new Uint8Array(0), userSize: 0, kbuf: new Uint8Array(0), refs: [], s: {} } as Call;
  x.abort(fake, e.id);
}

function nestedAlloc(x: Ictx, call: Call, cmd: any, dev: { dev: string; iommu: string }, parentE: ObjEntry): Step {
  const parent = objData<HwptPagingData>(x.c, parentE);
  if ((cmd.flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) !== 0) return EOPNOTSUPP;
  if (cmd.data_len === 0) return EOPNOTSUPP;
  // An automatic domain is never a nest parent; nor is one from another IOMMU instance.
  if (parent.auto || !parent.params.nestParent || parent.params.iommu !== dev.iommu) return EINVAL;
  const spec = deviceSpec(x.c.world, dev.dev)!;
  const bytes = copyFromUser(x, call, cmd.data_uptr, cmd.data_len);
  if (typeof bytes === 'number') return bytes;
  const r = modelOf(x.c.world, dev.iommu).allocNested(parent.params, cmd.data_type, bytes, spec, cmd.flags & ~IOMMU_HWPT_FAULT_ID_VALID, null);
  if ('errno' in r) return r.errno;
  const domain = allocDomainId(x.c.world);
  const nd: HwptNestedData = { parent: parentE.id, viommu: 0, domain, parentDomain: parent.domain, params: r.domain, attached: 0, fault: 0 };
  const e = x.alloc(hwptNestedKind, nd as unknown as Record<string, unknown>);
  if (typeof e === 'number') return e;
  hwDomains(x.c.world)[domain] = r.domain;
  installNested(x, domain, parent.domain, r.domain);
  x.incUsers(parentE.id);
  return finishAlloc(x, call, cmd, e);
}

/** The stage-1 configuration the engine walks: SMMUv3 CD table / VT-d first-level pointer in guest memory. */
export function installNested(x: Ictx, domain: number, parentDomain: number, p: NestedDomainParams): void {
  const tr = translation(x.c);
  if (!tr) return;
  const c = p.config;
  if (c.kind === 'smmuv3' && c.config === 's1') {
    const cdTable = Number((c.ste0 >> 6n) & ((1n << 50n) - 1n)) << 6;
    const s1cdmax = Number((c.ste0 >> 59n) & 0x1fn);
    tr.allocNested(domain, p.iommu, parentDomain, { type: 'smmuv3', cdTable, s1cdmax, ...(c.enableAts ? { ats: true as const } : {}) });
  } else if (c.kind === 'vtd') {
    tr.allocNested(domain, p.iommu, parentDomain, { type: 'vtd', flptr: Number(c.pgtblAddr), flpm: c.addrWidth === 57 ? 1 : 0 });
  }
}

/** FAULT_ID_VALID lookup, then the id is written back: the last steps of every HWPT_ALLOC. */
export function finishAlloc(x: Ictx, call: Call, cmd: any, e: ObjEntry): Step {
  if (cmd.flags & IOMMU_HWPT_FAULT_ID_VALID) {
    const f = x.get(call, cmd.fault_id, 'fault');
    if (typeof f === 'number') {
      abortWithRefs(x, e);
      return f;
    }
    x.incUsers(f.id);
    objData<any>(x.c, e).fault = f.id;
  }
  publishOwner(x, e);
  x.finalize(e.id);
  encode(S.iommu_hwpt_alloc, { out_hwpt_id: e.id }, call.kbuf);
  return 0;
}

/** Record where the hardware sends what it reports about this HWPT's domain. */
export function publishOwner(x: Ictx, e: ObjEntry): void {
  const d = objData<{ domain: number; fault: number; viommu?: number }>(x.c, e);
  const actor = (id: number) => (id ? x.d.table.entries[id]?.actor ?? '' : '');
  hw(x.c.world).domainOwner[d.domain] = { ctx: x.actorId, hwpt: e.id, faultActor: actor(d.fault), viommuActor: actor(d.viommu ?? 0) };
}

/** Abort of an HWPT that already took its parent reference: the normal destroy path drops it. */
function abortWithRefs(x: Ictx, e: ObjEntry): void {
  x.abort({ refs: [] } as unknown as Call, e.id);
}


export const hwptAllocIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    // B25 (spec/bugs.md, "iommufd: Reject non-zero data_type if no data_len is provided"): only data with type NONE was refused.
    if (x.c.world.config.variant === 'B25' ? cmd.data_type === IOMMU_HWPT_DATA_NONE && cmd.data_len !== 0 : (cmd.data_type === IOMMU_HWPT_DATA_NONE) !== (cmd.data_len === 0)) return EINVAL;
    const devE = x.get(call, cmd.dev_id, 'device');
    if (typeof devE === 'number') return devE;
    const dev = deviceDataOf(x, cmd.dev_id)!;
    // Any failure to find pt_id is EINVAL here, not ENOENT.
    const pt = x.get(call, cmd.pt_id, 'any');
    if (typeof pt === 'number') return EINVAL;
    if (pt.type === 'ioas') {
      if (cmd.flags & ~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) return EOPNOTSUPP;
      const data = cmd.data_len ? copyFromUser(x, call, cmd.data_uptr, cmd.data_len) : undefined;
      if (typeof data === 'number') return data;
      const h = hwptPagingAlloc(x, pt, dev, cmd.flags, false, data ? { type: cmd.data_type, bytes: data } : undefined);
      if (typeof h === 'number') return h;
      return finishAlloc(x, call, cmd, h);
    }
    if (pt.type === 'hwpt_paging') return nestedAlloc(x, call, cmd, dev, pt);
    if (pt.type === 'viommu') {
      const alloc = VIOMMU_NESTED_ALLOC.fn;
      return alloc ? alloc(x, call, cmd, dev, pt) : EOPNOTSUPP;
    }
    return EINVAL;
  },
};

/** The vIOMMU form of nested allocation is provided by viommu.ts (kept there, with the vIOMMU). */
export const VIOMMU_NESTED_ALLOC: { fn: ((x: Ictx, call: Call, cmd: any, dev: { dev: string; iommu: string }, viommu: ObjEntry) => Step) | null } = { fn: null };

export const hwptInvalidateIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    encode(S.iommu_hwpt_invalidate, { entry_num: 0 }, call.kbuf);
    if (cmd.entry_num !== 0 && (cmd.data_uptr === 0n || cmd.entry_len === 0)) return { errno: EINVAL, respond: true };
    const obj = x.get(call, cmd.hwpt_id, 'any');
    if (typeof obj === 'number') return { errno: obj, respond: true };
    if (obj.type !== 'hwpt_nested' && obj.type !== 'viommu') return { errno: EINVAL, respond: true };
    // The core copies nothing: each driver reads the array itself (per entry, or all of it first).
    const a: UserArrayArgs = { dataType: cmd.data_type, entryLen: cmd.entry_len, entryNum: cmd.entry_num, uptr: cmd.data_uptr, pid: call.pid };
    x.send(call, obj.id, 'invalidate', a);
    return 'wait';
  },
  resume(_x, call, ret) {
    encode(S.iommu_hwpt_invalidate, { entry_num: ret.out?.processed ?? 0 }, call.kbuf);
    return { errno: ret.errno, respond: true };
  },
};

export const hwptSetDirtyIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    const h = x.get(call, cmd.hwpt_id, 'hwpt_paging');
    if (typeof h === 'number') return h;
    if (!objData<HwptPagingData>(x.c, h).params.dirtyTracking) return EOPNOTSUPP;
    x.send(call, h.id, 'set_dirty', { enable: (cmd.flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE) !== 0 });
    return 'wait';
  },
  resume: (_x, _call, ret) => ret.errno,
};

export const hwptGetDirtyIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    const h = x.get(call, cmd.hwpt_id, 'hwpt_paging');
    if (typeof h === 'number') return h;
    const d = objData<HwptPagingData>(x.c, h);
    const { iova, length, page_size: pageSize } = cmd as { iova: bigint; length: bigint; page_size: bigint };
    const last = iova + length - 1n;
    if (length === 0n || last > ULONG_MAX) return EOVERFLOW;
    const ioasE = x.d.table.entries[d.ioas]!;
    const align = BigInt(invokeOp(x.c, ioasE.actor, 'alignment', {}).out!.iovaAlignment as number);
    if (iova % align || (iova + length) % align) return EINVAL;
    if (pageSize === 0n || iova % pageSize || (iova + length) % pageSize) return EINVAL;
    if (!d.params.dirtyTracking) return EOPNOTSUPP;
    const model = modelOf(x.c.world, d.params.iommu);
    if (!d.dirtyEnabled && d.params.dirty?.readWhileDisabled === 'einval') return EINVAL;
    const noClear = (cmd.flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) !== 0;
    void model;
    if (x.c.world.config.variant === 'B13' && b13BitmapIndex(x, length, pageSize) < 0n) return EFAULT;
    const dirty = translation(x.c)?.readDirty(d.domain, Number(iova), Number(length), noClear) ?? [];
    return writeBitmap(x, call, cmd.data, iova, length, pageSize, dirty);
  },
};

/**
 * B13 (spec/bugs.md; cb30dfa75d55 "iommufd: Don't overflow during division
 * for dirty tracking"): iova_bitmap_alloc's iova_bitmap_offset_to_index
 * divided by BITS_PER_TYPE(u64) * page_size in unsigned long arithmetic,
 * which is 0 for page_size 1 << 63: a divide error.  The fix shifts first,
 * (iova >> pgshift) / 64.  The model writes bits directly and needs neither.
 */
function b13BitmapIndex(x: Ictx, length: bigint, pageSize: bigint): bigint {
  const divisor = (64n * pageSize) & ULONG_MAX;
  if (divisor !== 0n) return (length - 1n) / divisor;
  // The oops kills the calling task; the model records it and fails the call so the run can report it.
  reportWarn(x.c.world.kobj, `Oops: divide error in iova_bitmap_offset_to_index (64 * page_size 0x${pageSize.toString(16)} wrapped to 0)`);
  return -1n;
}

/** OR the dirty ranges into the user's bitmap: bit n stands for IOVA iova + n * page_size. */
function writeBitmap(x: Ictx, call: Call, uptr: bigint, iova: bigint, length: bigint, pageSize: bigint, dirty: { iova: number; size: number }[]): Step {
  const nbits = Number(length / pageSize);
  const nbytes = Math.ceil(nbits / 64) * 8;
  const mm = x.c.world.mem.mms[call.pid];
  const cur = mm ? readUser(x.c.world.mem, mm, uptr, nbytes) : { errno: EFAULT };
  if ('errno' in cur) return EFAULT;
  const bm = cur.data.slice();
  for (const r of dirty) {
    const lo = BigInt(r.iova) < iova ? iova : BigInt(r.iova);
    const hiEnd = BigInt(r.iova + r.size) > iova + length ? iova + length : BigInt(r.iova + r.size);
    for (let b = (lo - iova) / pageSize; b * pageSize + iova < hiEnd; b++) bm[Number(b >> 3n)]! |= 1 << Number(b & 7n);
  }
  return writeUser(x.c.world.mem, mm!, uptr, bm) ? EFAULT : 0;
}
