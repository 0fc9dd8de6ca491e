import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENVELOPE_KINDS, type Envelope } from '../../actors/runtime/envelope.ts';
import {
  CodecError, FILE_HEADER_BYTES, JournalReader, JournalWriter, fileSink, memorySink, verifyJournal,
} from '../../journal/index.ts';
import { HEADER, buildJournal, ioctl, plainData, reply, sampleEnvelopes } from './helpers.ts';

describe('journal writer and reader', () => {
  it('round-trips the header and envelopes with bigints, typed arrays and nested objects', () => {
    const envs = sampleEnvelopes(12);
    const r = JournalReader.fromBytes(buildJournal(envs));
    expect(r.header).toStrictEqual({ formatVersion: 1, ...HEADER });
    expect([...r.envelopes()]).toStrictEqual(envs);
  });

  it('writes byte-identical journals for the same input', () => {
    const a = buildJournal(sampleEnvelopes(20));
    const b = buildJournal(sampleEnvelopes(20));
    expect(b).toEqual(a);
  });

  it('starts with the magic and format version', () => {
    const b = buildJournal(sampleEnvelopes(1));
    expect(new TextDecoder().decode(b.subarray(0, 8))).toBe('IOMMUFDJ');
    expect(new DataView(b.buffer, b.byteOffset).getUint32(8, true)).toBe(1);
  });

  it('keeps ioctl-sized envelopes under 120 bytes per record', () => {
    const envs: Envelope[] = [];
    for (let seq = 1; seq <= 1000; seq += 2) envs.push(ioctl(seq), reply(seq + 1, seq));
    const withoutEnvs = buildJournal([], 0, false).length;
    const bytes = buildJournal(envs, 0, false).length - withoutEnvs;
    expect(bytes / envs.length).toBeLessThan(120);
  });

  it('reads backwards as the reverse of forwards', () => {
    const r = JournalReader.fromBytes(buildJournal(sampleEnvelopes(15)));
    const fwd = [...r.records()];
    const back = [...r.recordsBackward()];
    expect(back).toStrictEqual(fwd.slice().reverse());
    expect(fwd.map((x) => x.type)).toContain('snap');
    expect(fwd[0]!.type).toBe('header');
    expect(fwd[fwd.length - 1]!.type).toBe('end');
  });

  it('reads any record by offset, with strings defined before it', () => {
    const r = JournalReader.fromBytes(buildJournal(sampleEnvelopes(15)));
    for (const rec of r.records()) expect(r.readAt(rec.offset)).toStrictEqual(rec);
    expect(() => r.readAt(FILE_HEADER_BYTES + 1)).toThrow(RangeError);
  });

  it('lists snapshots and seeks to the nearest one at or before a seq', () => {
    const envs = sampleEnvelopes(15);
    const r = JournalReader.fromBytes(buildJournal(envs, 4));
    expect(r.snapshots().map((s) => s.seq)).toEqual([4, 8, 12]);

    const at10 = r.seekSnapshot(10);
    expect(at10.snapshot).toMatchObject({ seq: 8, state: { upTo: 8, pages: new Uint32Array([8]) } });
    expect(r.readAt(at10.snapshot!.offset).type).toBe('snap');
    expect([...at10.envelopes]).toStrictEqual(envs.slice(8));

    const at12 = r.seekSnapshot(12);
    expect(at12.snapshot?.seq).toBe(12);
    expect([...at12.envelopes]).toStrictEqual(envs.slice(12));

    const before = r.seekSnapshot(3);
    expect(before.snapshot).toBeNull();
    expect([...before.envelopes]).toStrictEqual(envs);
  });

  it('resolves strings first defined after the snapshot a seek starts from', () => {
    const envs = [ioctl(1), ioctl(2), ioctl(3, 'thread:9.9', 'ctx:9')];
    const sink = memorySink();
    const w = new JournalWriter(sink);
    w.writeHeader(HEADER);
    w.writeEnvelope(envs[0]!);
    w.writeSnapshot(1, null);
    w.writeEnvelope(envs[1]!);
    w.writeEnvelope(envs[2]!);
    w.close();
    const r = JournalReader.fromBytes(sink.bytes());
    expect([...r.seekSnapshot(2).envelopes]).toStrictEqual(envs.slice(1));
    expect([...r.recordsBackward()].filter((x) => x.type === 'env').map((x) => x.value)).toStrictEqual(envs.slice().reverse());
  });

  it('counts records and bytes, and returns each record offset', () => {
    const sink = memorySink();
    const w = new JournalWriter(sink, { flushBytes: 64 });
    const offsets = [w.writeHeader(HEADER), w.writeEnvelope(ioctl(1)), w.writeSnapshot(1, {}), w.writeEnd()];
    expect(w.recordCount).toBe(4);
    w.close();
    expect(w.bytesWritten).toBe(sink.bytes().length);
    expect(JournalReader.fromBytes(sink.bytes()).recordOffsets()).toEqual(offsets);
    expect(verifyJournal(sink.bytes())).toEqual({ ok: true, records: 4, envelopes: 1, snapshots: 1, bytes: sink.bytes().length });
  });

  it('enforces header first and nothing after end', () => {
    const w = new JournalWriter(memorySink());
    expect(() => w.writeEnvelope(ioctl(1))).toThrow(/writeHeader first/);
    w.writeHeader(HEADER);
    expect(() => w.writeHeader(HEADER)).toThrow();
    w.writeEnd();
    expect(() => w.writeEnvelope(ioctl(2))).toThrow(/ended/);
  });

  it('rejects a body that would not round-trip and stays consistent afterwards', () => {
    const sink = memorySink();
    const w = new JournalWriter(sink);
    w.writeHeader(HEADER);
    const bad = { ...ioctl(1, 'thread:new', 'ctx:new'), body: new Map() };
    expect(() => w.writeEnvelope(bad)).toThrow(CodecError);
    expect(() => w.writeEnvelope({ ...ioctl(1), seq: -1 })).toThrow(TypeError);
    const good = ioctl(1, 'thread:new', 'ctx:new');
    w.writeEnvelope(good);
    w.writeEnvelope(ioctl(2, 'thread:new', 'ctx:new'));
    w.close();
    const r = JournalReader.fromBytes(sink.bytes());
    expect([...r.envelopes()]).toStrictEqual([good, ioctl(2, 'thread:new', 'ctx:new')]);
  });

  it('writes through a file sink and reads the file back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'journal-test-'));
    try {
      const path = join(dir, 'j.journal');
      const envs = sampleEnvelopes(300);
      const w = new JournalWriter(fileSink(path, { bufferBytes: 512 }), { flushBytes: 256 });
      w.writeHeader(HEADER);
      for (const e of envs) w.writeEnvelope(e);
      w.writeEnd({ reason: 'done' });
      w.close();
      expect(new Uint8Array(readFileSync(path))).toEqual(buildJournal(envs, 0));
      expect([...JournalReader.fromFile(path).envelopes()]).toStrictEqual(envs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('round-trips random envelopes (property)', () => {
    const actor = fc.constantFrom('thread:1.1', 'thread:2.1', 'ctx:3', 'obj:3:2', 'iommu:0', 'dev:0');
    const envelope: fc.Arbitrary<Envelope> = fc.record({
      seq: fc.nat(),
      t: fc.oneof(fc.nat(), fc.double({ noNaN: true })),
      src: fc.oneof(actor, fc.string()),
      dst: fc.oneof(actor, fc.string()),
      kind: fc.constantFrom(...ENVELOPE_KINDS),
      type: fc.oneof(fc.constantFrom('IOMMU_IOAS_MAP', 'reply', 'obj.get'), fc.string()),
      body: plainData,
      cause: fc.nat(),
    }, { noNullPrototype: true });
    fc.assert(
      fc.property(fc.array(envelope, { maxLength: 12 }), fc.nat(4), (envs, snapEvery) => {
        const sink = memorySink();
        const w = new JournalWriter(sink);
        w.writeHeader(HEADER);
        envs.forEach((e, i) => {
          w.writeEnvelope(e);
          if (snapEvery && i % snapEvery === 0) w.writeSnapshot(e.seq, { i });
        });
        w.writeEnd();
        w.close();
        const bytes = sink.bytes();
        const r = JournalReader.fromBytes(bytes);
        expect([...r.envelopes()]).toStrictEqual(envs);
        expect([...r.recordsBackward()]).toStrictEqual([...r.records()].reverse());
        expect(verifyJournal(bytes).ok).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
