/** Small shared pieces of the CLI: output, errors that become exit codes, option parsers. */
import { InvalidArgumentError } from 'commander';

/** A user-facing failure: printed without a stack trace, with this exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

export function out(line: string): void {
  process.stdout.write(line + '\n');
}

export function err(line: string): void {
  process.stderr.write(line + '\n');
}

/** JSON with bigints as decimal strings and byte arrays as hex. */
export function toJson(v: unknown, indent?: number): string {
  return JSON.stringify(
    v,
    (_k, x) => {
      if (typeof x === 'bigint') return x.toString();
      if (x instanceof Uint8Array) return Buffer.from(x).toString('hex');
      if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');
      return x;
    },
    indent,
  );
}

export function parseIntOpt(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a non-negative integer');
  return Number(v);
}

export function parseSeed(v: string): number | string {
  return /^\d+$/.test(v) ? Number(v) : v;
}
