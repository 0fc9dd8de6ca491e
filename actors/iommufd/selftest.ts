/**
 * IOMMU_TEST_CMD (Linux drivers/iommu/iommufd/selftest.c,
 * mock-and-selftest.md §2): the test-build ioctl that creates mock devices on
 * the mock IOMMU, checks what the mock domains map, drives an in-kernel
 * access (pin / rw) through an fd, injects dirty bits, and attaches PASIDs.
 *
 * Objects made here:
 * - SELFTEST ("stdev", MOCK_DOMAIN): owns one mock device bound to this
 *   iommufd.  Its destroy asks the context to detach and unbind the device
 *   (a request, since unbind is a context-level operation) and waits for the
 *   answer, so IOMMU_DESTROY of a stdev returns with the device gone.
 * - ACCESS (CREATE_ACCESS): an iommufd access attached to an IOAS, reached
 *   through an fd of kind 'access'.  The fd holds the iommufd file; closing
 *   it unpins every item and destroys the access.
 *
 * Ops that talk to several objects (pin, attach) run synchronously inside the
 * context's delivery (invokeOp), as the kernel runs them under its locks.
 */
import { selftestMachine } from '../../machines/selftest.ts';
import { accessMachine } from '../../machines/access.ts';
import { defineObjectKind, invokeOp } from './object-actor.ts';
import type { Call, Ictx, IoctlHandler, Step } from './ioctl.ts';
import { objRemove, type ObjEntry } from './object.ts';
import { deviceAttach, deviceBind, deviceDetach, deviceUnbind, type DeviceData } from './device.ts';
import { objData, type HwptNestedData, type HwptPagingData } from './hw_pagetable.ts';
import { hw } from '../hw/state.ts';
import { translation } from '../hw/translation.ts';
import { DeviceActor, deviceActorId } from '../hw/device.ts';
import type { DeliveryContext } from '../runtime/actor.ts';
import { allocFd, shouldFail, type World } from '../world.ts';
import { registerFileKind } from '../kernel.ts';
import { inHugePage, lookupPfn, rangeAccessible, readUser, writeUser, PROT_READ } from '../mm/process.ts';
import { framePins, PAGE_SIZE } from '../../hardware/physmem.ts';
import { dmabufCreate, getDmabuf } from '../mm/dmabuf.ts';
import { dmabufMoveNotify } from './dmabuf.ts';
import { ioptEnv } from './ioas.ts';
import type { DeviceSpec } from '../../hardware/topology.ts';
import { decode, encode } from '../../uapi/layout.ts';
import { testOpEntry } from '../../uapi/dispatch.ts';
import * as S from '../../uapi/structs.ts';
import * as E from '../../uapi/enums.ts';
import {
  EBADE, EBADF, EBADFD, EFAULT, EINVAL, EIO, ENODEV, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW,
} from '../../uapi/errno.ts';

const PAGE = BigInt(PAGE_SIZE);
const U64_MAX = 0xffffffffffffffffn;
const MOCK_IO_PAGE = BigInt(E.MOCK_PAGE_SIZE);
/** ACCESS_PAGES / ACCESS_RW refuse more than this before allocating (a WARN in kvzalloc otherwise). */
const ACCESS_MAX_LENGTH = 16n * 1024n * 1024n;
/** SET_TEMP_MEMORY_LIMIT below this is refused (spec §2.4). */
const MEMORY_LIMIT_MIN = 12;

// ---------------------------------------------------------------- shared selftest state

/** Global selftest state (the kernel's statics and each mock_dev's fields), in the world. */
export interface SelftestState {
  /** iommufd_test_memory_limit: global, survives every close. */
  memoryLimit: number;
  /** Per mock device (by topology id): the "PASID 1024 fake error" latch. */
  mockDevs: Record<string, { pasid1024: boolean }>;
}

export function selftestState(world: World): SelftestState {
  return (world.kobj.selftest ??= { memoryLimit: E.MOCK_TEMP_MEMORY_LIMIT_DEFAULT, mockDevs: {} }) as SelftestState;
}

// ---------------------------------------------------------------- SELFTEST object (stdev)

export interface SelftestData {
  /** DEVICE object id of the mock device and its topology id (iommufd_mock<N>). */
  devId: number;
  dev: string;
  aborted?: boolean;
}

export const selftestKind = defineObjectKind(selftestMachine, {
  type: 'selftest',
  ops: {
    info: (o) => ({ errno: 0, out: { ...(o.data as SelftestData) } }),
  },
  destroy(o) {
    const d = o.data as SelftestData;
    if (d.aborted || (o.env.body as { abort?: boolean })?.abort) return;
    // iommufd_selftest_destroy: detach, unbind, mock_dev_destroy — the context does it and answers.
    o.expect(1);
    o.request('selftest.unbind', { devId: d.devId, dev: d.dev });
  },
});

/**
 * The context's half of a stdev's destroy: unbind the mock device (which
 * detaches it; an automatic HWPT left without devices goes too) and remove
 * the device from the mock IOMMU.  Objects whose destroy this starts during
 * the context's release count as part of the current release pass.
 */
export const selftestUnbindRequest: IoctlHandler = {
  start(x, _call, b: { devId: number; dev: string }) {
    const before = x.d.table.count;
    const e = deviceUnbind(x, null, b.devId);
    if (x.d.releasing) x.d.releasing.live += before - x.d.table.count;
    removeMockDevice(x.c, b.dev);
    return e;
  },
};

