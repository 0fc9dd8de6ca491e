/** `replay`, `inspect`, `diff`, `bisect`: replaying and travelling through a journal. */
import type { Command } from 'commander';
import { ReplaySession, ReplayError } from '../replay/session.ts';
import { inspectState, toDot } from '../replay/inspect.ts';
import { diffViews } from '../replay/diff.ts';
import { renderDiff, renderView } from '../replay/render.ts';
import { bisect, compilePredicate } from '../replay/bisect.ts';
import { formatEnvelope } from './format.ts';
import { openJournal } from './journal.ts';
import { progressBar } from './progress.ts';
import { CliError, out, toJson, parseIntOpt } from './util.ts';
import { JournalError } from '../journal/index.ts';

/** A damaged journal found while replaying is the user's input, not a simulator bug: name the offset, exit 1. */
function journalDamage<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof JournalError) throw new CliError(`${file}: ${e.message}`, 1);
    throw e;
  }
}

type Format = 'text' | 'json' | 'dot';

function parseFormat(v: string): Format {
  if (v !== 'text' && v !== 'json' && v !== 'dot') throw new CliError(`--format must be text, json or dot (got '${v}')`);
  return v;
}

export function openSession(file: string): ReplaySession {
  try {
    return journalDamage(file, () => new ReplaySession(openJournal(file)));
  } catch (e) {
    if (e instanceof ReplayError) throw new CliError(`${file}: ${e.message}`);
    throw e;
  }
}

/** Seek with a progress bar; a step outside the journal is a usage error. */
export function seekTo(s: ReplaySession, step: number): void {
  const bar = progressBar(`seek ${step}`);
  try {
    journalDamage('journal', () => s.seek(step, (d, t) => bar.update(d, t)));
  } catch (e) {
    if (e instanceof ReplayError) throw new CliError(e.message);
    throw e;
  } finally {
    bar.stop();
  }
  if (s.divergence) throw new CliError(`replay diverged at step ${s.divergence.step} before reaching ${step}: ${s.divergence.message}`, 1);
}

export function registerReplayCommands(program: Command): void {
  program
    .command('replay')
    .description('replay a journal and check every delivery and state against it (exit 1 on divergence)')
    .argument('<file>', 'journal file')
    .option('--format <f>', 'text or json', parseFormat, 'text' as Format)
    .action((file: string, o: { format: Format }) => {
      const s = openSession(file);
      const bar = progressBar('replay');
      let d;
      try {
        d = journalDamage(file, () => s.runToEnd((done, total) => bar.update(done, total)));
      } finally {
        bar.stop();
      }
      if (o.format === 'json') {
        out(toJson({ file, matched: !d, deliveries: s.position, total: s.total, divergence: d, note: s.versionNote }));
      } else if (!d) {
        out(`${file}: replay matched, ${s.position} deliveries${s.versionNote ? ` (${s.versionNote})` : ''}`);
      } else {
        out(`${file}: DIVERGED at step ${d.step} (${d.kind}): ${d.message}`);
        if (d.expected) out(`  journal: ${formatEnvelope(d.expected).trim()}`);
        if (d.actual) out(`  replay:  ${formatEnvelope(d.actual).trim()}`);
        if (d.chain.length) {
          out('  caused by:');
          for (const e of d.chain) out(`    ${formatEnvelope(e).trim()}`);
        }
      }
      if (d) throw new CliError('replay did not match the journal', 1);
    });

  program
    .command('inspect')
    .description('the state after delivery N: objects, refcounts, IOAS areas, pinned pages, hardware, queue')
    .argument('<file>', 'journal file')
    .requiredOption('--at <n>', 'delivery number (0 = initial state)', parseIntOpt)
    .option('--format <f>', 'text, json or dot (object graph)', parseFormat, 'text' as Format)
    .option('--only <sections>', 'comma-separated: objects,memory,hardware,queue,threads')
    .action((file: string, o: { at: number; format: Format; only?: string }) => {
      const s = openSession(file);
      seekTo(s, o.at);
      const v = inspectState(s.state());
      if (o.format === 'json') out(toJson(v, 2));
      else if (o.format === 'dot') out(toDot(v));
      else out(renderView(v, o.only?.split(',')));
    });

  program
    .command('diff')
    .description('what changed between two steps, object by object')
    .argument('<file>', 'journal file')
    .requiredOption('--from <a>', 'earlier delivery number', parseIntOpt)
    .requiredOption('--to <b>', 'later delivery number', parseIntOpt)
    .option('--format <f>', 'text or json', parseFormat, 'text' as Format)
    .action((file: string, o: { from: number; to: number; format: Format }) => {
      const s = openSession(file);
      seekTo(s, o.from);
      const a = inspectState(s.state());
      seekTo(s, o.to);
      const d = diffViews(a, inspectState(s.state()));
      out(o.format === 'json' ? toJson(d, 2) : renderDiff(d));
    });

  program
    .command('bisect')
    .description('first step where a predicate over the state becomes true')
    .argument('<file>', 'journal file')
    .requiredOption('--until <expr>', "JavaScript over s/objects/obj(id)/ioas(id), e.g. \"objects.some(o => o.users > 2)\"")
    .option('--format <f>', 'text or json', parseFormat, 'text' as Format)
    .action((file: string, o: { until: string; format: Format }) => {
      const s = openSession(file);
      let pred;
      try {
        pred = compilePredicate(o.until);
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      const bar = progressBar('bisect');
      const step = bisect(s, pred, (d, t) => bar.update(d, t));
      bar.stop();
      if (o.format === 'json') return out(toJson({ predicate: o.until, firstStep: step }));
      if (step === null) throw new CliError(`the predicate never holds in ${s.total} deliveries`, 1);
      out(`first step where it holds: ${step}`);
      if (step > 0) {
        const rec = [...s.reader.envelopes()].find((e) => e.seq === step && e.kind !== 'choice');
        if (rec) out(`  ${formatEnvelope(rec).trim()}`);
      }
    });
}
