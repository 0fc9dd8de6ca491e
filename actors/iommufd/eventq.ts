/**
 * FAULT and VEVENTQ (Linux eventq.c): objects that come with a file
 * descriptor.  A FAULT queues I/O page-fault groups from the hardware until
 * user space reads them and writes responses; a VEVENTQ queues a vIOMMU's
 * hardware events with sequence numbers and a lost-events marker.
 *
 * The fd holds a users reference on its object and a reference on the
 * iommufd file, so DESTROY is EBUSY until the fd is closed.
 */
import { faultMachine } from '../../machines/fault.ts';
import { veventqMachine } from '../../machines/veventq.ts';
import { defineObjectKind, invokeOp, type ObjSelf } from './object-actor.ts';
import { DETACH_HOOKS } from './device.ts';
import type { Call, Ictx, IoctlHandler } from './ioctl.ts';
import type { ObjEntry } from './object.ts';
import { allocFd, shouldFail, type World } from '../world.ts';
import { filePut, KERNEL_ACTOR, registerFileKind, registerSyscall } from '../kernel.ts';
import type { DeliveryContext } from '../runtime/actor.ts';
import { EEXIST, EFAULT, EINVAL, ENOENT, ESPIPE } from '../../uapi/errno.ts';
import { checkUpfront } from '../../uapi/checks.ts';
import { encode, decodeArray, encodeArray } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import {
  IOMMU_PGFAULT_FLAGS_LAST_PAGE, IOMMU_PGFAULT_FLAGS_PASID_VALID, IOMMU_VEVENTQ_FLAG_LOST_EVENTS,
  IOMMU_VEVENTQ_SEQUENCE_MAX, IOMMUFD_PAGE_RESP_INVALID, IOMMUFD_PAGE_RESP_SUCCESS,
} from '../../uapi/enums.ts';
import { readUser, writeUser } from '../mm/process.ts';
import { deviceActorId } from '../hw/device.ts';
import { objData } from './hw_pagetable.ts';

const PGFAULT = S.iommu_hwpt_pgfault.size;
const RESPONSE = S.iommu_hwpt_page_response.size;

/** One PRI page-request group as the FAULT object keeps it. */
export interface FaultGroup {
  /** Physical device name (the response goes to its actor) and its DEVICE id here. */
  dev: string;
  devId: number;
  /** Where the request was routed: the attach point whose detach answers it. */
  pasid: number;
  grpid: number;
  hwpt: number;
  records: { addr: bigint; perm: number }[];
  /** The PASID the request carried, when it was routed to another attach point (the RID). */
  requestPasid?: number;
}

/** The read() records of one group, all carrying its cookie. */
function groupRecords(g: FaultGroup, cookie: number) {
  const pasid = g.requestPasid ?? g.pasid;
  return g.records.map((r, i) => ({
    flags: (pasid ? IOMMU_PGFAULT_FLAGS_PASID_VALID : 0) | (i === g.records.length - 1 ? IOMMU_PGFAULT_FLAGS_LAST_PAGE : 0),
    dev_id: g.devId, pasid, grpid: g.grpid, perm: r.perm, addr: r.addr, length: 0, cookie,
  }));
}

export interface FaultData {
  /** Groups not yet read. */
  deliver: FaultGroup[];
  /** Delivered, awaiting a response: cookie → group. */
  response: Record<number, FaultGroup>;
  /** Counters for the invariant "every page request gets exactly one response". */
  received: number;
  answered: number;
}

/** The kernel answers a group on its own (detach, destroy, close): INVALID to the device. */
function autoRespond(o: { c: DeliveryContext<World> } | DeliveryContext<World>, g: FaultGroup, d: FaultData): void {
  const c = 'c' in o ? o.c : o;
  c.post(deviceActorId(g.dev), 'hw', 'page.response', { pasid: g.requestPasid ?? g.pasid, grpid: g.grpid, code: IOMMUFD_PAGE_RESP_INVALID });
  d.answered++;
}