function removeMockDevice(c: DeliveryContext<World>, dev: string): void {
  const world = c.world;
  // The device end stays, unplugged: page responses for its pending faults may still be on
  // their way (the unbind answered them INVALID) and are dropped there, as hardware that is
  // gone drops them; retiring it here made them dead letters.
  const d = c.peek(deviceActorId(dev)) as DeviceActor | undefined;
  if (d) d.st.unplugged = true;
  const h = hw(world);
  h.topology.devices = h.topology.devices.filter((d) => d.id !== dev);
  delete selftestState(world).mockDevs[dev];
}

/** mock_dev_create: a new device on the mock IOMMU, named like the kernel's. */
function createMockDevice(c: DeliveryContext<World>, flags: number): string | number {
  if (flags & ~E.MOCK_FLAGS_DEVICE_VALID) return EINVAL;
  const world = c.world;
  const h = hw(world);
  const iommu = h.topology.iommus.find((m) => m.kind === 'mock');
  if (!iommu) return ENODEV;
  const name = `iommufd_mock${h.nextMockDevice++}`;
  const group = 1 + h.topology.devices.reduce((m, d) => Math.max(m, d.group), 0x10000);
  const spec: DeviceSpec = {
    id: name, iommu: iommu.id, group, pasid: 0, pri: false, ats: false, reservedRegions: [],
    cacheCoherent: true, msiIsolated: true, mockFlags: flags,
  };
  h.topology.devices.push(spec);
  h.bound[name] = null;
  selftestState(world).mockDevs[name] = { pasid1024: false };
  // The device end (page responses, DMA bursts); the mock's page-response hook does nothing else.
  c.spawn(DeviceActor.create(name));
  return name;
}

/** MOCK_DOMAIN / MOCK_DOMAIN_FLAGS: the stdev id is taken first, as iommufd_test_mock_domain does. */
function mockDomain(x: Ictx, call: Call, ptId: number, flags: number, member: 'mock_domain' | 'mock_domain_flags'): Step {
  if (flags & ~E.MOCK_FLAGS_DEVICE_VALID) return EINVAL;
  const data: SelftestData = { devId: 0, dev: '' };
  const so = x.alloc(selftestKind, data as unknown as Record<string, unknown>);
  if (typeof so === 'number') return so;
  const abort = (errno: number): Step => {
    objData<SelftestData>(x.c, so).aborted = true;
    x.abort(call, so.id);
    return errno;
  };
  const dev = createMockDevice(x.c, flags);
  if (typeof dev === 'number') return abort(dev);
  const idev = deviceBind(x, dev, { mock: true });
  if (typeof idev === 'number') {
    removeMockDevice(x.c, dev);
    return abort(idev);
  }
  const r = deviceAttach(x, call, idev.id, ptId, 0, false);
  if (r.errno) {
    deviceUnbind(x, null, idev.id);
    removeMockDevice(x.c, dev);
    return abort(r.errno);
  }
  const sd = objData<SelftestData>(x.c, so);
  sd.devId = idev.id;
  sd.dev = dev;
  x.finalize(so.id);
  encode(S.iommu_test_cmd_views[member], { [member]: { out_stdev_id: so.id, out_hwpt_id: r.ptId, out_idev_id: idev.id } } as never, call.kbuf);
  return 0;
}

/** iommufd_test_get_selftest_obj: the stdev and its device. */
function stdevOf(x: Ictx, call: Call, id: number): { so: SelftestData; devId: number } | number {
  const e = x.get(call, id, 'selftest');
  if (typeof e === 'number') return e;
  const so = objData<SelftestData>(x.c, e);
  return { so, devId: so.devId };
}

// ---------------------------------------------------------------- ACCESS object

export interface AccessItem {
  id: number;
  iova: bigint;
  length: bigint;
}

export interface AccessData {
  /** The IOAS the access is attached to (0: none). */
  ioas: number;
  needsPin: boolean;
  /** Pinned ranges ("access pages items"); ids start at 0 and are never reused. */
  items: AccessItem[];
  nextItem: number;
  aborted?: boolean;
}

const overlaps = (it: AccessItem, iova: bigint, last: bigint) => it.iova <= last && it.iova + it.length - 1n >= iova;

export const accessKind = defineObjectKind(accessMachine, {
  type: 'access',
  ops: {
    add_item: (o, a: { iova: bigint; length: bigint }) => {
      const d = o.data as AccessData;
      const id = d.nextItem++;
      d.items.push({ id, iova: a.iova, length: a.length });
      return { errno: 0, out: { id } };
    },
    take_item: (o, a: { id: number }) => {
      const d = o.data as AccessData;
      const i = d.items.findIndex((it) => it.id === a.id);
      if (i < 0) return { errno: ENOENT };
      const [it] = d.items.splice(i, 1);
      return { errno: 0, out: { item: it } };
    },
    /** The IOAS unpinned every pin of this access overlapping the range (the unmap callback). */
    unmapped: (o, a: { iova: bigint; length: bigint }) => {
      const d = o.data as AccessData;
      const last = a.iova + a.length - 1n;
      d.items = d.items.filter((it) => !overlaps(it, a.iova, last));
      return { errno: 0 };
    },
    set_ioas: (o, a: { ioas: number }) => {
      (o.data as AccessData).ioas = a.ioas;
      return { errno: 0 };
    },
  },
  /** Its fd was closed (last reference): ask the context to destroy it. */
  event(o, b: { type: string }) {
    if (b.type === 'fd.release') o.request('access.release', {});
  },
  destroy(o) {
    if ((o.data as AccessData).aborted) return;
    // The context answers the release request after starting this destroy.
    o.expect(1);
  },
  finish(o) {
    // The access held the iommufd file (iommufd_ctx_get in iommufd_access_create).
    if (!(o.data as AccessData).aborted) o.post(o.context.ctx, 'internal', 'file.ref', { delta: -1 });
  },
});

