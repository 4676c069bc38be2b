/**
 * The built-in file-system tools: fs.read, fs.write, fs.delete, fs.list, fs.stat.
 *
 * Safe by construction (confinement lives in ./fs-path.ts): every call acts on exactly the absolute
 * normalized path its capability was checked against, inside one of the configured roots, reached without
 * following any symlink, and only on regular files (directories for list/stat/delete). Writes are atomic
 * (temporary file in the same directory, fsync, rename, fsync of the directory). Writes and deletes save
 * the previous content first so the host can roll them back, and files keep the label of what was written
 * to them so that writing and reading back cannot launder data.
 *
 * Error codes an agent can see (messages name only the path the agent gave):
 * - E_BAD_ARG: unusable path; write input over `maxWriteBytes`; a file over `maxReadBytes` to read (or to
 *   save for undo before it is overwritten or deleted); a directory where a file is needed or the reverse;
 *   a non-empty directory to delete; `encoding: 'utf8'` for bytes that are not UTF-8.
 * - E_CAP_DENIED: outside every root (`..` included); inside an excluded path (the kernel's store); a
 *   symlink anywhere below the root; a device, FIFO or socket; an object that changed or moved while it was
 *   opened; deleting a root; the host's own permission refusal (EACCES/EPERM).
 * - E_NOT_FOUND: the path, or a parent of it, does not exist (or a parent is not a directory).
 * - E_TOOL_FAILED: anything unexpected (thrown as a plain Error; the gate hides the detail); in `undo`, a
 *   malformed record, missing saved content, or a file that changed since the recorded call.
 */
import { fchmodSync, fstatSync, type Stats } from 'node:fs';
import { opendir, rmdir } from 'node:fs/promises';
import { z } from 'zod';
import { base64DecodedLength, decodeBase64 } from '../runtime/core/base64.js';
import { KernelError } from '../runtime/core/errors.js';
import { parseOptions } from '../runtime/core/options.js';
import { normalizePath } from '../runtime/core/resource-match.js';
import {
  defineTool,
  type LabelStore,
  type Tool,
  type ToolContext,
  type UndoContext,
} from '../runtime/tool-use/tool-contract.js';
import {
  notEmpty,
  type ReadResult,
  readRegular,
  requireEmptyDir,
  sha256,
  unlinkSame,
  withParent,
  writeAtomic,
} from './fs-io.js';
import {
  childPath,
  closeFd,
  entryPath,
  errnoCode,
  type FsTarget,
  isRoot,
  kindOf,
  locate,
  lstatEntry,
  notFound,
  type OpenDir,
  openDir,
  quote,
  realExcluded,
  realRoots,
  refuseGitMetadata,
  requireRegular,
  resolvePath,
} from './fs-path.js';
import { untrackedLabel } from './untracked-writes.js';

/** Options for `createFsTools`. */
export interface FsToolsOptions {
  /** Absolute paths of existing directories the tools may act in; real-pathed once. Relative paths resolve against the first. */
  readonly roots: readonly string[];
  /** Largest file fs.read returns, and largest previous content saved for undo. Default 10 MiB. */
  readonly maxReadBytes?: number;
  /** Largest content fs.write accepts (decoded bytes). Default 10 MiB. */
  readonly maxWriteBytes?: number;
  /** Most entries fs.list returns. Default 1000. */
  readonly maxListEntries?: number;
  /**
   * Absolute paths inside the roots the tools never touch, nor anything below them: the kernel's store
   * (root key, counters, labels, undo records, blobs) and audit log when they lie inside a root.
   */
  readonly exclude?: readonly string[];
}

/** Default for `FsToolsOptions.maxReadBytes` (10 MiB). */
export const DEFAULT_MAX_READ_BYTES = 10 * 1024 * 1024;
/** Default for `FsToolsOptions.maxWriteBytes` (10 MiB). */
export const DEFAULT_MAX_WRITE_BYTES = 10 * 1024 * 1024;
/** Default for `FsToolsOptions.maxListEntries`. */
export const DEFAULT_MAX_LIST_ENTRIES = 1000;
/**
 * Calls of each fs tool one agent tree may have running at once (Tool.maxInFlight): a read holds up to
 * maxReadBytes twice over (the bytes and their text), a listing its entries, and their work on the kernel's
 * threads is not metered while it runs.
 */
export const FS_MAX_IN_FLIGHT = 4;
// V8 strings top out below 1 GiB, so a larger cap could never be reached and only hides a typo.
const MAX_BYTES_CAP = 1024 * 1024 * 1024;

interface FsConfig {
  readonly roots: readonly string[];
  readonly excluded: readonly string[];
  readonly maxReadBytes: number;
  readonly maxWriteBytes: number;
  readonly maxListEntries: number;
  /** The fs.write and fs.delete calls (and rollbacks) in flight per path, shared by these tools. */
  readonly changes: PathChanges;
}

