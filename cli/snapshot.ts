import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Kernel } from '../kernel-entry.js';
import { KernelError } from '../runtime/core/errors.js';
import { regexpsAsText } from '../runtime/store/snapshot-regexp.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Io, sanitizeForTerminal, terminalSafeJson } from './io.js';

/** `isokernel snapshot ls`: the ids of the snapshots in the store, one per line with program and label. */
export async function snapshotList(store: string, io: Io): Promise<number> {
  // A store that does not exist holds no snapshots; listing it must not create it.
  if (!existsSync(join(store, 'root.key'))) return EXIT_OK;
  const kernel = openKernel(store, io);
  if (kernel === undefined) return EXIT_USAGE;
  try {
    for (const id of await kernel.snapshots.list()) {
      try {
        // The frame only: a listing needs no state and no memory entries (a large snapshot's took seconds).
        const { frame } = await kernel.snapshots.open(id);
        io.out(`${id}  program=${sanitizeForTerminal(frame.program.name)} label=[${frame.label.join(',')}]`);
      } catch (error) {
        io.out(`${id}  INVALID (${error instanceof KernelError ? error.message : 'unreadable'})`);
      }
    }
    return EXIT_OK;
  } finally {
    await kernel.close();
  }
}

/**
 * `isokernel snapshot show <id>`: the verified snapshot as JSON. `state` is in superjson's JSON form and
 * `stateMeta`, when the state holds rich types, is superjson's annotations of it (which values are Maps, Sets,
 * BigInts, Dates...): plain JSON would print a Map or a Set as `{}` and cannot print a BigInt at all.
 */
export async function snapshotShow(store: string, id: string, io: Io): Promise<number> {
  const kernel = openKernel(store, io);
  if (kernel === undefined) return EXIT_USAGE;
  let body: Awaited<ReturnType<Kernel['inspectSnapshot']>>;
  try {
    body = await kernel.inspectSnapshot(id);
  } catch (error) {
    const info = error instanceof KernelError ? `${error.code}: ${error.message}` : 'cannot read the snapshot';
    io.err(`isokernel snapshot show: ${info}`);
    return EXIT_FAILED;
  } finally {
    await kernel.close();
  }
  // The snapshot verified: a failure from here on is this command's, and must not read as a corrupt snapshot.
  try {
    const { json, meta } = regexpsAsText.serialize(body.state);
    io.out(terminalSafeJson({ id, ...body, state: json, ...(meta === undefined ? {} : { stateMeta: meta }) }));
    return EXIT_OK;
  } catch (error) {
    const reason = sanitizeForTerminal(error instanceof Error ? error.message : String(error));
    io.err(`isokernel snapshot show: the snapshot verified but cannot be printed: ${reason}`);
    return EXIT_FAILED;
  }
}

function openKernel(store: string, io: Io): Kernel | undefined {
  // Reading must not create a store (and a root key) as a side effect.
  if (!existsSync(join(store, 'root.key'))) {
    io.err(`isokernel snapshot: no store at ${sanitizeForTerminal(store)}`);
    return undefined;
  }
  try {
    // Listing and showing snapshots runs no agent: no sandbox host is needed.
    return Kernel.create({ store, isolation: 'inline' });
  } catch (error) {
    io.err(`isokernel snapshot: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}
