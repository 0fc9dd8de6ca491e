/**
 * Object ids, the object lifecycle and the release of the context on close
 * (uapi.md §2.2, §2.3, §2.5), and the `change_process` fixture (§3.20,
 * mock-and-selftest.md §3.2), through the raw ABI.
 */
import { describe, expect } from 'vitest';
import { EBUSY, EINVAL, ENOENT } from '../../uapi/errno.ts';
import { IOMMU_DESTROY, IOMMU_IOAS_CHANGE_PROCESS, IOMMU_IOAS_MAP, IOMMU_IOAS_UNMAP } from '../../uapi/ioctl.ts';
import { IOMMU_OPTION_OP_SET, IOMMU_OPTION_RLIMIT_MODE } from '../../uapi/enums.ts';
import { threadActorId } from '../../actors/thread.ts';
import {
  OTHER_THREAD, PAGE, RW, U64_MAX, concurrently, copy, ctxActor, destroy, iommufdActors, ioasAlloc, lockedTotal, map,
  option, packArg, pins, raw, rawBytes, scenario, unmap, type H,
} from './helpers.ts';

const me = (h: H) => threadActorId(h.p.pid, 1);

function mapFile(h: H, ioas: number, fd: number, length: bigint, iova?: bigint) {
  return raw(h, 'IOMMU_IOAS_MAP_FILE', { ioas_id: ioas, fd, start: 0n, length, flags: RW | (iova === undefined ? 0 : 1), iova: iova ?? 0n });
}

function objActors(h: H): string[] {
  return h.sim.rt.actorIds().filter((a) => a.startsWith('obj:'));
}

describe('object ids', () => {
  scenario('0 is never an id; ids are lowest-free and reused at once after DESTROY', (h) => {
    expect([ioasAlloc(h), ioasAlloc(h), ioasAlloc(h), ioasAlloc(h)]).toEqual([1, 2, 3, 4]);
    expect(destroy(h, 0)).toBe(ENOENT);
    expect(destroy(h, 2)).toBe(0);
    expect(ioasAlloc(h)).toBe(2);
    expect(destroy(h, 3)).toBe(0);
    expect(destroy(h, 1)).toBe(0);
    expect(ioasAlloc(h)).toBe(1);
    expect(ioasAlloc(h)).toBe(3);
    expect(ioasAlloc(h)).toBe(5);
    // A reused id is a new object: the old one's areas are gone.
    expect(map(h, 2, { length: PAGE, iova: 0x1000n }).errno).toBe(0);
    expect(destroy(h, 2)).toBe(0);
    expect(ioasAlloc(h)).toBe(2);
    expect(map(h, 2, { length: PAGE, iova: 0x1000n }).errno).toBe(0);
    // Each incarnation of an id got its own actor; the dead ones are retired.
    expect(h.sim.rt.isRetired('obj:1:2')).toBe(true);
    expect(objActors(h)).toContain('obj:1:2~3');
  });

  scenario('ids are per context: a second /dev/iommu starts at 1 and its objects are invisible to the first', (h) => {
    expect(ioasAlloc(h)).toBe(1);
    expect(ioasAlloc(h)).toBe(2);
    const fd2 = h.p.open('/dev/iommu');
    const other = { ...h, fd: fd2 };
    expect(ioasAlloc(other)).toBe(1);
    expect(destroy(other, 2)).toBe(ENOENT);
    expect(map(other, 1, { length: PAGE, iova: 0x1000n }).errno).toBe(0);
    expect(map(h, 1, { length: PAGE, iova: 0x1000n }).errno).toBe(0);
    expect(h.p.close(fd2)).toBe(0);
    // Closing the second context left the first intact.
    expect(unmap(h, 1, 0n, U64_MAX).out.length).toBe(PAGE);
    expect(ioasAlloc(h)).toBe(3);
  });

  scenario('DESTROY takes any type and frees the IOAS with its mappings; the pages go with it', (h) => {
    const a = ioasAlloc(h);
    const b = ioasAlloc(h);
    const m = map(h, a, { length: 4n * PAGE });
    expect(m.errno).toBe(0);
    expect(copy(h, { dst: b, src: a, srcIova: m.out.iova, length: 4n * PAGE }).errno).toBe(0);
    expect(Object.keys(h.sim.world.pages.pages).length).toBe(1);
    expect(destroy(h, a)).toBe(0);
    // b's copy keeps the pages alive.
    expect(Object.keys(h.sim.world.pages.pages).length).toBe(1);
    expect(destroy(h, b)).toBe(0);
    expect(Object.keys(h.sim.world.pages.pages)).toEqual([]);
    expect(objActors(h)).toEqual([]);
  });
});

