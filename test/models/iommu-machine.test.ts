import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { iommuMachine, type IommuContext } from '../../machines/iommu.ts';

function run() {
  const calls: string[] = [];
  const rec = (name: string) => ({ event }: { event: { type: string } }) => void calls.push(`${name}:${event.type}`);
  const machine = iommuMachine.provide({
    actions: {
      post: () => {}, probed: rec('probed'), handleOp: rec('op'), rejectOp: rec('reject'),
      handleEvent: rec('event'), dropEvent: rec('drop'), finishRemove: rec('remove'),
    },
  });
  const input: IommuContext = { id: 'iommu0', kind: 'vtd', data: { attached: {} } };
  const actor = createActor(machine, { input });
  actor.start();
  const send = (type: string) => actor.send({ type, env: { seq: 0, t: 0, src: 'x', dst: 'iommu0', kind: 'hw', type, body: null, cause: 0 } });
  const state = () => actor.getSnapshot().value;
  const ctx = () => actor.getSnapshot().context;
  return { calls, send, state, ctx, actor };
}

describe('iommu lifecycle machine', () => {
  it('probing refuses attaches and drops faults until probe.done', () => {
    const m = run();
    expect(m.state()).toBe('probing');
    m.send('attach');
    m.send('fault');
    m.send('remove');
    expect(m.state()).toBe('probing');
    m.send('probe.done');
    expect(m.state()).toBe('ready');
    expect(m.calls).toEqual(['reject:attach', 'drop:fault', 'reject:remove', 'probed:probe.done']);
  });

  it('ready handles attach/detach/invalidate/op and routes faults', () => {
    const m = run();
    m.send('probe.done');
    for (const t of ['attach', 'detach', 'invalidate', 'op', 'fault', 'resume']) m.send(t);
    expect(m.calls.slice(1)).toEqual(['op:attach', 'op:detach', 'op:invalidate', 'op:op', 'event:fault', 'reject:resume']);
    expect(m.state()).toBe('ready');
  });

  it('quiesced: no new attaches, detach and invalidate still run, faults dropped, resume returns', () => {
    const m = run();
    m.send('probe.done');
    m.send('quiesce');
    expect(m.state()).toBe('quiesced');
    for (const t of ['attach', 'detach', 'invalidate', 'fault', 'quiesce']) m.send(t);
    expect(m.calls.slice(2)).toEqual(['reject:attach', 'op:detach', 'op:invalidate', 'drop:fault', 'reject:quiesce']);
    m.send('resume');
    expect(m.state()).toBe('ready');
  });

  it('remove is refused while anything is attached', () => {
    const m = run();
    m.send('probe.done');
    m.ctx().data.attached = { 'dev0/0': 5 };
    m.send('remove');
    expect(m.state()).toBe('ready');
    expect(m.calls.at(-1)).toBe('reject:remove');
    m.ctx().data.attached = {};
    m.send('quiesce');
    m.send('remove');
    expect(m.state()).toBe('removed');
    expect(m.actor.getSnapshot().status).toBe('done');
    expect(m.calls.at(-1)).toBe('remove:remove');
  });

  it('nothing happens after removal', () => {
    const m = run();
    m.send('probe.fail');
    expect(m.state()).toBe('removed');
    const n = m.calls.length;
    for (const t of ['probe.done', 'attach', 'detach', 'invalidate', 'fault', 'resume']) m.send(t);
    expect(m.calls.length).toBe(n);
    expect(m.state()).toBe('removed');
  });

  it('a persisted snapshot restores into the same state (plain-data context)', () => {
    const m = run();
    m.send('probe.done');
    m.send('quiesce');
    const snap = structuredClone(m.actor.getPersistedSnapshot());
    const again = createActor(iommuMachine, { snapshot: snap as never, input: undefined as never });
    again.start();
    expect(again.getSnapshot().value).toBe('quiesced');
    expect(again.getSnapshot().context).toEqual({ id: 'iommu0', kind: 'vtd', data: { attached: {} } });
  });
});
