/** `iommufd-sim journal info|dump|verify|recover FILE` */
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { JournalReader, recoverFile, verifyJournal, JournalError } from '../journal/index.ts';
import { formatEnvelope } from './format.ts';
import { CliError, out, toJson, parseIntOpt } from './util.ts';

function readBytes(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function openJournal(file: string): JournalReader {
  const bytes = readBytes(file);
  try {
    return JournalReader.fromBytes(bytes);
  } catch (e) {
    if (e instanceof JournalError) throw new CliError(`${file}: ${e.message}`);
    throw e;
  }
}

/** Count records by type and envelopes by kind in one pass. */
export function journalInfo(file: string) {
  const r = openJournal(file);
  const records: Record<string, number> = {};
  const kinds: Record<string, number> = {};
  let first = 0;
  let last = 0;
  for (const rec of r.records()) {
    records[rec.type] = (records[rec.type] ?? 0) + 1;
    if (rec.type === 'env') {
      kinds[rec.value.kind] = (kinds[rec.value.kind] ?? 0) + 1;
      if (rec.value.kind !== 'choice') {
        if (!first) first = rec.value.seq;
        last = rec.value.seq;
      }
    }
  }
  const snaps = r.snapshots();
  return {
    file,
    bytes: statSync(file).size,
    header: r.header,
    records,
    envelopesByKind: kinds,
    deliveries: { first, last },
    snapshots: { count: snaps.length, seqs: snaps.length > 8 ? [...snaps.slice(0, 4).map((s) => s.seq), '…', ...snaps.slice(-2).map((s) => s.seq)] : snaps.map((s) => s.seq) },
  };
}

export function registerJournalCommands(program: Command): void {
  const j = program.command('journal').description('inspect, check and repair journal files');

  j.command('info')
    .description('header, record counts by kind, snapshots and size')
    .argument('<file>', 'journal file')
    .option('--json', 'print JSON')
    .action((file: string, o: { json?: boolean }) => {
      const info = journalInfo(file);
      if (o.json) return out(toJson(info));
      const h = info.header;
      out(`${file}: ${info.bytes} bytes, format ${h.formatVersion}, simulator ${h.simulatorVersion}, seed ${String(h.seed)}`);
      out(`records: ${Object.entries(info.records).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      out(`envelopes by kind: ${Object.entries(info.envelopesByKind).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      out(`deliveries: ${info.deliveries.first}..${info.deliveries.last}`);
      out(`snapshots: ${info.snapshots.count}${info.snapshots.count ? ` at seq ${info.snapshots.seqs.join(', ')}` : ''}`);
    });

  j.command('dump')
    .description('readable listing of the records')
    .argument('<file>', 'journal file')
    .option('--from <n>', 'first delivery seq to show', parseIntOpt)
    .option('--to <n>', 'last delivery seq to show', parseIntOpt)
    .option('--json', 'one JSON object per line')
    .action((file: string, o: { from?: number; to?: number; json?: boolean }) => {
      const r = openJournal(file);
      const from = o.from ?? 0;
      const to = o.to ?? Number.MAX_SAFE_INTEGER;
      for (const rec of r.records()) {
        if (rec.type === 'env' || rec.type === 'input') {
          const e = rec.value;
          if (e.seq < from || e.seq > to) continue;
          if (o.json) out(toJson({ offset: rec.offset, record: rec.type, ...e }));
          else out(rec.type === 'input' ? `  input@${e.seq}  ${formatEnvelope(e).trimStart()}` : formatEnvelope(e));
        } else if (o.json) {
          out(toJson({ offset: rec.offset, record: rec.type, ...(rec.type === 'snap' ? { seq: rec.value.seq } : { value: rec.value }) }));
        } else if (rec.type === 'snap') {
          if (rec.value.seq >= from && rec.value.seq <= to) out(`        -- snapshot after seq ${rec.value.seq} (offset ${rec.offset})`);
        } else if (rec.type === 'header') {
          out(`        -- header: simulator ${rec.value.simulatorVersion}, seed ${String(rec.value.seed)}`);
        } else {
          out(`        -- end: ${rec.value.envelopes} envelopes, ${rec.value.snapshots} snapshots`);
        }
      }
    });

  j.command('verify')
    .description('check every record; exit 1 and name the offset on corruption')
    .argument('<file>', 'journal file')
    .action((file: string) => {
      const v = verifyJournal(readBytes(file));
      if (v.ok) {
        out(`${file}: ok, ${v.records} records (${v.envelopes} envelopes, ${v.snapshots} snapshots), ${v.bytes} bytes`);
        return;
      }
      const hint = v.torn ? ` (torn tail: 'iommufd-sim journal recover ${file}' truncates to the last whole record at byte ${v.goodBytes})` : '';
      throw new CliError(`${file}: ${v.message}${hint}`, 1);
    });

  j.command('recover')
    .description('truncate a torn tail to the last whole record (in place)')
    .argument('<file>', 'journal file')
    .action((file: string) => {
      try {
        const r = recoverFile(file);
        out(r.droppedBytes ? `${file}: dropped ${r.droppedBytes} bytes of a torn record; ${r.recordsKept} whole records kept` : `${file}: nothing to recover, ${r.recordsKept} records`);
      } catch (e) {
        if (e instanceof JournalError) throw new CliError(`${file}: ${e.message} (not a torn tail; nothing was changed)`, 1);
        throw e;
      }
    });
}
