import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Streaming reader for the audit files' line format: UTF-8, one JSON document per line, every line ended by
 * '\n'. Bytes after the last '\n' are a torn tail (a write the process did not finish) and are never handed to
 * the caller; the file store truncates them and the verifier ignores them. Reading is chunked so a large log is
 * never held in memory whole.
 */

/** Which file a scan read: a later open of the same path can be checked to be that file still. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** What a scan found. `validBytes` is the offset just past the last complete line. */
export interface LineScan {
  readonly file: FileIdentity;
  readonly lines: number;
  readonly validBytes: number;
  readonly tornBytes: number;
  /** Set when a line is longer than allowed or not valid UTF-8; the scan stopped at it. */
  readonly error?: { readonly index: number; readonly reason: string };
  /** True when the callback returned false and the scan stopped early. */
  readonly stopped: boolean;
}

const CHUNK_BYTES = 1 << 20;

/**
 * How an audit file is opened to scan it: never waiting (O_NONBLOCK: a FIFO opens at once, where a blocking open
 * waited for a writer that never came), never as a controlling terminal (O_NOCTTY). Symlinks are followed: a log
 * may be given through one.
 */
const SCAN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0);

/**
 * The error `scanLines` throws for a path that is not a regular file (a FIFO, a device, a socket, a directory):
 * an fs-style error whose `code` is EFTYPE (libuv's "inappropriate file type or format"), which callers report as
 * they report any file they cannot read.
 */
export const NOT_REGULAR_FILE = 'EFTYPE';

export function notRegularFile(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${NOT_REGULAR_FILE}: not a regular file, open '${path}'`), {
    code: NOT_REGULAR_FILE,
    syscall: 'open',
    path,
  });
}

/**
 * Calls `onLine(text, index)` for each complete line of `path` in order, without its '\n'. Stops when the
 * callback returns false, or at the first line longer than `maxLineBytes` bytes or not valid UTF-8 (reported in
 * `error`, with no call for that line). Throws the fs error when the file cannot be opened or read (ENOENT…), one
 * with code EFTYPE (NOT_REGULAR_FILE) when it is not a regular file, and TypeError/RangeError on bad arguments.
 * Only a regular file is read: a FIFO there made the open (a kernel's start, `audit verify`) wait for ever and a
 * device is endless (red-team pass 135, `audit-special-files.test.ts`).
 */
export function scanLines(
  path: string,
  maxLineBytes: number,
  onLine: (text: string, index: number) => boolean,
): LineScan {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string');
  if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) throw new RangeError('maxLineBytes must be positive');
  if (typeof onLine !== 'function') throw new TypeError('onLine must be a function');
  const fd = openSync(path, SCAN_FLAGS);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw notRegularFile(path);
    const file = { dev: stats.dev, ino: stats.ino };
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let carry: Buffer | undefined;
    let position = 0;
    let validBytes = 0;
    let index = 0;
    for (;;) {
      const read = readSync(fd, chunk, 0, CHUNK_BYTES, position);
      if (read === 0) break;
      position += read;
      const data = carry === undefined ? chunk.subarray(0, read) : Buffer.concat([carry, chunk.subarray(0, read)]);
      let start = 0;
      for (let end = data.indexOf(0x0a, start); end !== -1; end = data.indexOf(0x0a, start)) {
        if (end - start > maxLineBytes)
          return { file, lines: index, validBytes, tornBytes: 0, error: tooLong(index), stopped: false };
        const text = data.toString('utf8', start, end);
        // toString replaces invalid sequences with U+FFFD; only then is the byte-exact round trip worth checking.
        if (text.includes('\uFFFD') && !data.subarray(start, end).equals(Buffer.from(text, 'utf8'))) {
          return {
            file,
            lines: index,
            validBytes,
            tornBytes: 0,
            error: { index, reason: 'line is not valid UTF-8' },
            stopped: false,
          };
        }
        if (!onLine(text, index)) return { file, lines: index, validBytes, tornBytes: 0, stopped: true };
        index += 1;
        validBytes += end - start + 1;
        start = end + 1;
      }
      // Copy: `chunk` is reused by the next read.
      carry = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
      if (carry !== undefined && carry.length > maxLineBytes) {
        return { file, lines: index, validBytes, tornBytes: 0, error: tooLong(index), stopped: false };
      }
    }
    return { file, lines: index, validBytes, tornBytes: carry?.length ?? 0, stopped: false };
  } finally {
    closeSync(fd);
  }
}

function tooLong(index: number): { index: number; reason: string } {
  return { index, reason: 'line is too long' };
}
