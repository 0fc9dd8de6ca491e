/**
 * IOAS (Linux ioas.c): the ioctls that act on an I/O address space, and the
 * IOAS object's behaviour.  The io_pagetable algorithms live in
 * io_pagetable.ts / pages.ts; this file decides the ioctl-level check order,
 * copies ranges from and to user memory, and turns the io_pagetable's domain
 * effects into messages for the hardware.
 */
import { ioasMachine } from '../../machines/ioas.ts';
import { defineObjectKind, type ObjSelf, type OpResult } from './object-actor.ts';
import type { Call, Ictx, IoctlHandler, OpRet, Step } from './ioctl.ts';
import { shouldFail, type World } from '../world.ts';
import {
  EFAULT, EINVAL, EOPNOTSUPP, EOVERFLOW, EBADF,
} from '../../uapi/errno.ts';
import { encode, decodeArray, encodeArray } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import type { IoctlEntry } from '../../uapi/dispatch.ts';
import { checkUpfront } from '../../uapi/checks.ts';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_SET,
} from '../../uapi/enums.ts';
import { readUser, writeUser } from '../mm/process.ts';
import {
  ULONG_MAX, convIommuProt, createIopt, ioptAccessPinsIn, ioptAccessUnpin, ioptAllowIovas, ioptDestroy,
  ioptFreePagesList, ioptGetHugePages, ioptGetPages, ioptIovaRangesFill, ioptMapFilePages, ioptMapPages,
  ioptMapPagesBegin, ioptMapPagesFinish, ioptPrepareUserPages, ioptSetHugePages, ioptUnmap, ioptUnmapAll,
  ioptAddDomain, ioptRemoveDomain, ioptReserve, ioptRemoveReserved, ioptAddAccess, ioptRemoveAccess, ioptAccessPin, ioptAccessRw, type IoptDomain,
  ioptUnmapResume, ioptCutIova, type UnmapResult, type UnmapResume,
  type AccessUnmapNotice, type DomainEffect, type IoPagetable, type IovaRange, type PagesListElm, type PendingMap,
} from './io_pagetable.ts';
import { pagesChangeProcess, type PagesEnv } from './pages.ts';
import { reportUseAfterFree } from './object.ts';
import { translation } from '../hw/translation.ts';
import { ioptDmabufRevoke, ioptMapDmabufPages, type MapDmabufOpts } from './dmabuf.ts';

export const U64_MAX = 0xffffffffffffffffn;

/** The io_pagetable's view of the shared world, with fail_nth wired to every allocation point. */
/** The world rides in failCtx, so building an env makes no closure (see mapBeginFail in io_pagetable.ts). */
const worldFailpoint = (c: unknown, site: string) => shouldFail(c as World, site);

export function ioptEnv(world: World): PagesEnv {
  return { world: world.mem, pagesTable: world.pages, failpoint: worldFailpoint, failCtx: world, variant: world.config.variant ?? undefined };
}

export interface IoasData {
  iopt: IoPagetable;
  /** Automatically created paging HWPTs on this IOAS (reused by later attaches). */
  autoHwpts: number[];
  /** A MAP between its two lock sections (published by 'map_finish'). */
  pendingMaps: Record<number, PendingMap & { call: number }>;
  nextPending: number;
}

/**
 * Domain contents changed: the hardware applies it at once, in this
 * delivery (iommu_map/iommu_unmap return only after the IOTLB flush, so an
 * unmapped page is never reachable once the io_pagetable unpins it).
 */
export function postEffects(o: ObjSelf, effects: readonly DomainEffect[]): void {
  if (effects.length) translation(o.c)?.apply(effects);
}

const iopt = (o: ObjSelf): IoPagetable => (o.data as IoasData).iopt;

/**
 * In-kernel users of an area are told to unpin before it goes
 * (iommufd_access_notify_unmap); the emulated drivers here unpin everything
 * they hold in the range at once, synchronously, as the selftest driver does.
 */
