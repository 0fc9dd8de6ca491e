/**
 * An explorer-only in-kernel access (the selftest's CREATE_ACCESS +
 * ACCESS_PAGES, reduced to what spec/bugs.md B04 needs): the model has no
 * ACCESS object yet, so the explorer pins pages of an IOAS on behalf of a
 * pseudo-driver through io_pagetable's ioptAddAccess / ioptAccessPin.
 *
 * It is reached through open() of a pseudo device node, because open is the
 * one system call whose handler other modules can register; the opener reads
 * its arguments from the syscall body, creates no file, and answers with the
 * pin's errno (0 on success).  It runs inside a kernel delivery, so it is
 * journaled and replayed like any other syscall.
 */
import { registerDeviceNode } from '../actors/kernel.ts';
import type { World } from '../actors/world.ts';
import type { DeliveryContext } from '../actors/runtime/actor.ts';
import { EINVAL, ENOENT } from '../uapi/errno.ts';
import { EXPLORER_ACCESS_ID, ioptEnv, type IoasData } from '../actors/iommufd/ioas.ts';
import { ioptAccessPin, ioptAddAccess } from '../actors/iommufd/io_pagetable.ts';

export const EXPLORE_ACCESS_NODE = '/dev/iommufd-sim-explore-access';

interface PinArgs {
  fd: number;
  ioas: number;
  iova: bigint;
  length: bigint;
}

function ioasData(ctx: DeliveryContext<World>, pid: number, fd: number, ioas: number): IoasData | null {
  const file = ctx.world.procs[pid]?.fds[fd];
  const desc = file === undefined ? undefined : ctx.world.files[file];
  if (!desc || desc.kind !== 'iommufd') return null;
  const ictx = ctx.peek(desc.actor) as { context?: { data: { table: { entries: Record<number, { actor: string; type: string; state: string }> } } } } | undefined;
  const e = ictx?.context?.data.table.entries[ioas];
  if (!e || e.type !== 'ioas' || e.state !== 'live') return null;
  const obj = ctx.peek(e.actor) as { context?: { data: IoasData } } | undefined;
  return obj?.context?.data ?? null;
}

registerDeviceNode(EXPLORE_ACCESS_NODE, (ctx, _file, pid) => {
  const a = (ctx.env.body as { args: PinArgs }).args;
  const d = ioasData(ctx, pid, a.fd, a.ioas);
  if (!d) return ENOENT;
  const env = ioptEnv(ctx.world);
  if (!d.iopt.accesses.some((x) => x.id === EXPLORER_ACCESS_ID)) {
    const e = ioptAddAccess(d.iopt, env, EXPLORER_ACCESS_ID, 1);
    if (e) return e;
  }
  if (a.length <= 0n) return EINVAL;
  // A number from an opener is the syscall's errno; 0 means "pinned, no file".
  return ioptAccessPin(d.iopt, env, EXPLORER_ACCESS_ID, BigInt(a.iova), BigInt(a.length), { write: false }).errno;
});
