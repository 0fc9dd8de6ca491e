/**
 * The simulation: a runtime with the kernel, the iommufd core and the
 * hardware wired together, journaled, and a synchronous user-space API on
 * top (each call is an input; the scheduler runs until the model is quiet).
 */
import { Runtime, type RuntimeSnapshot } from './runtime/runtime.ts';
import type { StrategySpec, Strategy } from './runtime/strategy.ts';
import type { Envelope } from './runtime/envelope.ts';
import type { SimActor } from './runtime/actor.ts';
import { createWorld, type SimConfig, type World } from './world.ts';
import { KernelActor, KERNEL_ACTOR, ioctlTarget, type SyscallResult } from './kernel.ts';
import { ThreadActor, threadActorId, type ThreadState } from './thread.ts';
import { iommufdRestorers } from './iommufd/main.ts';
import { TranslationActor } from './hw/translation.ts';
import { createIommuActor, iommuActorId, restoreIommuActor, IOMMU_KIND } from './hw/iommu.ts';
import { createHwState } from './hw/state.ts';
import { DeviceActor, DEVICE_KIND, deviceActorId, type DeviceState } from './hw/device.ts';
import { TRANSLATION_ACTOR, type DmaOutcome, type DmaRequest } from './hw/translation.ts';
import { restoreVfioActor, VFIO_KIND } from './vfio.ts';
import { SvaActor, SVA_KIND, type SvaActorState } from './hw/sva.ts';
import { defaultTopology, validateTopology, type TopologySpec } from '../hardware/topology.ts';
import type { EngineBugs } from '../hardware/translate.ts';
import { burstOf, isDmaBurst, type DmaAccess, type DmaBurst } from '../hardware/burst.ts';
import { isPhysMemImage, physMemFromImage, physMemImage, type PhysMem, type PhysMemImage } from '../hardware/physmem.ts';
import type { JournalWriter } from '../journal/writer.ts';
import { EBADF } from '../uapi/errno.ts';

export const SIMULATOR_VERSION = '0.1.0';

/** The process that exists from the start and creates the others. */
export const INIT_PID = 0;

export interface SimOptions {
  seed?: number | string;
  strategy?: StrategySpec;
  config?: Partial<SimConfig>;
  /** Physical memory size in 4 KiB frames. */
  totalPages?: number;
  /** Deliveries between snapshots in the journal (0: none). */
  snapshotEvery?: number;
  journal?: JournalWriter;
  /** Free-form description kept in the journal header (scenario name, source...). */
  scenario?: unknown;
  /** IOMMUs and devices; the default has a VT-d, an SMMUv3 and the mock IOMMU. */
  topology?: TopologySpec;
  /** Deliberately broken hardware behaviours (e.g. skip the IOTLB flush on unmap). */
  hwBugs?: Partial<EngineBugs>;
}

export interface SimHeader {
  seed: number | string;
  strategy: StrategySpec;
  config: SimConfig;
  totalPages: number;
  snapshotEvery: number;
  topology: TopologySpec;
  hwBugs: Partial<EngineBugs>;
}

export interface IoctlResult {
  errno: number;
  /** The argument bytes as user space sees them after the call. */
  arg: Uint8Array;
  /** The system call's return value (0 unless the ioctl returns a value, e.g. VFIO_CHECK_EXTENSION; -1 on error). */
  ret?: number | bigint;
}

export class SimulationError extends Error {}

export const DEFAULT_SNAPSHOT_EVERY = 1000;

/**
 * A snapshot as the journal stores it: physical memory as its non-zero
 * frames (physMemImage) rather than its content blocks.  Idempotent; the
 * result shares live state, so encode it before the next delivery.
 */
export function journalSnapshot(s: RuntimeSnapshot<World>): RuntimeSnapshot<World> {
  const mem = s.world.mem;
  if (isPhysMemImage(mem.pm)) return s;
  return { ...s, world: { ...s.world, mem: { ...mem, pm: physMemImage(mem.pm) as unknown as PhysMem } } };
}

