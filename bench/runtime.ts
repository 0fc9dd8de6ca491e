/**
 * bench/runtime: deliveries per second through the whole runtime (scheduler
 * picking from its channels, rxjs bus, xstate actor host collecting the
 * machine's posts), next to bare `actor.send()` on the same machine with the
 * same number of events, measured side by side in one run.
 */
import { createActor } from 'xstate';
import { pingMachine, pingWorld } from '../scenarios/pingpong.ts';

const N = Number(process.env.BENCH_N ?? 1_000_000);
const ROUNDS = 3;

function runtimeRate(): number {
  // Three ping-pong pairs bounce N/3 messages each: three channels to choose from at every step.
  const rt = pingWorld({ name: 'fifo' }, Math.ceil(N / 6));
  let seen = 0;
  rt.bus.delivered$.subscribe(() => void seen++);
  const t0 = performance.now();
  const n = rt.run();
  const dt = performance.now() - t0;
  if (seen !== n) throw new Error('bus lost deliveries');
  return (n / dt) * 1000;
}

function bareRate(): number {
  const m = pingMachine.provide({ actions: { post: () => {} } });
  const actors = [0, 1, 2, 3, 4, 5].map((i) => createActor(m, { input: { peer: `p${i}`, budget: N, seen: 0 } }).start());
  const ev = { type: 'ping', env: { seq: 0, t: 0, src: 'x', dst: 'y', kind: 'internal' as const, type: 'ping', body: { n: 0 }, cause: 0 } };
  const t0 = performance.now();
  for (let i = 0; i < N; i++) actors[i % 6]!.send(ev);
  const dt = performance.now() - t0;
  return (N / dt) * 1000;
}

let best = { rt: 0, bare: 0 };
for (let r = 0; r < ROUNDS; r++) {
  const rt = runtimeRate();
  const bare = bareRate();
  if (rt > best.rt) best.rt = rt;
  if (bare > best.bare) best.bare = bare;
}
const cost = best.bare / best.rt;
console.log(`runtime (scheduler + bus + xstate host): ${Math.round(best.rt).toLocaleString()} deliveries/s`);
console.log(`bare xstate actor.send on the same machine: ${Math.round(best.bare).toLocaleString()} sends/s`);
console.log(`cost over bare: ${cost.toFixed(2)}x (target ≤ 2x); best of ${ROUNDS} rounds of ${N.toLocaleString()}`);
console.log(JSON.stringify({ bench: 'runtime', deliveries_per_s: Math.round(best.rt), cost_over_bare: Number(cost.toFixed(3)) }));
