import fc from 'fast-check';
import type { Envelope } from '../../actors/runtime/envelope.ts';
import { JournalWriter, memorySink, type JournalHeaderInit } from '../../journal/index.ts';

export const HEADER: JournalHeaderInit = {
  simulatorVersion: '0.1.0-test',
  seed: 0xdeadbeefcafef00dn,
  topology: { iommus: [{ kind: 'mock', id: 0 }], devices: ['dev:0'], memory: { bytes: 1n << 32n } },
  configuration: { snapshotEvery: 4 },
  scenario: { name: 'unit' },
};

export function ioctl(seq: number, src = 'thread:1.1', dst = 'ctx:3'): Envelope {
  const arg = new Uint8Array(40);
  for (let i = 0; i < 40; i++) arg[i] = (seq * 7 + i) & 0xff;
  return { seq, t: seq * 10, src, dst, kind: 'ioctl', type: 'IOMMU_IOAS_MAP', body: { cmd: 0x3b85, arg }, cause: 0 };
}

export function reply(seq: number, cause: number): Envelope {
  return { seq, t: seq * 10, src: 'ctx:3', dst: 'thread:1.1', kind: 'reply', type: 'reply', body: { errno: 0, arg: new Uint8Array(40) }, cause };
}

export function internal(seq: number, cause: number): Envelope {
  return {
    seq, t: seq * 10, src: 'ctx:3', dst: `obj:3:${seq % 3}`, kind: 'internal', type: 'obj.get',
    body: { id: seq % 3, iova: 0xffff_ffff_ffff_f000n, pages: new BigUint64Array([1n, 0xffffffffffffffffn]), nested: { a: [1, -0, 2.5, null, true, 'x'] } },
    cause,
  };
}

/** A mixed sequence of envelopes: request, internal step, reply. */
export function sampleEnvelopes(n: number): Envelope[] {
  const out: Envelope[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const r = seq % 3;
    out.push(r === 1 ? ioctl(seq) : r === 2 ? internal(seq, seq - 1) : reply(seq, seq - 2));
  }
  return out;
}

/** A small journal with snapshots every `snapEvery` envelopes and an end record. */
export function buildJournal(envs: Envelope[], snapEvery = 4, end = true): Uint8Array {
  const sink = memorySink();
  const w = new JournalWriter(sink);
  w.writeHeader(HEADER);
  for (const e of envs) {
    w.writeEnvelope(e);
    if (snapEvery > 0 && e.seq % snapEvery === 0) w.writeSnapshot(e.seq, { upTo: e.seq, pages: new Uint32Array([e.seq]) });
  }
  if (end) w.writeEnd({ reason: 'done' });
  w.close();
  return sink.bytes();
}

/** Plain data as the envelope contract allows it: what the journal must round-trip. */
export const plainData: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.integer(),
    fc.double(),
    fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }),
    fc.bigInt({ min: -(1n << 200n), max: 1n << 200n }),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 48 }),
    fc.uint32Array({ maxLength: 8 }),
    fc.int16Array({ maxLength: 8 }),
    fc.float64Array({ maxLength: 4 }),
    fc.bigUint64Array({ maxLength: 4 }),
    fc.bigInt64Array({ maxLength: 4 }),
  ),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(fc.string().filter((k) => k !== '__proto__'), tie('node'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).node;

