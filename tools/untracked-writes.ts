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
 */
import { joinLabels } from '../runtime/labels/label.js';
import { type LabelStore, UNTRACKED_WRITES_KEY } from '../runtime/tool-use/tool-contract.js';

let running = 0;
// Set when a mark could not be stored (the store refused the write: a tenant that filled its share refused its own
// program's end mark, red-team pass 100, and the copy it made read clean). From then on every observation carries
// every kept tag, as while work runs: what the lost mark would have held is never under-counted.
let markLost = false;

/**
 * Marks the start of work that may write files unseen, with `label` (what it was given) and every kept tag (what
 * it may read), and returns the function that marks its end. Call the end once, in `finally`.
 */
export async function untrackedWork(labels: LabelStore, label: readonly string[]): Promise<() => Promise<void>> {
  running += 1;
  try {
    await markUntracked(labels, label);
  } catch (error) {
    running -= 1;
    throw error;
  }
  let ended = false;
  return async () => {
    if (ended) return;
    ended = true;
    try {
      // Again at the end: another call may have labelled a file the work then read or copied.
      await markUntracked(labels, label);
    } catch (error) {
      markLost = true;
      throw error;
    } finally {
      running -= 1;
    }
  };
}

/** What a file may hold beyond its own kept label: the mark, or every kept tag while such work runs. */
export function untrackedLabel(labels: LabelStore): Promise<readonly string[]> {
  return running > 0 || markLost ? labels.all() : labels.get(UNTRACKED_WRITES_KEY);
}

/** Joins `label` and every tag kept for any file into the label of untracked writes. */
async function markUntracked(labels: LabelStore, label: readonly string[]): Promise<void> {
  // A join, not a union of arrays: past MAX_LABEL_TAGS it is the top label, where an array past it was refused.
  const tags = joinLabels(await labels.all(), label);
  if (tags.length === 0) return;
  // Atomic: two programs ending at once must not lose either's tags.
  await labels.raise(UNTRACKED_WRITES_KEY, tags);
}