/**
 * Changes to a path's kept label by the calls that change the path. A call raises the path's label to old ∪
 * its own before its bytes appear (atomically, `LabelStore.raise`) and, once done, lowers it to its own only
 * when no other change to the same path overlapped it from start to end: with an overlap, the bytes left may
 * be another call's (which rename landed last is not known), so the path keeps the join of every label raised
 * on it until the next change that runs alone (over-tainting, never under). Raises and lowerings of one path
 * run one at a time, so a lowering decided alone is in the store before a later call's raise.
 */
class PathChanges {
  readonly #inFlight = new Map<string, { count: number; contended: boolean }>();
  readonly #queues = new Map<string, Promise<unknown>>();

  /** Counts a change to `path` as in flight; synchronous, so it is counted before the call awaits anything. */
  begin(path: string): void {
    const entry = this.#inFlight.get(path) ?? { count: 0, contended: false };
    entry.count += 1;
    if (entry.count > 1) entry.contended = true;
    this.#inFlight.set(path, entry);
  }

  /** Joins `tags` into the label kept for `path`. */
  async raise(labels: LabelStore, path: string, tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return;
    await this.#serialized(path, () => labels.raise(path, tags));
  }

  /** Ends a change begun on `path`; `lower` (the call's own label) runs only when nothing overlapped it. */
  end(path: string, lower: (() => Promise<void>) | undefined): Promise<void> {
    return this.#serialized(path, async () => {
      const entry = this.#inFlight.get(path);
      if (entry === undefined) return;
      entry.count -= 1;
      if (entry.count > 0) return;
      this.#inFlight.delete(path);
      if (entry.contended || lower === undefined) return;
      try {
        await lower();
      } catch (error) {
        // A store too full to keep the lower label leaves the joined one (over-tainting): the change has
        // happened, and reporting it failed would lose its undo record.
        if (!(error instanceof KernelError && error.code === 'E_QUOTA')) throw error;
      }
    });
  }

  #serialized<T>(path: string, task: () => Promise<T>): Promise<T> {
    const run = (this.#queues.get(path) ?? Promise.resolve()).then(task);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(path, settled);
    void settled.then(() => {
      if (this.#queues.get(path) === settled) this.#queues.delete(path);
    });
    return run;
  }
}

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/);
const TAGS = z.array(z.string().min(1).max(256)).max(1024);
const MODE = z.number().int().min(0).max(0o777);
const UNDO_PATH = z
  .string()
  .max(4096)
  .refine((path) => normalizePath(path) === path);

/**
 * What fs.write and fs.delete save for undo. It comes back from the kernel's store, so `undo` parses it
 * again and confines its path like an agent's. `written` is the SHA-256 of the bytes the call wrote, so a
 * later change is detected; `label` is the label the path had before the call.
 */
export const fsUndoDataSchema = z.discriminatedUnion('op', [
  z.strictObject({
    v: z.literal(1),
    op: z.literal('overwrote'),
    path: UNDO_PATH,
    blob: SHA256,
    mode: MODE,
    label: TAGS,
    written: SHA256,
  }),
  z.strictObject({ v: z.literal(1), op: z.literal('created'), path: UNDO_PATH, label: TAGS, written: SHA256 }),
  z.strictObject({
    v: z.literal(1),
    op: z.literal('deleted-file'),
    path: UNDO_PATH,
    blob: SHA256,
    mode: MODE,
    label: TAGS,
  }),
  z.strictObject({ v: z.literal(1), op: z.literal('deleted-dir'), path: UNDO_PATH, mode: MODE, label: TAGS }),
]);
/** The parsed form of `fsUndoDataSchema`. */
export type FsUndoData = z.infer<typeof fsUndoDataSchema>;

const PATH = z.string().min(1).max(4096);

const byteCap = (max: number) => z.int().min(1).max(max, `must be an integer from 1 to ${max}`);
const fsOptionsSchema = z.strictObject({
  roots: z
    .array(z.string('must be absolute directory paths'), 'must be a non-empty array of absolute directory paths')
    .min(1, 'must be a non-empty array of absolute directory paths'),
  exclude: z.array(z.string('must be absolute paths'), 'must be an array of absolute paths').optional(),
  maxReadBytes: byteCap(MAX_BYTES_CAP).optional(),
  maxWriteBytes: byteCap(MAX_BYTES_CAP).optional(),
  maxListEntries: byteCap(100_000).optional(),
});

/**
 * The fs tools observe the same files, so a policy source on any of these actions labels them all: a listing,
 * a stat, a write's or a delete's outcome (E_NOT_FOUND, "is a directory", "not empty") reveals what a read
 * of the path would. Listing, stat and delete also observe a directory's subtree (names, sizes, emptiness).
 */
const OBSERVED_ACTIONS = ['fs.read', 'fs.list', 'fs.stat'];
const OBSERVES_PATH = { labels: { observes: { actions: OBSERVED_ACTIONS } } };
const OBSERVES_SUBTREE = { labels: { observes: { actions: OBSERVED_ACTIONS, scope: 'subtree' as const } } };

