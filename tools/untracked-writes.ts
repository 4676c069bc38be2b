/**
 * Files changed where the kernel cannot see which: a program `proc.exec` runs and an MCP server may read any
 * file and write any file (`cp`, `tee`, a server's own write). The kernel keeps, under UNTRACKED_WRITES_KEY,
 * every tag such a write may hold, and the fs tools join it into every read, listing and stat.
 *
 * The mark is made when a program or a call starts and again when it ends. In between it is behind: a file
 * labelled after the start and copied by a running program read clean until the program ended (red-team
 * pass 87 found a git object of a `web` file that way, for as long as the agent kept git busy). So while any
 * such work runs, an fs observation carries every tag the store keeps instead of the mark, and so does every one
 * after a mark the store refused. The count is per process, not per kernel: a program in one kernel over-taints
 * another kernel's reads, never the reverse.
 *
 * The store keeps an entry for each open work too (LabelStore.keepUntracked), removed once its end mark landed: a
 * kernel process that died during the work (killed, out of memory) left its end mark unmade, and the next process
 * on the store read what the work had copied clean (review 101). A process that finds another's entry over-taints
 * while that work may still run, and then closes the entry with the end mark the dead process owed. Whether it may
 * still run: the sandbox helper kills a confined program's or server's group when the kernel's process dies
 * (native/proc-sandbox.c), so it is over when that process is gone and its group too. In this pid namespace and
 * boot, pids tell (the process's start time tells a reused pid apart); elsewhere (another container sharing the
 * store, a restart in a new namespace, another boot) they mean nothing, and the entry is a lease: its process renews
 * it every RENEW_MS while the work runs, and it is over LEASE_MS after the last renewal (review 103 closed an entry
 * of a live group from another namespace by pid, and could never close one whose process was pid 1).
 */
import { randomUUID } from 'node:crypto';
import {
  currentBootId,
  currentPidNamespace,
  isRunning,
  leaseHolds,
  recordedProcessRuns,
  samePidSpace,
  startTimeOf,
} from '../runtime/core/process-identity.js';
import { joinLabels } from '../runtime/labels/label.js';
import { type LabelStore, UNTRACKED_WRITES_KEY, type UntrackedWorkEntry } from '../runtime/tool-use/tool-contract.js';

/** How often a process renews its open entries, and how long after the last renewal another namespace trusts one. */
export const RENEW_MS = 5_000;
export const LEASE_MS = 30_000;

let running = 0;
// Set when a mark could not be stored (the store refused the write: a tenant that filled its share refused its own
// program's end mark, red-team pass 100, and the copy it made read clean). From then on every observation carries
// every kept tag, as while work runs: what the lost mark would have held is never under-counted.
let markLost = false;

// Who opened an entry: this process, told apart from a later one that has the same pid.
const OWNER = randomUUID();
const SELF_START = startTimeOf('self');

/**
 * Open work. `spawning` stores its entry, before the program or server that does it may start; `started` adds the
 * process group doing it once spawned; `ended` marks its end.
 */
export interface UntrackedWork {
  /** Stores the work's entry (with its group, when known); await it before spawning. Throws what the store threw. */
  spawning(group?: number): Promise<void>;
  /** Adds the group to the entry (no need to await: `ended` waits for it). Never throws. */
  started(group: number | undefined): Promise<void>;
  /** Marks the end; call it once, in `finally`. Throws what the store threw for the end mark. */
  ended(): Promise<void>;
}

// This process's entries for work that has not ended, by id, with what renews each: never closed as leftovers.
const live = new Map<string, () => void>();
let renewing: NodeJS.Timeout | undefined;

/**
 * Marks the start of work that may write files unseen, with `label` (what it was given) and every kept tag (what
 * it may read), and returns the handle that marks its end.
 */
