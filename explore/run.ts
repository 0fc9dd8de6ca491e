/**
 * One explored run: a fresh Simulation, the scenario's setup (FIFO, no
 * concurrency), its threads started together, then the scheduler runs to
 * quiescence (or a step bound) under the explorer's chooser, with every
 * invariant checked after every delivery.
 */
import { createHash } from 'node:crypto';
import { Simulation } from '../actors/sim.ts';
import { spawnProc } from '../actors/api.ts';
import { KERNEL_ACTOR } from '../actors/kernel.ts';
import { ModelError } from '../actors/runtime/runtime.ts';
import { createStrategy, type Candidate, type Strategy, type StrategySpec, type StrategyState } from '../actors/runtime/strategy.ts';
import type { Envelope } from '../actors/runtime/envelope.ts';
import { ThreadActor, threadActorId } from '../actors/thread.ts';
import type { JournalWriter } from '../journal/index.ts';
import { encodeValue } from '../journal/index.ts';
import { modelState } from '../replay/session.ts';
import { allInvariants, checkOracles, type CallResult, type Invariant } from './invariants.ts';
import { IOMMU_TEST_CMD } from '../uapi/ioctl.ts';
import { decode, pack } from '../uapi/layout.ts';
import * as S from '../uapi/structs.ts';
import { compileCall, mockDomainArg, resolveArgs, scenarioToJson, type Bindings, type Scenario } from './scenario.ts';
import { EXPLORE_ACCESS_NODE } from './access.ts';
import { lineExpectMiss, setupScript } from './text.ts';
import { EBADF } from '../uapi/errno.ts';

/** Picks among deliverable messages in the explore phase; -1 means "this run is redundant" (POR). */
export interface Chooser {
  pick(cands: readonly Candidate[], step: number): number;
  /** Every explore-phase delivery, after it was handled. */
  delivered?(env: Envelope): void;
}

export function chooserOf(spec: StrategySpec): Chooser {
  const s = createStrategy(spec);
  return { pick: (c, step) => s.pick(c, step) };
}

export class RunBlocked extends Error {}

/**
 * The Simulation's strategy: FIFO during setup (so the choice list holds only
 * the interesting choices), the chooser afterwards, recording every choice.
 * Steps given to the chooser count from the first concurrent delivery.
 */
class ExploreStrategy implements Strategy {
  readonly name = 'explore';
  phase: 'setup' | 'explore' = 'setup';
  base = 0;
  readonly choices: number[] = [];
  readonly seqs: number[] = [];
  constructor(private readonly chooser: Chooser) {}
  pick(cands: readonly Candidate[], step: number): number {
    if (this.phase === 'setup') return 0;
    const i = this.chooser.pick(cands, step - this.base);
    if (i < 0) throw new RunBlocked('every deliverable message is asleep');
    this.choices.push(i);
    this.seqs.push(step);
    return i;
  }
  persist(): StrategyState {
    return { name: 'replay', choices: [...this.choices], next: this.choices.length, fallback: 'fifo' };
  }
}

export interface Violation {
  invariant: string;
  message: string;
  /** Delivery after which it was seen (the last delivery for end-of-run checks). */
  seq: number;
}

export interface RunOptions {
  variant?: string | null;
  chooser: Chooser;
  /** Deliveries allowed after the threads start (default 20 000). */
  maxSteps?: number;
  journal?: JournalWriter;
  /** Keep every explore-phase envelope (for explanations). */
  record?: boolean;
  invariants?: readonly Invariant[];
}

export interface RunResult {
  /** Choice indices of the explore phase, in order, and the delivery seq each decided. */
  choices: number[];
  choiceSeqs: number[];
  deliveries: number;
  /** Seq of the last setup delivery: the concurrent part starts after it. */
  setupSeq: number;
  violation: Violation | null;
  /** Hash of the model state at quiescence (null if the run failed, was blocked or hit the bound). */
  endState: string | null;
  results: CallResult[][];
  bounded: boolean;
  blocked: boolean;
  envs?: Envelope[];
}