registerFileKind('access', (ctx, _file, desc) => {
  if (desc.kind === 'access') ctx.post(desc.actor, 'internal', 'event', { type: 'fd.release' });
});

function ioasActor(x: Ictx, id: number): string {
  return x.d.table.entries[id]!.actor;
}

/** The access's unmap callback for everything: unpin and forget every item. */
function unpinAll(x: Ictx, access: ObjEntry, d: AccessData): void {
  if (!d.ioas) return;
  for (const it of [...d.items]) {
    invokeOp(x.c, ioasActor(x, d.ioas), 'access_unpin', { access: access.id, iova: it.iova, length: it.length });
    invokeOp(x.c, access.actor, 'take_item', { id: it.id });
  }
}

/** iommufd_test_staccess_release + iommufd_access_destroy. */
export const accessReleaseRequest: IoctlHandler = {
  start(x, call, b: { from: number }) {
    const e = x.d.table.entries[b.from];
    if (!e || e.type !== 'access') return ENOENT;
    const d = objData<AccessData>(x.c, e);
    unpinAll(x, e, d);
    if (d.ioas) {
      invokeOp(x.c, ioasActor(x, d.ioas), 'access_detach', { access: e.id });
      x.decUsers(d.ioas);
      invokeOp(x.c, e.actor, 'set_ioas', { ioas: 0 });
    }
    x.decUsers(e.id);
    const r = objRemove(x.d.table, e.id);
    if (typeof r === 'number') return r;
    // destroy.done carries this call's id, so it is neither a DESTROY's nor a release pass's.
    x.destroy(call, r);
    return 0;
  },
};

/** The IOAS dropped an access's pins for an unmap (ioas.ts notifyAccesses): forget those items. */
export const accessUnmappedRequest: IoctlHandler = {
  start(x, _call, b: { access: number; iova: bigint; length: bigint }) {
    const e = x.d.table.entries[b.access];
    if (e && e.type === 'access' && x.c.has(e.actor)) invokeOp(x.c, e.actor, 'unmapped', { iova: b.iova, length: b.length });
    return 0;
  },
};

/** iommufd_access_get: the fd must be an access fd of this context. */
function accessOf(x: Ictx, call: Call, fd: number): { e: ObjEntry; d: AccessData } | number {
  const file = x.c.world.procs[call.pid]?.fds[fd];
  const desc = file === undefined ? undefined : x.c.world.files[file];
  if (!desc || desc.kind !== 'access' || desc.ctx !== x.actorId) return EBADFD;
  const e = x.get(call, desc.objId, 'access');
  if (typeof e === 'number') return EBADFD;
  return { e, d: objData<AccessData>(x.c, e) };
}