/** read(): whole groups only, each gets the lowest free cookie ≥ 1. */
function faultRead(o: ObjSelf, a: { count: number; buf: bigint; pid: number }): { errno: number; ret: number } {
  const d = o.data as FaultData;
  if (a.count % PGFAULT !== 0) return { errno: ESPIPE, ret: -1 };
  const mm = o.world.mem.mms[a.pid];
  let done = 0;
  while (d.deliver.length) {
    const g = d.deliver[0]!;
    const bytes = g.records.length * PGFAULT;
    if (done + bytes > a.count) break;
    let cookie = 1;
    while (d.response[cookie]) cookie++;
    const recs = groupRecords(g, cookie);
    const out = new Uint8Array(bytes);
    encodeArray(S.iommu_hwpt_pgfault, recs, out);
    if (o.world.config.variant === 'B19') b19StackPadding(out);
    if (!mm || writeUser(o.world.mem, mm, a.buf + BigInt(done), out)) {
      // The group stays at the head for the next read.
      return done ? { errno: 0, ret: done } : { errno: EFAULT, ret: -1 };
    }
    d.deliver.shift();
    d.response[cookie] = g;
    done += bytes;
  }
  return { errno: 0, ret: done };
}

/**
 * B19 (spec/bugs.md; e721f619e3ec "iommufd: Fix struct iommu_hwpt_pgfault
 * init and padding"): the record was an uninitialised stack struct with a
 * 4-byte hole before `addr` (now `__reserved`), so read() copied out stale
 * kernel stack there; here the upper half of a kernel pointer.
 */
function b19StackPadding(out: Uint8Array): void {
  for (let at = 20; at < out.length; at += PGFAULT) out.set([0x81, 0x88, 0xff, 0xff], at);
}

/**
 * B07 (spec/bugs.md, "iommufd/fault: Use a separate spinlock to protect
 * fault->deliver list"): read() copied the head group out with the deliver
 * list unlocked and took it off the list (and recorded its cookie) in a
 * later step, so a detach/replace flush in between answers the group and the
 * read still hands it out for a response: answered twice.  One group per read.
 */
function b07ReadCopy(o: ObjSelf, a: { count: number; buf: bigint; pid: number }, replyTo: string): null {
  const d = o.data as FaultData;
  const g = d.deliver[0];
  if (a.count % PGFAULT !== 0 || !g || g.records.length * PGFAULT > a.count) return fdReply(o, replyTo, faultRead(o, a));
  let cookie = 1;
  while (d.response[cookie]) cookie++;
  const recs = groupRecords(g, cookie);
  const out = new Uint8Array(g.records.length * PGFAULT);
  encodeArray(S.iommu_hwpt_pgfault, recs, out);
  const mm = o.world.mem.mms[a.pid];
  if (!mm || writeUser(o.world.mem, mm, a.buf, out)) return fdReply(o, replyTo, { errno: EFAULT, ret: -1 });
  o.post(o.actorId, 'internal', 'op', { call: 0, op: 'b07_read_commit', args: { replyTo, cookie, group: g, ret: out.length } });
  return null;
}

/** write(): responses in order; stops at the first bad one (bytes consumed so far, or the error). */
function faultWrite(o: ObjSelf, a: { count: number; buf: bigint; pid: number }): { errno: number; ret: number } {
  const d = o.data as FaultData;
  if (a.count % RESPONSE !== 0) return { errno: ESPIPE, ret: -1 };
  const mm = o.world.mem.mms[a.pid];
  let done = 0;
  let err = 0;
  while (done < a.count) {
    const r = mm ? readUser(o.world.mem, mm, a.buf + BigInt(done), RESPONSE) : { errno: EFAULT };
    if ('errno' in r) {
      // B17 (spec/bugs.md; b9272d1122b1 "iommufd: Fix return value of iommufd_fault_fops_write()"):
      // rc took copy_from_user's count of bytes not copied (the whole record here), returned as if written.
      if (o.world.config.variant === 'B17' && done === 0) return { errno: 0, ret: RESPONSE };
      err = EFAULT;
      break;
    }
    const resp = decodeArray(S.iommu_hwpt_page_response, r.data, 1)[0]!;
    if (resp.code !== IOMMUFD_PAGE_RESP_SUCCESS && resp.code !== IOMMUFD_PAGE_RESP_INVALID) {
      err = EINVAL;
      break;
    }
    const g = d.response[resp.cookie];
    if (!g) {
      err = EINVAL;
      break;
    }
    delete d.response[resp.cookie];
    o.post(deviceActorId(g.dev), 'hw', 'page.response', { pasid: g.requestPasid ?? g.pasid, grpid: g.grpid, code: resp.code });
    d.answered++;
    done += RESPONSE;
  }
  return done ? { errno: 0, ret: done } : { errno: err, ret: -1 };
}

