/**
 * Confinement for the fs tools: how an agent's path becomes a file the tools may touch.
 *
 * Capabilities match the lexical path (`/root/public/**`), so the tools only ever act on the object that
 * lexical path names with no symlink followed anywhere below the root: otherwise a link inside
 * `/root/public` would hand a public grant the contents of `/root/private`. Node has no `openat`, so the
 * walk uses Linux's `/proc/self/fd/<fd>/<name>`: the kernel resolves the fd's magic link to the directory
 * already opened, and the last component is then looked up in that directory with O_NOFOLLOW. Each step
 * is therefore relative to a directory we hold open, and a symlink swapped in between steps is refused by
 * the kernel rather than by a check that could race. After every open, `/proc/self/fd/<fd>` of the opened
 * object must read back as the expected path, which also catches a directory moved while we held it.
 *
 * The walk's steps (open, lstat, fstat, the `/proc/self/fd` read-back, mkdir, close) are synchronous system
 * calls on raw descriptors. Each takes a few microseconds on a local file system, where a round trip through
 * Node's thread pool costs tens of microseconds on this VM: a read of a small file made eleven of them, about
 * 650 µs (bench/thirdparty/agent-kernel.bench.ts). What can take long stays asynchronous: fsync, a large
 * file's bytes beyond its first chunk, directory listings. Roots belong on a local file system, with no mount
 * below them that can hang (NFS, FUSE, autofs): such a mount would hold the kernel's event loop, where it
 * used to hold one thread of the pool.
 */
import {
  closeSync,
  existsSync,
  constants as FS,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  realpathSync,
  type Stats,
  statSync,
} from 'node:fs';
import { KernelError } from '../runtime/core/errors.js';
import { normalizePath } from '../runtime/core/resource-match.js';

const DIR_FLAGS = FS.O_RDONLY | FS.O_DIRECTORY | FS.O_NOFOLLOW | FS.O_NONBLOCK;
// O_NONBLOCK so that a FIFO swapped in after our lstat cannot make the open wait for a writer; O_NOCTTY so
// that a terminal never becomes the host's controlling terminal.
/** Flags for opening an existing file to read it: never follows, never blocks. */
export const READ_FLAGS = FS.O_RDONLY | FS.O_NOFOLLOW | FS.O_NONBLOCK | (FS.O_NOCTTY ?? 0);
/** Flags for creating a fresh temporary file: it must not exist, and a planted symlink is not followed. */
export const CREATE_FLAGS = FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW | (FS.O_NOCTTY ?? 0);

/** An agent's path after lexical resolution: where it is, and what it said (for messages). */
export interface FsTarget {
  /** The path exactly as the agent gave it, shortened for messages. */
  readonly given: string;
  /** The absolute normalized path: the capability resource, and the only path the tools act on. */
  readonly path: string;
  /** The real path of the root that contains `path`. */
  readonly root: string;
  /** The components of `path` below `root` (empty when `path` is the root). */
  readonly parts: readonly string[];
}

// Components the walk opens before it lets the event loop run (each is two system calls of a few µs).
const WALK_SLICE = 64;

/** A directory held open (a raw descriptor: close it exactly once, with `closeFd`), and its verified real path. */
export interface OpenDir {
  readonly fd: number;
  readonly path: string;
}

/** Closes a descriptor the walk opened. */
export function closeFd(fd: number): void {
  closeSync(fd);
}

/**
 * Validates and real-paths the roots (their shape is checked by createFsTools' schema). Throws TypeError when a
 * root is not an absolute path naming an existing directory, or when `/proc/self/fd` (Linux) is missing, since without it an opened
 * file cannot be verified and the tools would not be safe.
 */
export function realRoots(roots: readonly string[]): string[] {
  if (!existsSync('/proc/self/fd')) {
    throw new TypeError('createFsTools: the fs tools need /proc/self/fd (Linux) to verify what they open');
  }
  const out: string[] = [];
  for (const root of roots) {
    if (!root.startsWith('/') || normalizePath(root) === undefined) {
      throw new TypeError(`createFsTools: options.roots entry ${JSON.stringify(root)} is not an absolute path`);
    }
    let real: string;
    try {
      real = realpathSync(root);
    } catch {
      throw new TypeError(`createFsTools: options.roots entry ${JSON.stringify(root)} does not exist`);
    }
    if (!statSync(real).isDirectory()) {
      throw new TypeError(`createFsTools: options.roots entry ${JSON.stringify(root)} is not a directory`);
    }
    // The real path must itself be a normal path, or resources derived from it would match nothing.
    if (normalizePath(real) !== real) {
      throw new TypeError(`createFsTools: options.roots entry ${JSON.stringify(root)} has an unusable real path`);
    }
    if (!out.includes(real)) out.push(real);
  }
  return out;
}

