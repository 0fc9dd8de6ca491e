/**
 * Harness for the vIOMMU / vDEVICE / FAULT / vEVENTQ tests: guest RAM in an
 * IOAS at GPA 0 behind a NEST_PARENT HWPT, guest stage-1 tables built with
 * the host's encoders and written INTO guest memory with Proc.poke (the CPU
 * side of the guest), event-fd readers that decode what the kernel copied
 * out, and access to the FAULT / device actors' counters.  Everything goes
 * through the typed API (which packs the raw ABI) and is journaled and
 * replayed by `journaled` (test/translation/helpers.ts).
 */
import { expect } from 'vitest';
import type { Simulation } from '../../actors/sim.ts';
import type { Proc } from '../../actors/api.ts';
import { DeviceActor, deviceActorId, type DeviceState } from '../../actors/hw/device.ts';
import { ictxActorId } from '../../actors/iommufd/main.ts';
import type { FaultData, VeventqData } from '../../actors/iommufd/eventq.ts';
import { encodeCd, materializeGuestTable } from '../../hardware/pagetable/nested.ts';
import { poolCreate } from '../../hardware/pagetable/pool.ts';
import { ptCreate, ptMap } from '../../hardware/pagetable/radix.ts';
import { FMT_SMMU_S1, FMT_VTD_FL, PROT_READ, PROT_WRITE } from '../../hardware/pagetable/format.ts';
import { decodeArray, pack } from '../../uapi/layout.ts';
import * as S from '../../uapi/structs.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_VEVENTQ_FLAG_LOST_EVENTS } from '../../uapi/enums.ts';
import { FIXED, PAGE, RW, pattern, poke, rig, type DevName, type Rig } from '../translation/helpers.ts';

export { FIXED, PAGE, RW, pattern, poke, rig, type DevName, type Rig };
export { journaled, peek, read1, write1, domainOf, tr } from '../translation/helpers.ts';

/** Guest RAM: GPA [0, RAM_PAGES * 4K); the first TABLE_PAGES hold the guest's tables (page 0: CD table). */
export const RAM_PAGES = 64;
export const TABLE_PAGES = 16;
/** The guest's DMA window (stage-1 IOVAs). */
export const S1_BASE = 0x4000_0000;

export interface Guest {
  r: Rig;
  /** User VA of GPA 0. */
  ram: bigint;
  parent: number;
  /** Current stage 1: IOVA page → GPA page. */
  s1: Map<number, { gpa: number; write: boolean }>;
  /** VT-d FLPTR / SMMU CD table GPA. */
  root: number;
}

/** IOAS with guest RAM at GPA 0 (pattern content, table pages zeroed) and a NEST_PARENT HWPT_PAGING on it. */
export function guestRam(sim: Simulation, dev: DevName, seed = 1): Guest {
  const r = rig(sim, dev, { attach: false });
  const ram = r.p.mmap({ length: RAM_PAGES * PAGE });
  const image = pattern(RAM_PAGES, seed);
  image.fill(0, 0, TABLE_PAGES * PAGE);
  poke(r.p, ram, image);
  expect(r.ifd.ioasMap({ ioas_id: r.ioas, flags: RW | FIXED, user_va: ram, length: BigInt(RAM_PAGES * PAGE), iova: 0n }).errno).toBe(0);
  const ph = r.ifd.hwptAlloc({ dev_id: r.devId, pt_id: r.ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT, data_type: 0, data_len: 0, data_uptr: 0n });
  expect(ph.errno).toBe(0);
  return { r, ram, parent: ph.out.out_hwpt_id, s1: new Map(), root: 0 };
}

/**
 * The guest writes a stage-1 table mapping `maps` (IOVA page → GPA page) into
 * its RAM (the 16 pages from `tableBase`: tables in 1..15, for SMMUv3 a CD
 * with ASID `asid` in page 0).
 * Returns the pointer the hardware is given (CD table GPA / FLPTR).
 */
export function writeStage1(g: Guest, kind: 'smmuv3' | 'vtd', maps: { iova: number; gpa: number; write?: boolean }[], asid = 5, tableBase = 0): number {
  const pool = poolCreate();
  const t = ptCreate(pool, kind === 'smmuv3' ? FMT_SMMU_S1 : FMT_VTD_FL, { levels: 4, blocks: 0 });
  g.s1.clear();
  for (const m of maps) {
    const w = m.write ?? true;
    expect(ptMap(pool, t, m.iova, m.gpa, PAGE, PROT_READ | (w ? PROT_WRITE : 0))).toBe(0);
    g.s1.set(m.iova, { gpa: m.gpa, write: w });
  }
  const tables = new Uint8Array(TABLE_PAGES * PAGE);
  const dv = new DataView(tables.buffer);
  const write64 = (gpa: number, v: bigint) => dv.setBigUint64(gpa - tableBase, v, true);
  const nodes = new Map<number, number>();
  let root = materializeGuestTable(pool, t, (node) => {
    let gpa = nodes.get(node);
    if (gpa === undefined) nodes.set(node, (gpa = tableBase + (1 + nodes.size) * PAGE));
    if (gpa >= tableBase + TABLE_PAGES * PAGE) throw new Error('guest table space exhausted');
    return gpa;
  }, write64);
  if (kind === 'smmuv3') {
    const [w0, w1] = encodeCd({ t0sz: 16, ttb0: root, asid });
    write64(tableBase, w0);
    write64(tableBase + 8, w1);
    root = tableBase;
  }
  poke(g.r.p, g.ram + BigInt(tableBase), tables);
  g.root = root;
  return root;
}

