/**
 * `iommufd-sim tt FILE`: an interactive time-travel session.  Commands:
 * step [n], back [n], goto N, where, print [section|expr], watch EXPR,
 * unwatch [i], watches, diff N, help, quit.  Reads commands from stdin, so it
 * can also be scripted (`printf 'goto 10\nprint\n' | iommufd-sim tt FILE`).
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { ReplaySession } from '../replay/session.ts';
import { inspectState, type InspectView } from '../replay/inspect.ts';
import { diffViews } from '../replay/diff.ts';
import { compileExpr } from '../replay/bisect.ts';
import { renderDiff, renderView } from '../replay/render.ts';
import { formatEnvelope, plain } from './format.ts';
import { openSession } from './replay.ts';
import { toJson } from './util.ts';

const HELP = `commands:
  step [n]        deliver the next n messages (default 1)
  back [n]        go back n deliveries (default 1)
  goto N          jump to the state after delivery N (0 = start)
  where           the current position and the last delivery
  print [what]    the state; what = objects|memory|hardware|queue|threads, or a JS expression over s/objects/obj(id)
  watch EXPR      stop stepping when EXPR (over s/objects/obj(id)/ioas(id)) changes value
  unwatch [i]     remove watch i (all without i)
  watches         list watches
  diff N          what changed between delivery N and here
  help, quit`;

interface Watch {
  expr: string;
  fn: (v: InspectView) => unknown;
  last: string;
}

/** The tt command interpreter, separate from the terminal so tests can drive it. */
export class TimeTravel {
  private readonly watches: Watch[] = [];
  private lastEnv = '';

  constructor(readonly s: ReplaySession, private readonly print: (line: string) => void) {}

  prompt(): string {
    return `tt@${this.s.position}/${this.s.total}> `;
  }

  private view(): InspectView {
    return inspectState(this.s.state());
  }

  private evalExpr(expr: string): (v: InspectView) => unknown {
    const f = compileExpr(expr);
    return (v) => {
      const r = f(v);
      return r instanceof Error ? `error: ${r.message}` : r;
    };
  }

  private currentEnvelope(): string {
    const pos = this.s.position;
    if (pos === 0) return '(initial state)';
    for (const e of this.s.reader.envelopes()) if (e.seq === pos && e.kind !== 'choice') return formatEnvelope(e).trim();
    return '';
  }

  private goto(n: number): void {
    this.s.seek(Math.max(0, Math.min(this.s.total, n)));
    this.lastEnv = this.currentEnvelope();
  }

  private stepN(n: number): void {
    for (const w of this.watches) w.last = toJson(w.fn(this.view()));
    for (let i = 0; i < n; i++) {
      if (!this.s.step()) {
        this.print(this.s.divergence ? `diverged: ${this.s.divergence.message}` : 'end of journal');
        break;
      }
      const v = this.watches.length ? this.view() : null;
      const hit = v ? this.watches.find((w) => toJson(w.fn(v)) !== w.last) : undefined;
      if (hit && v) {
        this.print(`watch '${hit.expr}' changed: ${hit.last} → ${toJson(hit.fn(v))}`);
        break;
      }
    }
    this.lastEnv = this.currentEnvelope();
    this.print(`at ${this.s.position}: ${this.lastEnv}`);
  }

  /** Run one command line; returns false on quit. */
  exec(line: string): boolean {
    const [cmd = '', ...rest] = line.trim().split(/\s+/);
    const arg = line.trim().slice(cmd.length).trim();
    const num = (d: number) => (rest[0] !== undefined && /^\d+$/.test(rest[0]) ? Number(rest[0]) : d);
    try {
      switch (cmd) {
        case '':
          return true;
        case 'step':
        case 's':
          this.stepN(num(1));
          return true;
        case 'back':
        case 'b':
          this.goto(this.s.position - num(1));
          this.print(`at ${this.s.position}: ${this.lastEnv}`);
          return true;
        case 'goto':
        case 'g':
          if (rest[0] === undefined || !/^\d+$/.test(rest[0])) {
            this.print('usage: goto N');
            return true;
          }
          this.goto(Number(rest[0]));
          this.print(`at ${this.s.position}: ${this.lastEnv}`);
          return true;
        case 'where':
        case 'w':
          this.print(`at ${this.s.position} of ${this.s.total}: ${this.currentEnvelope()}`);
          return true;
        case 'print':
        case 'p': {
          const sections = ['objects', 'memory', 'hardware', 'queue', 'threads'];
          if (!arg || sections.includes(arg)) this.print(renderView(this.view(), arg ? [arg] : undefined));
          else this.print(plain(this.evalExpr(arg)(this.view())) || toJson(this.evalExpr(arg)(this.view())));
          return true;
        }
        case 'watch':
          if (!arg) {
            this.print('usage: watch EXPR');
            return true;
          }
          this.watches.push({ expr: arg, fn: this.evalExpr(arg), last: '' });
          this.print(`watch ${this.watches.length - 1}: ${arg} = ${toJson(this.evalExpr(arg)(this.view()))}`);
          return true;
        case 'unwatch':
          if (rest[0] === undefined) this.watches.length = 0;
          else this.watches.splice(Number(rest[0]), 1);
          return true;
        case 'watches':
          this.watches.forEach((w, i) => this.print(`${i}: ${w.expr}`));
          return true;
        case 'diff': {
          const here = this.s.position;
          const b = this.view();
          this.goto(num(0));
          const a = this.view();
          this.goto(here);
          this.print(renderDiff(diffViews(a, b)));
          return true;
        }
        case 'help':
        case 'h':
        case '?':
          this.print(HELP);
          return true;
        case 'quit':
        case 'q':
        case 'exit':
          return false;
        default:
          this.print(`unknown command '${cmd}' (help lists them)`);
          return true;
      }
    } catch (e) {
      this.print(`error: ${(e as Error).message}`);
      return true;
    }
  }
}

export function registerTtCommand(program: Command): void {
  program
    .command('tt')
    .description('interactive time travel through a journal (step, back, goto, where, print, watch)')
    .argument('<file>', 'journal file')
    .action(async (file: string) => {
      const s = openSession(file);
      const tt = new TimeTravel(s, (l) => process.stdout.write(l + '\n'));
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
      process.stdout.write(`${file}: ${s.total} deliveries. 'help' lists commands.\n`);
      rl.setPrompt(tt.prompt());
      rl.prompt();
      for await (const line of rl) {
        if (!tt.exec(line)) break;
        rl.setPrompt(tt.prompt());
        rl.prompt();
      }
      rl.close();
    });
}