/** An fd operation answers the calling thread directly, like a system call. */
function fdReply(o: ObjSelf, replyTo: string, r: { errno: number; ret: number }): null {
  o.post(replyTo, 'reply', 'syscall.ret', r);
  return null;
}

/** The fd's references go with its close. */
function fdClosed(o: ObjSelf): { errno: number } {
  o.request('unref', { id: o.context.id });
  o.post(o.context.ctx, 'internal', 'file.ref', { delta: -1 });
  return { errno: 0 };
}

const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLRDNORM = 0x40;

export const faultKind = defineObjectKind(faultMachine, {
  type: 'fault',
  ops: {
    // Always writable (responses); readable while a group waits to be read.
    'fd.poll': (o, _a, body) => fdReply(o, (body as any).replyTo, { errno: 0, ret: EPOLLOUT | ((o.data as FaultData).deliver.length ? EPOLLIN | EPOLLRDNORM : 0) }),
    'fd.read': (o, a, body) => (o.world.config.variant === 'B07' ? b07ReadCopy(o, a, (body as any).replyTo) : fdReply(o, (body as any).replyTo, faultRead(o, a))),
    /** B07's second half of a read (see b07ReadCopy). */
    b07_read_commit: (o, a: { replyTo: string; cookie: number; group: FaultGroup; ret: number }) => {
      const d = o.data as FaultData;
      // The list was not locked since the copy: whatever is at the head now goes.
      d.deliver.shift();
      d.response[a.cookie] = a.group;
      return fdReply(o, a.replyTo, { errno: 0, ret: a.ret });
    },
    'fd.write': (o, a, body) => fdReply(o, (body as any).replyTo, faultWrite(o, a)),
    /** Nobody can read or answer once the fd is gone: every pending group is answered INVALID, then the fd's references go. */
    'fd.close': (o, a?: { sync?: boolean }) => {
      answerAll(o, o.data as FaultData);
      return a?.sync ? { errno: 0 } : fdClosed(o);
    },
    /** Detach/replace of an attachment: its groups are answered INVALID. */
    flush_device: (o, a: { devId: number; pasid: number }) => {
      const d = o.data as FaultData;
      const mine = (g: FaultGroup) => g.devId === a.devId && g.pasid === a.pasid;
      for (const g of d.deliver.filter(mine)) autoRespond(o, g, d);
      d.deliver = d.deliver.filter((g) => !mine(g));
      for (const [k, g] of Object.entries(d.response)) {
        if (!mine(g)) continue;
        autoRespond(o, g, d);
        delete d.response[Number(k)];
      }
      return { errno: 0 };
    },
    stats: (o) => {
      const d = o.data as FaultData;
      return { errno: 0, out: { queued: d.deliver.length, awaiting: Object.keys(d.response).length, received: d.received, answered: d.answered } };
    },
  },
  event(o, b: { type: string; group: FaultGroup }) {
    if (b.type !== 'iopf') return;
    const d = o.data as FaultData;
    d.received++;
    d.deliver.push(b.group);
  },
  destroy(o) {
    answerAll(o, o.data as FaultData);
  },
});

/** Queued and delivered-unanswered groups, all answered INVALID (close, destroy). */
function answerAll(o: ObjSelf, d: FaultData): void {
  for (const g of d.deliver) autoRespond(o, g, d);
  for (const g of Object.values(d.response)) autoRespond(o, g, d);
  d.deliver = [];
  d.response = {};
}

// ---------------------------------------------------------------- vEVENTQ

export interface VeventqData {
  viommu: number;
  type: number;
  depth: number;
  /** Queued events; a lost-events marker has flags LOST_EVENTS and no data. */
  queue: { flags: number; seq: number; data: Uint8Array }[];
  /** Normal events queued (the marker does not count against the depth). */
  events: number;
  nextSeq: number;
  lost: number;
}

const HDR = S.iommufd_vevent_header.size;

function nextSeq(d: VeventqData): number {
  const s = d.nextSeq;
  // The 31-bit sequence wraps from INT_MAX to 0.
  d.nextSeq = s === IOMMU_VEVENTQ_SEQUENCE_MAX ? 0 : s + 1;
  return s;
}

