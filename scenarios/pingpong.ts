/**
 * A small xstate machine for the runtime tests and benchmark: a counter that, on every
 * 'ping', posts a 'pong' to its peer until its budget is spent.
 */
import { setup } from 'xstate';
import { XStateActor, hostPost, type MachineEvent, type PostParams } from '../actors/runtime/xstate-actor.ts';
import { Runtime } from '../actors/runtime/runtime.ts';
import type { StrategySpec } from '../actors/runtime/strategy.ts';

interface Ctx {
  peer: string;
  budget: number;
  seen: number;
}

export const pingMachine = setup({
  types: {} as { context: Ctx; input: Ctx; events: MachineEvent<{ n: number }> },
  actions: { post: (_: unknown, _p: PostParams) => {} },
  guards: { hasBudget: ({ context }) => context.budget > 0 },
}).createMachine({
  id: 'ping',
  context: ({ input }) => input,
  initial: 'live',
  states: {
    live: {
      on: {
        ping: [
          {
            guard: 'hasBudget',
            actions: [
              ({ context }) => {
                context.budget--;
                context.seen++;
              },
              {
                type: 'post',
                params: ({ context, event }) => ({ dst: context.peer, kind: 'internal', type: 'ping', body: { n: event.env.body.n + 1 } }),
              },
            ],
          },
          { target: 'spent', actions: ({ context }) => void context.seen++ },
        ],
      },
    },
    spent: { type: 'final' },
  },
}).provide({ actions: { post: hostPost } });

export function pingActor(id: string, input?: Ctx, snapshot?: unknown): XStateActor {
  return new XStateActor(id, 'ping', pingMachine, snapshot !== undefined ? { snapshot } : { input });
}

/** Three pairs of actors bouncing pings concurrently: plenty of scheduling choices. */
export function pingWorld(strategy: StrategySpec, budget = 5): Runtime<null> {
  const rt = new Runtime<null>({ world: null, strategy, restorers: { ping: (id, st) => pingActor(id, undefined, st) } });
  for (const pair of ['a', 'b', 'c']) {
    rt.spawn(pingActor(`${pair}1`, { peer: `${pair}2`, budget, seen: 0 }));
    rt.spawn(pingActor(`${pair}2`, { peer: `${pair}1`, budget, seen: 0 }));
    rt.inject('test', `${pair}1`, 'internal', 'ping', { n: 0 });
  }
  return rt;
}