function notifyAccesses(o: ObjSelf, n: AccessUnmapNotice): void {
  const env = ioptEnv(o.world);
  const last = n.iova + n.length - 1n;
  for (const id of n.accessIds) {
    for (const pin of ioptAccessPinsIn(iopt(o), id, n.iova, last)) {
      ioptAccessUnpin(iopt(o), env, id, pin.iova, pin.last - pin.iova + 1n);
    }
    // The explorer's in-kernel test access (explore/access.ts) has no object to tell.
    if (id !== EXPLORER_ACCESS_ID) o.request('access.unmapped', { access: id, iova: n.iova, length: n.length });
  }
}

/** Access id of the explorer's test access: no table object has id 0. */
export const EXPLORER_ACCESS_ID = 0;

/** An UNMAP waiting for access callbacks: the IOVA lock is dropped between its steps. */
interface PendingUnmap {
  call: number;
  notice: AccessUnmapNotice;
  resume: UnmapResume;
  /** The area that had pins (the buggy kernel of B04 keeps using it after unlocking). */
  areaId: number;
}

/**
 * iopt_unmap_iova_range with access pins: it drops the locks to call each
 * access's unmap callback, then relocks and retries.  Those are separate
 * deliveries ('unmap_notify', 'unmap_relock') so another thread can run in
 * between, as in the kernel.
 */
function unmapStep(o: ObjSelf, call: number, r: UnmapResult): OpResult | null {
  postEffects(o, r.effects);
  if (r.status === 'done') return { errno: r.errno, out: { unmapped: r.unmapped } };
  const d = o.data as IoasData & { pendingUnmaps?: Record<number, PendingUnmap> };
  const id = d.nextPending++;
  const area = iopt(o).areas.find((ar) => ar.iova === r.resume!.start);
  (d.pendingUnmaps ??= {})[id] = { call, notice: r.notice!, resume: r.resume!, areaId: area?.id ?? 0 };
  o.post(o.actorId, 'internal', 'op', { call, op: 'unmap_notify', args: { pending: id } });
  return null;
}

function pendingUnmap(o: ObjSelf, id: number): PendingUnmap {
  return (o.data as { pendingUnmaps: Record<number, PendingUnmap> }).pendingUnmaps[id]!;
}

function mapResult(o: ObjSelf, r: { errno: number; iova: bigint; effects: DomainEffect[] }): OpResult {
  postEffects(o, r.effects);
  return r.errno ? { errno: r.errno } : { errno: 0, out: { iova: r.iova } };
}

/**
 * A MAP into an IOAS with domains or accesses spans two lock sections: the
 * areas are inserted unpublished, then filled and published.  The gap is a
 * scheduling point (an UNMAP there fails EBUSY, as in the kernel); with
 * nothing attached the fill is empty and the two sections are not split.
 */
function mapList(o: ObjSelf, call: number, list: PagesListElm[], a: { length: bigint; iova: bigint; prot: number; fixed: boolean }): OpResult | null {
  const io = iopt(o);
  const env = ioptEnv(o.world);
  if (io.domains.length === 0 && io.accesses.length === 0) return mapResult(o, ioptMapPages(io, env, list, a.length, a.iova, a.prot, !a.fixed));
  const b = ioptMapPagesBegin(io, env, list, a.length, a.iova, a.prot, !a.fixed);
  if (!('pending' in b)) return { errno: b.errno };
  const d = o.data as IoasData;
  const id = d.nextPending++;
  d.pendingMaps[id] = { ...b.pending, call };
  o.post(o.actorId, 'internal', 'op', { call, op: 'map_finish', args: { pending: id } });
  return null;
}

