import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FILE_HEADER_BYTES, JournalError, JournalReader, crc32c, encodeValue, recoverFile, recoverTornTail, verifyJournal,
} from '../../journal/index.ts';
import { buildJournal, sampleEnvelopes } from './helpers.ts';

const journal = buildJournal(sampleEnvelopes(6), 3);
const offsets = JournalReader.fromBytes(journal).recordOffsets();
const boundaries = [...offsets, journal.length];
const allRecords = [...JournalReader.fromBytes(journal).records()];

function u32(b: Uint8Array, o: number, v: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(o, v, true);
}

/** Appends one hand-made record (valid framing and CRC) after the header record. */
function withRecord(payload: Uint8Array): Uint8Array {
  const head = journal.subarray(0, offsets[1]);
  const out = new Uint8Array(head.length + payload.length + 12);
  out.set(head);
  u32(out, head.length, payload.length);
  u32(out, head.length + 4, crc32c(payload));
  out.set(payload, head.length + 8);
  u32(out, head.length + 8 + payload.length, payload.length);
  return out;
}

function expectJournalError(f: () => unknown, offset: number, pattern: RegExp): void {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).offset).toBe(offset);
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).toContain(`journal corrupt at byte ${offset}`);
    return;
  }
  throw new Error('expected a JournalError');
}

describe('corruption detection', () => {
  it('the sample journal is valid and small enough to damage exhaustively', () => {
    expect(verifyJournal(journal)).toMatchObject({ ok: true, records: 10 });
    expect(journal.length).toBeLessThan(2000);
  });

  it('detects flipping any single bit of any byte, and names an offset at or before it', () => {
    const damaged = new Uint8Array(journal);
    for (let pos = 0; pos < journal.length; pos++) {
      for (let bit = 0; bit < 8; bit++) {
        damaged[pos] = journal[pos]! ^ (1 << bit);
        const v = verifyJournal(damaged);
        if (v.ok) throw new Error(`flip of bit ${bit} at byte ${pos} went unnoticed`);
        expect(v.offset).toBeLessThanOrEqual(pos);
        expect(v.message).toContain(`journal corrupt at byte ${v.offset}`);
      }
      damaged[pos] = journal[pos]!;
    }
  });

  it('detects replacing any byte with any other value in the record framing', () => {
    const damaged = new Uint8Array(journal);
    for (const o of offsets) {
      for (const pos of [o, o + 1, o + 2, o + 3, o + 4, o + 5, o + 6, o + 7]) {
        for (let v = 0; v < 256; v++) {
          if (v === journal[pos]) continue;
          damaged[pos] = v;
          expect(verifyJournal(damaged).ok).toBe(false);
        }
        damaged[pos] = journal[pos]!;
      }
    }
  });

  it('reports mid-file damage instead of recovering it', () => {
    const damaged = new Uint8Array(journal);
    const target = offsets[4]!;
    damaged[target + 10] ^= 0xff;
    expectJournalError(() => recoverTornTail(damaged), target, /CRC mismatch in record 4/);
    expectJournalError(() => [...JournalReader.fromBytes(damaged).records()], target, /CRC mismatch/);
    const v = verifyJournal(damaged);
    expect(v).toMatchObject({ ok: false, offset: target, torn: false, lastGoodOffset: offsets[3], goodBytes: target });
  });

  it('reports a disagreeing length suffix', () => {
    const damaged = new Uint8Array(journal);
    const target = offsets[2]!;
    const suffixAt = offsets[3]! - 4;
    damaged[suffixAt] ^= 1;
    expectJournalError(() => [...JournalReader.fromBytes(damaged).records()], target, /disagrees with suffix/);
    expect(() => [...JournalReader.fromBytes(damaged).recordsBackward()]).toThrow(JournalError);
  });

  it('reports a bad magic and an unknown format version', () => {
    const badMagic = new Uint8Array(journal);
    badMagic[0] = 0x58;
    expectJournalError(() => JournalReader.fromBytes(badMagic), 0, /bad magic/);
    const badVersion = new Uint8Array(journal);
    badVersion[8] = 2;
    expectJournalError(() => JournalReader.fromBytes(badVersion), 8, /unsupported format version 2/);
    expect(() => recoverTornTail(badMagic)).toThrow(/bad magic/);
  });

  it('turns a hostile oversized length into a JournalError, not an allocation', () => {
    const hostile = new Uint8Array(journal);
    u32(hostile, offsets[1]!, 0xffffffff);
    expectJournalError(() => [...JournalReader.fromBytes(hostile).records()], offsets[1]!, /bad length 4294967295/);
    expectJournalError(() => recoverTornTail(hostile), offsets[1]!, /bad length/);
    const justUnderLimit = new Uint8Array(journal);
    u32(justUnderLimit, offsets[1]!, 0x3fffffff);
    expect(verifyJournal(justUnderLimit)).toMatchObject({ ok: false, offset: offsets[1], torn: true });
  });

  it('turns a CRC-valid payload claiming a huge array into a JournalError', () => {
    const crafted = withRecord(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]));
    expectJournalError(() => [...JournalReader.fromBytes(crafted).records()], offsets[1]!, /undecodable payload/);
  });

  it('reports well-framed records that break the format rules', () => {
    const cases: [Uint8Array, RegExp][] = [
      [encodeValue({ not: 'an array' }), /payload is not a tagged array/],
      [encodeValue([9, 1]), /unknown record tag 9/],
      [encodeValue([1, 1, 1, 99, 0, 0, 0, null, 0]), /string reference 99 is not in the table/],
      [encodeValue([1, -1, 1, 'a', 'b', 0, 'c', null, 0]), /envelope seq/],
      [encodeValue([1, 1, 1, 'a', 'b', 42, 'c', null, 0]), /unknown envelope kind 42/],
      [encodeValue([0, 1, 'v', 1, null, null, null]), /second header/],
      [encodeValue([3, 5, 0, null]), /end record counts 5 envelopes/],
      [encodeValue([2, 1, null, ['bogus']]), /snapshot string table/],
    ];
    for (const [payload, pattern] of cases) {
      expectJournalError(() => [...JournalReader.fromBytes(withRecord(payload)).records()], offsets[1]!, pattern);
    }
  });

  it('reports data after the end record', () => {
    const extra = new Uint8Array(journal.length + 1);
    extra.set(journal);
    expect(verifyJournal(extra)).toMatchObject({ ok: false, message: expect.stringMatching(/data after the end record|record header cut off/) });
  });
});

