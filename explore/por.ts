/**
 * Systematic exploration: stateless depth-first enumeration of the choice
 * tree (every run re-executes from the start with a prefix of choices), and
 * the same with sleep sets (Godefroid's partial-order reduction), which skip
 * reorderings of independent deliveries.
 *
 * Independence is decided from what a delivery touches: its dst actor's
 * state, plus shared world state by class of actor — conservatively:
 *   kernel        writes the world (memory, pages) and the fd/file tables
 *   obj:* / hw    writes the world
 *   iommufd:*     writes the world (user copies, accounting), reads fd tables
 *   thread:*      reads fd tables; reads/writes scenario variables if its
 *                 program uses patch/save
 * Two deliveries are dependent if they go to the same actor or one writes
 * what the other reads or writes.
 */
import type { Candidate } from '../actors/runtime/strategy.ts';
import type { Envelope } from '../actors/runtime/envelope.ts';
import type { Chooser } from './run.ts';

const WORLD = 1;
const FDS = 2;
const VARS = 4;

interface Touch {
  dst: string;
  r: number;
  w: number;
}

export function touches(dst: string, varThreads: ReadonlySet<string>): Touch {
  if (dst === 'kernel') return { dst, r: 0, w: WORLD | FDS };
  if (dst.startsWith('thread:')) return varThreads.has(dst) ? { dst, r: FDS | VARS, w: VARS } : { dst, r: FDS, w: 0 };
  if (dst.startsWith('iommufd:')) return { dst, r: FDS, w: WORLD };
  return { dst, r: 0, w: WORLD };
}

export function dependent(a: Touch, b: Touch): boolean {
  return a.dst === b.dst || (a.w & (b.r | b.w)) !== 0 || (b.w & a.r) !== 0;
}

interface Cand {
  id: number;
  src: string;
  dst: string;
}

interface Frame {
  cands: Cand[];
  /** Asleep on entry: reorderings already covered by an earlier branch. */
  sleep: number[];
  /** Branches explored (or given to another slice) before `cur`. */
  done: number[];
  cur: number;
}

export interface DfsOptions {
  /** Sleep sets on (POR) or off (plain enumeration). */
  sleepSets: boolean;
  /** Thread actors whose programs share variables (dependent through them). */
  varThreads?: ReadonlySet<string>;
  /** Only the root branches b with b % slice[1] === slice[0]. */
  slice?: [number, number];
}

/**
 * Drives one run at a time: `chooser()` for the next run, `advance()` after
 * it; `key()` names the run (its choice indices), which orders runs the way
 * the unsliced search would meet them.
 */
export class Dfs {
  private stack: Frame[] = [];
  private depth = 0;
  private sleep = new Map<number, Cand>();
  private readonly varThreads: ReadonlySet<string>;
  private started = false;
  finished = false;

  constructor(private readonly o: DfsOptions) {
    this.varThreads = o.varThreads ?? new Set();
  }

  private t(c: { dst: string }): Touch {
    return touches(c.dst, this.varThreads);
  }

  /** The choice-index path of the current run. */
  key(): number[] {
    return this.stack.map((f) => f.cands.findIndex((c) => c.id === f.cur));
  }

  chooser(): Chooser {
    this.depth = 0;
    this.sleep = new Map();
    return {
      pick: (cands) => this.pick(cands),
      delivered: (env) => this.delivered(env),
    };
  }

  private inSlice(rootIndex: number): boolean {
    const s = this.o.slice;
    return !s || rootIndex % s[1] === s[0];
  }

  private pick(cands: readonly Candidate[]): number {
    const d = this.depth++;
    let f = this.stack[d];
    if (!f) {
      const cs = cands.map((c) => ({ id: c.id, src: c.src, dst: c.dst }));
      const sleep = this.o.sleepSets ? cs.filter((c) => this.sleep.has(c.id)).map((c) => c.id) : [];
      f = { cands: cs, sleep, done: [], cur: -1 };
      const next = this.nextBranch(f, d === 0);
      if (next < 0) return -1;
      f.cur = next;
      this.stack.push(f);
    }
    const idx = cands.findIndex((c) => c.id === f!.cur);
    if (idx < 0) throw new Error(`dfs: the run did not repeat its prefix at depth ${d} (nondeterministic model?)`);
    if (this.o.sleepSets) {
      this.sleep = new Map();
      for (const id of [...f.sleep, ...f.done]) this.sleep.set(id, f.cands.find((c) => c.id === id)!);
    }
    return idx;
  }

  /** First branch neither asleep nor done; at the root, branches of other slices count as done. */
  private nextBranch(f: Frame, root: boolean): number {
    for (let i = 0; i < f.cands.length; i++) {
      const c = f.cands[i]!;
      if (f.sleep.includes(c.id) || f.done.includes(c.id) || c.id === f.cur) continue;
      if (root && !this.inSlice(i)) {
        f.done.push(c.id);
        continue;
      }
      return c.id;
    }
    return -1;
  }

  private delivered(env: Envelope): void {
    if (!this.o.sleepSets || this.sleep.size === 0) return;
    const t = this.t(env);
    for (const [id, c] of this.sleep) {
      if ((c.src === env.src && c.dst === env.dst) || dependent(this.t(c), t)) this.sleep.delete(id);
    }
  }

  /** After a run: move to the next unexplored branch; false when the tree is exhausted. */
  advance(): boolean {
    this.started = true;
    while (this.stack.length > 0) {
      const d = this.stack.length - 1;
      const f = this.stack[d]!;
      f.done.push(f.cur);
      const next = this.nextBranch(f, d === 0);
      if (next >= 0) {
        f.cur = next;
        return true;
      }
      this.stack.pop();
    }
    this.finished = true;
    return false;
  }

  get hasStarted(): boolean {
    return this.started;
  }
}