export const ioasKind = defineObjectKind(ioasMachine, {
  type: 'ioas',
  ops: {
    iova_ranges: (o, a: { capacity: number }) => {
      const r = ioptIovaRangesFill(iopt(o), a.capacity);
      return { errno: 0, out: r };
    },
    allow_iovas: (o, a: { ranges: IovaRange[]; faultAt: number }) => {
      const env = ioptEnv(o.world);
      if (a.faultAt < 0) return { errno: ioptAllowIovas(iopt(o), env, a.ranges) };
      // Entries before the unreadable one are still checked first (EINVAL wins over EFAULT).
      const e = ioptAllowIovas({ ...iopt(o) }, env, a.ranges);
      return { errno: e === EINVAL ? EINVAL : EFAULT };
    },
    map: (o, a: { pid: number; uptr: bigint; length: bigint; iova: bigint; prot: number; fixed: boolean; rlimitMode: 0 | 1 }, body) => {
      const p = ioptPrepareUserPages(ioptEnv(o.world), a);
      if ('errno' in p) return { errno: p.errno };
      return mapList(o, body.call, p.list, a);
    },
    map_file: (o, a: { pid: number; memfd: number; start: bigint; length: bigint; iova: bigint; prot: number; fixed: boolean; rlimitMode: 0 | 1 }) =>
      mapResult(o, ioptMapFilePages(iopt(o), ioptEnv(o.world), a)),
    map_dmabuf: (o, a: MapDmabufOpts) => mapResult(o, ioptMapDmabufPages(iopt(o), ioptEnv(o.world), a)),
    /** The exporter revoked these dma-buf attachments (dmabuf.ts dmabufMoveNotify), synchronously. */
    dmabuf_revoke: (o, a: { pagesIds: number[] }) => {
      postEffects(o, ioptDmabufRevoke(iopt(o), ioptEnv(o.world), a.pagesIds));
      return { errno: 0 };
    },
    map_finish: (o, a: { pending: number }) => {
      const d = o.data as IoasData;
      const pending = d.pendingMaps[a.pending]!;
      delete d.pendingMaps[a.pending];
      return mapResult(o, ioptMapPagesFinish(iopt(o), ioptEnv(o.world), pending));
    },
    copy_get: (o, a: { iova: bigint; length: bigint }) => {
      const g = ioptGetPages(iopt(o), ioptEnv(o.world), a.iova, a.length);
      return 'errno' in g ? { errno: g.errno } : { errno: 0, out: { list: g.list } };
    },
    copy_map: (o, a: { list: PagesListElm[]; length: bigint; iova: bigint; prot: number; fixed: boolean }, body) => mapList(o, body.call, a.list, a),
    unmap: (o, a: { iova: bigint; length: bigint; all: boolean; emptyOk?: boolean }, body) => {
      const emptyOk = a.emptyOk === true;
      if (iopt(o).accesses.length > 0) {
        // Without `notify` the io_pagetable stops at an area with pins and says so.
        const env = ioptEnv(o.world);
        return unmapStep(o, body.call, a.all ? ioptUnmapAll(iopt(o), env) : ioptUnmap(iopt(o), env, a.iova, a.length, { emptyOk }));
      }
      // bind, not an arrow: no keepNames defineProperty per UNMAP (see worldFailpoint)
      const notify = notifyAccesses.bind(null, o);
      const env = ioptEnv(o.world);
      const r = a.all ? ioptUnmapAll(iopt(o), env, { notify }) : ioptUnmap(iopt(o), env, a.iova, a.length, { notify, emptyOk });
      postEffects(o, r.effects);
      return { errno: r.errno, out: { unmapped: r.unmapped } };
    },
    unmap_notify: (o, a: { pending: number }, body) => {
      notifyAccesses(o, pendingUnmap(o, a.pending).notice);
      o.post(o.actorId, 'internal', 'op', { call: body.call, op: 'unmap_relock', args: a });
      return null;
    },
    unmap_relock: (o, a: { pending: number }) => {
      const p = pendingUnmap(o, a.pending);
      delete (o.data as { pendingUnmaps: Record<number, PendingUnmap> }).pendingUnmaps[a.pending];
      if (o.world.config.variant === 'B04') {
        // B04 (spec/bugs.md, "Do not access the area pointer after unlocking"):
        // the buggy kernel restarts from the area it found before unlocking;
        // if another UNMAP freed that area meanwhile, that read is a UAF.
        const area = iopt(o).areas.find((ar) => ar.id === p.areaId);
        if (!area) reportUseAfterFree(o.world.kobj, `IOAS_UNMAP (call ${p.call}) read area ${p.areaId} of ${o.actorId} after it was freed`);
      }
      // Fixed: restart the lookup from the copied start/last.
      return unmapStep(o, p.call, ioptUnmapResume(iopt(o), ioptEnv(o.world), p.resume));
    },
    /** VFIO type1 UNMAP_DMA's iopt_cut_iova (vfio_compat.ts): split areas at these last bytes. */
    cut_iova: (o, a: { iovas: bigint[] }) => ({ errno: ioptCutIova(iopt(o), ioptEnv(o.world), a.iovas) }),
    /** B02's late "unlock" of a put: touches the object and answers nothing. */
    unlock: () => null,
    huge_pages: (o, a: { op: number; val: bigint }) => {
      if (a.op === IOMMU_OPTION_OP_GET) return { errno: 0, out: { val: ioptGetHugePages(iopt(o)) ? 1n : 0n } };
      if (a.op !== IOMMU_OPTION_OP_SET) return { errno: EOPNOTSUPP };
      if (a.val !== 0n && a.val !== 1n) return { errno: EINVAL };
      return { errno: ioptSetHugePages(iopt(o), a.val === 1n), out: { val: a.val } };
    },
    pages_ids: (o) => ({ errno: 0, out: { ids: iopt(o).areas.map((ar) => ar.pagesId) } }),
    // Called synchronously by HWPT and device code (the kernel holds the IOAS locks across them).
    add_domain: (o, a: IoptDomain) => {
      const r = ioptAddDomain(iopt(o), ioptEnv(o.world), a);
      postEffects(o, r.effects);
      return { errno: r.errno };
    },
    /** B05's late join of an automatic HWPT's domain (answers nothing; see hw_pagetable.ts). */
    b05_populate: (o, a: IoptDomain) => {
      postEffects(o, ioptAddDomain(iopt(o), ioptEnv(o.world), a).effects);
      return null;
    },
    remove_domain: (o, a: { domain: number }) => {
      const r = ioptRemoveDomain(iopt(o), ioptEnv(o.world), a.domain);
      postEffects(o, r.effects);
      return { errno: r.errno };
    },
    /** Reserve a device's regions (owner 'device:<id>'), all or nothing. */
    reserve: (o, a: { owner: string; ranges: IovaRange[] }) => {
      const env = ioptEnv(o.world);
      for (const r of a.ranges) {
        const e = ioptReserve(iopt(o), env, a.owner, r.start, r.last);
        if (e) {
          ioptRemoveReserved(iopt(o), a.owner);
          return { errno: e };
        }
      }
      return { errno: 0 };
    },
    unreserve: (o, a: { owner: string }) => {
      ioptRemoveReserved(iopt(o), a.owner);
      return { errno: 0 };
    },
    auto_hwpts: (o) => ({ errno: 0, out: { ids: [...(o.data as IoasData).autoHwpts] } }),
    auto_add: (o, a: { hwpt: number }) => {
      (o.data as IoasData).autoHwpts.push(a.hwpt);
      return { errno: 0 };
    },
    auto_remove: (o, a: { hwpt: number }) => {
      const d = o.data as IoasData;
      d.autoHwpts = d.autoHwpts.filter((h) => h !== a.hwpt);
      return { errno: 0 };
    },
    alignment: (o) => ({ errno: 0, out: { iovaAlignment: iopt(o).iovaAlignment } }),
    /** A HW queue's internal access: pin the queue's range and lock it against UNMAP (EBUSY). */
    hwq_pin: (o, a: { access: number; iova: bigint; length: bigint }) => {
      const env = ioptEnv(o.world);
      const e = ioptAddAccess(iopt(o), env, a.access, 1);
      if (e) return { errno: e };
      const r = ioptAccessPin(iopt(o), env, a.access, a.iova, a.length, { write: false, lock: true });
      if (r.errno) {
        ioptRemoveAccess(iopt(o), a.access);
        return { errno: r.errno };
      }
      return { errno: 0, out: { pfns: r.pfns } };
    },
    hwq_unpin: (o, a: { access: number; iova: bigint; length: bigint }) => {
      ioptAccessUnpin(iopt(o), ioptEnv(o.world), a.access, a.iova, a.length);
      ioptRemoveAccess(iopt(o), a.access);
      return { errno: 0 };
    },
    // The selftest's in-kernel access (selftest.ts), called synchronously by the context.
    access_attach: (o, a: { access: number; iovaAlignment: number }) => ({ errno: ioptAddAccess(iopt(o), ioptEnv(o.world), a.access, a.iovaAlignment) }),
    access_detach: (o, a: { access: number }) => ({ errno: ioptRemoveAccess(iopt(o), a.access) }),
    access_pin: (o, a: { access: number; iova: bigint; length: bigint; write: boolean }) => {
      const r = ioptAccessPin(iopt(o), ioptEnv(o.world), a.access, a.iova, a.length, { write: a.write });
      return { errno: r.errno, out: { pfns: r.pfns } };
    },
    access_unpin: (o, a: { access: number; iova: bigint; length: bigint }) => ({ errno: ioptAccessUnpin(iopt(o), ioptEnv(o.world), a.access, a.iova, a.length) }),
    access_rw: (o, a: { iova: bigint; buf: Uint8Array; write: boolean }) => ({ errno: ioptAccessRw(iopt(o), ioptEnv(o.world), a.iova, a.buf, a.write) }),
    /** IOMMU_TEST_OP_ADD_RESERVED: a reserved range owned by nobody. */
    add_reserved: (o, a: { start: bigint; last: bigint }) => ({ errno: ioptReserve(iopt(o), ioptEnv(o.world), 'test', a.start, a.last) }),
    /** MOCK_FLAGS_ACCESS_SYZ: start of the nth area in IOVA order + offset, 0 if there is none. */
    syz_iova: (o, a: { nth: number; offset: bigint }) => {
      const area = iopt(o).areas[a.nth];
      return { errno: 0, out: { iova: area ? area.iova + a.offset : 0n } };
    },
  },
  destroy(o) {
    const r = ioptDestroy(iopt(o), ioptEnv(o.world));
    postEffects(o, r.effects);
  },
});