/**
 * Builds the five fs tools over `options.roots`. Throws TypeError when a root is not an absolute path of an
 * existing directory, an `exclude` entry is not an absolute path, or when `/proc/self/fd` is missing (the
 * tools verify every opened object through it, so they run on Linux only), and RangeError when a limit is not a positive integer up to 1 GiB (entries:
 * up to 100000). Each tool declares `target: 'path'` and derives its resource as the absolute normalized
 * path (undefined for an unusable one, which the kernel answers with E_BAD_ARG).
 */
export function createFsTools(given: FsToolsOptions): Tool[] {
  const options = parseOptions(fsOptionsSchema, given, 'createFsTools: options');
  const config: FsConfig = {
    roots: Object.freeze(realRoots(options.roots)),
    excluded: Object.freeze(realExcluded(options.exclude ?? [])),
    maxReadBytes: options.maxReadBytes ?? DEFAULT_MAX_READ_BYTES,
    maxWriteBytes: options.maxWriteBytes ?? DEFAULT_MAX_WRITE_BYTES,
    maxListEntries: options.maxListEntries ?? DEFAULT_MAX_LIST_ENTRIES,
    changes: new PathChanges(),
  };
  const resource = (args: { path: string }) => resolvePath(config.roots, args.path);
  const undo = (tool: string) => (data: unknown, uctx: UndoContext) => undoCall(config, tool, data, uctx);

  return [
    defineTool({
      name: 'fs.read',
      maxInFlight: FS_MAX_IN_FLIGHT,
      ...OBSERVES_PATH,
      description: 'Reads a file: { content } for UTF-8 text, otherwise { content_base64 }.',
      input: z.strictObject({ path: PATH, encoding: z.enum(['auto', 'utf8', 'base64']).optional() }),
      target: 'path',
      resource,
      run: (args, ctx) => readTool(config, args, ctx),
    }),
    defineTool({
      name: 'fs.write',
      maxInFlight: FS_MAX_IN_FLIGHT,
      ...OBSERVES_PATH,
      description: 'Writes a file atomically from content (UTF-8) or content_base64; mkdirs creates parents.',
      input: z
        .strictObject({
          path: PATH,
          // Characters never outnumber UTF-8 bytes, so this bound only refuses what the byte cap would.
          content: z.string().max(config.maxWriteBytes).optional(),
          content_base64: z
            .string()
            .max(Math.ceil(config.maxWriteBytes / 3) * 4)
            .optional(),
          mkdirs: z.boolean().optional(),
        })
        .refine((args) => (args.content === undefined) !== (args.content_base64 === undefined), {
          message: 'give exactly one of content and content_base64',
        }),
      target: 'path',
      resource,
      run: (args, ctx) => writeTool(config, args, ctx),
      undo: undo('fs.write'),
    }),
    defineTool({
      name: 'fs.delete',
      maxInFlight: FS_MAX_IN_FLIGHT,
      ...OBSERVES_SUBTREE,
      description: 'Deletes a file or an empty directory.',
      input: z.strictObject({ path: PATH }),
      target: 'path',
      resource,
      run: (args, ctx) => deleteTool(config, args, ctx),
      undo: undo('fs.delete'),
    }),
    defineTool({
      name: 'fs.list',
      maxInFlight: FS_MAX_IN_FLIGHT,
      ...OBSERVES_SUBTREE,
      description: 'Lists a directory: entries with name, type (file, dir, symlink, other) and size.',
      input: z.strictObject({ path: PATH }),
      target: 'path',
      resource,
      run: (args, ctx) => listTool(config, args, ctx),
    }),
    defineTool({
      name: 'fs.stat',
      maxInFlight: FS_MAX_IN_FLIGHT,
      ...OBSERVES_SUBTREE,
      description: 'Describes a path without following it: type, size, mode and mtimeMs.',
      input: z.strictObject({ path: PATH }),
      target: 'path',
      resource,
      run: (args, ctx) => statTool(config, args, ctx),
    }),
  ];
}

// ------------------------------------------------------------------------------------------------ tools

/**
 * readRegular with its bytes held against the caller's memory (ToolContext.hold): twice the size seen (the bytes
 * and what is made of them), and twice what was read past it, for a file grown after its size was looked at (a
 * program's ftruncate, red-team pass 125). Call `release` when the bytes are dropped; on a throw, nothing is held.
 * fs.write and fs.delete read the old file for undo the same way (review 126: they held nothing, 4 writes over
 * 10 MiB files overshot an 8 MB memory_mb by 30-80 MB).
 */