/** Where the scenario's process and threads are: deterministic (first process, tids 2, 3, ...). */
export const SCENARIO_PID = 1;

/** Fingerprint of an encoded state (native SHA-256, truncated: the end-state identity). */
export function hashBytes(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 24);
}

/** Checks invariants after each delivery and collects the scenario threads' results. */
export class Checker {
  readonly results: CallResult[][];
  private readonly memo: Record<string, any> = {};
  private readonly threadIndex = new Map<string, number>();
  violation: Violation | null = null;

  constructor(
    private readonly sim: Simulation,
    private readonly scenario: Scenario,
    private readonly invariants: readonly Invariant[] = allInvariants(),
    threadIds: readonly string[] = scenarioThreadIds(scenario),
  ) {
    this.results = scenario.threads.map(() => []);
    threadIds.forEach((id, i) => this.threadIndex.set(id, i));
  }

  onDelivery(env: Envelope): Violation | null {
    const ti = this.threadIndex.get(env.dst);
    if (ti !== undefined) this.collect(ti, env);
    return this.check(env);
  }

  /** End of run: every invariant over the whole state, then the scenario's oracles. */
  finish(): Violation | null {
    const v = this.check(null);
    if (v) return v;
    const script = this.scenario.script;
    if (script) {
      for (const rs of this.results) {
        for (const r of rs) {
          const m = r.op.op === 'line' ? lineExpectMiss(script.file, r.op, r.errno) : null;
          // Named by the line, so shrinking keeps this expectation failing rather than any other.
          if (m) return (this.violation = { invariant: `expect:${(r.op as { line: number }).line}`, message: m, seq: this.sim.rt.seq });
        }
      }
    }
    const o = checkOracles(this.scenario, this.results);
    if (o) this.violation = { invariant: o.name, message: o.message, seq: this.sim.rt.seq };
    return this.violation;
  }

  private check(env: Envelope | null): Violation | null {
    if (this.violation) return this.violation;
    const view = { sim: this.sim, scenario: this.scenario, env, results: this.results, memo: this.memo };
    for (const inv of this.invariants) {
      const m = inv.check(view);
      if (m) return (this.violation = { invariant: inv.name, message: m, seq: this.sim.rt.seq });
    }
    return null;
  }

  private collect(ti: number, env: Envelope): void {
    const t = this.sim.rt.actor(env.dst) as ThreadActor | undefined;
    if (!t) return;
    const prog = this.scenario.threads[ti]!;
    const done = t.st.calls - (t.st.waiting ? 1 : 0);
    const rs = this.results[ti]!;
    const reply = env.type.endsWith('.ret') ? (env.body as { errno: number; arg?: Uint8Array }) : null;
    let first = true;
    while (rs.length < done && rs.length < prog.length) {
      const op = prog[rs.length]!;
      // The reply answers the oldest open call; later ones failed in the thread (fd not open).
      if (reply && first) rs.push(reply.arg ? { op, errno: reply.errno, arg: reply.arg } : { op, errno: reply.errno });
      else rs.push({ op, errno: EBADF });
      first = false;
    }
  }
}

/**
 * The scenario threads' actor ids.  A built-in scenario's threads are tids
 * 2, 3, … of the scenario process; a text scenario's live in its lanes'
 * processes, known only by running its setup (in a throwaway simulation).
 */
export function scenarioThreadIds(sc: Scenario): string[] {
  if (!sc.script) return sc.threads.map((_, i) => threadActorId(SCENARIO_PID, i + 2));
  const sim = new Simulation({ seed: 1, config: { ...sc.config, variant: null }, ...(sc.topology ? { topology: sc.topology } : {}) });
  return setupScenario(sim, sc).threads.map((t) => threadActorId(t.pid, t.tid));
}

export interface ScenarioSetup {
  bindings: Bindings;
  /** The scenario threads (created stopped), in scenario order. */
  threads: { pid: number; tid: number }[];
  /** What runs once the threads are quiet, one entry at a time, each run to quiet. */
  after: (() => void)[];
}