/**
 * Real-paths the directories and files the tools must never touch (the kernel's own store and audit log when
 * they lie inside a root): an existing path is real-pathed, a missing one through its nearest existing
 * ancestor. An entry with `..` gives two: the path normalized first (as `path.join` reads it, and the kernel builds
 * its store's paths so) and the path the system opens, where a `..` after a symlink applies to the link's target
 * (`a/link/../audit.jsonl`, link -> other/sub, is `other/audit.jsonl`: excluded as `a/audit.jsonl` alone, the live
 * log stayed writable, red-team pass 135). Throws TypeError when an entry is not an absolute path.
 */
export function realExcluded(exclude: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of exclude) {
    const normal = normalizePath(entry);
    if (normal === undefined) {
      throw new TypeError(`createFsTools: options.exclude entry ${JSON.stringify(entry)} is not an absolute path`);
    }
    for (const real of [nearestReal(normal, realpathSync), nearestReal(entry, realpathSync.native)]) {
      if (real !== undefined && !out.includes(real)) out.push(real);
    }
  }
  return out;
}

/**
 * The real path of the absolute `path` by `realpath`, through its nearest ancestor that resolves when it does not
 * (the missing rest appended and the whole normalized); undefined when nothing does.
 */
function nearestReal(path: string, realpath: (path: string) => string): string | undefined {
  let rest = '';
  let head = path;
  for (;;) {
    try {
      return normalizePath(`${realpath(head)}${rest}`);
    } catch {
      if (head === '/') return undefined;
      const cut = head.lastIndexOf('/');
      rest = `${head.slice(cut)}${rest}`;
      head = cut === 0 ? '/' : head.slice(0, cut);
    }
  }
}

/**
 * The absolute normalized path `raw` names: relative paths resolve against the first root, absolute ones
 * stay as they are. Undefined (never throws) for a non-string, an empty string, or anything `normalizePath`
 * refuses. The result may lie outside every root; `locate` refuses that.
 */
export function resolvePath(roots: readonly string[], raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw === '') return undefined;
  const first = roots[0];
  if (first === undefined) return undefined;
  return normalizePath(raw.startsWith('/') ? raw : `${first}/${raw}`);
}