function createAccess(x: Ictx, call: Call, ioasId: number, flags: number): Step {
  if (flags & ~E.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) return EOPNOTSUPP;
  const proc = x.c.world.procs[call.pid];
  if (!proc) return EBADFD;
  const needsPin = (flags & E.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0;
  const data: AccessData = { ioas: 0, needsPin, items: [], nextItem: 0 };
  const e = x.alloc(accessKind, data as unknown as Record<string, unknown>);
  if (typeof e === 'number') return e;
  const fail = (errno: number): Step => {
    objData<AccessData>(x.c, e).aborted = true;
    x.abort(call, e.id);
    return errno;
  };
  // iommufd_access_attach
  const ioas = x.get(call, ioasId, 'ioas');
  if (typeof ioas === 'number') return fail(ioas);
  const r = invokeOp(x.c, ioas.actor, 'access_attach', { access: e.id, iovaAlignment: needsPin ? PAGE_SIZE : 1 });
  if (r.errno) return fail(r.errno);
  x.incUsers(ioas.id);
  invokeOp(x.c, e.actor, 'set_ioas', { ioas: ioas.id });
  x.finalize(e.id);
  // The driver (the fd) holds the access, and the access holds the iommufd file.
  x.incUsers(e.id);
  x.d.fileRefs++;
  const file = x.c.world.nextFile++;
  x.c.world.files[file] = { kind: 'access', actor: e.actor, ctx: x.actorId, objId: e.id, refs: 1 };
  const fd = allocFd(proc, file);
  encode(S.iommu_test_cmd_views.create_access, { create_access: { out_access_fd: fd } }, call.kbuf);
  return 0;
}

/** iommufd_test_syz_conv_iova: {u32 nth_area, u32 offset} → start of that area + offset (0 if none). */
function syzIova(x: Ictx, d: AccessData, iova: bigint): bigint {
  if (!d.ioas) return 0n;
  const nth = Number(iova & 0xffffffffn);
  const offset = iova >> 32n;
  return invokeOp(x.c, ioasActor(x, d.ioas), 'syz_iova', { nth, offset }).out!.iova as bigint;
}

function accessPages(x: Ictx, call: Call, fd: number, a: { flags: number; iova: bigint; length: bigint; uptr: bigint }): Step {
  if (a.length > ACCESS_MAX_LENGTH) return ENOMEM;
  if (a.flags & ~(E.MOCK_FLAGS_ACCESS_WRITE | E.MOCK_FLAGS_ACCESS_SYZ)) return EOPNOTSUPP;
  const acc = accessOf(x, call, fd);
  if (typeof acc === 'number') return acc;
  const { e, d } = acc;
  if (!d.needsPin) return EOPNOTSUPP;
  const iova = a.flags & E.MOCK_FLAGS_ACCESS_SYZ ? syzIova(x, d, a.iova) : a.iova;
  // iommufd_access_pin_pages
  if (a.length === 0n) return EINVAL;
  if (iova + a.length - 1n > U64_MAX) return EOVERFLOW;
  if (!d.ioas) return ENOENT;
  const write = (a.flags & E.MOCK_FLAGS_ACCESS_WRITE) !== 0;
  const pin = invokeOp(x.c, ioasActor(x, d.ioas), 'access_pin', { access: e.id, iova, length: a.length, write });
  if (pin.errno) return pin.errno;
  const unpin = () => invokeOp(x.c, ioasActor(x, d.ioas), 'access_unpin', { access: e.id, iova, length: a.length });
  if (a.uptr !== 0n) {
    // iommufd_test_check_pages: every pinned page is the one backing the user's buffer.
    const pfns = pin.out!.pfns as number[];
    const mm = x.c.world.mem.mms[call.pid];
    let va = a.uptr - (iova - (iova & ~(PAGE - 1n)));
    for (const pfn of pfns) {
      const e2 = !mm || !rangeAccessible(mm, va, 1n, PROT_READ) ? EFAULT : lookupPfn(x.c.world.mem, mm, va) !== pfn ? EBADE : 0;
      if (e2) {
        unpin();
        return e2;
      }
      va += PAGE;
    }
  }
  const id = invokeOp(x.c, e.actor, 'add_item', { iova, length: a.length }).out!.id as number;
  encode(S.iommu_test_cmd_views.access_pages, { access_pages: { out_access_pages_id: id } }, call.kbuf);
  return 0;
}

function destroyAccessPages(x: Ictx, call: Call, fd: number, itemId: number): Step {
  const acc = accessOf(x, call, fd);
  if (typeof acc === 'number') return acc;
  const t = invokeOp(x.c, acc.e.actor, 'take_item', { id: itemId });
  if (t.errno) return t.errno;
  const it = t.out!.item as AccessItem;
  if (acc.d.ioas) invokeOp(x.c, ioasActor(x, acc.d.ioas), 'access_unpin', { access: acc.e.id, iova: it.iova, length: it.length });
  return 0;
}

function accessRw(x: Ictx, call: Call, fd: number, a: { iova: bigint; length: bigint; uptr: bigint; flags: number }): Step {
  if (a.length > ACCESS_MAX_LENGTH) return ENOMEM;
  if (a.flags & ~(E.MOCK_ACCESS_RW_WRITE | E.MOCK_ACCESS_RW_SLOW_PATH | E.MOCK_FLAGS_ACCESS_SYZ)) return EOPNOTSUPP;
  const acc = accessOf(x, call, fd);
  if (typeof acc === 'number') return acc;
  const mm = x.c.world.mem.mms[call.pid];
  if (!mm) return EFAULT;
  const write = (a.flags & E.MOCK_ACCESS_RW_WRITE) !== 0;
  let buf: Uint8Array = new Uint8Array(Number(a.length));
  if (write) {
    const r = readUser(x.c.world.mem, mm, a.uptr, buf.length);
    if ('errno' in r) return EFAULT;
    buf = r.data;
  }
  const iova = a.flags & E.MOCK_FLAGS_ACCESS_SYZ ? syzIova(x, acc.d, a.iova) : a.iova;
  // iommufd_access_rw: the slow path (page by page) gives the same result as the fast one.
  if (a.length === 0n) return EINVAL;
  if (iova + a.length - 1n > U64_MAX) return EOVERFLOW;
  if (!acc.d.ioas) return ENOENT;
  const e = invokeOp(x.c, ioasActor(x, acc.d.ioas), 'access_rw', { iova, buf, write }).errno;
  if (e) return e;
  if (!write && writeUser(x.c.world.mem, mm, a.uptr, buf)) return EFAULT;
  return 0;
}

/** iommufd_access_replace: the old IOAS's pins go through the unmap callback. */
function accessReplaceIoas(x: Ictx, call: Call, fd: number, ioasId: number): Step {
  const acc = accessOf(x, call, fd);
  if (typeof acc === 'number') return acc;
  const { e, d } = acc;
  if (!d.ioas) return ENOENT;
  const pt = x.get(call, ioasId, 'any');
  if (typeof pt === 'number') return pt;
  if (pt.type !== 'ioas') return EINVAL;
  if (pt.id === d.ioas) return 0;
  const r = invokeOp(x.c, pt.actor, 'access_attach', { access: e.id, iovaAlignment: d.needsPin ? PAGE_SIZE : 1 });
  if (r.errno) return r.errno;
  x.incUsers(pt.id);
  unpinAll(x, e, d);
  invokeOp(x.c, ioasActor(x, d.ioas), 'access_detach', { access: e.id });
  x.decUsers(d.ioas);
  invokeOp(x.c, e.actor, 'set_ioas', { ioas: pt.id });
  return 0;
}

// ---------------------------------------------------------------- mock domain checks

/** get_md_pagetable: a HWPT_PAGING (ENOENT otherwise) whose domain is the mock's (EINVAL otherwise). */
function mockPaging(x: Ictx, call: Call, id: number): HwptPagingData | number {
  const e = x.get(call, id, 'hwpt_paging');
  if (typeof e === 'number') return e;
  const d = objData<HwptPagingData>(x.c, e);
  return d.params.kind === 'mock' ? d : EINVAL;
}

/** Physical address the user byte at `va` is backed by right now (GUP without FOLL_WRITE), or an errno. */
function userPhys(x: Ictx, pid: number, va: bigint): { pa: number } | { errno: number } {
  const mm = x.c.world.mem.mms[pid];
  if (!mm || !rangeAccessible(mm, va, 1n, PROT_READ)) return { errno: EFAULT };
  const pfn = lookupPfn(x.c.world.mem, mm, va);
  return { pa: pfn < 0 ? -1 : pfn * PAGE_SIZE + Number(va % PAGE) };
}

function checkMap(x: Ictx, call: Call, id: number, a: { iova: bigint; length: bigint; uptr: bigint }): Step {
  if (a.iova % MOCK_IO_PAGE || a.length % MOCK_IO_PAGE || a.uptr % MOCK_IO_PAGE || a.uptr + a.length > U64_MAX) return EINVAL;
  const d = mockPaging(x, call, id);
  if (typeof d === 'number') return d;
  const ranges = translation(x.c)?.dump(d.domain) ?? [];
  let ri = 0;
  for (let off = 0n; off < a.length; off += MOCK_IO_PAGE) {
    const u = userPhys(x, call.pid, a.uptr + off);
    if ('errno' in u) return u.errno;
    const iova = Number(a.iova + off);
    while (ri < ranges.length && ranges[ri]!.last < iova) ri++;
    const m = ranges[ri];
    const io = m && m.iova <= iova ? m.pa + (iova - m.iova) : -1;
    if (u.pa < 0 || io !== u.pa) return EINVAL;
  }
  return 0;
}

function checkRefs(x: Ictx, call: Call, a: { length: bigint; uptr: bigint; refs: number }): Step {
  if (a.length % PAGE || a.uptr % PAGE || a.uptr + a.length > U64_MAX) return EINVAL;
  const mm = x.c.world.mem.mms[call.pid];
  for (let off = 0n; off < a.length; off += PAGE) {
    const va = a.uptr + off;
    if (!mm || !rangeAccessible(mm, va, 1n, PROT_READ)) return EFAULT;
    // Pages of a compound (hugetlb) page are skipped: their pin counts live on the head page.
    if (inHugePage(mm, va)) continue;
    const pfn = lookupPfn(x.c.world.mem, mm, va);
    if ((pfn < 0 ? 0 : framePins(x.c.world.mem.pm, pfn)) !== a.refs) return EIO;
  }
  return 0;
}

function dirty(x: Ictx, call: Call, id: number, a: { iova: bigint; length: bigint; page_size: bigint; uptr: bigint }): Step {
  const ps = a.page_size;
  if (ps === 0n || a.length === 0n || a.iova % ps || a.length % ps || a.uptr === 0n) return EINVAL;
  const d = mockPaging(x, call, id);
  if (typeof d === 'number') return d;
  if (!d.params.dirtyTracking || !d.dirtyEnabled) return EINVAL;
  const max = Number(a.length / ps);
  const mm = x.c.world.mem.mms[call.pid];
  const r = mm ? readUser(x.c.world.mem, mm, a.uptr, Math.ceil(max / 8)) : { errno: EFAULT };
  if ('errno' in r) return EFAULT;
  const tr = translation(x.c);
  let count = 0;
  for (let i = 0; i < max; i++) {
    if (!(r.data[i >> 3]! & (1 << (i & 7)))) continue;
    tr?.markDirty(d.domain, Number(a.iova + BigInt(i) * ps));
    count++;
  }
  encode(S.iommu_test_cmd_views.dirty, { dirty: { out_nr_dirty: BigInt(count) } }, call.kbuf);
  return 0;
}

function checkIotlb(x: Ictx, call: Call, id: number, a: { id: number; iotlb: number }): Step {
  const e = x.get(call, id, 'hwpt_nested');
  if (typeof e === 'number') return e;
  const c = objData<HwptNestedData>(x.c, e).params.config;
  if (c.kind !== 'mock') return EINVAL;
  return a.id > E.MOCK_NESTED_DOMAIN_IOTLB_ID_MAX || c.iotlb[a.id] !== a.iotlb ? EINVAL : 0;
}

/** The device's cache slots: kept by the vIOMMU that invalidated them (viommu.ts), default until then. */
function devCache(x: Ictx, dev: string): number[] {
  for (const k of Object.keys(x.d.table.entries)) {
    const e = x.d.table.entries[Number(k)]!;
    if (e.type !== 'viommu' || !x.c.has(e.actor)) continue;
    const slots = objData<{ devCache?: Record<string, number[]> }>(x.c, e).devCache?.[dev];
    if (slots) return slots;
  }
  return new Array<number>(E.MOCK_DEV_CACHE_NUM).fill(E.IOMMU_TEST_DEV_CACHE_DEFAULT);
}

function checkDevCache(x: Ictx, call: Call, id: number, a: { id: number; cache: number }): Step {
  const e = x.get(call, id, 'device');
  if (typeof e === 'number') return e;
  const d = objData<DeviceData>(x.c, e);
  if (!d.mock) return EINVAL;
  return a.id > E.MOCK_DEV_CACHE_ID_MAX || devCache(x, d.dev)[a.id] !== a.cache ? EINVAL : 0;
}

// ---------------------------------------------------------------- PASID ops

/** mock_domain_set_dev_pasid_nop's latch: the second non-blocked attach of PASID 1024 fails ENOMEM. */
function pasid1024Latch(x: Ictx, dev: string, pasid: number): number {
  if (pasid !== E.IOMMU_TEST_PASID_RESERVED) return 0;
  const st = selftestState(x.c.world).mockDevs[dev];
  if (!st) return 0;
  if (st.pasid1024) {
    st.pasid1024 = false;
    return ENOMEM;
  }
  return 0;
}

function pasidAttach(x: Ictx, call: Call, id: number, a: { pasid: number; pt_id: number }, replace: boolean): Step {
  const s = stdevOf(x, call, id);
  if (typeof s === 'number') return s;
  const devE = x.d.table.entries[s.devId]!;
  const dev = objData<DeviceData>(x.c, devE);
  // The driver's fake error only happens once the core lets the (re)attach reach it.
  if (a.pasid === E.IOMMU_TEST_PASID_RESERVED && (replace ? dev.attach[a.pasid] !== undefined : dev.attach[a.pasid] === undefined)) {
    const le = pasid1024Latch(x, s.so.dev, a.pasid);
    if (le) return le;
  }
  const r = deviceAttach(x, call, s.devId, a.pt_id, a.pasid, replace);
  if (r.errno) return r.errno;
  if (a.pasid === E.IOMMU_TEST_PASID_RESERVED) {
    const st = selftestState(x.c.world).mockDevs[s.so.dev];
    if (st) st.pasid1024 = true;
  }
  const member = replace ? 'pasid_replace' : 'pasid_attach';
  encode(S.iommu_test_cmd_views[member], { [member]: { pt_id: r.ptId } } as never, call.kbuf);
  return 0;
}

function pasidDetach(x: Ictx, call: Call, id: number, pasid: number): Step {
  const s = stdevOf(x, call, id);
  if (typeof s === 'number') return s;
  deviceDetach(x, s.devId, pasid);
  // Attaching the blocked domain clears the PASID 1024 latch.
  if (pasid === E.IOMMU_TEST_PASID_RESERVED) {
    const st = selftestState(x.c.world).mockDevs[s.so.dev];
    if (st) st.pasid1024 = false;
  }
  return 0;
}

function pasidCheck(x: Ictx, call: Call, id: number, a: { pasid: number; hwpt_id: number }): Step {
  const s = stdevOf(x, call, id);
  if (typeof s === 'number') return s;
  const dev = objData<DeviceData>(x.c, x.d.table.entries[s.devId]!);
  const attachedHwpt = dev.attach[a.pasid];
  const attachedDomain = attachedHwpt === undefined ? -1 : objData<{ domain: number }>(x.c, x.d.table.entries[attachedHwpt]!).domain;
  if (!a.hwpt_id) return attachedHwpt === undefined ? 0 : EINVAL;
  const h = x.get(call, a.hwpt_id, 'any');
  if (typeof h === 'number') return h;
  if (h.type !== 'hwpt_paging' && h.type !== 'hwpt_nested') return EINVAL;
  return objData<{ domain: number }>(x.c, h).domain === attachedDomain ? 0 : EINVAL;
}

// ---------------------------------------------------------------- IOPF / vEVENT triggers

/** TRIGGER_IOPF: a page request from the device to the FAULT of the HWPT attached at (dev, pasid). */
function triggerIopf(x: Ictx, call: Call, a: { dev_id: number; pasid: number; grpid: number; perm: number; addr: bigint }): Step {
  const devE = x.get(call, a.dev_id, 'device');
  if (typeof devE === 'number') return devE;
  const dev = objData<DeviceData>(x.c, devE);
  const at = iopfAttachPoint(x, dev, a.pasid);
  const hwptId = at === null ? undefined : dev.attach[at];
  const hwptE = hwptId === undefined ? undefined : x.d.table.entries[hwptId];
  const faultId = hwptE ? objData<{ fault: number }>(x.c, hwptE).fault : 0;
  const faultE = faultId ? x.d.table.entries[faultId] : undefined;
  // Delivery problems (no HWPT, no FAULT) are not reported to the caller.
  if (!faultE || !x.c.has(faultE.actor)) return 0;
  x.c.post(faultE.actor, 'internal', 'event', {
    type: 'iopf',
    group: { dev: dev.dev, devId: devE.id, pasid: at, grpid: a.grpid, hwpt: hwptId, records: [{ addr: a.addr, perm: a.perm }], ...(at === a.pasid ? {} : { requestPasid: a.pasid }) },
  });
  return 0;
}

/**
 * Which attach point a page request reaches (iommu find_fault_handler).  The
 * mock flags a request PASID-valid whenever its pasid is not 0.  A PASID with
 * nothing attached falls back to a nested RID domain, because the mock, like
 * SMMUv3, keeps the guest's PASID table in that domain (user_pasid_table).
 * null: no handler.
 */
function iopfAttachPoint(x: Ictx, dev: DeviceData, pasid: number): number | null {
  if (dev.attach[pasid] !== undefined) return pasid;
  const rid = dev.attach[0];
  return rid !== undefined && x.d.table.entries[rid]?.type === 'hwpt_nested' ? 0 : null;
}

/** TRIGGER_VEVENT: a {virt_id} event on the vIOMMU of the vIOMMU-owned nested HWPT the device is attached to. */
function triggerVevent(x: Ictx, call: Call, devId: number): Step {
  const devE = x.get(call, devId, 'device');
  if (typeof devE === 'number') return devE;
  const dev = objData<DeviceData>(x.c, devE);
  const hwptId = dev.attach[0];
  const hwptE = hwptId === undefined ? undefined : x.d.table.entries[hwptId];
  if (!hwptE || hwptE.type !== 'hwpt_nested' || !dev.vdevice) return ENOENT;
  const viommuId = objData<HwptNestedData>(x.c, hwptE).viommu;
  const vdevE = x.d.table.entries[dev.vdevice];
  const viommuE = viommuId ? x.d.table.entries[viommuId] : undefined;
  if (!viommuE || !vdevE) return ENOENT;
  const vd = objData<{ viommu: number; virtId: bigint }>(x.c, vdevE);
  if (vd.viommu !== viommuId) return ENOENT;
  const veventqs = objData<{ veventqs?: Record<number, number> }>(x.c, viommuE).veventqs ?? {};
  if (!veventqs[E.IOMMU_VEVENTQ_TYPE_SELFTEST]) return EOPNOTSUPP;
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, Number(vd.virtId & 0xffffffffn), true);
  x.c.post(viommuE.actor, 'internal', 'event', { type: 'vevent', veventqType: E.IOMMU_VEVENTQ_TYPE_SELFTEST, data });
  return 0;
}

