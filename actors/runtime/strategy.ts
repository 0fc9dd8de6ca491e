/**
 * Scheduling strategies.  At every step the scheduler hands the strategy the
 * deliverable messages (the head of every non-empty channel, oldest first) and
 * the strategy returns the index of the one to deliver.  Everything a strategy
 * remembers is plain data so it is part of a snapshot.
 */
import { createPrng, nextInt, type PrngState } from './prng.ts';

export interface Candidate {
  /** Pending-message id: the order in which messages were posted. */
  readonly id: number;
  readonly src: string;
  readonly dst: string;
  readonly kind: string;
  readonly type: string;
}

export interface Strategy {
  readonly name: string;
  /** Index into `candidates` (length ≥ 2; with one candidate there is no choice). */
  pick(candidates: readonly Candidate[], step: number): number;
  persist(): StrategyState;
}

export type StrategySpec =
  | { name: 'fifo' }
  | { name: 'random'; seed: number | string }
  | { name: 'replay'; choices: readonly number[]; fallback?: 'fifo' | 'error' }
  | { name: 'pct'; seed: number | string; depth: number; steps: number };

export type StrategyState =
  | { name: 'fifo' }
  | { name: 'random'; prng: PrngState }
  | { name: 'replay'; choices: number[]; next: number; fallback: 'fifo' | 'error' }
  | { name: 'pct'; prng: PrngState; depth: number; changePoints: number[]; priorities: Record<string, number>; nextLow: number };

/** The oldest message first: a plain global FIFO. */
class FifoStrategy implements Strategy {
  readonly name = 'fifo';
  pick(): number {
    return 0;
  }
  persist(): StrategyState {
    return { name: 'fifo' };
  }
}

/** Uniformly random among the deliverable messages, from a seeded PRNG. */
class RandomStrategy implements Strategy {
  readonly name = 'random';
  constructor(private readonly prng: PrngState) {}
  pick(candidates: readonly Candidate[]): number {
    return nextInt(this.prng, candidates.length);
  }
  persist(): StrategyState {
    return { name: 'random', prng: { s: [...this.prng.s] as PrngState['s'] } };
  }
}

export class ReplayExhaustedError extends Error {
  constructor(readonly step: number) {
    super(`replay strategy ran out of recorded choices at step ${step}`);
  }
}

/** Replays recorded choice indices; what happens past their end is configurable. */
class ReplayStrategy implements Strategy {
  readonly name = 'replay';
  constructor(
    private readonly choices: number[],
    private next: number,
    private readonly fallback: 'fifo' | 'error',
  ) {}
  pick(candidates: readonly Candidate[], step: number): number {
    if (this.next >= this.choices.length) {
      if (this.fallback === 'error') throw new ReplayExhaustedError(step);
      return 0;
    }
    const c = this.choices[this.next++]!;
    // A shrunk schedule may name a choice that no longer exists; clamp rather
    // than fail so that removing calls keeps the rest of the schedule usable.
    return c < candidates.length ? c : candidates.length - 1;
  }
  persist(): StrategyState {
    return { name: 'replay', choices: this.choices, next: this.next, fallback: this.fallback };
  }
}

/**
 * PCT (Burckhardt et al., "A randomized scheduler with probabilistic
 * guarantees of finding bugs"): every source gets a random priority, the
 * highest-priority deliverable message runs, and at d-1 random steps the
 * running source drops to a priority below all others.  Priorities are per
 * message source (a thread, a device) because that is the unit of
 * concurrency in the model.
 */
class PctStrategy implements Strategy {
  readonly name = 'pct';
  constructor(private readonly st: Extract<StrategyState, { name: 'pct' }>) {}
  private priority(src: string): number {
    let p = this.st.priorities[src];
    if (p === undefined) {
      // New sources get a random priority above the change-point band.
      p = this.st.depth + 1 + nextInt(this.st.prng, 1_000_000);
      this.st.priorities[src] = p;
    }
    return p;
  }
  pick(candidates: readonly Candidate[], step: number): number {
    let best = 0;
    let bestP = -Infinity;
    for (let i = 0; i < candidates.length; i++) {
      const p = this.priority(candidates[i]!.src);
      if (p > bestP) {
        bestP = p;
        best = i;
      }
    }
    if (this.st.changePoints.includes(step)) {
      this.st.priorities[candidates[best]!.src] = this.st.nextLow--;
    }
    return best;
  }
  persist(): StrategyState {
    return structuredClone(this.st);
  }
}

export function createStrategy(spec: StrategySpec): Strategy {
  switch (spec.name) {
    case 'fifo':
      return new FifoStrategy();
    case 'random':
      return new RandomStrategy(createPrng(spec.seed));
    case 'replay':
      return new ReplayStrategy([...spec.choices], 0, spec.fallback ?? 'fifo');
    case 'pct': {
      const prng = createPrng(spec.seed);
      const changePoints: number[] = [];
      for (let i = 0; i < spec.depth - 1; i++) changePoints.push(1 + nextInt(prng, Math.max(1, spec.steps)));
      return new PctStrategy({ name: 'pct', prng, depth: spec.depth, changePoints, priorities: {}, nextLow: spec.depth });
    }
  }
}

export function restoreStrategy(state: StrategyState): Strategy {
  switch (state.name) {
    case 'fifo':
      return new FifoStrategy();
    case 'random':
      return new RandomStrategy({ s: [...state.prng.s] as PrngState['s'] });
    case 'replay':
      return new ReplayStrategy([...state.choices], state.next, state.fallback);
    case 'pct':
      return new PctStrategy(structuredClone(state));
  }
}