/** True when `path` is `root` or lies below it. */
export function isWithin(root: string, path: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

/**
 * Resolves an agent's path and finds its root. Throws KernelError E_BAD_ARG for an unusable path and
 * E_CAP_DENIED for a path outside every root (`..` included) or at or below an `excluded` real path;
 * messages name the agent's own path only. When roots nest, the innermost root wins (it only shortens the
 * walk). The walk from the real root follows no symlink, so a lexical check against real paths suffices.
 */
export function locate(
  tool: string,
  roots: readonly string[],
  raw: unknown,
  excluded: readonly string[] = [],
): FsTarget {
  const given = typeof raw === 'string' ? shorten(raw) : '';
  const path = resolvePath(roots, raw);
  if (path === undefined) throw new KernelError('E_BAD_ARG', `${tool}: ${quote(given)} is not a usable path`);
  let root: string | undefined;
  for (const candidate of roots) {
    if (isWithin(candidate, path) && (root === undefined || candidate.length > root.length)) root = candidate;
  }
  if (root === undefined) {
    throw new KernelError('E_CAP_DENIED', `${tool}: ${quote(given)} is outside the directories this kernel serves`);
  }
  if (excluded.some((place) => isWithin(place, path))) {
    throw new KernelError('E_CAP_DENIED', `${tool}: ${quote(given)} is the kernel's own state`);
  }
  const parts = path
    .slice(root.length)
    .split('/')
    .filter((part) => part !== '');
  // Linux refuses longer names with ENAMETOOLONG; saying so here keeps that from looking like a tool failure.
  if (parts.some((part) => Buffer.byteLength(part) > 255)) {
    throw new KernelError('E_BAD_ARG', `${tool}: ${quote(given)} has a name longer than 255 bytes`);
  }
  return { given, path, root, parts };
}

/**
 * Refuses a path with a `.git` component below its root, in any case (a root may sit on a case-insensitive
 * file system): git reads configuration, hooks and gitdir pointers from there and runs what they name, so
 * agents never write or delete git metadata through fs (tools/proc-git.ts). Throws KernelError E_CAP_DENIED.
 */
export function refuseGitMetadata(tool: string, target: FsTarget): void {
  if (target.parts.some((part) => part.toLowerCase() === '.git')) {
    throw new KernelError(
      'E_CAP_DENIED',
      `${tool}: ${quote(target.given)} is git metadata (.git), which agents may not change`,
    );
  }
}

/** True when `path` is one of the roots (roots are never written, deleted or replaced). */
export function isRoot(roots: readonly string[], path: string): boolean {
  return roots.includes(path);
}

/** The path that reaches `name` inside the directory `dir` holds open, without following `name` itself. */
export function entryPath(dir: OpenDir, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/** `parent/name` for a real directory path (the root may be `/`). */
export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/**
 * Checks that the object `fd` has open is really at `expected` (read back from `/proc/self/fd`).
 * Throws KernelError E_CAP_DENIED naming `given` otherwise: the object was reached through a symlink,
 * moved, or deleted between the lookup and the check.
 */
export function verifyOpened(tool: string, fd: number, expected: string, given: string): void {
  let actual: string;
  try {
    actual = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    actual = '';
  }
  if (actual !== expected) {
    throw new KernelError('E_CAP_DENIED', `${tool}: ${quote(given)} changed or leads outside its directory`);
  }
}

/**
 * Opens the directory `target.parts[0..depth)` names below its root, one component at a time, never
 * following a symlink, creating missing components when `create` is set (still confined: each is made
 * inside the directory already held, and `beforeMake` runs with each one's path before it is made). The caller closes
 * the result. Throws KernelError E_NOT_FOUND for a
 * missing component or one that is not a directory, E_CAP_DENIED for a symlink, a special file, a host
 * permission refusal or a failed verification.
 */
export async function openDir(
  tool: string,
  target: FsTarget,
  depth: number,
  create = false,
  beforeMake?: (path: string) => Promise<void>,
): Promise<OpenDir> {
  let current: OpenDir;
  try {
    current = { fd: openSync(target.root, DIR_FLAGS), path: target.root };
  } catch (error) {
    throw walkError(tool, target, error);
  }
  try {
    for (let i = 0; i < depth; i++) {
      // Between components the walk only awaits microtasks, so a path of ~2000 components held the event loop
      // for 17-127 ms at a time, uncharged; every WALK_SLICE components it lets the loop run.
      if (i > 0 && i % WALK_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const next = await openChildDir(tool, target, current, i, create, beforeMake);
      // `current` moves on before the close: a close that throws (Linux releases the descriptor anyway) must
      // not have the catch below close that number a second time, perhaps someone else's by then.
      const done = current;
      current = next;
      closeFd(done.fd);
    }
    verifyOpened(tool, current.fd, current.path, target.given);
    return current;
  } catch (error) {
    closeFd(current.fd);
    throw error;
  }
}

async function openChildDir(
  tool: string,
  target: FsTarget,
  dir: OpenDir,
  index: number,
  create: boolean,
  beforeMake: ((path: string) => Promise<void>) | undefined,
): Promise<OpenDir> {
  const part = target.parts[index];
  if (part === undefined) throw new RangeError('openDir: depth exceeds the path');
  const last = index === target.parts.length - 1;
  const path = childPath(dir.path, part);
  try {
    return { fd: openSync(entryPath(dir, part), DIR_FLAGS), path };
  } catch (error) {
    if (!create || errnoCode(error) !== 'ENOENT') throw walkError(tool, target, error, dir, part, last);
  }
  await beforeMake?.(path);
  try {
    mkdirSync(entryPath(dir, part), 0o777);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw walkError(tool, target, error, dir, part, last);
  }
  try {
    return { fd: openSync(entryPath(dir, part), DIR_FLAGS), path };
  } catch (error) {
    throw walkError(tool, target, error, dir, part, last);
  }
}

/**
 * lstat of `name` inside `dir`, never following it; undefined when it does not exist. Throws KernelError
 * E_NOT_FOUND when `dir` stopped being a directory and plain errors for anything unexpected.
 */
export function lstatEntry(dir: OpenDir, name: string): Stats | undefined {
  try {
    return lstatSync(entryPath(dir, name));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Which kind of object a stat describes, in the tools' vocabulary. */
export function kindOf(stats: Stats): 'file' | 'dir' | 'symlink' | 'other' {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  return 'other';
}

/**
 * Refuses anything but a regular file: E_CAP_DENIED for a symlink or a special file (device, FIFO, socket:
 * opening one can block the tool or have effects), E_BAD_ARG for a directory. Returns normally for a file.
 */
export function requireRegular(tool: string, given: string, stats: Stats): void {
  if (stats.isFile()) return;
  if (stats.isDirectory()) throw new KernelError('E_BAD_ARG', `${tool}: ${quote(given)} is a directory`);
  if (stats.isSymbolicLink()) throw symlinkDenied(tool, given);
  throw new KernelError('E_CAP_DENIED', `${tool}: ${quote(given)} is a special file (device, FIFO or socket)`);
}

/**
 * Opens the existing regular file `name` in `dir` for reading and verifies what was opened: never follows
 * a symlink, never blocks on a FIFO, and the opened object must be the regular file `expected` whose inode
 * `seen` (from lstat) names. Returns the descriptor (the caller closes it with `closeFd`) and its fstat. Throws
 * KernelError (E_NOT_FOUND, E_CAP_DENIED, E_BAD_ARG) as `requireRegular`.
 */
export function openRegular(
  tool: string,
  given: string,
  dir: OpenDir,
  name: string,
  seen: Stats,
): { readonly fd: number; readonly stats: Stats } {
  let fd: number;
  try {
    fd = openSync(entryPath(dir, name), READ_FLAGS);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') throw notFound(tool, given);
    if (code === 'ELOOP') throw symlinkDenied(tool, given);
    if (code === 'EACCES' || code === 'EPERM') throw hostDenied(tool, given);
    throw error;
  }
  try {
    const stats = fstatSync(fd);
    requireRegular(tool, given, stats);
    if (stats.ino !== seen.ino || stats.dev !== seen.dev) {
      throw new KernelError('E_CAP_DENIED', `${tool}: ${quote(given)} changed while it was being opened`);
    }
    verifyOpened(tool, fd, childPath(dir.path, name), given);
    return { fd, stats };
  } catch (error) {
    closeFd(fd);
    throw error;
  }
}

/** The KernelError for a missing path. */
export function notFound(tool: string, given: string): KernelError {
  return new KernelError('E_NOT_FOUND', `${tool}: ${quote(given)} does not exist`);
}

/** The KernelError for a path that goes through or ends in a symlink. */
export function symlinkDenied(tool: string, given: string): KernelError {
  return new KernelError('E_CAP_DENIED', `${tool}: ${quote(given)} goes through a symbolic link`);
}

function hostDenied(tool: string, given: string): KernelError {
  return new KernelError('E_CAP_DENIED', `${tool}: the host file system denies access to ${quote(given)}`);
}

// Maps a failed step of the walk to the agent's vocabulary. O_DIRECTORY|O_NOFOLLOW reports a symlink as
// ENOTDIR, so ENOTDIR looks at the entry to tell a link (a confinement refusal) from a plain file.
function walkError(
  tool: string,
  target: FsTarget,
  error: unknown,
  dir?: OpenDir,
  part?: string,
  last = false,
): unknown {
  const code = errnoCode(error);
  if (code === 'ENOENT') return notFound(tool, target.given);
  if (code === 'ELOOP') return symlinkDenied(tool, target.given);
  if (code === 'ENOTDIR') {
    const entry = dir === undefined || part === undefined ? undefined : lstatQuiet(dir, part);
    if (entry?.isSymbolicLink() === true) return symlinkDenied(tool, target.given);
    if (entry !== undefined && !entry.isFile() && !entry.isDirectory()) {
      return new KernelError(
        'E_CAP_DENIED',
        `${tool}: ${quote(target.given)} is a special file (device, FIFO or socket)`,
      );
    }
    return last
      ? new KernelError('E_BAD_ARG', `${tool}: ${quote(target.given)} is not a directory`)
      : new KernelError('E_NOT_FOUND', `${tool}: a parent of ${quote(target.given)} is not a directory`);
  }
  if (code === 'EACCES' || code === 'EPERM') return hostDenied(tool, target.given);
  return error;
}

function lstatQuiet(dir: OpenDir, name: string): Stats | undefined {
  try {
    return lstatSync(entryPath(dir, name));
  } catch {
    return undefined;
  }
}

/** The errno code of a Node file-system error, or undefined. */
export function errnoCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object' || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** The agent's path in quotes for a message (it is the agent's own input, never a resolved host path). */
export function quote(given: string): string {
  return JSON.stringify(given);
}

function shorten(raw: string): string {
  return raw.length > 200 ? `${raw.slice(0, 200)}…` : raw;
}