describe('torn tails', () => {
  it('recovers a truncation at every offset to the last whole record', () => {
    for (let cut = 0; cut <= journal.length; cut++) {
      const torn = journal.subarray(0, cut);
      const report = recoverTornTail(torn);
      const keep = cut < FILE_HEADER_BYTES ? 0 : Math.max(FILE_HEADER_BYTES, ...boundaries.filter((b) => b <= cut));
      const kept = boundaries.filter((b) => b <= keep).length - 1;
      expect(report.bytes.length, `cut at ${cut}`).toBe(keep);
      expect(report.droppedBytes).toBe(cut - keep);
      expect(report.recordsKept).toBe(Math.max(0, kept));
      expect(report.lastGoodOffset).toBe(kept > 0 ? offsets[kept - 1] : null);
      expect(report.reason === null).toBe(cut === keep);

      const v = verifyJournal(torn);
      if (cut === keep && kept > 0) expect(v.ok).toBe(true);
      else expect(v).toMatchObject({ ok: false, torn: true, goodBytes: keep });

      if (kept > 0) {
        const again = [...JournalReader.fromBytes(report.bytes).records()];
        expect(again).toStrictEqual(allRecords.slice(0, kept));
        expect(verifyJournal(report.bytes).ok).toBe(true);
      }
    }
  });

  it('truncates a torn file in place', () => {
    const dir = mkdtempSync(join(tmpdir(), 'journal-recover-'));
    try {
      const path = join(dir, 'torn.journal');
      const cut = offsets[5]! + 7;
      writeFileSync(path, journal.subarray(0, cut));
      const report = recoverFile(path);
      expect(report).toMatchObject({ droppedBytes: 7, recordsKept: 5, lastGoodOffset: offsets[4] });
      expect(new Uint8Array(readFileSync(path))).toEqual(journal.subarray(0, offsets[5]));
      expect(recoverFile(path).droppedBytes).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
