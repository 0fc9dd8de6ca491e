import { describe, expect, it } from 'vitest';
import { record } from '../helpers/record.ts';
import { runDemo } from '../../scenarios/demo.ts';
import { contendedMapUnmap } from '../../scenarios/races.ts';
import { ReplaySession, modelState } from '../../replay/session.ts';
import { inspectState } from '../../replay/inspect.ts';
import { bisect, compilePredicate } from '../../replay/bisect.ts';
import { diffViews } from '../../replay/diff.ts';
import { JournalReader, JournalWriter, crc32c, encodeValue, memorySink } from '../../journal/index.ts';
import { readU32, writeU32 } from '../../journal/frame.ts';
import type { Envelope } from '../../actors/runtime/envelope.ts';
import { EEXIST } from '../../uapi/errno.ts';

const race = (seed: number) => record((sim) => contendedMapUnmap(sim, 3, 2), { seed, strategy: { name: 'random', seed } });

function deliveries(bytes: Uint8Array): Envelope[] {
  return [...JournalReader.fromBytes(bytes).envelopes()].filter((e) => e.kind !== 'choice');
}

/** Rewrite a journal with one delivery's body replaced (a forged output with valid CRCs). */
function tamper(bytes: Uint8Array, seq: number, edit: (body: any) => any): Uint8Array {
  const r = JournalReader.fromBytes(bytes);
  const sink = memorySink();
  const w = new JournalWriter(sink);
  for (const rec of r.records()) {
    if (rec.type === 'header') w.writeHeader(rec.value);
    else if (rec.type === 'input') w.writeInput(rec.value);
    else if (rec.type === 'snap') w.writeSnapshot(rec.value.seq, rec.value.state);
    else if (rec.type === 'end') w.writeEnd(rec.value.info);
    else w.writeEnvelope(rec.value.seq === seq && rec.value.kind !== 'choice' ? { ...rec.value, body: edit(rec.value.body) } : rec.value);
  }
  w.close();
  return sink.bytes();
}

describe('determinism', () => {
  it('the same seed gives byte-identical journals', () => {
    expect(Buffer.compare(record(runDemo).bytes, record(runDemo).bytes)).toBe(0);
    expect(Buffer.compare(race(5).bytes, race(5).bytes)).toBe(0);
  });

  it('another seed under the random strategy gives another delivery order', () => {
    const order = (b: Uint8Array) => deliveries(b).map((e) => `${e.src}>${e.dst}:${e.type}`).join(' ');
    const orders = new Set([1, 2, 3, 4].map((s) => order(race(s).bytes)));
    expect(orders.size).toBeGreaterThan(1);
  });

  it('the contended scenario really races: some seed makes a MAP fail EEXIST', () => {
    const eexist = [1, 2, 3, 4, 5, 6].some((s) =>
      deliveries(race(s).bytes).some((e) => e.type === 'ioctl.ret' && (e.body as { errno: number }).errno === EEXIST),
    );
    expect(eexist).toBe(true);
  });
});

describe('replay', () => {
  it('every journal the tests produce replays to the same deliveries and states', () => {
    for (const { bytes } of [record(runDemo), race(1), race(2), race(9)]) {
      const s = ReplaySession.fromBytes(bytes);
      expect(s.runToEnd()).toBeNull();
      expect(s.position).toBe(s.total);
      expect(s.total).toBeGreaterThan(20);
    }
  });

  it('a tampered output is reported as a divergence at its step, with the causal chain', () => {
    const { bytes } = record(runDemo);
    const target = deliveries(bytes).find((e) => e.type === 'ioctl.ret' && e.seq > 20)!;
    const forged = tamper(bytes, target.seq, (b) => ({ ...b, errno: 16 }));
    const s = ReplaySession.fromBytes(forged);
    const d = s.runToEnd();
    expect(d).not.toBeNull();
    expect(d!.kind).toBe('delivery');
    expect(d!.step).toBe(target.seq);
    expect((d!.expected!.body as { errno: number }).errno).toBe(16);
    expect((d!.actual!.body as { errno: number }).errno).toBe(0);
    // The chain ends at the delivery that posted the reply, and every link is a real cause.
    expect(d!.chain.length).toBeGreaterThan(0);
    expect(d!.chain.at(-1)!.seq).toBe(target.cause);
    for (let i = 1; i < d!.chain.length; i++) expect(d!.chain[i]!.cause).toBe(d!.chain[i - 1]!.seq);
  });

  it('a tampered snapshot is reported as a state divergence', () => {
    const { bytes } = record(runDemo);
    const r = JournalReader.fromBytes(bytes);
    const snapSeq = r.snapshots()[1]!.seq;
    const sink = memorySink();
    const w = new JournalWriter(sink);
    for (const rec of r.records()) {
      if (rec.type === 'header') w.writeHeader(rec.value);
      else if (rec.type === 'input') w.writeInput(rec.value);
      else if (rec.type === 'snap') {
        const st = rec.value.state as any;
        if (rec.value.seq === snapSeq) st.world.nextPid += 1;
        w.writeSnapshot(rec.value.seq, st);
      } else if (rec.type === 'end') w.writeEnd(rec.value.info);
      else w.writeEnvelope(rec.value);
    }
    w.close();
    const d = ReplaySession.fromBytes(sink.bytes()).runToEnd();
    expect(d?.kind).toBe('state');
    expect(d?.step).toBe(snapSeq);
  });
});

