/**
 * VFIO device character devices (/dev/vfio/devices/vfioN, Linux
 * drivers/vfio/device_cdev.c): one file per open, whose ioctls bind the
 * device to an iommufd and attach it.  The argsz rules are VFIO's (uapi.md
 * §9); the work is done by the iommufd context the device is bound to, as
 * requests, and the answer comes back here before the thread is answered.
 */
import type { DeliveryContext, SimActor } from './runtime/actor.ts';
import type { Envelope } from './runtime/envelope.ts';
import type { World } from './world.ts';
import { registerDeviceNode, registerFileKind } from './kernel.ts';
import { dispatchVfioIoctl, respondVfio } from '../uapi/dispatch.ts';
import { decode, encode } from '../uapi/layout.ts';
import { EBADF, EBADFD, EINVAL, ENOENT, ENOTTY } from '../uapi/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID, VFIO_DEVICE_DETACH_PASID } from '../uapi/enums.ts';
import { NO_PASID } from './iommufd/device.ts';

export const VFIO_KIND = 'vfio';

export interface VfioState {
  file: number;
  /** Topology device id. */
  dev: string;
  /** The iommufd context actor after BIND, and the DEVICE id there. */
  ictx: string | null;
  devId: number;
  /** PASIDs (NO_PASID for the RID) VFIO believes attached: a second ATTACH becomes a replace. */
  attached: number[];
  /** The ioctl waiting for the context's answer. */
  pending: { thread: string; cmd: number; arg: Uint8Array; kbuf: Uint8Array; op: string; pasid: number; ictx: string } | null;
  /** ioctls that arrived while one was pending, in arrival order. */
  queued?: { src: string; body: unknown }[];
  /** Released while bound: the file lives until the context has unbound the device (vfio_device_fops_release). */
  closing?: boolean;
}

export function vfioPath(index: number): string {
  return `/dev/vfio/devices/vfio${index}`;
}

export class VfioFileActor implements SimActor<World> {
  readonly kind = VFIO_KIND;
  constructor(
    readonly id: string,
    readonly st: VfioState,
  ) {}

  persist(): VfioState {
    return this.st;
  }

  status(): string {
    return this.st.ictx ? `bound as device ${this.st.devId}` : 'unbound';
  }

  deliver(env: Envelope, ctx: DeliveryContext<World>): void {
    if (env.type === 'ioctl') {
      // VFIO serialises a device's ioctls (dev_set->lock): one waits while another is with the iommufd.
      if (this.st.pending) return void (this.st.queued ??= []).push({ src: env.src, body: env.body });
      return this.ioctl(env, ctx);
    }
    if (env.type === 'request.ret') {
      this.answered(env, ctx);
      // Run the waiting ioctls until one has to wait for the iommufd again.
      while (!this.st.pending && this.st.queued?.length) {
        const next = this.st.queued.shift()!;
        this.ioctl({ ...env, src: next.src, type: 'ioctl', body: next.body }, ctx);
      }
      return;
    }
    if (env.type === 'close') return this.release(ctx);
    throw new Error(`${this.id}: unexpected message ${env.type}`);
  }

  private reply(ctx: DeliveryContext<World>, thread: string, errno: number, arg?: Uint8Array): void {
    ctx.post(thread, 'reply', 'ioctl.ret', arg ? { errno, arg } : { errno });
  }

