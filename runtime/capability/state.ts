/**
 * Capability state that must outlive a process: the kernel root key, revocations and use counters.
 *
 * `CapabilityAuthority` keeps everything in memory and writes through to a `CapabilityState` before it
 * reports an effect, so the store is never behind what was granted:
 * - a revocation is on disk before `revoke` returns (it takes effect in memory first, so a failing disk
 *   cannot delay it);
 * - a debit is on disk before `authorize` reports success; if the write fails the use is refused. A crash
 *   can at worst keep a debit for a use that was never reported, so counts never go down and a restarted
 *   kernel never grants more than `max_uses`.
 * Only links with `max_uses` are counted.
 *
 * `DirectoryCapabilityState` layout (directory 0700, files 0600):
 *   root.key      base64url of the 32-byte Ed25519 seed
 *   revoked/<id>  one empty-ish marker file per revoked capability id
 *   uses.log      use counts, one `<id> <count>` line per counted link per use; an id's count is its largest
 *   uses/<id>     decimal use count of one capability (the format before uses.log; read, then folded into it)
 * root.key and revocations are written as temp file + fsync + rename + directory fsync. A use appends its lines
 * to uses.log in one write and fdatasyncs once, however many counted links its chain has (one file and fsync a
 * link made a use at depth 9 cost 5 ms). A crash can tear only that last, unreported append: a tail without its
 * newline is dropped at open. The log is rewritten with one line per id (temp + rename) at open and whenever it
 * has grown past a few times that size.
 * Within one process, every store opened on the same directory shares one set of revocations and counters
 * (reloaded from disk at each open), so two kernels over one store see each other's debits and revocations at
 * once and together never exceed `max_uses`. Across processes a store has a single writer: two processes
 * sharing one directory would each count in memory and could together exceed `max_uses`. Per-id files keep
 * every write O(1) in the number of capabilities.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { decodeBase64Url, encodeBase64Url } from '../core/base64.js';
import { SigningKey } from './signing-key.js';
import { isCapabilityId } from './token.js';

/** Durable capability state; see the module comment for the write-through contract. */
export interface CapabilityState {
  /** The kernel root key: loaded, or created and stored on first call. Throws if the store is unusable. */
  rootKey(): SigningKey;
  /**
   * Every capability id revoked so far; a live view, so revocations by others sharing the store show up. It
   * never shrinks (a revocation is final): the authority reads its size to know whether anything was revoked
   * since it last checked a chain.
   */
  revokedIds(): ReadonlySet<string>;
  /** Stores a revocation durably before returning. Idempotent. Throws on I/O failure. */
  addRevocation(id: string): void;
  /** Uses recorded for a capability (by anyone sharing the store); 0 when none. Cheap: called on every use. */
  usedCount(id: string): number;
  /** Stores new use counts durably before returning. Throws on I/O failure (the caller refuses the use). */
  recordUses(counts: readonly (readonly [id: string, used: number])[]): void;
}

function checkId(id: unknown): asserts id is string {
  if (!isCapabilityId(id)) throw new TypeError('id must be a capability id (64 lower-case hex digits)');
}

function checkCount(used: unknown): asserts used is number {
  if (typeof used !== 'number' || !Number.isSafeInteger(used) || used < 0) {
    throw new RangeError('used must be a non-negative safe integer');
  }
}

/** State that lives as long as the process (tests, embedders that need no persistence). */
export class MemoryCapabilityState implements CapabilityState {
  #rootKey: SigningKey | undefined;
  readonly #revoked = new Set<string>();
  readonly #uses = new Map<string, number>();

  /** A fresh random root key on first call, the same key afterwards. */
  rootKey(): SigningKey {
    this.#rootKey ??= SigningKey.generate();
    return this.#rootKey;
  }

  /** The live set of revoked ids. Never throws. */
  revokedIds(): ReadonlySet<string> {
    return this.#revoked;
  }

  /** Throws TypeError for a malformed id. */
  addRevocation(id: string): void {
    checkId(id);
    this.#revoked.add(id);
  }

  /** Recorded uses of `id`, 0 when none. Never throws. */
  usedCount(id: string): number {
    return this.#uses.get(id) ?? 0;
  }

  /** Throws TypeError/RangeError for a malformed id or count. */
  recordUses(counts: readonly (readonly [id: string, used: number])[]): void {
    for (const [id, used] of counts) {
      checkId(id);
      checkCount(used);
    }
    for (const [id, used] of counts) this.#uses.set(id, used);
  }
}

