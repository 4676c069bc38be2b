import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  lutimesSync,
  openSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { IsokernelError } from '../core/errors.js';
import {
  currentBootId,
  currentPidNamespace,
  leaseHolds,
  recordedProcessRuns,
  samePidSpace,
  startTimeOf,
} from '../core/process-identity.js';
import type { AuditRecovered, AuditSink } from './audit-log.js';
import type { AuditCheckpoint } from './checkpoint.js';
import { type FileIdentity, NOT_REGULAR_FILE, notRegularFile, scanLines } from './lines.js';
import type { AuditRecord } from './record.js';
import { MAX_RECORD_LINE_LENGTH } from './record.js';
import { type AuditKeyPolicy, AuditReplay, keyPolicy, readCheckpointFile } from './verify-file.js';

/**
 * The default audit sink: an append-only JSONL file of records (one canonical record per line) and, beside it,
 * an append-only JSONL file of signed checkpoints (`<path>.checkpoints`).
 *
 * One writer at a time: `<real path>.lock` is created with O_EXCL and names the writer: its pid, its start time, the
 * boot id and its pid namespace (from /proc, on Linux), and a nonce of the open. Pids name processes of one pid
 * namespace only, so how a lock is judged depends on where it was written:
 * - In this pid namespace and this boot: it is stale and taken over when its pid is no longer running
 *   (process.kill(pid, 0) fails with ESRCH), when the process with that pid started at another time (the pid was
 *   reused), or when it names this process and this process does not hold it (a container's kernel killed as pid 1
 *   is pid 1 again when it restarts: a pid-only lock refused every restart for ever, red-team pass 86,
 *   `audit-lock-pid-reuse.test.ts`). A lock held by a running process, including this one, refuses the open.
 * - In another pid namespace (another container sharing the log's directory, or this container before a restart,
 *   which makes a new namespace), another boot or another host, or where /proc did not say: the pid means nothing
 *   here, so the lock is a lease. The writer renews it by touching the lock file's mtime every `lockRefreshMs`
 *   while open, and such a lock is stale only once its mtime is `LOCK_LEASE_MS` old; until then the open is
 *   refused. (Judged by pid, a kernel that is pid 1 of one container took over the live lock of the kernel that is
 *   pid 1 of another, and two writers corrupted one log.) A restart in a new namespace after a crash therefore opens
 *   the log once the dead writer's lease ran out, at most `LOCK_LEASE_MS` after the crash.
 * - Of the older format (a pid alone, written by a kernel that did not renew it): judged by pid as in one namespace.
 * An open store checks, when it renews the lease, that the lock still holds its nonce, and fails (like a failed
 * write) when it does not: a writer whose event loop stalled past the lease and lost the lock stops appending.
 *
 * Recovery on open: a torn last line (bytes after the last newline: a write the previous writer did not finish)
 * is truncated from either file and reported in `recovery`; everything before it is kept. The remaining log is
 * replayed with the verifier's rules (strict parsing, hashes, chains, signed checkpoint roots) to rebuild the
 * seq, the namespace heads and the Merkle tree. A log that does not replay cleanly is not resumed: open throws
 * AuditStoreError('corrupt') rather than append to a history that no longer verifies.
 *
 * Durability (`fsync`):
 * - 'always': each record is written and fdatasync'ed before `appendRecord` returns (each checkpoint too).
 * - 'interval' (default): records are buffered in memory and written when the buffer passes `bufferBytes`, when
 *   a checkpoint is stored, and every `intervalMs`; the files are fdatasync'ed at most once every `intervalMs`
 *   (only if something was written) and on close. A crash loses at most the last `intervalMs` of records (plus
 *   one sync's duration). The timer's fdatasync runs on libuv's thread pool, so appends never wait for the disk
 *   (it measured ≈ 10% of the sustained append time on the event loop); at most one is in flight, a tick that
 *   finds one running leaves the files dirty for the next, and `close` and `sync` still sync on the caller's
 *   thread. A failed background sync fails the store like any other.
 * - 'never': buffered and written as for 'interval', never fsync'ed (not even on close); the OS decides.
 * Under 'interval' and 'never' the log also `flush`es between every intent and its effect (AuditLog.beforeEffect),
 * so the intent of an effect that happened is with the OS whenever this process dies.
 * Records are always written before a checkpoint that covers them, so a process crash never leaves a checkpoint
 * ahead of its records. (An OS crash under 'interval' or 'never' can; the next open then reports the log corrupt.)
 *
 * A failed write or sync (disk full, I/O error) makes the store failed: the error is rethrown by the append that
 * hit it, or, when the timer hit it, by the next append, so the kernel stops running effects it cannot record.
 */

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface AuditFileStoreOptions {
  /** Default 'interval'. */
  readonly fsync?: FsyncPolicy;
  /** Flush and fsync period for 'interval' (flush only for 'never'), in ms. Default 100. */
  readonly intervalMs?: number;
  /** Write buffered records once about this many bytes are pending. Default 256 KiB. */
  readonly bufferBytes?: number;
  /** Path of the checkpoints file; default `${path}.checkpoints`. */
  readonly checkpointPath?: string;
  /** When given, recovery refuses checkpoints not signed by one of these keys (raw 32 bytes or hex). */
  readonly trustedKeys?: readonly (Uint8Array | string)[];
  /**
   * How often the open store renews its lock's lease (touches its mtime), in ms: 10 to 5000, default 3000. For
   * tests; it must stay well under LOCK_LEASE_MS, which writers in other pid namespaces judge the lock by.
   */
  readonly lockRefreshMs?: number;
}

