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
 * kernel process that died during the work (killed, out of memory) left its program's group running and its end
 * mark unmade, and the next process on the store read that group's copies clean (review 101). A process that finds
 * another's entry over-taints while that process or the work's group may still run, and closes the entry (the end
 * mark the dead process owed) once both are gone. An entry whose group was never stored (the process died between
 * starting the work and storing it) cannot be shown finished: it over-taints until the machine restarts.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { joinLabels } from '../runtime/labels/label.js';
import { type LabelStore, UNTRACKED_WRITES_KEY, type UntrackedWorkEntry } from '../runtime/tool-use/tool-contract.js';

let running = 0;
// Set when a mark could not be stored (the store refused the write: a tenant that filled its share refused its own
// program's end mark, red-team pass 100, and the copy it made read clean). From then on every observation carries
// every kept tag, as while work runs: what the lost mark would have held is never under-counted.
let markLost = false;

// Who opened an entry: this process, told apart from a later one that has the same pid.
const OWNER = randomUUID();
const BOOT = bootId();

/**
 * Open work. `spawning` stores its entry, before the program or server that does it may start; `started` adds the
 * process group doing it once spawned; `ended` marks its end.
 */
export interface UntrackedWork {
  /** Stores the work's entry; await it before spawning. Throws what the store threw. */
  spawning(): Promise<void>;
  /** Adds the group to the entry (no need to await: `ended` waits for it). Never throws. */
  started(group: number | undefined): Promise<void>;
  /** Marks the end; call it once, in `finally`. Throws what the store threw for the end mark. */
  ended(): Promise<void>;
}

// Ids of this process's entries for work that has not ended: never closed as leftovers.
const live = new Set<string>();

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
  const entry = (group: number | null): UntrackedWorkEntry =>
    Object.freeze({ owner: OWNER, pid: process.pid, boot: BOOT, group, label });
  // The entry's writes, in order: a late one cannot bring back an entry the end removed.
  let stored: Promise<unknown> = Promise.resolve();
  let ended = false;
  return {
    spawning: async () => {
      if (live.has(id) || ended) return;
      live.add(id);
      const write = stored.then(() => labels.keepUntracked(id, entry(null)));
      stored = write.catch(() => undefined);
      await write;
    },
    started: (group) => {
      if (group === undefined || !live.has(id) || ended) return Promise.resolve();
      const write = stored.then(() => labels.keepUntracked(id, entry(group))).catch(() => undefined);
      stored = write;
      return write;
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
      }
      if (spawned) await forget(labels, id);
    },
  };
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

/** Whether another process's work may still change files: its process or its group may be alive. */
function mayStillRun(work: UntrackedWorkEntry): boolean {
  // Another boot: every process of that one is gone. A malformed entry (pid 0) can never be shown finished.
  if (work.pid <= 0) return true;
  if (BOOT !== '' && work.boot !== '' && work.boot !== BOOT) return false;
  // Unknown group: the process may have started it before dying.
  if (work.group === null) return true;
  return exists(work.pid) || exists(-work.group);
}

// kill(2) with signal 0: ESRCH means no such process (or group); EPERM means one exists, another user's.
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
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

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}
