import { EMPTY_LABEL, joinLabels, type Label, labelLeq } from '../runtime/labels/label.js';
import type { AgentSession } from '../runtime/process/session.js';

/**
 * The agents whose isolates share one process's memory: the kernel's (inline, every kernel in it), or one sandbox
 * host's. The watchdog charges a busy isolate with the process's growth that no heap reading explains, whoever
 * caused it (watchdog.ts), so whether an agent ends for memory_mb depends on what the agents beside it did
 * meanwhile, and its end takes their labels. Red-team pass 139: a `secret` worker that allocated 300 MB or not
 * ended its busy clean sibling for memory or not, and their clean parent read a 16-bit PIN, a bit a pair, from
 * which siblings it joined failed (both tiers, 3 runs of 3).
 */
export class MemoryNeighbours {
  /** Each live agent, with the join of the labels of the agents that left while it lived. */
  readonly #live = new Map<AgentSession, { left: Label }>();

  enter(session: AgentSession): void {
    this.#live.set(session, { left: EMPTY_LABEL });
  }

  /**
   * Called when `session` has ended, before its end is reported to anyone. `shared`: any agent beside it may have
   * caused the end (the watchdog ended it for memory_mb by a figure that counts growth no reading of its own heap
   * explains, or its sandbox host died: host-process.ts); that end takes the labels of every agent beside it since it
   * entered. Then it leaves, and its own label stays with those still here.
   */
  leave(session: AgentSession, shared: boolean): void {
    const entry = this.#live.get(session);
    if (entry === undefined) return;
    if (shared) {
      let beside = entry.left;
      for (const other of this.#live.keys()) if (other !== session) beside = joinLabels(beside, labelOf(other));
      session.label = joinLabels(session.label, beside);
    }
    this.#live.delete(session);
    const label = labelOf(session);
    if (label.length === 0) return;
    for (const other of this.#live.values())
      if (!labelLeq(label, other.left)) other.left = joinLabels(other.left, label);
  }
}

/** Inline, every kernel's isolates share the one process: one neighbourhood for all of them. */
export const INLINE_NEIGHBOURS = new MemoryNeighbours();

// Everything an agent's memory use may depend on: what it read, what the kernel worked on and holds for it.
function labelOf(session: AgentSession): Label {
  const label = session.usageLabel();
  return session.held === undefined ? label : joinLabels(label, session.held.label);
}