describe('close', () => {
  scenario('close with objects alive: every object actor retired, nothing pinned, no locked memory, no pages left', (h) => {
    const a = ioasAlloc(h);
    const b = ioasAlloc(h);
    const c = ioasAlloc(h);
    const mfd = h.p.memfdCreate(16n * PAGE);
    expect(map(h, a, { length: 8n * PAGE, iova: 0x8000n }).errno).toBe(0);
    expect(map(h, a, { length: PAGE, va: h.buffer + 9n * PAGE, iova: 0x100000n }).errno).toBe(0);
    expect(copy(h, { dst: b, src: a, srcIova: 0x8000n, length: 8n * PAGE }).errno).toBe(0);
    expect(mapFile(h, c, mfd, 4n * PAGE).errno).toBe(0);
    expect(destroy(h, b)).toBe(0);
    expect(ioasAlloc(h)).toBe(b);
    const ctx = ctxActor(h);
    const objs = objActors(h);
    expect(objs.length).toBe(3);
    expect(h.p.close(h.fd)).toBe(0);
    expect(iommufdActors(h)).toEqual([]);
    expect(h.sim.rt.isRetired(ctx)).toBe(true);
    for (const o of objs) expect(h.sim.rt.isRetired(o), o).toBe(true);
    expect(pins(h)).toBe(0);
    expect(lockedTotal(h)).toBe(0);
    expect(Object.keys(h.sim.world.pages.pages)).toEqual([]);
    // The memfd lost the reference MAP_FILE's pages held; closing its fd frees it.
    expect(h.sim.world.mem.memfds[1]?.refs).toBe(1);
    expect(h.p.close(mfd)).toBe(0);
    expect(h.sim.world.mem.memfds).toEqual({});
    expect(h.sim.rt.deadLetters).toEqual([]);
  });

  scenario('process exit closes the iommufd and releases it the same way', (h) => {
    const a = ioasAlloc(h);
    expect(map(h, a, { length: 2n * PAGE }).errno).toBe(0);
    expect(h.p.exit()).toBe(0);
    expect(iommufdActors(h)).toEqual([]);
    expect(Object.keys(h.sim.world.pages.pages)).toEqual([]);
    expect(lockedTotal(h)).toBe(0);
  });

  scenario('an ioctl in flight when the last fd closes still completes; release waits for it (fdget holds the file)', (h) => {
    const ioas = ioasAlloc(h);
    const [m, c] = concurrently(h, [
      { thread: me(h), pid: h.p.pid, ioctl: { fd: h.fd, cmd: IOMMU_IOAS_MAP, arg: packArg('IOMMU_IOAS_MAP', { ioas_id: ioas, flags: RW, user_va: h.buffer, length: PAGE }) } },
      { thread: OTHER_THREAD, pid: h.p.pid, syscall: { call: 'close', args: { fd: h.fd } } },
    ]);
    expect(m!.errno).toBe(0);
    expect(c!.errno).toBe(0);
    expect(iommufdActors(h)).toEqual([]);
    expect(Object.keys(h.sim.world.pages.pages)).toEqual([]);
    expect(h.sim.rt.deadLetters).toEqual([]);
  });

  scenario('a DESTROY and an UNMAP in flight at close both complete before the release', (h) => {
    const a = ioasAlloc(h);
    const b = ioasAlloc(h);
    expect(map(h, b, { length: PAGE, iova: 0x1000n }).errno).toBe(0);
    // A third thread acting on the same file (see concurrently()).
    const helper = h.sim.createProcess({ uid: 1000 });
    const [d, c, u] = concurrently(h, [
      { thread: me(h), pid: h.p.pid, ioctl: { fd: h.fd, cmd: IOMMU_DESTROY, arg: packArg('IOMMU_DESTROY', { id: a }) } },
      { thread: OTHER_THREAD, pid: h.p.pid, syscall: { call: 'close', args: { fd: h.fd } } },
      { thread: threadActorId(helper, 1), pid: h.p.pid, ownerPid: h.p.pid, ioctl: { fd: h.fd, cmd: IOMMU_IOAS_UNMAP, arg: packArg('IOMMU_IOAS_UNMAP', { ioas_id: b, iova: 0x1000n, length: PAGE }) } },
    ]);
    expect(d!.errno).toBe(0);
    expect(c!.errno).toBe(0);
    // The UNMAP was issued before the close was processed: it holds the file, so it runs.
    expect(u!.errno).toBe(0);
    expect(iommufdActors(h)).toEqual([]);
    expect(h.sim.rt.deadLetters).toEqual([]);
  });

  scenario('closing one of two fds of different contexts keeps the other context alive', (h) => {
    const fd2 = h.p.open('/dev/iommu');
    const other = { ...h, fd: fd2 };
    expect(ioasAlloc(other)).toBe(1);
    expect(h.p.close(h.fd)).toBe(0);
    expect(iommufdActors(h)).toEqual(['iommufd:2', 'obj:2:1']);
    expect(map(other, 1, { length: PAGE }).errno).toBe(0);
    expect(h.p.close(fd2)).toBe(0);
    expect(iommufdActors(h)).toEqual([]);
  });

  scenario('RLIMIT_MODE: EBUSY is about this context only, and a context that was emptied accepts SET again', (h) => {
    const fd2 = h.p.open('/dev/iommu');
    const other = { ...h, fd: fd2 };
    ioasAlloc(other);
    expect(option(h, { option_id: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, val64: 1n }).errno).toBe(0);
    expect(option(other, { option_id: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, val64: 1n }).errno).toBe(EBUSY);
    expect(destroy(other, 1)).toBe(0);
    expect(option(other, { option_id: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, val64: 1n }).errno).toBe(0);
  });
});