/** What `open` found and repaired. */
export interface AuditRecoveryReport {
  /** True when the log did not exist (or was empty) and was created. */
  readonly created: boolean;
  readonly records: number;
  readonly checkpoints: number;
  /** Bytes of a torn last record line that were truncated. */
  readonly tornRecordBytes: number;
  /** Bytes of a torn last checkpoint line that were truncated. */
  readonly tornCheckpointBytes: number;
  /** Pid of a dead writer whose stale lock was taken over, or null. */
  readonly staleLockPid: number | null;
}

/** Why a store could not be opened. `reason` says which; `seq` locates corruption when known. */
export class AuditStoreError extends IsokernelError {
  readonly reason: 'locked' | 'corrupt';
  readonly seq: number | null;

  constructor(reason: 'locked' | 'corrupt', message: string, seq: number | null = null) {
    super(message);
    this.name = 'AuditStoreError';
    this.reason = reason;
    this.seq = seq;
  }
}

const FILE_MODE = 0o600;

/**
 * How long a lock written in another pid namespace (or boot, or where the namespace is unknown) holds since its
 * writer last renewed it. Its pid cannot tell whether the writer runs, so only the renewals can: a live writer touches
 * the lock every DEFAULT_LOCK_REFRESH_MS (3 s), so 15 s is five missed renewals — a writer whose event loop stalls that
 * long loses the lock (and fails when it notices) — and a kernel restarted after a crash waits at most 15 s.
 */
export const LOCK_LEASE_MS = 15_000;
const DEFAULT_LOCK_REFRESH_MS = 3_000;

/**
 * What the lock file names: the writer's pid and, to tell that process from a later one given the same pid (a
 * restarted container's kernel is pid 1 again), its start time (clock ticks since boot, field 22 of
 * /proc/<pid>/stat), the boot id, a nonce of the open that wrote it, and the pid namespace its pid is in (the inode
 * number of /proc/self/ns/pid). `start`, `boot` and `ns` are null where /proc does not tell them (not Linux; `ns`
 * also in a lock written before namespaces were recorded); `nonce` is null in a lock of the older format, a pid alone.
 * The line: `<pid> <start|-> <boot|-> <nonce> <ns|->`.
 */
interface LockHolder {
  readonly pid: number;
  readonly start: string | null;
  readonly boot: string | null;
  readonly nonce: string | null;
  readonly ns: string | null;
}

type LockRead =
  | { readonly text: string; readonly holder: LockHolder | 'unreadable'; readonly mtimeMs: number }
  | 'gone';

const PID_LINE = /^([1-9][0-9]{0,9})\n?$/;
const LOCK_LINE = /^([1-9][0-9]{0,9}) ([0-9]{1,20}|-) ([0-9a-f-]{1,64}|-) ([0-9a-f]{32})(?: ([0-9]{1,20}|-))?\n?$/;

/**
 * The nonces of the locks this process holds, shared by every copy of this module the process loaded (the CLI's
 * bundle and the library's files are two), so a lock naming this process is held exactly when its nonce is here.
 */
const HELD_LOCKS_KEY = Symbol.for('isokernel.audit.heldLocks');
const heldLocks: Set<string> =
  ((globalThis as Record<symbol, unknown>)[HELD_LOCKS_KEY] as Set<string> | undefined) ??
  (() => {
    const held = new Set<string>();
    Object.defineProperty(globalThis, HELD_LOCKS_KEY, { value: held });
    return held;
  })();

