/**
 * Text scenarios (scenario/FORMAT.md) as explore scenarios.  The text's one
 * `parallel { }` block is the concurrent part: each lane becomes a scenario
 * thread whose calls are the lane's lines (`line` calls, so the shrinker can
 * drop them one by one).  What comes before the block is the setup, run by
 * the text runner exactly as `iommufd-sim run` runs it; what comes after it
 * (closes, exits, DMA) runs one statement at a time once the threads are
 * quiet, with the invariants still checked after every delivery.
 *
 * A lane's `expect` clause says which results the kernel may give under any
 * interleaving; the explorer checks it when the run is quiet (the `expect`
 * failure), which is how a text scenario states its oracle.
 */
import { basename, extname } from 'node:path';
import type { Simulation } from '../actors/sim.ts';
import { KERNEL_ACTOR } from '../actors/kernel.ts';
import { TRANSLATION_ACTOR, type DmaRequest } from '../actors/hw/translation.ts';
import { burstOf } from '../hardware/burst.ts';
import { deviceActorId } from '../actors/hw/device.ts';
import { threadActorId, type ThreadStep } from '../actors/thread.ts';
import { laneErrnos, parseScenario as parseText, ScenarioError, type Program, type Stmt } from '../scenario/parse.ts';
import { Runner } from '../scenario/run.ts';
import { errnoName } from '../uapi/errno.ts';
import { compileCall, type Bindings, type CallOp, type Scenario, type ScenarioScript } from './scenario.ts';

/** Statements that may follow the parallel block: each is one injection, run to quiet. */
const AFTER_OK = new Set(['close', 'exit', 'dma']);

interface ParsedScript {
  prog: Program;
  before: Stmt[];
  block: Extract<Stmt, { op: 'parallel' }>;
  after: Stmt[];
  /** Variables some lane line saves: lanes pass them on by ThreadStep patches. */
  saved: Set<string>;
  byLine: Map<number, Stmt>;
}

function split(prog: Program): ParsedScript {
  const blocks = prog.stmts.filter((s): s is Extract<Stmt, { op: 'parallel' }> => s.op === 'parallel');
  if (blocks.length === 0) {
    throw new ScenarioError(prog.file, { line: 1, col: 1 }, 'no parallel { } block: explore needs the lanes whose interleavings it tries');
  }
  if (blocks.length > 1) {
    throw new ScenarioError(prog.file, blocks[1]!.pos, 'explore runs one parallel { } block; this is a second one (put its lanes into the first, or split the file)');
  }
  const block = blocks[0]!;
  const at = prog.stmts.indexOf(block);
  const after = prog.stmts.slice(at + 1);
  for (const s of after) {
    if (!AFTER_OK.has(s.op)) throw new ScenarioError(prog.file, s.pos, `'${s.op}' after the parallel block cannot be explored (after it: close, exit, dma)`);
  }
  const saved = new Set<string>();
  const byLine = new Map<number, Stmt>();
  for (const s of block.body) {
    byLine.set(s.pos.line, s);
    if (s.op === 'ioctl') for (const v of s.saves) saved.add(v.name);
  }
  return { prog, before: prog.stmts.slice(0, at), block, after, saved, byLine };
}

// Workers and the explorer run a scenario thousands of times: parse its text once.
let cached: { key: ScenarioScript; text: string; file: string; parsed: ParsedScript } | null = null;

function parsedScript(s: ScenarioScript): ParsedScript {
  if (cached && (cached.key === s || (cached.text === s.text && cached.file === s.file))) return cached.parsed;
  const parsed = split(parseText(s.text, s.file));
  cached = { key: s, text: s.text, file: s.file, parsed };
  return parsed;
}

function laneOf(s: Stmt): string {
  return (s as { who: string }).who;
}

/**
 * The explore scenario of a text scenario.  Throws ScenarioError (file:line:col)
 * for a text that does not parse or cannot be explored.
 */