/** The live form of a snapshot read from a journal (or taken live: then it is returned as is). */
export function liveSnapshot(s: RuntimeSnapshot<World>): RuntimeSnapshot<World> {
  const mem = s.world.mem;
  const pm = mem.pm as PhysMem | PhysMemImage;
  if (!isPhysMemImage(pm)) return s;
  return { ...s, world: { ...s.world, mem: { ...mem, pm: physMemFromImage(pm) } } };
}

export function restorers(): Record<string, (id: string, st: unknown) => SimActor<World>> {
  return {
    kernel: () => new KernelActor(),
    thread: (id, st) => new ThreadActor(id, st as ThreadState),
    translation: (id, st) => TranslationActor.restore(id, st),
    [IOMMU_KIND]: restoreIommuActor,
    [VFIO_KIND]: restoreVfioActor,
    [DEVICE_KIND]: (id, st) => new DeviceActor(id, st as DeviceState),
    [SVA_KIND]: (id, st) => new SvaActor(id, st as SvaActorState),
    ...iommufdRestorers(),
  };
}

export class Simulation {
  readonly rt: Runtime<World>;
  readonly header: SimHeader;
  private journal: JournalWriter | undefined;

  /**
   * `from.snapshot` rebuilds a simulation from a snapshot instead of the
   * initial state; `from.strategy` replaces the scheduling strategy (a replay
   * answers choices from its journal).
   */
  constructor(opts: SimOptions = {}, from: { snapshot?: RuntimeSnapshot<World>; strategy?: Strategy } = {}) {
    const seed = opts.seed ?? 1;
    const strategy: StrategySpec = opts.strategy ?? { name: 'fifo' };
    const totalPages = opts.totalPages ?? 1 << 18;
    const world = createWorld({ totalPages, config: opts.config });
    this.header = {
      seed,
      strategy,
      config: world.config,
      totalPages,
      snapshotEvery: opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY,
      topology: opts.topology ?? defaultTopology(),
      hwBugs: opts.hwBugs ?? {},
    };
    const problems = validateTopology(this.header.topology);
    if (problems.length) throw new SimulationError(`invalid topology: ${problems.join('; ')}`);
    const rtOpts = { restorers: restorers(), snapshotEvery: opts.journal ? this.header.snapshotEvery : 0 };
    if (from.snapshot) {
      this.rt = Runtime.restore(liveSnapshot(from.snapshot), { ...rtOpts, strategy: from.strategy });
    } else {
      this.rt = new Runtime<World>({ ...rtOpts, world, strategy: from.strategy ?? strategy });
      this.rt.spawn(new KernelActor());
      this.rt.spawn(ThreadActor.create(INIT_PID, 1));
      world.procs[INIT_PID] = { pid: INIT_PID, fds: {}, threads: [1] };
      this.bootHardware(world);
    }
    if (opts.journal) this.attachJournal(opts.journal, opts.scenario);
  }

  /** The machine's hardware: the translation actor and one actor per IOMMU, probed at boot. */
  private bootHardware(world: World): void {
    const topo = this.header.topology;
    world.kobj.hw = createHwState(topo);
    this.rt.spawn(TranslationActor.create(topo.iommus.map((m) => m.id), topo.devices.map((d) => d.id), { bugs: { skipIotlbFlushOnUnmap: false, skipAtcFlushOnUnmap: false, skipNestedFlushOnParentUnmap: false, ...this.header.hwBugs } }));
    for (const m of topo.iommus) this.rt.spawn(createIommuActor(m.id, m.kind));
    for (const d of topo.devices) this.rt.spawn(DeviceActor.create(d.id));
    // Probing is the first thing the journal shows; the scheduler delivers it like any input.
    for (const m of topo.iommus) this.rt.scheduler.post('boot', iommuActorId(m.id), 'hw', 'probe.done', {}, 0);
  }

  get world(): World {
    return this.rt.world;
  }

  private attachJournal(w: JournalWriter, scenario: unknown): void {
    this.journal = w;
    w.writeHeader({
      simulatorVersion: SIMULATOR_VERSION,
      seed: this.header.seed,
      topology: this.header.topology as unknown,
      configuration: this.header,
      scenario: scenario ?? null,
    });
    this.rt.bus.input$.subscribe((e) => w.writeInput(e));
    this.rt.bus.choice$.subscribe((e) => w.writeEnvelope(e));
    this.rt.bus.delivered$.subscribe((e) => w.writeEnvelope(e));
    this.rt.bus.snapshot$.subscribe((s) => w.writeSnapshot(s.seq, journalSnapshot(s.state as RuntimeSnapshot<World>)));
  }