  private ioctl(env: Envelope, ctx: DeliveryContext<World>): void {
    const { cmd, arg } = env.body as { cmd: number; arg: Uint8Array; pid: number };
    const d = dispatchVfioIoctl(cmd, arg);
    if (!d.ok) return this.reply(ctx, env.src, d.errno);
    const c = decode(d.entry.layout, d.kbuf) as any;
    const st = this.st;
    const pid = (env.body as { pid: number }).pid;
    switch (d.entry.name) {
      case 'VFIO_DEVICE_BIND_IOMMUFD': {
        if (st.ictx) return this.reply(ctx, env.src, EINVAL);
        const file = ctx.world.procs[pid]?.fds[c.iommufd];
        const desc = file === undefined ? undefined : ctx.world.files[file];
        if (!desc) return this.reply(ctx, env.src, EBADF);
        // unverified: a non-iommufd fd gives EBADFD on this path (uapi.md §9.1).
        if (desc.kind !== 'iommufd') return this.reply(ctx, env.src, EBADFD);
        return this.request(ctx, env, cmd, arg, d.kbuf, desc.actor, 'vfio.bind', { dev: st.dev, pid }, NO_PASID);
      }
      case 'VFIO_DEVICE_ATTACH_IOMMUFD_PT': {
        if (!st.ictx) return this.reply(ctx, env.src, EINVAL);
        const pasid = c.flags & VFIO_DEVICE_ATTACH_PASID ? c.pasid : NO_PASID;
        const replace = st.attached.includes(pasid);
        return this.request(ctx, env, cmd, arg, d.kbuf, st.ictx, 'vfio.attach', { devId: st.devId, ptId: c.pt_id, pasid, replace }, pasid);
      }
      case 'VFIO_DEVICE_DETACH_IOMMUFD_PT': {
        if (!st.ictx) return this.reply(ctx, env.src, EINVAL);
        const pasid = c.flags & VFIO_DEVICE_DETACH_PASID ? c.pasid : NO_PASID;
        return this.request(ctx, env, cmd, arg, d.kbuf, st.ictx, 'vfio.detach', { devId: st.devId, pasid }, pasid);
      }
      default:
        return this.reply(ctx, env.src, ENOTTY);
    }
  }

  private request(ctx: DeliveryContext<World>, env: Envelope, cmd: number, arg: Uint8Array, kbuf: Uint8Array, ictx: string, op: string, args: Record<string, unknown>, pasid: number): void {
    this.st.pending = { thread: env.src, cmd, arg, kbuf, op, pasid, ictx };
    ctx.post(ictx, 'internal', 'request', { op, ...args });
  }

  private answered(env: Envelope, ctx: DeliveryContext<World>): void {
    const p = this.st.pending;
    const b = env.body as { errno: number; out: any };
    if (this.st.closing) return ctx.retire(this.id); // the unbind at close is done: the file is freed
    if (!p) return;
    this.st.pending = null;
    if (b.errno) return this.reply(ctx, p.thread, b.errno);
    const d = dispatchVfioIoctl(p.cmd, p.arg);
    if (!d.ok) return this.reply(ctx, p.thread, b.errno);
    if (p.op === 'vfio.bind') {
      this.st.ictx = p.ictx;
      this.st.devId = b.out.devId;
      encode(d.entry.layout, { out_devid: b.out.devId }, p.kbuf);
    } else if (p.op === 'vfio.attach') {
      if (!this.st.attached.includes(p.pasid)) this.st.attached.push(p.pasid);
      encode(d.entry.layout, { pt_id: b.out.ptId }, p.kbuf);
    } else if (p.op === 'vfio.detach') {
      this.st.attached = this.st.attached.filter((x) => x !== p.pasid);
    }
    const out = p.arg.slice();
    const fault = respondVfio(d.entry, p.kbuf, out);
    this.reply(ctx, p.thread, fault, out);
  }

  /** The last fd closed: VFIO detaches and unbinds the device from its iommufd. */
  private release(ctx: DeliveryContext<World>): void {
    if (!this.st.ictx) return ctx.retire(this.id);
    // iommufd_device_unbind runs before the file is freed; its answer retires this actor.
    this.st.closing = true;
    ctx.post(this.st.ictx, 'internal', 'request', { op: 'vfio.unbind', devId: this.st.devId });
  }
}

export function restoreVfioActor(id: string, state: unknown): SimActor<World> {
  return new VfioFileActor(id, state as VfioState);
}

/** /dev/vfio/devices/vfioN is the N-th device of the topology; opening it makes a file actor. */
registerDeviceNode('/dev/vfio/devices/', (ctx, file, _pid, path) => {
  const m = /^\/dev\/vfio\/devices\/vfio(\d+)$/.exec(path);
  const devices = (ctx.world.kobj.hw as { topology: { devices: { id: string; mockFlags?: number }[] } } | undefined)?.topology.devices ?? [];
  const real = devices.filter((d) => d.mockFlags === undefined);
  const d = m ? real[Number(m[1])] : undefined;
  if (!d) return ENOENT;
  const id = `vfio:${file}`;
  ctx.spawn(new VfioFileActor(id, { file, dev: d.id, ictx: null, devId: 0, attached: [], pending: null }));
  return { kind: 'vfio', actor: id, refs: 1 };
});

registerFileKind('vfio', (ctx, _file, desc) => {
  if (desc.kind === 'vfio') ctx.post(desc.actor, 'internal', 'close', {});
});