describe('time travel', () => {
  it('inspect at step N equals the live state the run had at step N', () => {
    const live = new Map<number, Uint8Array>();
    const { bytes } = record((sim) => {
      sim.rt.bus.delivered$.subscribe((e) => live.set(e.seq, encodeValue(modelState(sim.rt.snapshot()))));
      contendedMapUnmap(sim, 2, 2);
    }, { seed: 3, strategy: { name: 'random', seed: 3 } });
    const s = ReplaySession.fromBytes(bytes);
    for (const n of [1, 7, 16, 17, 33, s.total - 1, s.total, 12, 2]) {
      s.seek(n);
      expect(Buffer.compare(encodeValue(modelState(s.state())), live.get(n)!)).toBe(0);
    }
  });

  it('stepping back then forward returns the same state', () => {
    const { bytes } = race(4);
    const s = ReplaySession.fromBytes(bytes);
    s.seek(40);
    const at40 = encodeValue(modelState(s.state()));
    s.seek(33);
    for (let i = 0; i < 7; i++) expect(s.step()).toBe(true);
    expect(s.position).toBe(40);
    expect(Buffer.compare(encodeValue(modelState(s.state())), at40)).toBe(0);
  });

  it('bisect finds the first step of a known predicate', () => {
    const { bytes } = record(runDemo);
    const s = ReplaySession.fromBytes(bytes);
    const step = bisect(s, compilePredicate('objects.filter(o => o.type === "ioas").length === 2'));
    // Cross-check by brute force: the state before is false, the state at the step is true.
    const pred = compilePredicate('objects.filter(o => o.type === "ioas").length === 2');
    expect(step).not.toBeNull();
    s.seek(step! - 1);
    expect(pred(inspectState(s.state()))).toBe(false);
    s.seek(step!);
    expect(pred(inspectState(s.state()))).toBe(true);
    // The demo allocates its second IOAS with the ioctl delivered at that step.
    const env = deliveries(bytes).find((e) => e.seq === step)!;
    expect(env.type).toBe('ioctl');
    expect(bisect(s, compilePredicate('objects.length > 100'))).toBeNull();
  });

  it('diff reports objects added and changed between two steps', () => {
    const { bytes } = record(runDemo);
    const s = ReplaySession.fromBytes(bytes);
    s.seek(0);
    const a = inspectState(s.state());
    s.seek(s.total);
    const b = inspectState(s.state());
    // The first state with both of the demo's IOASes.
    const both = bisect(s, compilePredicate('objects.filter(o => o.type === "ioas").length === 2'))!;
    s.seek(both);
    const mid = inspectState(s.state());
    expect(diffViews(a, mid).added.map((x) => x.type)).toEqual(['ioas', 'ioas']);
    expect(diffViews(mid, b).removed.length).toBe(2);
    expect(diffViews(mid, mid).changed).toEqual([]);
  });
});