export function newIoasData(): IoasData {
  return { iopt: createIopt(), autoHwpts: [], pendingMaps: {}, nextPending: 1 };
}

// ---------------------------------------------------------------- ioctls

const PAGE_RANGE = S.iommu_iova_range.size;

function procMm(x: Ictx, pid: number) {
  return x.c.world.mem.mms[pid];
}

/** Allocate an IOAS object and publish it (also used by VFIO compat's implicit IOAS). */
export function allocIoas(x: Ictx): number {
  if (shouldFail(x.c.world, 'ioas_alloc')) return -12;
  const e = x.alloc(ioasKind, newIoasData() as unknown as Record<string, unknown>);
  if (typeof e === 'number') return -e;
  x.finalize(e.id);
  return e.id;
}

export const ioasAllocIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    const id = allocIoas(x);
    if (id < 0) return -id;
    encode(S.iommu_ioas_alloc, { out_ioas_id: id }, call.kbuf);
    return 0;
  },
};

/** Look up the IOAS and send it one op; the common shape of most IOAS ioctls. */
function toIoas(x: Ictx, call: Call, ioasId: number, op: string, args: unknown): Step {
  const e = x.get(call, ioasId, 'ioas');
  if (typeof e === 'number') return e;
  x.send(call, ioasId, op, args);
  return 'wait';
}