export function scenarioFromText(text: string, file: string): Scenario {
  const p = split(parseText(text, file));
  const lines = text.split('\n');
  const lanes = new Map<string, CallOp[]>();
  for (const s of p.block.body) {
    const name = laneOf(s);
    let calls = lanes.get(name);
    if (!calls) lanes.set(name, (calls = []));
    calls.push({ op: 'line', line: s.pos.line, col: s.pos.col, text: lines[s.pos.line - 1]!.trim(), expect: laneErrnos(s) });
  }
  const comment = lines.find((l) => /^\s*#\s*\S/.test(l));
  return {
    name: basename(file, extname(file)),
    description: comment ? comment.replace(/^\s*#\s*/, '').trim() : `text scenario ${basename(file)}`,
    setup: [],
    threads: [...lanes.values()],
    script: { file, text },
  };
}

/** What the text's setup leaves for the run: the lanes' threads and the steps after the block. */
export interface ScriptSetup {
  /** Per scenario thread: its pid and tid. */
  threads: { pid: number; tid: number }[];
  /** One per statement after the block: inject it (the caller runs it to quiet). */
  after: (() => void)[];
}

/**
 * Run the text's statements before the block, then create one stopped
 * thread per scenario thread (in its lane's process) with its program.
 * A setup statement that misses its expectation fails the setup: the
 * interleavings of a scenario that did not set up as written mean nothing.
 */
export function setupScript(sim: Simulation, sc: Scenario, script: ScenarioScript): ScriptSetup {
  const p = parsedScript(script);
  const r = new Runner(sim, p.prog);
  for (const s of p.before) r.stmt(s);
  if (r.failures.length) {
    const f = r.failures[0]!;
    throw new ScenarioError(p.prog.file, f.pos, `setup: ${f.message}`);
  }
  const b: Bindings = { ...r.vars };
  const firstProc = r.procs.values().next().value as number | undefined;
  const threads = sc.threads.map((calls) => {
    const first = calls.find((c) => c.op === 'line');
    const lane = first ? p.byLine.get(first.line) : undefined;
    if (first && !lane) throw new ScenarioError(p.prog.file, { line: first.line, col: first.col }, 'no lane line here (the scenario text changed?)');
    const pid = lane ? r.threads.get(laneOf(lane))?.pid ?? r.fail(lane.pos, `unknown thread '${laneOf(lane)}'`) : firstProc;
    if (pid === undefined) throw new ScenarioError(p.prog.file, { line: 1, col: 1 }, 'no process to run the threads in');
    const program: ThreadStep[] = calls.map((c) => {
      if (c.op !== 'line') return compileCall(c, b);
      const s = p.byLine.get(c.line);
      if (!s) throw new ScenarioError(p.prog.file, { line: c.line, col: c.col }, 'no lane line here (the scenario text changed?)');
      if (lane && laneOf(s) !== laneOf(lane)) r.fail(s.pos, `line of lane '${laneOf(s)}' in the thread of lane '${laneOf(lane)}'`);
      return r.laneStep(s, pid, p.saved);
    });
    const t = sim.syscall(pid, 'thread.create', { program, start: false });
    if (t.errno) throw new ScenarioError(p.prog.file, lane?.pos ?? { line: 1, col: 1 }, `thread.create failed: ${errnoName(t.errno)}`);
    return { pid, tid: Number(t.ret) };
  });
  const after = p.after.map((s) => () => {
    // Variables the lanes saved are the thread actors' shared ones (a close of a saved fd).
    const shared = (sim.world.kobj.vars ?? {}) as Record<string, number | bigint>;
    for (const name of p.saved) if (shared[name] !== undefined) r.vars[name] = BigInt(shared[name]!);
    if (s.op === 'close') {
      const { pid, tid, fd } = r.closeTarget(s);
      sim.rt.inject(threadActorId(pid, tid), KERNEL_ACTOR, 'ioctl', 'syscall', { call: 'close', pid, args: { fd } });
    } else if (s.op === 'exit') {
      const w = r.who(s.who, s.pos);
      sim.rt.inject(threadActorId(w.pid, w.tid), KERNEL_ACTOR, 'ioctl', 'syscall', { call: 'proc.exit', pid: w.pid, args: {} });
    } else if (s.op === 'dma') {
      sim.rt.inject(deviceActorId(s.dev), TRANSLATION_ACTOR, 'dma', 'dma', { device: s.dev, burst: burstOf(r.dmaAccesses(s)) } satisfies DmaRequest);
    }
  });
  return { threads, after };
}

/** The place and text of a `line` call's expectation miss, or null. */
export function lineExpectMiss(file: string, c: Extract<CallOp, { op: 'line' }>, errno: number): string | null {
  if (!c.expect.length || c.expect.includes(errno)) return null;
  const names = (es: number[]) => es.map((e) => (e ? errnoName(e) : 'ok')).join('|');
  return `${file}:${c.line}:${c.col}: ${c.text}: expected ${names(c.expect)}, got ${names([errno])}`;
}
