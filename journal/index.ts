/** Public API of the journal layer. */
export { crc32c } from './crc32c.ts';
export { encodeValue, decodeValue } from './codec.ts';
export { JournalError, CodecError } from './errors.ts';
export {
  MAGIC, FORMAT_VERSION, FILE_HEADER_BYTES, FRAME_OVERHEAD, MAX_PAYLOAD, RECORD_TYPES, type RecordType,
} from './frame.ts';
export type { JournalHeader, JournalHeaderInit, JournalEnd, JournalRecord, Snapshot } from './records.ts';
export { JournalWriter, type JournalWriterOptions } from './writer.ts';
export { fileSink, memorySink, type JournalSink, type MemorySink, type FileSinkOptions } from './sinks.ts';
export { JournalReader, type SnapshotRef, type SeekResult } from './reader.ts';
export { verifyJournal, recoverTornTail, recoverFile, type VerifyResult, type RecoveryReport } from './verify.ts';