/** iommufd_viommu_report_event: queue, or drop and (re)place the single lost-events marker at the tail. */
export function veventqReport(d: VeventqData, data: Uint8Array): void {
  const tail = d.queue[d.queue.length - 1];
  if (d.events >= d.depth) {
    if (tail && tail.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS) d.queue.pop();
    d.queue.push({ flags: IOMMU_VEVENTQ_FLAG_LOST_EVENTS, seq: nextSeq(d), data: new Uint8Array(0) });
    d.lost++;
    return;
  }
  // A marker still at the tail is dropped: the sequence gap tells the loss.
  if (tail && tail.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS) d.queue.pop();
  d.queue.push({ flags: 0, seq: nextSeq(d), data });
  d.events++;
}

/** read(): whole events; a read that fits nothing returns 0 (checked against the kernel source). */
function veventqRead(o: ObjSelf, a: { count: number; buf: bigint; pid: number }): { errno: number; ret: number } {
  const d = o.data as VeventqData;
  const mm = o.world.mem.mms[a.pid];
  let done = 0;
  while (d.queue.length) {
    const ev = d.queue[0]!;
    if (done >= a.count || HDR > a.count - done) break;
    const lost = (ev.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS) !== 0;
    if (!lost && HDR + ev.data.length > a.count - done) break;
    const out = new Uint8Array(HDR + ev.data.length);
    encode(S.iommufd_vevent_header, { flags: ev.flags, sequence: ev.seq }, out);
    out.set(ev.data, HDR);
    if (!mm || writeUser(o.world.mem, mm, a.buf + BigInt(done), out)) return done ? { errno: 0, ret: done } : { errno: EFAULT, ret: -1 };
    d.queue.shift();
    if (!lost) d.events--;
    done += out.length;
  }
  return { errno: 0, ret: done };
}

export const veventqKind = defineObjectKind(veventqMachine, {
  type: 'veventq',
  ops: {
    'fd.poll': (o, _a, body) => fdReply(o, (body as any).replyTo, { errno: 0, ret: (o.data as VeventqData).queue.length ? EPOLLIN | EPOLLRDNORM : 0 }),
    'fd.read': (o, a, body) => fdReply(o, (body as any).replyTo, veventqRead(o, a)),
    // The fd has no write method: the VFS refuses it.
    'fd.write': (o, _a, body) => fdReply(o, (body as any).replyTo, { errno: EINVAL, ret: -1 }),
    'fd.close': (o, a?: { sync?: boolean }) => (a?.sync ? { errno: 0 } : fdClosed(o)),
  },
  event(o, b: { type: string; data: Uint8Array }) {
    if (b.type === 'vevent') veventqReport(o.data as VeventqData, b.data);
  },
  destroy(o) {
    const d = o.data as VeventqData;
    d.queue = [];
    o.request('veventq.gone', { viommu: d.viommu, type: d.type });
    o.request('unref', { id: d.viommu });
  },
});

// ---------------------------------------------------------------- fds and ioctls

/** Give the caller an fd for an event object: the fd holds a users ref on it and a ref on the iommufd file. */
function installFd(x: Ictx, pid: number, e: ObjEntry): { fd: number; file: number } {
  const proc = x.c.world.procs[pid]!;
  const file = x.c.world.nextFile++;
  x.c.world.files[file] = { kind: 'eventfd', actor: e.actor, ctx: x.actorId, objId: e.id, refs: 1 };
  x.incUsers(e.id);
  x.d.fileRefs++;
  return { fd: allocFd(proc, file), file };
}

/** The task work fput() queues: the file's release runs when the thread returns to user space, not inside the ioctl. */
const TASK_WORK_FPUT = 'task_work.fput';
registerSyscall(TASK_WORK_FPUT, (ctx, b) => {
  filePut(ctx, b.args.file as number);
  return null;
});

/**
 * iommufd_ucmd_respond of an event-object alloc runs after the file exists
 * and before finalize/fd_install.  The copy_to_user is a fail_nth point (the
 * kernel's fail_usercopy), which is how syzbot reached this abort.  Returns
 * 0, or EFAULT with the object aborted.
 */