// ---------------------------------------------------------------- test dma-buf exporter

/** Test dma-bufs are limited to this many pages (iommufd_test_dmabuf_get). */
const DMABUF_MAX_PAGES = 512n;

/** iommufd_test_dmabuf_get: zeroed memory of `length` rounded up to pages; the fd is the return value. */
function dmabufGetOp(x: Ictx, call: Call, length: number): Step {
  const len = (BigInt(length) + PAGE - 1n) & ~(PAGE - 1n);
  if (len === 0n || len > PAGE * DMABUF_MAX_PAGES) return EINVAL;
  const proc = x.c.world.procs[call.pid];
  if (!proc) return EBADF;
  // kzalloc of the private struct and of the memory, then dma_buf_export's own allocations.
  for (const site of ['dmabuf_priv', 'dmabuf_memory', 'dma_buf_export']) if (shouldFail(x.c.world, site)) return ENOMEM;
  const id = dmabufCreate(x.c.world.mem, len);
  if (typeof id !== 'number') return id.errno;
  const file = x.c.world.nextFile++;
  x.c.world.files[file] = { kind: 'dmabuf', dmabuf: id, refs: 1 };
  // open_flags only carries O_CLOEXEC for the selftests; the simulated processes never exec.
  call.s.ret = allocFd(proc, file);
  return 0;
}