export async function untrackedWork(labels: LabelStore, label: readonly string[]): Promise<UntrackedWork> {
  running += 1;
  try {
    await markUntracked(labels, label);
  } catch (error) {
    running -= 1;
    throw error;
  }
  const id = randomUUID();
  let group: number | null = null;
  const entry = (): UntrackedWorkEntry =>
    Object.freeze({
      owner: OWNER,
      pid: process.pid,
      start: SELF_START,
      boot: currentBootId(),
      ns: currentPidNamespace(),
      renewed: Date.now(),
      group,
      label,
    });
  // The entry's writes, in order: a late one cannot bring back an entry the end removed.
  let stored: Promise<unknown> = Promise.resolve();
  let ended = false;
  const write = (): Promise<void> => {
    const written = stored.then(() => labels.keepUntracked(id, entry()));
    stored = written.catch(() => undefined);
    return written;
  };
  return {
    spawning: async (known) => {
      if (live.has(id) || ended) return;
      if (known !== undefined) group = known;
      live.set(id, () => {
        // A renewal the store refused leaves the last one standing: the lease may run out, never the work's group.
        if (!ended) write().catch(() => undefined);
      });
      renewing ??= setInterval(renewAll, RENEW_MS).unref();
      await write();
    },
    started: async (known) => {
      if (known === undefined || !live.has(id) || ended) return;
      group = known;
      await write().catch(() => undefined);
    },
    ended: async () => {
      if (ended) return;
      ended = true;
      const spawned = live.has(id);
      try {
        await stored;
        // Again at the end: another call may have labelled a file the work then read or copied.
        await markUntracked(labels, label);
      } catch (error) {
        // The entry stays: after this process it over-taints until closed; in it, markLost does.
        markLost = true;
        throw error;
      } finally {
        running -= 1;
        live.delete(id);
        if (live.size === 0 && renewing !== undefined) {
          clearInterval(renewing);
          renewing = undefined;
        }
      }
      if (spawned) await forget(labels, id);
    },
  };
}

function renewAll(): void {
  for (const renew of live.values()) renew();
}

/**
 * What a file may hold beyond its own kept label: the mark, or every kept tag while such work runs here, after a
 * lost mark, or while another process's work may still run.
 */
export async function untrackedLabel(labels: LabelStore): Promise<readonly string[]> {
  if (running > 0 || markLost) return labels.all();
  const open = await labels.listUntracked();
  if (open.length > 0 && !(await closeFinished(labels, open))) return labels.all();
  return labels.get(UNTRACKED_WRITES_KEY);
}

/**
 * Closes every entry whose work is over: this process's own (nothing runs here: a removal that failed), and another
 * process's once that process and the work's group are gone, with the end mark it owed. True when none is left.
 */
async function closeFinished(labels: LabelStore, open: readonly (readonly [string, UntrackedWorkEntry])[]) {
  let left = false;
  for (const [id, work] of open) {
    if (work.owner !== OWNER) {
      if (mayStillRun(work)) {
        left = true;
        continue;
      }
      try {
        await markUntracked(labels, work.label);
      } catch {
        left = true;
        continue;
      }
    }
    // This process's own: open (it started after this observation began) or a removal that failed after its end.
    else if (live.has(id)) {
      left = true;
      continue;
    }
    if (!(await forget(labels, id))) left = true;
  }
  return !left;
}

/** Whether another process's work may still change files (see the file comment). */
function mayStillRun(work: UntrackedWorkEntry): boolean {
  // Malformed: can never be shown finished.
  if (work.pid <= 0) return true;
  if (!samePidSpace(work)) return leaseHolds(work.renewed, LEASE_MS);
  if (recordedProcessRuns(work)) return true;
  // Its group is killed when its process dies; until it is gone it may still write. Unknown: it never started.
  return work.group !== null && isRunning(-work.group);
}

async function forget(labels: LabelStore, id: string): Promise<boolean> {
  try {
    await labels.keepUntracked(id, undefined);
    return true;
  } catch {
    return false;
  }
}

/** Joins `label` and every tag kept for any file into the label of untracked writes. */
async function markUntracked(labels: LabelStore, label: readonly string[]): Promise<void> {
  // A join, not a union of arrays: past MAX_LABEL_TAGS it is the top label, where an array past it was refused.
  const tags = joinLabels(await labels.all(), label);
  if (tags.length === 0) return;
  // Atomic: two programs ending at once must not lose either's tags.
  await labels.raise(UNTRACKED_WRITES_KEY, tags);
}