const ROOT_KEY_FILE = 'root.key';
const REVOKED_DIR = 'revoked';
const USES_LOG = 'uses.log';
const LEGACY_USES_DIR = 'uses';
const TEMP_PREFIX = '.tmp-';
const USE_LINE = /^([0-9a-f]{64}) (\d{1,16})$/;
// A rewrite costs one line per id; rewriting once the log holds four times that (and at least 1 MiB) keeps it
// amortized O(1) a use.
const MIN_LOG_BYTES = 1 << 20;
const MAX_LINE_BYTES = 64 + 1 + 16 + 1;
const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

interface SharedDirectory {
  readonly revoked: Set<string>;
  readonly uses: Map<string, number>;
  /** Bytes in uses.log, to know when to rewrite it. */
  logBytes: number;
}

/** Revocations and counters of every directory opened in this process, by real path (see the module comment). */
const openDirectories = new Map<string, SharedDirectory>();

/** State in a directory on disk (see the module comment for layout and durability). */
export class DirectoryCapabilityState implements CapabilityState {
  readonly directory: string;
  #rootKey: SigningKey | undefined;
  readonly #shared: SharedDirectory;

  private constructor(directory: string, shared: SharedDirectory) {
    this.directory = directory;
    this.#shared = shared;
  }

  /**
   * Opens (creating with mode 0700 if missing) a store directory and loads its revocations and counters.
   * Throws TypeError for a non-string path, and Error when the directory is a symlink, not a directory,
   * not owned by this user or accessible to others, or holds a corrupt counter file or use log: a store that
   * cannot be trusted is not used.
   */
  static open(directory: string): DirectoryCapabilityState {
    if (typeof directory !== 'string' || directory === '') throw new TypeError('directory must be a non-empty path');
    ensurePrivateDirectory(directory);
    ensurePrivateDirectory(join(directory, REVOKED_DIR));
    for (const sub of [directory, join(directory, REVOKED_DIR)]) removeTempFiles(sub);

    const revoked = new Set<string>();
    for (const name of readdirSync(join(directory, REVOKED_DIR))) if (isCapabilityId(name)) revoked.add(name);
    const legacy = readLegacyCounters(join(directory, LEGACY_USES_DIR));
    const uses = new Map(legacy);
    readUseLog(join(directory, USES_LOG), uses);
    // Disk is authoritative for counters (every write reaches it before memory), so the shared counters become
    // what was read. Revocations are only ever added: one already seen in this process stays even if its file
    // went away, as the live set must never shrink (CapabilityState.revokedIds).
    const key = realpathSync(directory);
    let shared = openDirectories.get(key);
    if (shared === undefined) {
      shared = { revoked: new Set(), uses: new Map(), logBytes: 0 };
      openDirectories.set(key, shared);
    }
    for (const id of revoked) shared.revoked.add(id);
    shared.uses.clear();
    for (const [id, used] of uses) shared.uses.set(id, used);
    // The rewrite also drops a torn tail, so the next append starts on a line of its own.
    rewriteUseLog(directory, shared);
    for (const id of legacy.keys()) unlinkSync(join(directory, LEGACY_USES_DIR, id));
    return new DirectoryCapabilityState(directory, shared);
  }