/**
 * The most bytes a lock this module writes can hold: `<pid> <start> <boot> <nonce> <ns>\n` is at most 10 + 20 + 64 + 32
 * + 20 digits, four spaces and a newline (LOCK_LINE), 151 bytes. A longer lock is unreadable.
 */
const MAX_LOCK_BYTES = 256;
/**
 * How a lock is opened to read it: never through a symlink (the kernel creates it with O_EXCL, which never follows
 * one, so a link there was planted) and never waiting (O_NONBLOCK: a FIFO there opens at once, and fstat refuses it).
 */
const LOCK_READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0);
/** What opening a lock fails with when the path is a symlink (ELOOP; EMLINK on FreeBSD) or a socket (ENXIO). */
const UNOPENABLE_LOCK = new Set(['ELOOP', 'EMLINK', 'ENXIO']);

/**
 * Reads the lock: 'gone' when there is none. Anything that is not a regular file (a symlink, a FIFO, a device, a
 * socket) or holds more than MAX_LOCK_BYTES is 'unreadable', never read: reading the lock with readFileSync hung
 * the open on a FIFO, and a running kernel's lease renewal with it (its event loop, for good), and a lock that was a
 * symlink to /dev/zero was read until the process aborted at 16.9 GB (red-team pass 135,
 * `audit-special-files.test.ts`). Other fs errors are thrown.
 */