  /** Write the trailer and close the journal. */
  close(info?: unknown): void {
    if (!this.journal) return;
    this.journal.writeEnd({ deliveries: this.rt.seq, ...(info as object) });
    this.journal.close();
    this.journal = undefined;
  }

  /** Run until nothing is pending. */
  settle(maxSteps = 10_000_000): number {
    const n = this.rt.run(maxSteps);
    if (this.rt.scheduler.pendingCount > 0) throw new SimulationError(`model did not settle within ${maxSteps} deliveries`);
    return n;
  }

  thread(pid: number, tid = 1): ThreadActor {
    const t = this.rt.actor(threadActorId(pid, tid));
    if (!(t instanceof ThreadActor)) throw new SimulationError(`no thread ${pid}.${tid}`);
    return t;
  }

  /** A system call from thread pid.tid, run to completion. */
  syscall(pid: number, call: string, args: Record<string, unknown> = {}, tid = 1): SyscallResult {
    const t = this.thread(pid, tid);
    const before = t.st.completed;
    this.rt.inject(t.id, KERNEL_ACTOR, 'ioctl', 'syscall', { call, pid, args });
    this.settle();
    const r = t.st.completed > before ? (t.st.last as SyscallResult) : null;
    if (!r) throw new SimulationError(`syscall ${call} of ${t.id} got no answer`);
    return r;
  }

  /** Raw ABI: ioctl(fd, cmd, arg) exactly as a C program issues it. */
  ioctl(pid: number, fd: number, cmd: number, arg: Uint8Array, tid = 1): IoctlResult {
    const t = this.thread(pid, tid);
    const target = ioctlTarget(this.world, pid, fd);
    if ('errno' in target) return { errno: target.errno, arg };
    const before = t.st.completed;
    this.rt.inject(t.id, target.actor, 'ioctl', 'ioctl', { cmd: cmd >>> 0, arg, pid });
    this.settle();
    const r = t.st.completed > before ? (t.st.last as { errno: number; arg?: Uint8Array; ret?: number | bigint }) : null;
    if (!r) throw new SimulationError(`ioctl 0x${cmd.toString(16)} of ${t.id} got no answer`);
    return { errno: r.errno, arg: r.arg ?? arg, ret: r.ret };
  }

  /** Create a process (with one thread) and return its pid. */
  createProcess(opts: { uid?: number; rlimitMemlock?: number; ipcLock?: boolean; sysResource?: boolean } = {}): number {
    const r = this.syscall(INIT_PID, 'proc.create', {
      uid: opts.uid ?? 1000,
      ...(opts.rlimitMemlock !== undefined ? { rlimitMemlock: opts.rlimitMemlock } : {}),
      ipcLock: opts.ipcLock ?? false,
      sysResource: opts.sysResource ?? false,
    });
    if (r.errno) throw new SimulationError(`proc.create failed: errno ${r.errno}`);
    return Number(r.ret);
  }

  /**
   * A DMA burst from a device, run to completion; one outcome per access.
   * A DmaBurst goes as it is (a caller may fill the same one again for its
   * next burst); a list of accesses is packed into one first.
   */
  dma(dev: string, accesses: readonly DmaAccess[] | DmaBurst): DmaOutcome[] {
    const d = this.rt.actor(deviceActorId(dev));
    if (!(d instanceof DeviceActor)) throw new SimulationError(`no device '${dev}'`);
    const before = d.st.completed;
    const req: DmaRequest = { device: dev, burst: isDmaBurst(accesses) ? accesses : burstOf(accesses) };
    this.rt.inject(d.id, TRANSLATION_ACTOR, 'dma', 'dma', req);
    this.settle();
    if (d.st.completed === before || !d.st.last) throw new SimulationError(`DMA from ${dev} got no answer`);
    return d.st.last;
  }

  /** Every delivery so far is journaled with this envelope count. */
  get deliveries(): number {
    return this.rt.seq;
  }

  snapshot(): RuntimeSnapshot<World> {
    return this.rt.snapshot();
  }
}

export type { Envelope };