/** User VA of a GPA. */
export function gpaVa(g: Guest, gpa: number): bigint {
  return g.ram + BigInt(gpa);
}

/** Put driver data in user memory (a page of its own so it does not clash with the scratch page). */
export function userData(p: Proc, bytes: Uint8Array, at = 0x8000n): bigint {
  const va = p.scratchPage() + at;
  poke(p, va, bytes);
  return va;
}

export function vste(ste0: bigint, ste1 = 0n): Uint8Array {
  return pack(S.iommu_hwpt_arm_smmuv3, { ste: [ste0, ste1] });
}

/** STE word 0: V | Config | S1ContextPtr. */
export function ste0(config: number, cdTable = 0, valid = true): bigint {
  return (valid ? 1n : 0n) | (BigInt(config) << 1n) | (BigInt(cdTable) & 0x000fffffffffffc0n);
}

// ---------------------------------------------------------------- event fds

export interface PgFault {
  flags: number;
  dev_id: number;
  pasid: number;
  grpid: number;
  perm: number;
  addr: bigint;
  length: number;
  cookie: number;
}

export function readFaults(p: Proc, fd: number, count = 40 * 16): { ret: number; recs: PgFault[] } {
  const r = p.read(fd, count);
  const n = r.ret > 0 ? r.ret / S.iommu_hwpt_pgfault.size : 0;
  return { ret: r.ret, recs: decodeArray(S.iommu_hwpt_pgfault, r.data, n) as unknown as PgFault[] };
}

export function respond(p: Proc, fd: number, rs: { cookie: number; code: number }[]): number {
  const b = new Uint8Array(rs.length * 8);
  const dv = new DataView(b.buffer);
  rs.forEach((x, i) => {
    dv.setUint32(i * 8, x.cookie, true);
    dv.setUint32(i * 8 + 4, x.code, true);
  });
  return p.write(fd, b);
}

export interface Vevent {
  flags: number;
  seq: number;
  data: Uint8Array;
}

/** read() a vEVENTQ fd and split the stream: a LOST_EVENTS header has no data, others `dataLen` bytes. */
export function readVevents(p: Proc, fd: number, count: number, dataLen: number): { ret: number; evs: Vevent[] } {
  const r = p.read(fd, count);
  const evs: Vevent[] = [];
  if (r.ret <= 0) return { ret: r.ret, evs };
  const dv = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
  let off = 0;
  while (off < r.ret) {
    const flags = dv.getUint32(off, true);
    const seq = dv.getUint32(off + 4, true);
    off += 8;
    const len = flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS ? 0 : dataLen;
    evs.push({ flags, seq, data: r.data.slice(off, off + len) });
    off += len;
  }
  expect(off).toBe(r.ret);
  return { ret: r.ret, evs };
}

/**
 * Invariant: vEVENTQ sequence numbers increase by one (mod 2^31) between
 * consecutive records, except right after a lost-events marker, which
 * itself takes a number.  `prev` is the last sequence read before.
 */
export function checkSequence(evs: Vevent[], prev: number | null): number | null {
  let last = prev;
  let afterLost = false;
  for (const e of evs) {
    if (last !== null && !afterLost) expect(e.seq, `sequence after ${last}`).toBe((last + 1) & 0x7fffffff);
    afterLost = (e.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS) !== 0;
    last = e.seq;
  }
  return last;
}

// ---------------------------------------------------------------- actor state (read only)

export function deviceState(sim: Simulation, dev: string): DeviceState {
  const a = sim.rt.actor(deviceActorId(dev));
  if (!(a instanceof DeviceActor)) throw new Error(`no device actor ${dev}`);
  return a.st;
}

/** Total page responses a device received, and how many groups got more than one. */
export function responseCounts(sim: Simulation, dev: string): { total: number; duplicated: string[] } {
  const st = deviceState(sim, dev);
  const vals = Object.entries(st.responses);
  return { total: vals.reduce((s, [, n]) => s + n, 0), duplicated: vals.filter(([, n]) => n !== 1).map(([k]) => k) };
}

/** The data of object `id` of the iommufd open as `fd` in `p`. */
export function objectData<T>(sim: Simulation, p: Proc, fd: number, id: number): T {
  const file = sim.world.procs[p.pid]!.fds[fd]!;
  const ctx = sim.rt.actor(ictxActorId(file)) as unknown as { context: { data: { table: { entries: Record<number, { actor: string }> } } } };
  const e = ctx.context.data.table.entries[id];
  if (!e) throw new Error(`no object ${id}`);
  const a = sim.rt.actor(e.actor) as unknown as { context: { data: T } };
  return a.context.data;
}

export function faultData(sim: Simulation, p: Proc, fd: number, id: number): FaultData {
  return objectData<FaultData>(sim, p, fd, id);
}

export function veventqData(sim: Simulation, p: Proc, fd: number, id: number): VeventqData {
  return objectData<VeventqData>(sim, p, fd, id);
}