export const ioasIovaRangesIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    call.s.cmd = cmd;
    return toIoas(x, call, cmd.ioas_id, 'iova_ranges', { capacity: cmd.num_iovas });
  },
  resume(x, call, ret) {
    if (call.s.b02) {
      // B02: the late unlock touches the object, which may be freed by now.
      x.c.post(call.s.b02.actor, 'internal', 'op', { call: 0, op: 'unlock', args: {} });
      return call.s.b02.step;
    }
    const step = iovaRangesResume(x, call, ret);
    if (x.c.world.config.variant === 'B02') {
      // B02 (spec/bugs.md, "Do not UAF during iommufd_put_object()"): the
      // buggy put decremented users first and released the object's lock in
      // a later step, so a DESTROY can free the object in between.
      const id = call.s.cmd.ioas_id as number;
      call.s.b02 = { actor: x.d.table.entries[id]!.actor, step };
      putRef(x, call, id);
      x.c.post(x.actorId, 'internal', 'op.ret', { call: call.id, from: id, errno: 0, out: { b02: 'unlock' } });
      return 'wait';
    }
    return step;
  },
};

function iovaRangesResume(x: Ictx, call: Call, ret: OpRet): Step {
  {
    const { total, copied, iovaAlignment, errno } = ret.out as { total: number; copied: IovaRange[]; iovaAlignment: number; errno: number };
    if (copied.length) {
      const buf = new Uint8Array(copied.length * PAGE_RANGE);
      encodeArray(S.iommu_iova_range, copied, buf);
      const mm = procMm(x, call.pid);
      if (!mm || writeUser(x.c.world.mem, mm, call.s.cmd.allowed_iovas, buf)) return EFAULT;
    }
    encode(S.iommu_ioas_iova_ranges, { num_iovas: total, out_iova_alignment: BigInt(iovaAlignment) }, call.kbuf);
    // The count is written back before EMSGSIZE so user space can size its array.
    return errno ? { errno, respond: true } : 0;
  }
}