/** dma_buf_get(fd): EBADF for no such fd, EINVAL for a file that is not a dma-buf. */
function dmabufOfFd(x: Ictx, call: Call, fd: number): number | { errno: number } {
  const file = x.c.world.procs[call.pid]?.fds[fd];
  const desc = file === undefined ? undefined : x.c.world.files[file];
  if (!desc) return { errno: EBADF };
  if (desc.kind !== 'dmabuf') return { errno: EINVAL };
  return desc.dmabuf;
}

/**
 * iommufd_test_dmabuf_revoke: set the exporter's flag, then
 * dma_buf_move_notify whichever way it went, so even an "un-revoke" tells
 * the attachments, and the importer side revokes every live attachment.
 * Every dma-buf here is a test one (another exporter would be EOPNOTSUPP).
 */
function dmabufRevokeOp(x: Ictx, call: Call, fd: number, revoked: boolean): Step {
  const id = dmabufOfFd(x, call, fd);
  if (typeof id !== 'number') return id.errno;
  getDmabuf(x.c.world.mem, id)!.revoked = revoked;
  dmabufMoveNotify(x.c, ioptEnv(x.c.world), id);
  return 0;
}

/** Physical address the mock domain translates `iova` to, or -1 (mock_domain_iova_to_phys over the dump). */
function domainPa(ranges: readonly { iova: number; last: number; pa: number }[], iova: number): number {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = ranges[mid]!;
    if (iova < m.iova) hi = mid - 1;
    else if (iova > m.last) lo = mid + 1;
    else return m.pa + (iova - m.iova);
  }
  return -1;
}