async function readHeld(
  ctx: ToolContext,
  tool: string,
  given: string,
  dir: OpenDir,
  name: string,
  seen: Stats,
  limit: number,
): Promise<{ read: ReadResult | undefined; release: () => void }> {
  const first = ctx.hold(2 * Math.min(seen.size, limit));
  let read: ReadResult | undefined;
  try {
    read = await readRegular(tool, given, dir, name, seen, limit, ctx.signal);
  } catch (error) {
    first();
    throw error;
  }
  if (read === undefined || read.bytes.length <= seen.size) return { read, release: first };
  let grown: () => void;
  try {
    grown = ctx.hold(2 * (read.bytes.length - seen.size));
  } catch (error) {
    first();
    throw error;
  }
  return {
    read,
    release: () => {
      first();
      grown();
    },
  };
}

async function readTool(
  config: FsConfig,
  args: { path: string; encoding?: 'auto' | 'utf8' | 'base64' | undefined },
  ctx: ToolContext,
): Promise<{ content: string } | { content_base64: string }> {
  const tool = 'fs.read';
  const target = fileTarget(tool, config, args.path);
  // The kept label is read before the bytes as well as after: a write that replaces the file and its label
  // between the two would otherwise leave the bytes read here with only the new writer's label. Before, it is
  // the whole path's: a failure says what is above the file (a labelled writer's file where a directory is
  // asked for answers "not a directory", its absence "does not exist"), and the call's taints cover its error.
  await taintWithPath(ctx, target);
  let release = (): void => {};
  try {
    let bytes: Buffer;
    try {
      bytes = await withParent(tool, target, false, async (dir, name) => {
        const seen = lstatEntry(dir, name);
        if (seen === undefined) throw notFound(tool, target.given);
        // A file larger than the reply may be can only be refused once read, encoded and measured: tens of
        // milliseconds of kernel time per call that no agent was charged (a burst of reads of a 10 MiB file
        // held 2 GB and stalled the kernel for seconds). Its size says so now.
        const cap = ctx.maxResultBytes;
        const overCap = () =>
          new KernelError(
            'E_TOOL_FAILED',
            `${tool}: ${quote(target.given)} is larger than a result may be (${cap} bytes); read it with { handle: true }`,
          );
        if (cap !== undefined && seen.isFile() && seen.size > cap) throw overCap();
        // The same inode may grow after the size was looked at (a program's ftruncate: red-team pass 125 read
        // 3.8 MB past a 1 MiB cap holding 2 MiB, 8% of reads): the read stops at the cap.
        const limit = cap === undefined ? config.maxReadBytes : Math.min(cap, config.maxReadBytes);
        const held = await readHeld(ctx, tool, target.given, dir, name, seen, limit);
        release = held.release;
        if (held.read === undefined) {
          if (limit < config.maxReadBytes) throw overCap();
          throw tooLarge(tool, target.given, 'the read limit', config.maxReadBytes);
        }
        return held.read.bytes;
      });
    } finally {
      // Whatever was written here carried its writer's label; the reader inherits it, failed or not (a write that
      // replaced the file while it was opened decided that failure).
      await taintWithFile(ctx, target.path);
    }
    if (args.encoding === 'base64') return { content_base64: bytes.toString('base64') };
    const text = utf8(bytes);
    if (text !== undefined) return { content: text };
    if (args.encoding === 'utf8') {
      throw new KernelError('E_BAD_ARG', `${tool}: ${quote(target.given)} is not UTF-8 text; use encoding "base64"`);
    }
    return { content_base64: bytes.toString('base64') };
  } finally {
    release();
  }
}