/** Build the simulation and run the setup; returns the bindings the thread programs use. */
export function setupScenario(sim: Simulation, sc: Scenario): ScenarioSetup {
  if (sc.script) {
    if (sc.setup.length) throw new Error(`scenario ${sc.name}: a text scenario's setup is its text`);
    return { bindings: {}, ...setupScript(sim, sc, sc.script) };
  }
  const p = spawnProc(sim);
  if (p.pid !== SCENARIO_PID) throw new Error(`scenario process got pid ${p.pid}, expected ${SCENARIO_PID}`);
  const b: Bindings = {};
  const iommufds: number[] = [];
  const fail = (what: string, errno: number) => {
    throw new Error(`scenario ${sc.name}: setup ${what} failed with errno ${errno}`);
  };
  for (const s of sc.setup) {
    switch (s.op) {
      case 'mmap':
        b[s.as] = p.mmap({ length: s.length });
        break;
      case 'open': {
        const fd = p.open('/dev/iommu');
        if (fd < 0) fail('open', -fd);
        b[s.as] = fd;
        iommufds.push(fd);
        break;
      }
      case 'ioasAlloc': {
        const r = p.iommufd(Number(b[s.fd])).ioasAlloc();
        if (!r.ok) fail('ioasAlloc', r.errno);
        b[s.as] = r.out.out_ioas_id;
        break;
      }
      case 'map': {
        const r = p.iommufd(Number(b[s.fd])).ioasMap({ flags: 7, ioas_id: Number(b[s.ioas]), user_va: BigInt(b[s.buf]!), length: s.length, iova: s.iova });
        if (!r.ok) fail('map', r.errno);
        break;
      }
      case 'poke': {
        const data = new Uint8Array(Number(s.length));
        for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 1) & 0xff;
        const e = p.poke(BigInt(b[s.buf]!), data);
        if (e) fail('poke', e);
        break;
      }
      case 'syscall': {
        const r = p.syscall(s.call, resolveArgs(b, s.args));
        if (r.errno) fail(s.call, r.errno);
        if (s.as) b[s.as] = r.ret as number | bigint;
        break;
      }
      case 'dma': {
        const pasid = s.pasid !== undefined ? Number(b[s.pasid.replace(/^\$/, '')]) : undefined;
        sim.dma(s.dev, [{ iova: BigInt(b[s.buf]!), length: s.length, write: s.write, ...(pasid !== undefined ? { pasid } : {}) }]);
        break;
      }
      case 'mockDomain': {
        const r = p.ioctl(Number(b[s.fd]), IOMMU_TEST_CMD, mockDomainArg(Number(b[s.ioas])));
        if (r.errno) fail('mockDomain', r.errno);
        const out = decode(S.iommu_test_cmd_views.mock_domain, r.arg) as { mock_domain: { out_stdev_id: number; out_idev_id: number } };
        b[s.as] = out.mock_domain.out_stdev_id;
        if (s.dev) b[s.dev] = out.mock_domain.out_idev_id;
        break;
      }
      case 'ioctl': {
        const r = p.iommufd(Number(b[s.fd])).call(s.name, resolveArgs(b, s.fields));
        if (!r.ok) fail(s.name, r.errno);
        for (const [field, as] of Object.entries(s.out ?? {})) b[as] = (r.out as Record<string, number | bigint>)[field]!;
        break;
      }
      case 'testCmd': {
        const id = s.id === undefined ? 0 : Number(resolveArgs(b, { id: s.id }).id);
        const layout = (S.iommu_test_cmd_views as Record<string, unknown>)[s.member];
        if (!layout) throw new Error(`scenario ${sc.name}: no test command member '${s.member}'`);
        const arg = pack(layout as never, { size: S.iommu_test_cmd.size, op: s.testOp, id, [s.member]: resolveArgs(b, s.fields) } as never);
        const r = p.ioctl(Number(b[s.fd]), IOMMU_TEST_CMD, arg);
        if (r.errno) fail(`test op ${s.testOp}`, r.errno);
        break;
      }
      case 'accessPin': {
        const r = p.syscall('open', { path: EXPLORE_ACCESS_NODE, fd: Number(b[s.fd]), ioas: Number(b[s.ioas]), iova: s.iova, length: s.length });
        if (r.errno) fail('accessPin', r.errno);
        break;
      }
    }
  }
  const threads = sc.threads.map((calls) => {
    const r = p.syscall('thread.create', { program: calls.map((c) => compileCall(c, b)), start: false });
    if (r.errno) fail('thread.create', r.errno);
    return { pid: p.pid, tid: Number(r.ret) };
  });
  const main = threadActorId(p.pid, 1);
  // Teardown closes every iommufd at once: their releases may interleave.
  const after = sc.teardown
    ? [() => { for (const fd of iommufds) sim.rt.inject(main, KERNEL_ACTOR, 'ioctl', 'syscall', { call: 'close', pid: p.pid, args: { fd } }); }]
    : [];
  return { bindings: b, threads, after };
}