/** MD_CHECK_DMABUF [proposed] (iommufd_test_md_check_dmabuf): [iova, +length) maps the buffer from `offset`. */
function checkDmabuf(x: Ictx, call: Call, id: number, a: { dmabuf_fd: number; iova: bigint; length: bigint; offset: bigint }): Step {
  const d = mockPaging(x, call, id);
  if (typeof d === 'number') return d;
  const bufId = dmabufOfFd(x, call, a.dmabuf_fd);
  if (typeof bufId !== 'number') return bufId.errno;
  const buf = getDmabuf(x.c.world.mem, bufId)!;
  if (a.iova % MOCK_IO_PAGE || a.length % MOCK_IO_PAGE || a.offset % MOCK_IO_PAGE) return EINVAL;
  const end = a.offset + a.length;
  if (end > U64_MAX || end > buf.size) return EINVAL;
  const ranges = translation(x.c)?.dump(d.domain) ?? [];
  for (let i = 0n; i < a.length; i += MOCK_IO_PAGE) {
    const at = a.offset + i;
    const want = buf.pfns[Number(at / PAGE)]! * PAGE_SIZE + Number(at % PAGE);
    if (domainPa(ranges, Number(a.iova + i)) !== want) return EINVAL;
  }
  return 0;
}

// ---------------------------------------------------------------- the ioctl

