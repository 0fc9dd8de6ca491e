/**
 * Harness for the translation-actor tests: a Simulation with one process,
 * one /dev/iommu, an IOAS and a VFIO device bound and attached, all through
 * the typed API (which is the raw ABI underneath); plus ways to reach the
 * hardware state (translation actor) and the IOAS (io_pagetable) of a
 * running simulation, and the journal/replay check every scenario runs.
 */
import { expect } from 'vitest';
import { Simulation, type SimOptions } from '../../actors/sim.ts';
import { openVfio, spawnProc, type Iommufd, type Proc, type VfioDevice } from '../../actors/api.ts';
import { liveIoas, translationActor } from '../../actors/invariants-hw.ts';
import type { IoPagetable } from '../../actors/iommufd/io_pagetable.ts';
import { ictxActorId } from '../../actors/iommufd/main.ts';
import { JournalReader, JournalWriter, memorySink } from '../../journal/index.ts';
import { ReplaySession } from '../../replay/session.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../uapi/enums.ts';
import type { DmaOutcome, TranslationActor } from '../../actors/hw/translation.ts';

export const PAGE = 4096;
export const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
export const FIXED = IOMMU_IOAS_MAP_FIXED_IOVA;

/** Physical devices of the default topology by VFIO index (vfioN is the N-th non-mock device). */
export const DEVICES = { dev0: 0, dev1: 1, dev2: 2 } as const;
export type DevName = keyof typeof DEVICES;

export interface Rig {
  sim: Simulation;
  p: Proc;
  ifd: Iommufd;
  ioas: number;
  dev: DevName;
  vfio: VfioDevice;
  devId: number;
}

/** Process + iommufd + IOAS + device bound (not attached unless `attach`). */
export function rig(sim: Simulation, dev: DevName, o: { attach?: boolean } = {}): Rig {
  const p = spawnProc(sim, { uid: 1000, rlimitMemlock: 1 << 30, sysResource: true });
  const ifd = p.openIommufd();
  const a = ifd.ioasAlloc();
  expect(a.errno).toBe(0);
  const vfio = openVfio(p, DEVICES[dev]);
  const b = vfio.bind(ifd);
  expect(b.errno).toBe(0);
  const r: Rig = { sim, p, ifd, ioas: a.out.out_ioas_id, dev, vfio, devId: b.out.out_devid };
  if (o.attach ?? true) expect(vfio.attach(r.ioas).errno).toBe(0);
  return r;
}

export function tr(sim: Simulation): TranslationActor {
  return translationActor(sim);
}

/** The hardware domain serving (device, pasid), or a test failure. */
export function domainOf(sim: Simulation, dev: string, pasid = 0): number {
  const d = tr(sim).domainOf(dev, pasid);
  if (d === undefined) throw new Error(`${dev} has no domain`);
  return d;
}

/** The io_pagetable of IOAS `id` of the rig's iommufd. */
export function ioptOf(r: Rig): IoPagetable {
  const file = r.sim.world.procs[r.p.pid]!.fds[r.ifd.fd]!;
  const ctx = ictxActorId(file);
  const e = liveIoas(r.sim).find((x) => x.ctx === ctx && x.id === r.ioas);
  if (!e) throw new Error(`no IOAS ${r.ioas} in ${ctx}`);
  return e.iopt;
}

/** Deterministic per-page pattern: every byte depends on the page index and the salt. */
export function pattern(pages: number, salt: number): Uint8Array {
  const b = new Uint8Array(pages * PAGE);
  let x = (salt * 2654435761) >>> 0 || 1;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

export function peek(p: Proc, va: bigint, len: number): Uint8Array {
  const b = p.peek(va, len);
  if (typeof b === 'number') throw new Error(`peek ${va.toString(16)}: errno ${b}`);
  return b;
}

export function poke(p: Proc, va: bigint, data: Uint8Array): void {
  expect(p.poke(va, data)).toBe(0);
}

export function read1(sim: Simulation, dev: string, iova: number, length: number): DmaOutcome {
  return sim.dma(dev, [{ iova, length, write: false }])[0]!;
}

export function write1(sim: Simulation, dev: string, iova: number, data: Uint8Array): DmaOutcome {
  return sim.dma(dev, [{ iova, length: data.length, write: true, data }])[0]!;
}

/** Run `fn` journaled (snapshot every 16 deliveries), then replay the journal: no divergence. */
export function journaled(fn: (sim: Simulation) => void, opts: SimOptions = {}): { sim: Simulation; bytes: Uint8Array } {
  const sink = memorySink();
  const sim = new Simulation({ snapshotEvery: 16, ...opts, journal: new JournalWriter(sink), scenario: { name: 'translation-test' } });
  fn(sim);
  sim.close();
  const bytes = sink.bytes();
  const div = ReplaySession.fromBytes(bytes).runToEnd();
  expect(div).toBeNull();
  // The hardware is part of the state: every snapshot holds the translation actor (page tables, IOTLBs, stats).
  const reader = JournalReader.fromBytes(bytes);
  const snaps = reader.snapshots();
  expect(snaps.length).toBeGreaterThan(0);
  for (const s of snaps) {
    const rec = reader.readAt(s.offset);
    const actors = (rec.value as { state: { actors: { id: string; kind: string; state: any }[] } }).state.actors;
    const t = actors.find((a) => a.id === 'translation');
    expect(t?.kind).toBe('translation');
    expect(t!.state.engine.pool).toBeInstanceOf(Uint8Array);
  }
  return { sim, bytes };
}