async function writeTool(
  config: FsConfig,
  args: {
    path: string;
    content?: string | undefined;
    content_base64?: string | undefined;
    mkdirs?: boolean | undefined;
  },
  ctx: ToolContext,
): Promise<{ path: string; bytes: number; recordId: string }> {
  const tool = 'fs.write';
  const target = fileTarget(tool, config, args.path);
  refuseGitMetadata(tool, target);
  const bytes = decodeContent(tool, config.maxWriteBytes, args);
  // Whether the write succeeds, and how it fails (a directory there, an old file too large to save, a missing
  // parent), depends on what was at the path: the outcome carries the path's kept label, read before anything
  // can throw (the kernel joins a call's taints into the caller's label when it fails).
  config.changes.begin(target.path);
  let written = false;
  // A directory made here has a name the writer chose: listing its parent carries the writer's label. The label
  // is kept before the directory exists: kept after, a refusal to keep it (the store full) left a labelled
  // writer's directory names readable by anyone, unlabelled (a red-team probe published a PIN that way).
  const labelMade =
    ctx.label.length > 0 ? async (path: string) => void (await ctx.labels.raise(path, ctx.label)) : undefined;
  try {
    await taintWithPath(ctx, target);
    const result = await withParent(tool, target, args.mkdirs === true, (dir, name) => writeIn(dir, name), labelMade);
    written = true;
    return result;
  } finally {
    // The path keeps the writer's label alone only when no other change to it overlapped this one (a write
    // that failed after its rename keeps the joined label: over-tainting, never under).
    await config.changes.end(target.path, written ? () => ctx.labels.set(target.path, ctx.label) : undefined);
  }

  async function writeIn(dir: OpenDir, name: string): Promise<{ path: string; bytes: number; recordId: string }> {
    const seen = lstatEntry(dir, name);
    if (seen === undefined) return replaceIn(dir, name, undefined);
    const held = await readHeld(ctx, tool, target.given, dir, name, seen, config.maxReadBytes);
    try {
      if (held.read === undefined) throw tooLarge(tool, target.given, 'the size saved for undo', config.maxReadBytes);
      return await replaceIn(dir, name, held.read);
    } finally {
      held.release();
    }
  }

  async function replaceIn(
    dir: OpenDir,
    name: string,
    previous: ReadResult | undefined,
  ): Promise<{ path: string; bytes: number; recordId: string }> {
    const label = [...(await ctx.labels.get(target.path))];
    // Read again now that the entry was seen: a write that landed since the first read is what we overwrite.
    ctx.taint(label);
    const written = sha256(bytes);
    const data: FsUndoData =
      previous === undefined
        ? { v: 1, op: 'created', path: target.path, label, written }
        : {
            v: 1,
            op: 'overwrote',
            path: target.path,
            blob: await ctx.blobs.put(previous.bytes),
            mode: previous.mode,
            label,
            written,
          };
    // Undoing a write that created the file deletes it, so the rollback is authorized as a delete.
    const action = previous === undefined ? 'fs.delete' : 'fs.write';
    const recordId = await ctx.saveUndo({ action, resource: target.path, data });
    ctx.signal.throwIfAborted();
    // The new bytes appear at the rename, before the label below can be set: until then the path keeps the
    // old label and the new together, so a read in between gets both (it reads the label after the bytes). A
    // write that fails after this keeps the joined label: over-tainting, never under.
    await config.changes.raise(ctx.labels, target.path, ctx.label);
    await writeAtomic(tool, target.given, dir, name, bytes, previous?.mode, { store: ctx.labels, label: ctx.label });
    return { path: target.path, bytes: bytes.length, recordId };
  }
}

async function deleteTool(
  config: FsConfig,
  args: { path: string },
  ctx: ToolContext,
): Promise<{ path: string; recordId: string }> {
  const tool = 'fs.delete';
  const target = locate(tool, config.roots, args.path, config.excluded);
  refuseGitMetadata(tool, target);
  if (target.parts.length === 0 || isRoot(config.roots, target.path)) {
    throw new KernelError('E_CAP_DENIED', `${tool}: ${quote(target.given)} is a root directory`);
  }
  // Success or E_NOT_FOUND tells whether the path exists, which whoever wrote it decided: the outcome carries
  // the path's kept label, read before anything can throw (the kernel joins a failed call's taints too).
  config.changes.begin(target.path);
  let deleted = false;
  try {
    await taintWithPath(ctx, target);
    const result = await deleteIn();
    deleted = true;
    return result;
  } finally {
    // Then the path keeps the deleter's label alone (the file's own is gone with it): an unlabelled delete
    // forgets it. Only when no other change overlapped: a write that renamed after the unlink left its bytes.
    await config.changes.end(target.path, deleted ? () => ctx.labels.set(target.path, ctx.label) : undefined);
  }

  // That the entry no longer exists is what the deleter decided: a labelled agent deleting a clean file or not
  // spells a bit, which a clean reader's E_NOT_FOUND, or a listing without the entry, carried unlabelled. So the
  // deleter's label is kept for the path and for what its directory no longer holds: just before the effect (a
  // store too full to keep them refuses the delete), after every check that may refuse it and after the undo
  // record took the path's own label (kept earlier, a refused delete left a clean tree labelled for good).
  async function keepDeleterLabel(): Promise<void> {
    await config.changes.raise(ctx.labels, target.path, ctx.label);
    if (ctx.label.length > 0) await ctx.labels.raise(removedFromKey(parentOf(target.path)), ctx.label);
  }

  function deleteIn(): Promise<{ path: string; recordId: string }> {
    return withParent(tool, target, false, async (dir, name) => {
      const seen = lstatEntry(dir, name);
      if (seen === undefined) throw notFound(tool, target.given);
      const label = [...(await ctx.labels.get(target.path))];
      // Read again now that the entry was seen: a write that landed since the first read is what we delete.
      ctx.taint(label);
      let recordId: string;
      if (seen.isDirectory()) {
        // Deleting a directory succeeds only while it is empty, so the outcome tells whether its entries exist.
        await taintWithEntries(ctx, config, tool, target);
        await requireEmptyDir(tool, target);
        const data: FsUndoData = { v: 1, op: 'deleted-dir', path: target.path, mode: seen.mode & 0o777, label };
        recordId = await ctx.saveUndo({ action: 'fs.write', resource: target.path, data });
        ctx.signal.throwIfAborted();
        await keepDeleterLabel();
        try {
          await rmdir(entryPath(dir, name));
        } catch (error) {
          if (errnoCode(error) !== 'ENOTEMPTY') throw error;
          // An entry made since the scan above (a labelled write's temporary file) is what refused it.
          await taintWithEntries(ctx, config, tool, target);
          throw notEmpty(tool, target.given);
        }
      } else {
        const held = await readHeld(ctx, tool, target.given, dir, name, seen, config.maxReadBytes);
        let blob: string;
        let mode: number;
        try {
          const previous = held.read;
          if (previous === undefined)
            throw tooLarge(tool, target.given, 'the size saved for undo', config.maxReadBytes);
          blob = await ctx.blobs.put(previous.bytes);
          mode = previous.mode;
        } finally {
          held.release();
        }
        const data: FsUndoData = { v: 1, op: 'deleted-file', path: target.path, blob, mode, label };
        recordId = await ctx.saveUndo({ action: 'fs.write', resource: target.path, data });
        ctx.signal.throwIfAborted();
        await keepDeleterLabel();
        await unlinkSame(tool, target.given, dir, name, seen);
      }
      return { path: target.path, recordId };
    });
  }
}