function respondOrAbort(x: Ictx, call: Call, e: ObjEntry, fd: { fd: number; file: number }): number {
  if (!shouldFail(x.c.world, 'copy_to_user')) return 0;
  // put_unused_fd: the number was never visible to user space.
  delete x.c.world.procs[call.pid]!.fds[fd.fd];
  if (x.c.world.config.variant === 'B03') {
    // B03 (spec/bugs.md; fixed by 4e034bf045b1 "iommufd: Fix race during
    // abort for file descriptors"): plain fput() only queues the release as
    // task work; the abort below frees the object first, and the release
    // later drops a users reference on freed memory.
    x.c.post(KERNEL_ACTOR, 'internal', 'syscall', { call: TASK_WORK_FPUT, pid: call.pid, args: { file: fd.file } });
  } else {
    // The core releases the file with __fput_sync before the object goes:
    // the release runs inside this delivery, and its users reference and
    // iommufd_ctx_put are dropped here rather than by later requests.
    delete x.c.world.files[fd.file];
    const a = x.c.peek(e.actor)!;
    a.deliver({ ...x.c.env, src: x.actorId, dst: e.actor, kind: 'internal', type: 'fd.close', body: { call: 0, op: 'fd.close', args: { sync: true }, sync: true } }, x.c);
    x.decUsers(e.id);
    x.d.fileRefs--;
  }
  x.abort(call, e.id);
  return EFAULT;
}

export const faultAllocIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    const data: FaultData = { deliver: [], response: {}, received: 0, answered: 0 };
    const obj = x.alloc(faultKind, data as unknown as Record<string, unknown>);
    if (typeof obj === 'number') return obj;
    const fd = installFd(x, call.pid, obj);
    encode(S.iommu_fault_alloc, { out_fault_id: obj.id, out_fault_fd: fd.fd }, call.kbuf);
    const err = respondOrAbort(x, call, obj, fd);
    if (err) return err;
    x.finalize(obj.id);
    return 0;
  },
};

export const veventqAllocIoctl: IoctlHandler = {
  start(x, call, cmd, entry) {
    const e = checkUpfront(entry, cmd);
    if (e) return e;
    if (cmd.veventq_depth === 0) return EINVAL;
    const v = x.get(call, cmd.viommu_id, 'viommu');
    if (typeof v === 'number') return v;
    const vd = objData<{ veventqs: Record<number, number> }>(x.c, v);
    if (vd.veventqs[cmd.type]) return EEXIST;
    const data: VeventqData = { viommu: v.id, type: cmd.type, depth: cmd.veventq_depth, queue: [], events: 0, nextSeq: 0, lost: 0 };
    const obj = x.alloc(veventqKind, data as unknown as Record<string, unknown>);
    if (typeof obj === 'number') return obj;
    x.incUsers(v.id);
    vd.veventqs[cmd.type] = obj.id;
    const fd = installFd(x, call.pid, obj);
    encode(S.iommu_veventq_alloc, { out_veventq_id: obj.id, out_veventq_fd: fd.fd }, call.kbuf);
    const err = respondOrAbort(x, call, obj, fd);
    if (err) return err;
    x.finalize(obj.id);
    return 0;
  },
};

registerFileKind(
  'eventfd',
  (ctx, _file, desc) => {
    if (desc.kind === 'eventfd') ctx.post(desc.actor, 'internal', 'fd.close', { call: 0, op: 'fd.close', args: {} });
  },
  (ctx, desc, op, args, replyTo) => {
    if (desc.kind !== 'eventfd') return;
    if (!ctx.has(desc.actor)) return void ctx.post(replyTo, 'reply', 'syscall.ret', { errno: ENOENT, ret: -1 });
    // The position is never anything but 0 for these anonymous files.
    if (args.pos) return void ctx.post(replyTo, 'reply', 'syscall.ret', { errno: ESPIPE, ret: -1 });
    const a = op === 'poll' ? { pid: args.pid } : { count: Number(args.count), buf: BigInt(args.buf), pid: args.pid };
    ctx.post(desc.actor, 'internal', 'op', { call: 0, op: `fd.${op}`, args: a, replyTo });
  },
);

/** Detaching a fault-capable attachment answers its pending groups INVALID. */
DETACH_HOOKS.fault = (x: Ictx, devId: number, pasid: number, hwptId: number) => {
  const h = x.d.table.entries[hwptId];
  if (!h) return;
  const fault = objData<{ fault: number }>(x.c, h).fault;
  const f = fault ? x.d.table.entries[fault] : undefined;
  if (f && x.c.has(f.actor)) invokeOp(x.c, f.actor, 'flush_device', { devId, pasid });
};
