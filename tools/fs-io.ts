/**
 * The fs tools' confined file operations: every one works inside a directory already opened and verified
 * by ./fs-path.ts, names entries through that directory's fd, never follows a link and never opens anything
 * but a regular file for its bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { fsync, read, readSync, type Stats } from 'node:fs';
import { type FileHandle, open, opendir, rename, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { KernelError } from '../runtime/core/errors.js';
import type { LabelStore } from '../runtime/tool-use/tool-contract.js';
import {
  CREATE_FLAGS,
  childPath,
  closeFd,
  entryPath,
  type FsTarget,
  lstatEntry,
  notFound,
  type OpenDir,
  openDir,
  openRegular,
  quote,
  requireRegular,
  verifyOpened,
} from './fs-path.js';

const READ_CHUNK = 64 * 1024;
const readAsync = promisify(read);
const fsyncAsync = promisify(fsync);

/** A regular file read whole: its bytes and permission bits. */
export interface ReadResult {
  readonly bytes: Buffer;
  readonly mode: number;
}

/**
 * Reads the regular file `name` in `dir` that `seen` describes, through a verified no-follow handle.
 * Undefined when it holds more than `max` bytes. Throws KernelError for anything but a regular file.
 */
export async function readRegular(
  tool: string,
  given: string,
  dir: OpenDir,
  name: string,
  seen: Stats,
  max: number,
  signal: AbortSignal,
): Promise<ReadResult | undefined> {
  requireRegular(tool, given, seen);
  if (seen.size > max) return undefined;
  const { fd, stats } = openRegular(tool, given, dir, name, seen);
  try {
    const bytes = await readCapped(fd, max, stats.size, signal);
    return bytes === undefined ? undefined : { bytes, mode: stats.mode & 0o777 };
  } finally {
    closeFd(fd);
  }
}

// The file may grow after fstat, so the cap is enforced on what is actually read. Reads that start within the
// first chunk are synchronous (a small file, and the read that finds its end, cost no thread-pool round trip;
// see fs-path.ts); a larger file's later chunks go through the pool, so the event loop serves between them.
// The first chunk is sized from fstat (`size` + 1, so that a file that did not grow is read whole by it and
// the next read finds its end), and chunks are not zeroed: only the bytes a read filled are ever kept.
async function readCapped(fd: number, max: number, size: number, signal: AbortSignal): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    signal.throwIfAborted();
    const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, max + 1 - total, total === 0 ? size + 1 : READ_CHUNK));
    const bytesRead =
      total < READ_CHUNK
        ? readSync(fd, chunk, 0, chunk.length, null)
        : (await readAsync(fd, chunk, 0, chunk.length, null)).bytesRead;
    if (bytesRead === 0) return Buffer.concat(chunks, total);
    chunks.push(chunk.subarray(0, bytesRead));
    total += bytesRead;
    if (total > max) return undefined;
  }
}

/**
 * Replaces `name` in `dir` with `bytes`: a fresh temporary file in the same directory (O_EXCL, no-follow,
 * verified), mode set before any byte is written, fsync, rename over the target, fsync of the directory. A
 * reader sees the old file or the new one, never a part. `mode` undefined leaves the process umask's default.
 *
 * The temporary file is an entry of `dir` while it exists, with the new bytes' size: a listing, a stat or a
 * directory delete sees it. With `label` it is kept in `labels` under that label before it exists and forgotten
 * once it is gone (a clean listing saw a labelled writer's temporary file, and its size, unlabelled); one left
 * behind by a crash keeps it.
 */
export async function writeAtomic(
  tool: string,
  given: string,
  dir: OpenDir,
  name: string,
  bytes: Uint8Array,
  mode: number | undefined,
  labels?: { readonly store: LabelStore; readonly label: readonly string[] },
): Promise<void> {
  const temp = `.isokernel-${randomBytes(8).toString('hex')}.tmp`;
  const kept = labels !== undefined && labels.label.length > 0 ? labels : undefined;
  const tempPath = childPath(dir.path, temp);
  if (kept !== undefined) await kept.store.raise(tempPath, kept.label);
  let handle: FileHandle;
  try {
    handle = await open(entryPath(dir, temp), CREATE_FLAGS, mode === undefined ? 0o666 : 0o600);
  } catch (error) {
    await kept?.store.set(tempPath, []).catch(() => undefined);
    throw error;
  }
  let isOpen = true;
  let placed = false;
  let gone = false;
  try {
    verifyOpened(tool, handle.fd, childPath(dir.path, temp), given);
    // setuid/setgid/sticky are dropped: agent-written bytes must never inherit privileges.
    if (mode !== undefined) await handle.chmod(mode & 0o777);
    await handle.writeFile(bytes);
    await handle.sync();
    isOpen = false;
    await handle.close();
    await rename(entryPath(dir, temp), entryPath(dir, name));
    placed = true;
    gone = true;
  } finally {
    if (isOpen) await handle.close();
    if (!placed) {
      gone = await unlink(entryPath(dir, temp)).then(
        () => true,
        () => false,
      );
    }
    // Forgetting a name that no longer exists is tidying: a store that refuses it keeps a tag for nothing.
    if (gone) await kept?.store.set(tempPath, []).catch(() => undefined);
  }
  await fsyncAsync(dir.fd);
}

/**
 * Unlinks `name` in `dir` only if it is still the object `seen` described (this narrows the window for a
 * swap; unlink never follows a link, so a link swapped in would only lose the link). Throws KernelError
 * E_NOT_FOUND when it is gone, E_CAP_DENIED when it is another object.
 */
export async function unlinkSame(tool: string, given: string, dir: OpenDir, name: string, seen: Stats): Promise<void> {
  const now = lstatEntry(dir, name);
  if (now === undefined) throw notFound(tool, given);
  if (now.ino !== seen.ino || now.dev !== seen.dev) {
    throw new KernelError('E_CAP_DENIED', `${tool}: ${quote(given)} changed while it was being deleted`);
  }
  await unlink(entryPath(dir, name));
}

/** Throws KernelError E_BAD_ARG unless the directory `target` names is empty (walked and verified like any path). */
export async function requireEmptyDir(tool: string, target: FsTarget): Promise<void> {
  const self = await openDir(tool, target, target.parts.length);
  try {
    const handle = await opendir(`/proc/self/fd/${self.fd}`);
    let first: unknown;
    try {
      first = await handle.read();
    } finally {
      await handle.close();
    }
    if (first !== null) throw notEmpty(tool, target.given);
  } finally {
    closeFd(self.fd);
  }
}

/**
 * Opens the parent of `target` (verified), runs `fn` with it and the last component, then closes it. With
 * `create`, missing parents are made, each after `beforeMake` ran with its path.
 */
export async function withParent<T>(
  tool: string,
  target: FsTarget,
  create: boolean,
  fn: (dir: OpenDir, name: string) => Promise<T>,
  beforeMake?: (path: string) => Promise<void>,
): Promise<T> {
  const name = target.parts[target.parts.length - 1];
  if (name === undefined) throw new RangeError('withParent: the target has no last component');
  const dir = await openDir(tool, target, target.parts.length - 1, create, beforeMake);
  try {
    return await fn(dir, name);
  } finally {
    closeFd(dir.fd);
  }
}

/** Hex SHA-256 of `bytes` (the digest undo records compare). */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The KernelError for deleting a directory that still has entries. */
export function notEmpty(tool: string, given: string): KernelError {
  return new KernelError('E_BAD_ARG', `${tool}: ${quote(given)} is a directory that is not empty`);
}