interface ListEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
}

async function listTool(
  config: FsConfig,
  args: { path: string },
  ctx: ToolContext,
): Promise<{ path: string; entries: ListEntry[]; truncated: boolean }> {
  const tool = 'fs.list';
  const target = locate(tool, config.roots, args.path, config.excluded);
  // Whether the directory exists and is one was decided by whoever made it and what is above it (a labelled
  // `mkdirs` keeps its label on every directory it made): success or failure carries their labels.
  await taintWithPath(ctx, target);
  // So was what is no longer in it.
  ctx.taint(await ctx.labels.get(removedFromKey(target.path)));
  const self = await openDir(tool, target, target.parts.length);
  const entries: ListEntry[] = [];
  const tags = new Set<string>();
  let truncated = false;
  try {
    for await (const dirent of await opendir(`/proc/self/fd/${self.fd}`)) {
      ctx.signal.throwIfAborted();
      if (entries.length === config.maxListEntries) {
        // Which entries make the cut, and that there are more, depends on the ones not listed: their labels
        // are not read, so the listing takes every kept tag (as taintWithEntries does).
        truncated = true;
        ctx.taint(await ctx.labels.all());
        break;
      }
      // Names are chosen by writers, so a listing carries the labels of what it lists: read before the lstat as
      // well as after, since a labelled write's temporary file has its label only while it exists (forgotten once
      // renamed, it would be listed with its size and no label).
      const key = childPath(self.path, dirent.name);
      for (const tag of await ctx.labels.get(key)) tags.add(tag);
      const stats = lstatEntry(self, dirent.name);
      if (stats === undefined) continue;
      entries.push({ name: dirent.name, type: kindOf(stats), size: contentMeta(stats).size });
      for (const tag of await ctx.labels.get(key)) tags.add(tag);
    }
  } finally {
    closeFd(self.fd);
  }
  ctx.taint([...tags]);
  await taintWithFile(ctx, target.path);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { path: target.path, entries, truncated };
}

async function statTool(
  config: FsConfig,
  args: { path: string },
  ctx: ToolContext,
): Promise<{ path: string; type: ListEntry['type']; size: number; mode: number; mtimeMs: number }> {
  const tool = 'fs.stat';
  const target = locate(tool, config.roots, args.path, config.excluded);
  // Before the lstat as well as after, as for a read: a write in between replaces the label. Before, the whole
  // path's, as for a read: a failure tells what is above the entry.
  await taintWithPath(ctx, target);
  let stats: Stats;
  try {
    if (target.parts.length === 0) {
      const self = await openDir(tool, target, 0);
      try {
        stats = fstatSync(self.fd);
      } finally {
        closeFd(self.fd);
      }
    } else {
      stats = await withParent(tool, target, false, async (dir, name) => {
        const found = lstatEntry(dir, name);
        if (found === undefined) throw notFound(tool, target.given);
        return found;
      });
    }
  } finally {
    // Size and times reveal something of the content, so they carry its label; a failure carries it too.
    await taintWithFile(ctx, target.path);
  }
  const { size, mtimeMs } = contentMeta(stats);
  return { path: target.path, type: kindOf(stats), size, mode: stats.mode & 0o7777, mtimeMs };
}

/**
 * A file's size and modification time. A directory reports 0 for both: they change with the entries writers of
 * any label made or removed in it (a labelled writer's files grew a clean directory's size from 4096 to 20480
 * bytes, and it stayed there after they were deleted), and no kept label covers what is no longer there.
 */
function contentMeta(stats: Stats): { size: number; mtimeMs: number } {
  return stats.isDirectory() ? { size: 0, mtimeMs: 0 } : { size: stats.size, mtimeMs: stats.mtimeMs };
}

// ------------------------------------------------------------------------------------------------- undo