/** Read `n` iova ranges from user memory; stops at the first unreadable entry. */
function readRanges(x: Ictx, pid: number, uptr: bigint, n: number): { ranges: IovaRange[]; faultAt: number } {
  const mm = procMm(x, pid);
  const ranges: IovaRange[] = [];
  for (let i = 0; i < n; i++) {
    const r = mm ? readUser(x.c.world.mem, mm, uptr + BigInt(i * PAGE_RANGE), PAGE_RANGE) : { errno: EFAULT };
    if ('errno' in r) return { ranges, faultAt: i };
    ranges.push(decodeArray(S.iommu_iova_range, r.data, 1)[0]!);
  }
  return { ranges, faultAt: -1 };
}

export const ioasAllowIovasIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    const got = x.get(call, cmd.ioas_id, 'ioas');
    if (typeof got === 'number') return got;
    x.send(call, cmd.ioas_id, 'allow_iovas', readRanges(x, call.pid, cmd.allowed_iovas, cmd.num_iovas));
    return 'wait';
  },
  resume: (_x, _call, ret) => ret.errno,
};

/** IOAS_MAP / MAP_FILE / COPY share these leading checks (flags, EOVERFLOW, no R/W). */
function mapFlagChecks(entry: IoctlEntry, cmd: any, bigFields: bigint[]): number {
  const e = checkUpfront(entry, cmd);
  if (e) return e;
  for (const v of bigFields) if (v >= ULONG_MAX) return EOVERFLOW;
  if (!convIommuProt(cmd.flags)) return EINVAL;
  return 0;
}

function mapArgs(x: Ictx, call: Call, cmd: { flags: number; length: bigint; iova: bigint }) {
  return {
    pid: call.pid,
    length: cmd.length,
    iova: cmd.iova,
    prot: convIommuProt(cmd.flags),
    fixed: (cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0,
    rlimitMode: x.d.rlimitMode,
  };
}

const writeIova = (layout: typeof S.iommu_ioas_map | typeof S.iommu_ioas_map_file) => (_x: Ictx, call: Call, ret: OpRet): Step => {
  if (ret.errno) return ret.errno;
  encode(layout, { iova: ret.out.iova }, call.kbuf);
  return 0;
};

export const ioasMapIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = mapFlagChecks(entry, cmd, [cmd.iova, cmd.length]);
    if (e) return e;
    const args: ReturnType<typeof mapArgs> & { uptr?: bigint } = mapArgs(x, call, cmd);
    args.uptr = cmd.user_va; // last, as the body has always been journaled
    return toIoas(x, call, cmd.ioas_id, 'map', args);
  },
  resume: writeIova(S.iommu_ioas_map),
};

export const ioasMapFileIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = mapFlagChecks(entry, cmd, [cmd.iova, cmd.length]);
    if (e) return e;
    const got = x.get(call, cmd.ioas_id, 'ioas');
    if (typeof got === 'number') return got;
    // iopt_map_file_pages checks the range before it looks at the fd (since the dma-buf import).
    if (cmd.length === 0n) return EINVAL;
    if (cmd.start + cmd.length - 1n > ULONG_MAX) return EOVERFLOW;
    const file = x.c.world.procs[call.pid]?.fds[cmd.fd];
    const desc = file === undefined ? undefined : x.c.world.files[file];
    if (!desc) return EBADF;
    if (desc.kind === 'dmabuf') {
      x.send(call, cmd.ioas_id, 'map_dmabuf', { ...mapArgs(x, call, cmd), dmabuf: desc.dmabuf, start: cmd.start });
      return 'wait';
    }
    // unverified: a non-memfd file is refused with EINVAL (uapi.md §3.7).
    if (desc.kind !== 'memfd') return EINVAL;
    x.send(call, cmd.ioas_id, 'map_file', { ...mapArgs(x, call, cmd), memfd: desc.memfd, start: cmd.start });
    return 'wait';
  },
  resume: writeIova(S.iommu_ioas_map_file),
};