  /**
   * Loads `root.key`, or creates it (0600) if missing. Creation is atomic and first-writer-wins (hard link
   * of a fully written temp file), so two processes racing get the same key. Throws Error when the file is
   * not a regular file, is readable by others, or does not hold a 32-byte seed.
   */
  rootKey(): SigningKey {
    if (this.#rootKey !== undefined) return this.#rootKey;
    const file = join(this.directory, ROOT_KEY_FILE);
    if (!exists(file)) {
      const temp = writeTemp(this.directory, `${encodeBase64Url(randomBytes(32))}\n`);
      try {
        linkSync(temp, file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      } finally {
        unlinkSync(temp);
      }
      fsyncDirectory(this.directory);
    }
    const stat = lstatSync(file);
    if (!stat.isFile()) throw new Error(`capability store: ${file} is not a regular file`);
    if ((stat.mode & 0o077) !== 0) throw new Error(`capability store: ${file} must not be accessible to others (0600)`);
    const seed = decodeBase64Url(readFileSync(file, 'utf8').trim());
    if (seed === undefined || seed.length !== 32) throw new Error(`capability store: ${file} is not a root key`);
    this.#rootKey = SigningKey.fromSeed(seed);
    return this.#rootKey;
  }

  /** The live set of revoked ids. Never throws. */
  revokedIds(): ReadonlySet<string> {
    return this.#shared.revoked;
  }

  /** Throws TypeError for a malformed id, Error on I/O failure. */
  addRevocation(id: string): void {
    checkId(id);
    if (this.#shared.revoked.has(id)) return;
    const dir = join(this.directory, REVOKED_DIR);
    renameSync(writeTemp(dir, `${id}\n`), join(dir, id));
    fsyncDirectory(dir);
    this.#shared.revoked.add(id);
  }

  /** Recorded uses of `id`, 0 when none. Never throws. */
  usedCount(id: string): number {
    return this.#shared.uses.get(id) ?? 0;
  }

  /** Throws TypeError/RangeError for a malformed id or count, Error on I/O failure. */
  recordUses(counts: readonly (readonly [id: string, used: number])[]): void {
    let lines = '';
    for (const [id, used] of counts) {
      checkId(id);
      checkCount(used);
      lines += `${id} ${used}\n`;
    }
    if (lines === '') return;
    const shared = this.#shared;
    const fd = openSync(join(this.directory, USES_LOG), APPEND_FLAGS, 0o600);
    try {
      const bytes = Buffer.from(lines);
      const before = fstatSync(fd).size;
      try {
        writeFileSync(fd, bytes);
        fdatasyncSync(fd);
      } catch (error) {
        // What a failed append wrote (a full disk writes what fits) would join the next append's first line into one
        // the next open refuses as corrupt (review 130): cut it off, or leave it for the open to drop as a torn tail.
        try {
          ftruncateSync(fd, before);
        } catch {}
        throw error;
      }
      shared.logBytes += bytes.length;
    } finally {
      closeSync(fd);
    }
    for (const [id, used] of counts) shared.uses.set(id, Math.max(used, shared.uses.get(id) ?? 0));
    if (shared.logBytes > Math.max(MIN_LOG_BYTES, 4 * MAX_LINE_BYTES * shared.uses.size))
      rewriteUseLog(this.directory, shared);
  }
}

/** The counters of the store's format before uses.log, by id; empty when the directory is absent. */
function readLegacyCounters(directory: string): Map<string, number> {
  const uses = new Map<string, number>();
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return uses;
    throw error;
  }
  for (const name of names) {
    if (!isCapabilityId(name)) continue;
    const file = join(directory, name);
    const text = readFileSync(file, 'utf8');
    if (!/^\d{1,16}\n$/.test(text) || !Number.isSafeInteger(Number(text.trim()))) {
      throw new Error(`capability store: corrupt counter file ${file}`);
    }
    uses.set(name, Number(text.trim()));
  }
  return uses;
}

/** Folds uses.log's counts into `uses` (largest wins). A tail without its newline is a torn, unreported append. */
function readUseLog(file: string, uses: Map<string, number>): void {
  let text: string;
  try {
    if (!lstatSync(file).isFile()) throw new Error(`capability store: ${file} is not a regular file`);
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const lines = text.split('\n');
  lines.pop();
  for (const line of lines) {
    const match = USE_LINE.exec(line);
    const used = Number(match?.[2]);
    if (match === null || !Number.isSafeInteger(used)) throw new Error(`capability store: corrupt use log ${file}`);
    const id = match[1] as string;
    uses.set(id, Math.max(used, uses.get(id) ?? 0));
  }
}

/** Replaces uses.log by one line per id, durably. */
function rewriteUseLog(directory: string, shared: SharedDirectory): void {
  let text = '';
  for (const [id, used] of shared.uses) text += `${id} ${used}\n`;
  renameSync(writeTemp(directory, text), join(directory, USES_LOG));
  fsyncDirectory(directory);
  shared.logBytes = Buffer.byteLength(text);
}

function ensurePrivateDirectory(directory: string): void {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const stat = lstatSync(directory);
  if (!stat.isDirectory()) throw new Error(`capability store: ${directory} is not a directory`);
  if ((stat.mode & 0o077) !== 0)
    throw new Error(`capability store: ${directory} must not be accessible to others (0700)`);
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    throw new Error(`capability store: ${directory} is not owned by this user`);
  }
}

function removeTempFiles(directory: string): void {
  for (const name of readdirSync(directory)) if (name.startsWith(TEMP_PREFIX)) unlinkSync(join(directory, name));
}

/** Writes `content` to a new 0600 temp file in `directory` and fsyncs it; returns its path. */
function writeTemp(directory: string, content: string): string {
  const temp = join(directory, `${TEMP_PREFIX}${process.pid}-${randomBytes(8).toString('hex')}`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    // writeFileSync writes until every byte is out or throws: writeSync's short count on a full disk went unseen,
    // and a rewritten use log lost its last lines, so counts went down at the next open (review 130).
    writeFileSync(fd, content);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  return temp;
}

// A rename is durable only once the directory entry is; without this a power loss can undo it.
function fsyncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function exists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