/**
 * Reverses a recorded fs.write or fs.delete (either tool's undo accepts either record, so the kernel may
 * dispatch by tool or by action). The record is parsed and its path confined again: a record that is
 * malformed fails with E_TOOL_FAILED, one whose path is outside the roots, or is not the resource (or whose
 * effect is not the action) the rollback was authorized for, with E_CAP_DENIED. Unless
 * `uctx.force`, refuses with E_TOOL_FAILED when the file is not what the call left (digest differs, or
 * something exists where a delete removed it). Content and mode are restored atomically; a file the write
 * created is deleted; the path's previous label is restored.
 */
async function undoCall(config: FsConfig, tool: string, raw: unknown, uctx: UndoContext): Promise<void> {
  const parsed = fsUndoDataSchema.safeParse(raw);
  if (!parsed.success) throw new KernelError('E_TOOL_FAILED', `${tool} undo: the saved record is malformed`);
  const data = parsed.data;
  const target = locate(`${tool} undo`, config.roots, data.path, config.excluded);
  if (target.path !== data.path || target.parts.length === 0 || isRoot(config.roots, target.path)) {
    throw new KernelError('E_CAP_DENIED', `${tool} undo: the saved path is not a file inside the roots`);
  }
  // The rollback was authorized for the record's action and resource, not for what its data names: a record
  // rewritten in the store must not turn a grant on one file into an effect on another (or a delete).
  const needed = data.op === 'created' ? 'fs.delete' : 'fs.write';
  if (
    (uctx.resource !== undefined && uctx.resource !== data.path) ||
    (uctx.action !== undefined && uctx.action !== needed)
  ) {
    throw new KernelError('E_CAP_DENIED', `${tool} undo: the saved record does not match what was authorized`);
  }
  // Whether it changed, and whether its directory is still there, tell of whoever changed them.
  await taintWithPath(uctx, target);
  const changed = () => new KernelError('E_TOOL_FAILED', `${tool} undo: ${quote(data.path)} changed since the call`);
  const name = `${tool} undo`;
  const digestLimit = Math.max(config.maxReadBytes, config.maxWriteBytes);
  if (data.op === 'created' && !(await parentExists(name, target))) {
    // The created file went with its directory: nothing to delete, but that is a change all the same.
    if (!uctx.force) throw changed();
    await uctx.labels.set(data.path, data.label);
    return;
  }
  // The restored bytes carry the label they had: it joins the path's before they are back, and replaces it only
  // after. Kept last alone, a refusal to keep it (the store full) left a labelled file restored under a clean
  // label (a red-team probe read a PIN that way).
  if (data.label.length > 0) await uctx.labels.raise(data.path, data.label);
  // A rollback may come after the parent was removed; recreating it (confined) is part of restoring. Its name was
  // the original writer's choice: it gets the file's label before it exists, as a labelled mkdirs gives it.
  const labelMade =
    data.label.length > 0 ? async (path: string) => void (await uctx.labels.raise(path, data.label)) : undefined;
  await withParent(
    name,
    target,
    data.op !== 'created',
    async (dir, entry) => {
      const current = lstatEntry(dir, entry);
      if (data.op === 'deleted-dir') {
        if (current !== undefined && !uctx.force) throw changed();
        if (current !== undefined && !current.isDirectory()) throw changed();
        uctx.signal.throwIfAborted();
        if (current === undefined) await makeDir(name, target, data.mode, labelMade);
      } else if (data.op === 'deleted-file') {
        if (current !== undefined && !uctx.force) throw changed();
        await restoreFile(name, target, dir, entry, current, data, uctx);
      } else {
        const read =
          current?.isFile() === true
            ? await readRegular(name, target.given, dir, entry, current, digestLimit, uctx.signal)
            : undefined;
        const same = read !== undefined && sha256(read.bytes) === data.written;
        if (!same && !uctx.force) throw changed();
        if (data.op === 'overwrote') {
          await restoreFile(name, target, dir, entry, current, data, uctx);
        } else if (current !== undefined) {
          uctx.signal.throwIfAborted();
          await unlinkSame(name, target.given, dir, entry, current);
        }
      }
    },
    labelMade,
  );
  await uctx.labels.set(data.path, data.label);
}

async function parentExists(tool: string, target: FsTarget): Promise<boolean> {
  try {
    const dir = await openDir(tool, target, target.parts.length - 1);
    closeFd(dir.fd);
    return true;
  } catch (error) {
    if (error instanceof KernelError && error.code === 'E_NOT_FOUND') return false;
    throw error;
  }
}

async function restoreFile(
  tool: string,
  target: FsTarget,
  dir: OpenDir,
  name: string,
  current: Stats | undefined,
  saved: { readonly blob: string; readonly mode: number; readonly label: readonly string[] },
  uctx: UndoContext,
): Promise<void> {
  const { blob, mode, label } = saved;
  // Even a forced undo only ever replaces a regular file: never a directory, a link or a device.
  if (current !== undefined) requireRegular(tool, target.given, current);
  const bytes = await uctx.blobs.get(blob);
  if (bytes === undefined || sha256(bytes) !== blob) {
    throw new KernelError('E_TOOL_FAILED', `${tool}: the saved content of ${quote(target.given)} is missing`);
  }
  uctx.signal.throwIfAborted();
  await writeAtomic(tool, target.given, dir, name, bytes, mode, { store: uctx.labels, label });
}