export const ioasCopyIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = mapFlagChecks(entry, cmd, [cmd.length, cmd.src_iova, cmd.dst_iova]);
    if (e) return e;
    call.s.cmd = cmd;
    call.s.stage = 'src';
    return toIoas(x, call, cmd.src_ioas_id, 'copy_get', { iova: cmd.src_iova, length: cmd.length });
  },
  resume(x, call, ret) {
    const cmd = call.s.cmd;
    if (call.s.stage === 'src') {
      // The source is put before the destination is looked up, as the kernel does.
      putRef(x, call, cmd.src_ioas_id);
      if (ret.errno) return ret.errno;
      const list = ret.out.list as PagesListElm[];
      const dst = x.get(call, cmd.dst_ioas_id, 'ioas');
      if (typeof dst === 'number') {
        ioptFreePagesList(ioptEnv(x.c.world), list);
        return dst;
      }
      call.s.stage = 'dst';
      x.send(call, cmd.dst_ioas_id, 'copy_map', { ...mapArgs(x, call, { flags: cmd.flags, length: cmd.length, iova: cmd.dst_iova }), list });
      return 'wait';
    }
    if (ret.errno) return ret.errno;
    encode(S.iommu_ioas_copy, { dst_iova: ret.out.iova }, call.kbuf);
    return 0;
  },
};

/** Drop one short-term reference before the call ends. */
export function putRef(x: Ictx, call: Call, id: number): void {
  const i = call.refs.indexOf(id);
  if (i < 0) return;
  call.refs.splice(i, 1);
  const e = x.d.table.entries[id];
  if (e) {
    e.shortterm--;
    e.users--;
  }
}

export const ioasUnmapIoctl: IoctlHandler = {
  start(x, call, cmd) {
    const got = x.get(call, cmd.ioas_id, 'ioas');
    if (typeof got === 'number') return got;
    const all = cmd.iova === 0n && cmd.length === U64_MAX;
    if (!all && (cmd.iova >= ULONG_MAX || cmd.length >= ULONG_MAX)) return EOVERFLOW;
    x.send(call, cmd.ioas_id, 'unmap', { iova: cmd.iova, length: cmd.length, all });
    return 'wait';
  },
  resume(_x, call, ret) {
    if (ret.errno) return ret.errno;
    encode(S.iommu_ioas_unmap, { length: ret.out.unmapped }, call.kbuf);
    return 0;
  },
};

/** IOMMU_OPTION_HUGE_PAGES (iommufd_ioas_option); RLIMIT_MODE is handled in option.ts. */
export function ioasHugePagesOption(x: Ictx, call: Call, cmd: { op: number; object_id: number; val64: bigint }): Step {
  return toIoas(x, call, cmd.object_id, 'huge_pages', { op: cmd.op, val: cmd.val64 });
}

export function ioasHugePagesResume(call: Call, ret: OpRet): Step {
  if (ret.errno) return ret.errno;
  if (ret.out?.val !== undefined) encode(S.iommu_option, { val64: ret.out.val }, call.kbuf);
  return 0;
}


/**
 * IOMMU_IOAS_CHANGE_PROCESS: move the accounting of every area of every IOAS
 * of this context to the caller.  All-or-nothing, and only file-backed pages
 * can move (EINVAL otherwise), so the pages of all IOASes are gathered first
 * under the context's lock — here, by reading the IOAS actors' state in this
 * one delivery.
 */
export const ioasChangeProcessIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    const ids: number[] = [];
    for (const k of Object.keys(x.d.table.entries)) {
      const obj = x.d.table.entries[Number(k)]!;
      if (obj.type !== 'ioas' || obj.state !== 'live') continue;
      const actor = x.c.peek(obj.actor) as { context?: { data: IoasData } } | undefined;
      for (const area of actor?.context?.data.iopt.areas ?? []) ids.push(area.pagesId);
    }
    return pagesChangeProcess(ioptEnv(x.c.world), ids, call.pid);
  },
};