export function runScenario(sc: Scenario, opts: RunOptions): RunResult {
  const strat = new ExploreStrategy(opts.chooser);
  const sim = new Simulation(
    {
      seed: 1,
      config: { ...sc.config, variant: opts.variant ?? null },
      ...(sc.topology ? { topology: sc.topology } : {}),
      ...(opts.journal ? { journal: opts.journal, scenario: { explore: scenarioToJson(sc), variant: opts.variant ?? null } } : {}),
    },
    { strategy: strat },
  );
  const { threads, after } = setupScenario(sim, sc);
  const checker = new Checker(sim, sc, opts.invariants, threads.map((t) => threadActorId(t.pid, t.tid)));
  const envs: Envelope[] | undefined = opts.record ? [] : undefined;
  const setupSeq = sim.rt.seq;
  strat.phase = 'explore';
  strat.base = setupSeq;
  // One thread.start per process, in order of first appearance: the threads are released together.
  const byPid = new Map<number, number[]>();
  for (const t of threads) byPid.set(t.pid, [...(byPid.get(t.pid) ?? []), t.tid]);
  for (const [pid, tids] of byPid) sim.rt.inject(threadActorId(pid, 1), KERNEL_ACTOR, 'ioctl', 'syscall', { call: 'thread.start', pid, args: { tids } });
  const max = opts.maxSteps ?? 20_000;
  let steps = 0;
  let blocked = false;
  let violation: Violation | null = null;
  let next = 0;
  const step = (): boolean => {
    let env: Envelope | null;
    try {
      env = sim.rt.step();
    } catch (e) {
      if (e instanceof RunBlocked) {
        blocked = true;
        return false;
      }
      if (e instanceof ModelError) {
        violation = { invariant: 'model-error', message: e.message, seq: e.env.seq };
        return false;
      }
      throw e;
    }
    if (!env) return false;
    steps++;
    envs?.push(env);
    opts.chooser.delivered?.(env);
    violation = checker.onDelivery(env);
    return violation === null;
  };
  for (;;) {
    while (steps < max && step());
    if (violation || blocked || steps >= max) break;
    if (next >= after.length) break;
    // The threads are done: the teardown (or the text's next statement after its block), then its consequences.
    after[next++]!();
  }
  const bounded = !violation && !blocked && steps >= max && sim.rt.scheduler.pendingCount > 0;
  if (!violation && !blocked && !bounded) violation = checker.finish();
  const endState = violation || blocked || bounded ? null : hashBytes(encodeValue(modelState(sim.rt.snapshot())));
  if (opts.journal) sim.close({ explore: { violation, choices: strat.choices.length } });
  return {
    choices: strat.choices,
    choiceSeqs: strat.seqs,
    deliveries: sim.rt.seq,
    setupSeq,
    violation,
    endState,
    results: checker.results,
    bounded,
    blocked,
    ...(envs ? { envs } : {}),
  };
}
