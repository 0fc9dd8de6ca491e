/**
 * The one error the reader, verifier and recovery throw for a damaged or
 * malformed journal.  `offset` is the byte offset of the record (or file
 * header) that is bad, so a bug report can point at the exact spot.
 */
export class JournalError extends Error {
  override readonly name = 'JournalError';
  readonly offset: number;
  /** Index of the bad record counting the header record as 0, when known. */
  readonly record: number | undefined;
  readonly reason: string;
  /** The bytes just stop inside this record (a torn tail), as opposed to damage. */
  readonly torn: boolean;

  constructor(offset: number, reason: string, record?: number, torn = false, detail?: string) {
    const where = record === undefined ? '' : ` in record ${record}`;
    super(`journal corrupt at byte ${offset}: ${reason}${where}${detail ? ` (${detail})` : ''}`);
    this.offset = offset;
    this.record = record;
    this.reason = reason;
    this.torn = torn;
  }
}

/** A value the codec refuses to journal because it would not round-trip. */
export class CodecError extends TypeError {
  override readonly name = 'CodecError';
}