function readLock(lockPath: string): LockRead {
  let fd: number;
  try {
    fd = openSync(lockPath, LOCK_READ_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'gone';
    if (code !== undefined && UNOPENABLE_LOCK.has(code)) return { text: '', holder: 'unreadable', mtimeMs: 0 };
    throw error;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile() || stats.size > MAX_LOCK_BYTES) {
      return { text: '', holder: 'unreadable', mtimeMs: stats.mtimeMs };
    }
    // One byte past the bound tells a lock that grew since the fstat from one that fits.
    const bytes = Buffer.alloc(MAX_LOCK_BYTES + 1);
    let length = 0;
    while (length < bytes.length) {
      const read = readSync(fd, bytes, length, bytes.length - length, length);
      if (read === 0) break;
      length += read;
    }
    if (length > MAX_LOCK_BYTES) return { text: '', holder: 'unreadable', mtimeMs: stats.mtimeMs };
    const text = bytes.toString('utf8', 0, length);
    return { text, holder: parseLock(text), mtimeMs: stats.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

function parseLock(text: string): LockHolder | 'unreadable' {
  const current = LOCK_LINE.exec(text);
  if (current !== null) {
    const pid = Number(current[1]);
    if (pid > 0x7fffffff) return 'unreadable';
    const field = (value: string | undefined) => (value === undefined || value === '-' ? null : value);
    return { pid, start: field(current[2]), boot: field(current[3]), nonce: current[4] ?? null, ns: field(current[5]) };
  }
  const old = PID_LINE.exec(text);
  if (old === null) return 'unreadable';
  const pid = Number(old[1]);
  return pid <= 0x7fffffff ? { pid, start: null, boot: null, nonce: null, ns: null } : 'unreadable';
}

/** Whether the writer a lock names may still hold it, and, when it may, how to say who it is. */
type LockVerdict = { readonly held: false } | { readonly held: true; readonly who: string };

const STALE: LockVerdict = { held: false };

/**
 * Whether the writer the lock names may still be running and hold it (see the file comment). A lock holding one of
 * this process's nonces is held. One written in this pid namespace and boot, or of the older format (a pid alone),
 * is judged by its pid (`recordedProcessRuns`). Any other is a lease: held while its mtime is less than LOCK_LEASE_MS old. A
 * writer without /proc's facts on a platform without pid namespaces (not Linux) is judged by its pid too.
 */
function judgeLock(holder: LockHolder, mtimeMs: number): LockVerdict {
  if (holder.nonce !== null && heldLocks.has(holder.nonce)) return { held: true, who: 'this process' };
  if (holder.nonce === null || samePidSpace(holder)) {
    return recordedProcessRuns(holder) ? { held: true, who: `running process ${holder.pid}` } : STALE;
  }
  if (!leaseHolds(mtimeMs, LOCK_LEASE_MS)) return STALE;
  const age = Date.now() - mtimeMs;
  const seconds = Math.max(0, Math.ceil((LOCK_LEASE_MS - age) / 1000));
  return {
    held: true,
    who:
      `process ${holder.pid} of another pid namespace or boot (its lease was renewed ${Math.max(0, Math.round(age / 1000))} s ago; ` +
      `stale if not renewed within ${seconds} s)`,
  };
}

/**
 * Renews the lease of the lock `nonce` names (touches its mtime). False when the lock no longer holds that nonce (it
 * was removed, or taken over after the lease ran out); fs errors other than the lock being gone are thrown.
 */
function renewLock(lockPath: string, nonce: string): boolean {
  const read = readLock(lockPath);
  if (read === 'gone' || read.holder === 'unreadable' || read.holder.nonce !== nonce) return false;
  const now = new Date();
  try {
    // lutimes: a symlink swapped in since the read is touched itself, never its target.
    lutimesSync(lockPath, now, now);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  return true;
}

/**
 * How the store opens its files to append: never waiting (a FIFO swapped in between recovery and these opens would
 * have held the start; with no reader it is ENXIO now) and only a regular file (fstat), as recovery read them.
 */
const APPEND_FLAGS =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0);

function openAppend(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, APPEND_FLAGS, FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') throw notRegularFile(path);
    throw error;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw notRegularFile(path);
  }
  return fd;
}

const MAX_SYMLINK_HOPS = 40;

/**
 * The lock of the records file at `path`: `<real path>.lock` (`realFilePath`), so every alias of one log (a symlink to
 * it or to a directory above it, a `..` after such a symlink) takes the same lock. By path string, a second kernel
 * opening the log through a symlink took another lock and the two interleaved their writes (red-team pass 132,
 * `audit-lock-symlink-alias.test.ts`); with `..` normalized away before the links were followed, `a/link/../audit.jsonl`
 * (link -> other/sub) opened `other/audit.jsonl` and locked `a/audit.jsonl.lock`, and two kernels corrupted one log
 * again (red-team pass 135). Aliases the file system does not show as symlinks (hard links, bind mounts) are not unified.
 */
export function lockPathOf(path: string): string {
  return `${realFilePath(path)}.lock`;
}

/**
 * The real path of the file `path` names, resolved the way open(2) resolves it: every symlink followed where it is
 * met, of its directories and of the file itself, and a `..` applied to where the link led (realpath(3) on the path as
 * given; path.resolve and Node's JS realpath normalize `..` away by string first, which names another file when a
 * symlink precedes it). A relative path is taken from the current directory. A file that does not exist yet resolves
 * too, without being created (recovery must still see a missing records file as missing): its directory, as given,
 * real-pathed and joined with its name, and when that name is a dangling symlink, the link's target, the same way
 * again. Throws the fs error when a directory on the way does not exist (the open could not create the file either),
 * and ELOOP past MAX_SYMLINK_HOPS links.
 */
function realFilePath(path: string): string {
  // Absolute but not normalized: only the system resolves `..` as the open will.
  let current = path.startsWith('/') ? path : `${process.cwd()}/${path}`;
  for (let hops = 0; hops <= MAX_SYMLINK_HOPS; hops += 1) {
    try {
      return realpathSync.native(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const cut = current.lastIndexOf('/');
    const directory = realpathSync.native(cut === 0 ? '/' : current.slice(0, cut));
    const prefix = directory === '/' ? '' : directory;
    const candidate = `${prefix}/${current.slice(cut + 1)}`;
    let target: string;
    try {
      target = readlinkSync(candidate);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Nothing there (ENOENT) is the file still to be created; EINVAL would be a file that appeared meanwhile.
      if (code === 'ENOENT' || code === 'EINVAL') return candidate;
      throw error;
    }
    current = target.startsWith('/') ? target : `${prefix}/${target}`;
  }
  throw Object.assign(new Error(`ELOOP: too many symbolic links resolving ${path}`), { code: 'ELOOP' });
}

/** What `acquireLock` took: the lock's nonce (to release exactly it) and the stale writer's pid, or null. */
interface AcquiredLock {
  readonly nonce: string;
  readonly stalePid: number | null;
}

/**
 * Creates the lock file with O_EXCL naming this process (LockHolder); takes over a lock whose writer is not running
 * (`mayBeHeld`). Throws AuditStoreError('locked') when a running process, this one included, holds the lock.
 */
function acquireLock(lockPath: string): AcquiredLock {
  let stalePid: number | null = null;
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const nonce = randomBytes(16).toString('hex');
    try {
      const fd = openSync(lockPath, 'wx', FILE_MODE);
      try {
        const facts = `${startTimeOf('self') ?? '-'} ${currentBootId() ?? '-'} ${nonce} ${currentPidNamespace() ?? '-'}`;
        writeSync(fd, `${process.pid} ${facts}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      heldLocks.add(nonce);
      return { nonce, stalePid };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const read = readLock(lockPath);
    if (read === 'gone') continue;
    const { holder } = read;
    if (holder === 'unreadable') {
      throw new AuditStoreError('locked', `${lockPath} does not hold a pid; remove it if no writer is running`);
    }
    const verdict = judgeLock(holder, read.mtimeMs);
    if (verdict.held) throw new AuditStoreError('locked', `audit log is locked by ${verdict.who}`);
    // Stale. Move it aside under a unique name — rename is atomic, so of two contenders only one moves a given
    // file — then check that what we moved is the stale lock and not one a faster contender just created.
    const aside = `${lockPath}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      renameSync(lockPath, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const moved = readLock(aside);
    if (moved === 'gone' || moved.text !== read.text) {
      try {
        linkSync(aside, lockPath);
      } catch {
        // Someone holds the path again; either way the live lock is not ours.
      }
      unlinkSync(aside);
      throw new AuditStoreError('locked', 'audit log lock changed hands during a stale-lock takeover');
    }
    unlinkSync(aside);
    stalePid = holder.pid;
  }
  throw new AuditStoreError('locked', 'could not acquire the audit log lock');
}

function releaseLock(lockPath: string, nonce: string): void {
  heldLocks.delete(nonce);
  try {
    const read = readLock(lockPath);
    if (read !== 'gone' && read.holder !== 'unreadable' && read.holder.nonce === nonce) unlinkSync(lockPath);
  } catch {
    // Releasing is best effort: a lock left behind names a writer that no longer holds it, and the next one takes
    // it over.
  }
}

function syncDirectory(path: string): void {
  try {
    const fd = openSync(dirname(path), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not every platform can fsync a directory; the files themselves are still synced.
  }
}

/** How every line the store writes begins (canonical JSON, keys sorted): a torn last line is a prefix of one. */
const RECORD_STARTS = ['{"action":"'];
const CHECKPOINT_STARTS = ['{"adopted":', '{"every":'];

/**
 * Cuts the torn last line off `path`: the `tornBytes` from `validBytes` on, as the scan found them. After lines that
 * verified, any tail is a torn write of ours: a crash can leave zeros, a later page without the first, or stale bytes
 * (review 138). A file with no complete line is cut only when its tail, past any zeros a power loss left, begins as
 * the store's lines begin (`starts`); anything else is not ours and the file is refused as corrupt, untouched. Such a
 * file was cut: through a symlink planted beside the log, a kernel's start emptied another file of its user (a key
 * with no final newline) and wrote the new log into it (review 136). A file whose size is no longer what the scan
 * found, or that is another file (replaced by a rename since), is refused untouched too: only the bytes scanned are
 * judged, and only they are read (the scan bounds them to a few MiB, where a file grown since could be any size).
 * Exported for its test; the store is its only caller.
 */
export function cutTornTail(
  path: string,
  scan: { readonly file: FileIdentity; readonly validBytes: number; readonly tornBytes: number },
  starts: readonly string[],
): void {
  const { file, validBytes, tornBytes } = scan;
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0));
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw notRegularFile(path);
    const same = stats.dev === file.dev && stats.ino === file.ino && stats.size === validBytes + tornBytes;
    if (!same) throw corrupt(`${path} changed while the store was opening it`);
    if (validBytes === 0) {
      const tail = Buffer.alloc(tornBytes);
      const length = readSync(fd, tail, 0, tail.length, 0);
      let first = 0;
      while (first < length && tail[first] === 0) first += 1;
      const text = tail.toString('latin1', first, Math.min(length, first + 16));
      if (text !== '' && !starts.some((start) => text.startsWith(start) || start.startsWith(text))) {
        throw corrupt(`${path} ends with bytes that are not the start of a line this store writes`);
      }
    }
    ftruncateSync(fd, validBytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes the first `length` bytes of `bytes` (default: all), looping over short writes. */
function writeAll(fd: number, bytes: Buffer, length = bytes.length): void {
  let offset = 0;
  while (offset < length) offset += writeSync(fd, bytes, offset, length - offset);
}

function checkOptions(path: unknown, options: AuditFileStoreOptions): void {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { fsync, intervalMs, bufferBytes, checkpointPath } = options;
  if (fsync !== undefined && fsync !== 'always' && fsync !== 'interval' && fsync !== 'never') {
    throw new TypeError("options.fsync must be 'always', 'interval' or 'never'");
  }
  if (intervalMs !== undefined) {
    if (!Number.isSafeInteger(intervalMs)) throw new TypeError('options.intervalMs must be an integer');
    if (intervalMs < 1 || intervalMs > 60_000) throw new RangeError('options.intervalMs must be 1 to 60000');
  }
  if (bufferBytes !== undefined) {
    if (!Number.isSafeInteger(bufferBytes)) throw new TypeError('options.bufferBytes must be an integer');
    if (bufferBytes < 1 || bufferBytes > 64 * 1024 * 1024)
      throw new RangeError('options.bufferBytes must be 1 to 64 MiB');
  }
  if (checkpointPath !== undefined && (typeof checkpointPath !== 'string' || checkpointPath === '')) {
    throw new TypeError('options.checkpointPath must be a non-empty string');
  }
  if (checkpointPath === path) throw new RangeError('options.checkpointPath must differ from path');
  const { lockRefreshMs } = options;
  if (lockRefreshMs !== undefined) {
    if (!Number.isSafeInteger(lockRefreshMs)) throw new TypeError('options.lockRefreshMs must be an integer');
    if (lockRefreshMs < 10 || lockRefreshMs > 5_000) throw new RangeError('options.lockRefreshMs must be 10 to 5000');
  }
}

interface Recovered {
  readonly recovered: AuditRecovered | undefined;
  readonly report: Omit<AuditRecoveryReport, 'staleLockPid'>;
}

const corrupt = (message: string, seq: number | null = null): AuditStoreError =>
  new AuditStoreError('corrupt', message, seq);

function readCheckpoints(checkpointPath: string, policy: AuditKeyPolicy): { list: AuditCheckpoint[]; torn: number } {
  if (!existsSync(checkpointPath)) return { list: [], torn: 0 };
  const { checked, scan } = readCheckpointFile(checkpointPath, policy);
  if (!checked.ok) throw corrupt(checked.reason, checked.seq);
  if (scan.tornBytes > 0) cutTornTail(checkpointPath, scan, CHECKPOINT_STARTS);
  return { list: checked.checkpoints, torn: scan.tornBytes };
}

function recover(path: string, checkpointPath: string, policy: AuditKeyPolicy): Recovered {
  const checkpoints = readCheckpoints(checkpointPath, policy);
  const recordsExist = existsSync(path);
  if (checkpoints.list.length === 0) {
    // Only a log that never got its first (empty-tree) checkpoint may lack one; it must then hold no record.
    let records = 0;
    let torn = 0;
    if (recordsExist) {
      const scan = scanLines(path, MAX_RECORD_LINE_LENGTH * 4, () => false);
      records = scan.lines + (scan.stopped ? 1 : 0);
      torn = scan.tornBytes;
      if (scan.error !== undefined || records > 0) throw corrupt('audit log has records but no signed checkpoint', 0);
      if (torn > 0) cutTornTail(path, scan, RECORD_STARTS);
    }
    const report = {
      created: true,
      records: 0,
      checkpoints: 0,
      tornRecordBytes: torn,
      tornCheckpointBytes: checkpoints.torn,
    };
    return { recovered: undefined, report };
  }
  if (!recordsExist) throw corrupt('audit log file is missing but its checkpoints exist', 0);
  const replay = new AuditReplay(checkpoints.list, { requireAnchored: false, pinned: policy.kind === 'pinned' });
  const scan = scanLines(path, MAX_RECORD_LINE_LENGTH * 4, (line) => replay.feed(line));
  if (scan.error !== undefined) replay.reject(scan.error.index, `record ${scan.error.index}: ${scan.error.reason}`);
  const result = replay.finish(scan.tornBytes);
  if (!result.ok) throw corrupt(`audit log does not verify at seq ${result.seq ?? '?'}: ${result.reason}`, result.seq);
  if (scan.tornBytes > 0) cutTornTail(path, scan, RECORD_STARTS);
  return {
    recovered: { chain: replay.chain, checkpoints: checkpoints.list, tags: [...replay.tags].sort() },
    report: {
      created: false,
      records: result.records,
      checkpoints: result.checkpoints,
      tornRecordBytes: scan.tornBytes,
      tornCheckpointBytes: checkpoints.torn,
    },
  };
}

/** The file-backed AuditSink. See the file comment for its guarantees. */
export class AuditFileStore implements AuditSink {
  readonly path: string;
  readonly checkpointPath: string;
  /** `<real path>.lock`: the records file's path with every symlink resolved (see `lockPathOf`). */
  readonly lockPath: string;
  readonly fsync: FsyncPolicy;
  /** The recovered state the AuditLog resumes from; undefined for a new log. */
  readonly recovered: AuditRecovered | undefined;
  /** What open found and repaired. */
  readonly recovery: AuditRecoveryReport;
  /** The nonce of the lock this store holds (LockHolder). */
  readonly #lockNonce: string;
  readonly #recordFd: number;
  readonly #checkpointFd: number;
  readonly #bufferBytes: number;
  readonly #timer: NodeJS.Timeout | undefined;
  /** Renews the lock's lease (see the file comment), whatever the fsync policy. */
  readonly #leaseTimer: NodeJS.Timeout;
  // Records encoded as UTF-8 lines, not yet written. Encoding each line straight into one reused buffer avoids
  // building a joined string and a fresh Buffer per write.
  readonly #buffer: Buffer;
  #pendingBytes = 0;
  #dirty = false;
  // A background fdatasync of the timer is running; the files are closed by whoever finishes last.
  #syncing = false;
  #filesOpen = true;
  #closed = false;
  #failure: unknown;
  #failed = false;

  private constructor(
    paths: { path: string; checkpointPath: string; lockPath: string },
    options: AuditFileStoreOptions,
    recovered: Recovered,
    lock: AcquiredLock,
  ) {
    this.path = paths.path;
    this.checkpointPath = paths.checkpointPath;
    this.lockPath = paths.lockPath;
    this.fsync = options.fsync ?? 'interval';
    this.#bufferBytes = options.bufferBytes ?? 256 * 1024;
    this.#buffer = Buffer.allocUnsafe(this.#bufferBytes + 4 * MAX_RECORD_LINE_LENGTH);
    this.recovered = recovered.recovered;
    this.#lockNonce = lock.nonce;
    this.recovery = Object.freeze({ ...recovered.report, staleLockPid: lock.stalePid });
    const createdFiles = !existsSync(this.path) || !existsSync(this.checkpointPath);
    this.#recordFd = openAppend(this.path);
    try {
      this.#checkpointFd = openAppend(this.checkpointPath);
    } catch (error) {
      closeSync(this.#recordFd);
      throw error;
    }
    if (createdFiles) syncDirectory(this.path);
    if (this.fsync !== 'always') {
      this.#timer = setInterval(() => this.#tick(), options.intervalMs ?? 100);
      this.#timer.unref();
    }
    this.#leaseTimer = setInterval(() => this.#renewLease(), options.lockRefreshMs ?? DEFAULT_LOCK_REFRESH_MS);
    this.#leaseTimer.unref();
  }

  /**
   * Opens (or creates) the log at `path`: takes the lock, truncates torn last lines, replays the existing log
   * and returns a store whose `recovered` state an AuditLog resumes from. Throws TypeError/RangeError on bad
   * arguments, AuditStoreError('locked') when another running process (or this one) holds the log or its lock is not
   * a lock file (a symlink, a FIFO, a device: never read), AuditStoreError('corrupt') when the existing log does not
   * verify or it or its checkpoints is not a regular file (never read: a FIFO there waited for ever), and fs errors as
   * they come.
   */
  static open(path: string, options: AuditFileStoreOptions = {}): AuditFileStore {
    checkOptions(path, options);
    const paths = { path, checkpointPath: options.checkpointPath ?? `${path}.checkpoints`, lockPath: lockPathOf(path) };
    const policy: AuditKeyPolicy = options.trustedKeys === undefined ? { kind: 'any' } : keyPolicy(options.trustedKeys);
    const lock = acquireLock(paths.lockPath);
    try {
      const recovered = recover(paths.path, paths.checkpointPath, policy);
      // Recovery runs synchronously and may outlast the lease: the lock must still be ours before the store appends.
      if (!renewLock(paths.lockPath, lock.nonce)) {
        throw new AuditStoreError('locked', 'audit log lock was taken over while the log was being recovered');
      }
      return new AuditFileStore(paths, options, recovered, lock);
    } catch (error) {
      releaseLock(paths.lockPath, lock.nonce);
      // A FIFO, a device or a directory in place of the log or its checkpoints, which the scan refuses to read.
      if ((error as NodeJS.ErrnoException | null)?.code === NOT_REGULAR_FILE) {
        throw corrupt(`${(error as NodeJS.ErrnoException).path ?? 'an audit file'} is not a regular file`);
      }
      throw error;
    }
  }

  /** The error that failed the store, if any. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Bytes of records buffered and not yet written. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  #usable(): void {
    if (this.#failed) throw new Error('audit store failed earlier', { cause: this.#failure });
    if (this.#closed) throw new Error('audit store is closed');
  }

  #guard<T>(action: () => T): T {
    try {
      return action();
    } catch (error) {
      this.#failed = true;
      this.#failure = error;
      throw error;
    }
  }

  #writePending(): void {
    if (this.#pendingBytes === 0) return;
    const bytes = this.#pendingBytes;
    // Cleared first: if the write fails the store is failed anyway, and the bytes must not be written twice.
    this.#pendingBytes = 0;
    writeAll(this.#recordFd, this.#buffer, bytes);
    this.#dirty = true;
  }

  #tick(): void {
    if (this.#closed || this.#failed) return;
    try {
      this.#guard(() => this.#writePending());
    } catch {
      return; // Kept in #failure; the next append rethrows it.
    }
    if (this.fsync !== 'interval' || !this.#dirty || this.#syncing) return;
    this.#dirty = false;
    this.#syncing = true;
    fdatasync(this.#recordFd, (recordError) => {
      if (recordError !== null || this.#closed) return this.#synced(recordError);
      fdatasync(this.#checkpointFd, (checkpointError) => this.#synced(checkpointError));
    });
  }

  // Renews the lock's lease; a lock that no longer holds this store's nonce fails the store (the next append throws).
  // Any other fs error leaves it for the next renewal: the lease outlasts several.
  #renewLease(): void {
    if (this.#closed || this.#failed) return;
    let held: boolean;
    try {
      held = renewLock(this.lockPath, this.#lockNonce);
    } catch {
      return;
    }
    if (!held) {
      this.#failed = true;
      this.#failure = new AuditStoreError('locked', 'audit log lock was removed or taken over by another writer');
    }
  }

  #synced(error: NodeJS.ErrnoException | null): void {
    this.#syncing = false;
    if (error !== null && !this.#failed) {
      this.#failed = true;
      this.#failure = error;
    }
    // close() ran while the sync was in flight: it synced on its own thread and left the descriptors to us, so
    // the thread pool never syncs a descriptor number that was closed and reused.
    if (this.#closed) this.#closeFiles();
  }

  #closeFiles(): void {
    if (!this.#filesOpen) return;
    this.#filesOpen = false;
    closeSync(this.#recordFd);
    closeSync(this.#checkpointFd);
  }

  /**
   * Stores one record line per the fsync policy (see the file comment). Throws Error when the store is closed
   * or failed, and the fs error (failing the store) when a write or sync fails.
   */
  appendRecord(_record: AuditRecord, line: string): void {
    this.#usable();
    if (this.fsync === 'always') {
      this.#guard(() => {
        writeAll(this.#recordFd, Buffer.from(`${line}\n`, 'utf8'));
        fdatasyncSync(this.#recordFd);
      });
      return;
    }
    // A UTF-8 line takes at most 3 bytes per UTF-16 unit; the buffer always has room for one maximal line past
    // bufferBytes, and it is written out as soon as bufferBytes is reached.
    if (line.length > MAX_RECORD_LINE_LENGTH) throw new RangeError('line is longer than any valid record line');
    this.#pendingBytes += this.#buffer.write(line, this.#pendingBytes, 'utf8');
    this.#buffer[this.#pendingBytes] = 0x0a;
    this.#pendingBytes += 1;
    if (this.#pendingBytes >= this.#bufferBytes) this.#guard(() => this.#writePending());
  }

  /**
   * Writes buffered records, then the checkpoint line (fdatasync'ed under 'always'; under 'interval' synced by
   * the next tick). Throws like `appendRecord`.
   */
  appendCheckpoint(_checkpoint: AuditCheckpoint, line: string): void {
    this.#usable();
    this.#guard(() => {
      this.#writePending();
      writeAll(this.#checkpointFd, Buffer.from(`${line}\n`, 'utf8'));
      if (this.fsync === 'always') fdatasyncSync(this.#checkpointFd);
      else this.#dirty = true;
    });
  }

  /** Writes buffered records now (no fsync): the log calls it before every effect. Throws like `appendRecord`. */
  flush(): void {
    this.#usable();
    this.#guard(() => this.#writePending());
  }

  /** Writes buffered records and fdatasyncs both files, whatever the policy. Throws like `appendRecord`. */
  sync(): void {
    this.#usable();
    this.#guard(() => {
      this.#writePending();
      fdatasyncSync(this.#recordFd);
      fdatasyncSync(this.#checkpointFd);
      this.#dirty = false;
    });
  }

  /**
   * Writes buffered records, fsyncs unless the policy is 'never', closes the files and releases the lock.
   * Idempotent. After a failure it only closes and releases. Rethrows a final write or sync error.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    clearInterval(this.#leaseTimer);
    try {
      if (!this.#failed) {
        this.#writePending();
        if (this.fsync !== 'never') {
          fdatasyncSync(this.#recordFd);
          fdatasyncSync(this.#checkpointFd);
        }
      }
    } finally {
      if (!this.#syncing) this.#closeFiles();
      releaseLock(this.lockPath, this.#lockNonce);
    }
  }
}