/** mock-and-selftest.md §3.2 variants: which RLIMIT_MODE the setup sets (none: default per-user). */
const VARIANTS: Array<{ name: string; mode: 0 | 1 | null }> = [
  { name: 'account_none', mode: null },
  { name: 'account_user', mode: 0 },
  { name: 'account_mm', mode: 1 },
];

describe('change_process', () => {
  for (const v of VARIANTS) {
    scenario(`basic (${v.name}; no mock domain, so nothing is pinned: accounting owner checked, VmPin/VmLck stay 0)`, (h) => {
      if (v.mode !== null) expect(option(h, { option_id: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, val64: BigInt(v.mode) }).errno).toBe(0);
      const ioas = ioasAlloc(h);
      const mfd = h.p.memfdCreate(16n * PAGE);
      const cp = () => rawBytes(h, IOMMU_IOAS_CHANGE_PROCESS, packArg('IOMMU_IOAS_CHANGE_PROCESS', {})).errno;
      expect(map(h, ioas, { length: PAGE, iova: 0x10000n }).errno).toBe(0);
      expect(cp()).toBe(EINVAL);
      expect(unmap(h, ioas, 0x10000n, PAGE).errno).toBe(0);
      expect(mapFile(h, ioas, mfd, PAGE, 0x10000n).errno).toBe(0);
      expect(cp()).toBe(0);
      const pages = () => Object.values(h.sim.world.pages.pages);
      expect(pages().map((p) => p.pid)).toEqual([h.p.pid]);
      expect(pages()[0]!.accountMode).toBe(v.mode === 1 ? 'mm' : 'user');
      // The "forked child": another process of the same user issues the ioctl on the inherited fd.
      const child = h.sim.createProcess({ uid: 1000, rlimitMemlock: 64 << 20 });
      const [r] = concurrently(h, [
        { thread: threadActorId(child, 1), pid: child, ownerPid: h.p.pid, ioctl: { fd: h.fd, cmd: IOMMU_IOAS_CHANGE_PROCESS, arg: packArg('IOMMU_IOAS_CHANGE_PROCESS', {}) } },
      ]);
      expect(r!.errno).toBe(0);
      expect(pages().map((p) => p.pid)).toEqual([child]);
      const mms = h.sim.world.mem.mms;
      for (const pid of [h.p.pid, child]) {
        expect(mms[pid]!.pinnedVm).toBe(0);
        expect(mms[pid]!.lockedVm).toBe(0);
      }
      // Back to the parent, then a plain MAP makes it EINVAL again without moving anything.
      expect(cp()).toBe(0);
      expect(pages().map((p) => p.pid)).toEqual([h.p.pid]);
      expect(map(h, ioas, { length: PAGE, iova: 0x20000n }).errno).toBe(0);
      const [r2] = concurrently(h, [
        { thread: threadActorId(child, 1), pid: child, ownerPid: h.p.pid, ioctl: { fd: h.fd, cmd: IOMMU_IOAS_CHANGE_PROCESS, arg: packArg('IOMMU_IOAS_CHANGE_PROCESS', {}) } },
      ]);
      expect(r2!.errno).toBe(EINVAL);
      expect(pages().map((p) => p.pid)).toEqual([h.p.pid, h.p.pid]);
    });
  }
});