function addReserved(x: Ictx, call: Call, id: number, a: { start: bigint; length: bigint }): Step {
  if (a.length === 0n) return EINVAL;
  const last = a.start + a.length - 1n;
  if (last > U64_MAX) return EOVERFLOW;
  const e = x.get(call, id, 'ioas');
  if (typeof e === 'number') return e;
  return invokeOp(x.c, e.actor, 'add_reserved', { start: a.start, last }).errno;
}

export const testCmdIoctl: IoctlHandler = {
  start(x, call) {
    const op = testOpEntry(new DataView(call.kbuf.buffer, call.kbuf.byteOffset).getUint32(4, true));
    if (!op) return EOPNOTSUPP;
    const c = decode(op.view, call.kbuf) as Record<string, any>;
    const id = c.id as number;
    const u = op.member ? (c[op.member] as Record<string, any>) : {};
    switch (op.op) {
      case E.IOMMU_TEST_OP_ADD_RESERVED: return addReserved(x, call, id, u as never);
      case E.IOMMU_TEST_OP_MOCK_DOMAIN: return mockDomain(x, call, id, 0, 'mock_domain');
      case E.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: return mockDomain(x, call, id, u.dev_flags, 'mock_domain_flags');
      case E.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: {
        const s = stdevOf(x, call, id);
        if (typeof s === 'number') return s;
        const r = deviceAttach(x, call, s.devId, u.pt_id, 0, true);
        if (r.errno) return r.errno;
        encode(S.iommu_test_cmd_views.mock_domain_replace, { mock_domain_replace: { pt_id: r.ptId } }, call.kbuf);
        return 0;
      }
      case E.IOMMU_TEST_OP_MD_CHECK_MAP: return checkMap(x, call, id, u as never);
      case E.IOMMU_TEST_OP_MD_CHECK_REFS: return checkRefs(x, call, u as never);
      case E.IOMMU_TEST_OP_CREATE_ACCESS: return createAccess(x, call, id, u.flags);
      case E.IOMMU_TEST_OP_DESTROY_ACCESS_PAGES: return destroyAccessPages(x, call, id, u.access_pages_id);
      case E.IOMMU_TEST_OP_ACCESS_PAGES: return accessPages(x, call, id, u as never);
      case E.IOMMU_TEST_OP_ACCESS_RW: return accessRw(x, call, id, u as never);
      case E.IOMMU_TEST_OP_ACCESS_REPLACE_IOAS: return accessReplaceIoas(x, call, id, u.ioas_id);
      case E.IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
        if (u.limit < MEMORY_LIMIT_MIN) return EINVAL;
        selftestState(x.c.world).memoryLimit = u.limit;
        return 0;
      case E.IOMMU_TEST_OP_DIRTY: return dirty(x, call, id, u as never);
      case E.IOMMU_TEST_OP_MD_CHECK_IOTLB: return checkIotlb(x, call, id, u as never);
      case E.IOMMU_TEST_OP_DEV_CHECK_CACHE: return checkDevCache(x, call, id, u as never);
      case E.IOMMU_TEST_OP_TRIGGER_IOPF: return triggerIopf(x, call, u as never);
      case E.IOMMU_TEST_OP_TRIGGER_VEVENT: return triggerVevent(x, call, u.dev_id);
      case E.IOMMU_TEST_OP_PASID_ATTACH: return pasidAttach(x, call, id, u as never, false);
      case E.IOMMU_TEST_OP_PASID_REPLACE: return pasidAttach(x, call, id, u as never, true);
      case E.IOMMU_TEST_OP_PASID_DETACH: return pasidDetach(x, call, id, u.pasid);
      case E.IOMMU_TEST_OP_PASID_CHECK_HWPT: return pasidCheck(x, call, id, u as never);
      case E.IOMMU_TEST_OP_DMABUF_GET: return dmabufGetOp(x, call, u.length);
      case E.IOMMU_TEST_OP_DMABUF_REVOKE: return dmabufRevokeOp(x, call, u.dmabuf_fd, u.revoked !== 0);
      case E.IOMMU_TEST_OP_MD_CHECK_DMABUF: return checkDmabuf(x, call, id, u as never);
      default:
        return EOPNOTSUPP;
    }
  },
};