async function makeDir(
  tool: string,
  target: FsTarget,
  mode: number,
  beforeMake: ((path: string) => Promise<void>) | undefined,
): Promise<void> {
  const made = await openDir(tool, target, target.parts.length, true, beforeMake);
  try {
    fchmodSync(made.fd, mode);
  } finally {
    closeFd(made.fd);
  }
}

// ---------------------------------------------------------------------------------------------- helpers

/** What the taint helpers need of a call's context or a rollback's. */
type Observer = Pick<ToolContext, 'labels' | 'taint'>;

/**
 * Taints the result with the label kept for `path` (when given) and with what programs run by other tools
 * or MCP servers may have written to any file unseen (./untracked-writes.ts).
 */
async function taintWithFile(ctx: Observer, path: string | undefined): Promise<void> {
  if (path !== undefined) ctx.taint(await ctx.labels.get(path));
  ctx.taint(await untrackedLabel(ctx.labels));
}

/**
 * Taints the result with what decides whether `target` exists and what it is: the label kept for it, for each
 * directory above it inside the root (one a labelled `mkdirs` made carries its writer's label, and a missing
 * parent is E_NOT_FOUND), and for untracked writes.
 */
async function taintWithPath(ctx: Observer, target: FsTarget): Promise<void> {
  await taintWithFile(ctx, target.path);
  let above = target.path;
  for (let i = 1; i < target.parts.length; i++) {
    above = above.slice(0, above.lastIndexOf('/'));
    ctx.taint(await ctx.labels.get(above));
  }
}

/**
 * Taints the result with the labels kept for the entries of the directory `target`, before a delete that
 * succeeds only while there are none. The labels of the entries directly in it are enough: the outcome
 * depends on which of them exist, never on what is deeper (a subdirectory is an entry whether or not it is
 * empty), and an entry's own label covers whoever made it (a labelled `mkdirs` raises it; proc's writes are
 * untracked, joined by taintWithPath); what labelled agents deleted from it is kept apart (`removedFromKey`).
 * Past `maxListEntries` entries it takes every kept tag instead of walking an unbounded directory.
 */
async function taintWithEntries(ctx: ToolContext, config: FsConfig, tool: string, target: FsTarget): Promise<void> {
  ctx.taint(await ctx.labels.get(removedFromKey(target.path)));
  const self = await openDir(tool, target, target.parts.length);
  try {
    let count = 0;
    for await (const dirent of await opendir(`/proc/self/fd/${self.fd}`)) {
      ctx.signal.throwIfAborted();
      if (count++ === config.maxListEntries) {
        ctx.taint(await ctx.labels.all());
        break;
      }
      ctx.taint(await ctx.labels.get(childPath(self.path, dirent.name)));
    }
  } finally {
    closeFd(self.fd);
  }
}

/**
 * The LabelStore key of what labelled agents deleted from the directory `dir`: an entry's absence is their
 * decision, and listing the directory (or deleting it, which succeeds only once it is empty) observes it. Not a
 * path (paths start with '/'), so no file's key collides with it.
 */
function removedFromKey(dir: string): string {
  return `removed-from:${dir}`;
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

/** Locates a path that must name a file (not a root), for read and write. */
function fileTarget(tool: string, config: FsConfig, raw: string): FsTarget {
  const target = locate(tool, config.roots, raw, config.excluded);
  if (target.parts.length === 0 || isRoot(config.roots, target.path)) {
    throw new KernelError('E_BAD_ARG', `${tool}: ${quote(target.given)} is a directory`);
  }
  return target;
}

function decodeContent(
  tool: string,
  max: number,
  args: { content?: string | undefined; content_base64?: string | undefined },
): Buffer {
  if (args.content !== undefined) {
    if (Buffer.byteLength(args.content, 'utf8') > max) throw tooLarge(tool, 'content', 'the write limit', max);
    return Buffer.from(args.content, 'utf8');
  }
  const text = args.content_base64 ?? '';
  if (base64DecodedLength(text) > max) throw tooLarge(tool, 'content_base64', 'the write limit', max);
  // Node's decoder skips characters it does not know; the strict one keeps garbage from becoming bytes.
  const bytes = decodeBase64(text);
  if (bytes === undefined) throw new KernelError('E_BAD_ARG', `${tool}: content_base64 is not valid base64`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

function tooLarge(tool: string, what: string, limitName: string, max: number): KernelError {
  return new KernelError('E_BAD_ARG', `${tool}: ${quote(what)} is larger than ${limitName} (${max} bytes)`);
}
