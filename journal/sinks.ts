/**
 * Where a JournalWriter's bytes go.  `write` must consume the chunk before
 * it returns: the writer reuses the memory right after.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

export interface JournalSink {
  write(chunk: Uint8Array): void;
  close?(): void;
}

export interface MemorySink extends JournalSink {
  /** A copy of everything written so far. */
  bytes(): Uint8Array;
  readonly length: number;
}

export function memorySink(initialCapacity = 1 << 16): MemorySink {
  let buf = new Uint8Array(Math.max(16, initialCapacity));
  let len = 0;
  return {
    write(chunk) {
      if (len + chunk.length > buf.length) {
        const grown = new Uint8Array(Math.max(buf.length * 2, len + chunk.length));
        grown.set(buf.subarray(0, len));
        buf = grown;
      }
      buf.set(chunk, len);
      len += chunk.length;
    },
    bytes: () => buf.slice(0, len),
    get length() {
      return len;
    },
  };
}

export interface FileSinkOptions {
  /** Bytes gathered before one writeSync (default 1 MiB). */
  bufferBytes?: number;
  /** fsync before closing, for a journal that must survive a power cut. */
  fsync?: boolean;
}

/** Creates (or truncates) `path` and writes it in large synchronous chunks. */
export function fileSink(path: string, options: FileSinkOptions = {}): JournalSink {
  const fd = openSync(path, 'w');
  const buf = new Uint8Array(options.bufferBytes ?? 1 << 20);
  let len = 0;
  let closed = false;
  const drain = () => {
    writeAll(fd, buf.subarray(0, len));
    len = 0;
  };
  return {
    write(chunk) {
      if (closed) throw new Error(`fileSink(${path}): write after close`);
      if (len + chunk.length > buf.length) drain();
      if (chunk.length >= buf.length) writeAll(fd, chunk);
      else {
        buf.set(chunk, len);
        len += chunk.length;
      }
    },
    close() {
      if (closed) return;
      closed = true;
      drain();
      if (options.fsync) fsyncSync(fd);
      closeSync(fd);
    },
  };
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}