describe('snapshots and formats', () => {
  it('restoring any journaled snapshot and continuing reproduces every later delivery byte for byte', () => {
    const { bytes } = race(6);
    const r = JournalReader.fromBytes(bytes);
    const recorded = new Map(deliveries(bytes).map((e) => [e.seq, encodeValue(e)]));
    expect(r.snapshots().length).toBeGreaterThan(2);
    for (const snap of r.snapshots()) {
      const s = ReplaySession.fromBytes(bytes);
      s.seek(snap.seq);
      expect(s.position).toBe(snap.seq);
      // The session compares each delivery with the journal as it goes; a mismatch stops it.
      expect(s.runToEnd()).toBeNull();
      expect(s.position).toBe(s.total);
    }
    // And the restored simulation really produces those envelopes (not just agrees with itself).
    const s = ReplaySession.fromBytes(bytes);
    const last = r.snapshots().at(-1)!.seq;
    s.seek(last);
    const produced: Uint8Array[] = [];
    s.simulation.rt.bus.delivered$.subscribe((e) => produced.push(encodeValue(e)));
    s.runToEnd();
    expect(produced.length).toBe(s.total - last);
    produced.forEach((b, i) => expect(Buffer.compare(b, recorded.get(last + 1 + i)!)).toBe(0));
  });

  it('a journal of another format version is refused with a message saying which', () => {
    const { bytes } = record(runDemo);
    const forged = bytes.slice();
    // The file header's u32 version follows the 8-byte magic.
    new DataView(forged.buffer).setUint32(8, 99, true);
    expect(() => ReplaySession.fromBytes(forged)).toThrow(/version/);
  });
});

describe('replay compares the bytes it journals again', () => {
  it('a damaged delivery record is a journal error naming its offset, not a divergence', () => {
    const { bytes } = record(runDemo);
    const r = JournalReader.fromBytes(bytes);
    const offsets = r.recordOffsets();
    // a delivery in the middle, so opening the journal (which reads its tail) does not meet it
    const mid = offsets.find((o, i) => i > offsets.length / 2 && r.readAt(o).type === 'env')!;
    const damaged = bytes.slice();
    damaged[mid + 12]! ^= 0x40;
    const s = ReplaySession.fromBytes(damaged);
    expect(() => s.runToEnd()).toThrow(new RegExp(`journal corrupt at byte ${mid}: CRC`));
  });

  it('after a seek from a snapshot, a forged delivery is reported with the journal\'s envelope', () => {
    const { bytes } = record(runDemo);
    const snap = JournalReader.fromBytes(bytes).snapshots()[1]!;
    const target = deliveries(bytes).find((e) => e.type === 'ioctl.ret' && e.seq > snap.seq)!;
    const s = ReplaySession.fromBytes(tamper(bytes, target.seq, (b) => ({ ...b, errno: 16 })));
    s.seek(snap.seq);
    expect(s.position).toBe(snap.seq);
    const d = s.runToEnd();
    expect(d?.kind).toBe('delivery');
    expect(d!.step).toBe(target.seq);
    expect(d!.expected).toEqual({ ...target, body: { ...(target.body as object), errno: 16 } });
    expect(d!.actual).toEqual(target);
  });
});

describe('replay of an older encoding', () => {
  it('a delivery whose bytes were written by the older codec (Uint8Array as the t extension) still replays', () => {
    const { bytes } = record(runDemo);
    const r = JournalReader.fromBytes(bytes);
    // an ioctl reply carrying its 40-byte argument as msgpack bin (c4 28 …)
    const at = r.recordOffsets().find((o) => {
      const rec = r.readAt(o);
      return rec.type === 'env' && rec.value.type === 'ioctl.ret' && (rec.value.body as { arg?: Uint8Array }).arg?.length === 40;
    })!;
    const len = readU32(bytes, at);
    const payload = bytes.subarray(at + 8, at + 8 + len);
    const bin = payload.findIndex((b, i) => b === 0xc4 && payload[i + 1] === 40);
    expect(bin).toBeGreaterThan(0);
    // the same value the way journals before the bin encoding stored it: c7 <n+1> 74 01 <bytes>
    const old = new Uint8Array(len + 2);
    old.set(payload.subarray(0, bin));
    old.set([0xc7, 41, 0x74, 0x01], bin);
    old.set(payload.subarray(bin + 2), bin + 4);
    const frame = new Uint8Array(old.length + 12);
    writeU32(frame, 0, old.length);
    writeU32(frame, 4, crc32c(old));
    frame.set(old, 8);
    writeU32(frame, 8 + old.length, old.length);
    const forged = new Uint8Array(bytes.length + 2);
    forged.set(bytes.subarray(0, at));
    forged.set(frame, at);
    forged.set(bytes.subarray(at + 12 + len), at + frame.length);
    const s = ReplaySession.fromBytes(forged);
    expect(s.runToEnd()).toBeNull();
    expect(s.position).toBe(s.total);
  });
});
