/**
 * The strategy a replay runs under: it answers each scheduling choice with
 * the index the journal recorded for it.  Choices are fed in as the replayer
 * reads them (a choice record comes right before the delivery it decided).
 */
import type { Candidate, Strategy, StrategyState } from '../actors/runtime/strategy.ts';

export class ChoiceMissing extends Error {
  constructor(
    readonly step: number,
    readonly candidates: number,
  ) {
    super(`no recorded choice for step ${step} (${candidates} messages were deliverable)`);
  }
}

export class FeedStrategy implements Strategy {
  readonly name = 'replay';
  private readonly queue: number[] = [];
  /** Set when the model had a choice the journal did not record, or an index out of range. */
  mismatch: { step: number; candidates: number; recorded?: number } | null = null;

  push(index: number): void {
    this.queue.push(index);
  }

  pick(candidates: readonly Candidate[], step: number): number {
    const c = this.queue.shift();
    if (c === undefined || c >= candidates.length) {
      this.mismatch = { step, candidates: candidates.length, ...(c !== undefined ? { recorded: c } : {}) };
      return 0;
    }
    return c;
  }

  /** Choices fed but not consumed: the journal recorded a choice the replay never faced. */
  get unconsumed(): number {
    return this.queue.length;
  }

  persist(): StrategyState {
    return { name: 'replay', choices: [...this.queue], next: 0, fallback: 'fifo' };
  }
}
