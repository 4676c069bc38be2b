import { KernelError, ObservedRefusal } from '../core/errors.js';
import { EMPTY_LABEL, joinLabels, type Label } from '../labels/label.js';

/** Whose call holds a place: read live, as a holder's label can rise while its call runs. */
export type PlaceHolder = () => Label;

const NOBODY: PlaceHolder = () => EMPTY_LABEL;

/**
 * How many times a tool's bound one agent tree may have running across its groups of places (`ToolSlots.group`).
 */
export const TREE_PLACES_FACTOR = 4;

/**
 * The calls of bounded tools running in a whole agent tree, whichever group of places holds them, and whose they
 * are: a group with a free place refuses a call once the tree has TREE_PLACES_FACTOR times the bound running, with
 * the labels of the calls that fill it (a shared bound, like the held-memory pool: its refusal tells of them).
 */
class TreePlaces {
  readonly #holders = new Map<string, Map<PlaceHolder, number>>();
  readonly #running = new Map<string, number>();

  enter(tool: string, bound: number, holder: PlaceHolder): void {
    const running = this.#running.get(tool) ?? 0;
    if (running >= bound * TREE_PLACES_FACTOR) {
      let observed: Label = EMPTY_LABEL;
      for (const each of this.#holders.get(tool)?.keys() ?? []) observed = joinLabels(observed, each());
      throw new ObservedRefusal(
        'E_QUOTA',
        `sys.tool: the agent tree already has ${running} calls of "${tool}" running, the most it may`,
        observed,
      );
    }
    this.#add(tool, holder);
  }

  /** Hands `from`'s place to `to` (a waiting call of the same group): the tree's count does not move. */
  pass(tool: string, from: PlaceHolder, to: PlaceHolder): void {
    this.leave(tool, from);
    this.#add(tool, to);
  }

  leave(tool: string, holder: PlaceHolder): void {
    const left = (this.#running.get(tool) ?? 1) - 1;
    if (left > 0) this.#running.set(tool, left);
    else this.#running.delete(tool);
    const holders = this.#holders.get(tool);
    const count = holders?.get(holder) ?? 0;
    if (count > 1) holders?.set(holder, count - 1);
    else holders?.delete(holder);
    if (holders?.size === 0) this.#holders.delete(tool);
  }

  #add(tool: string, holder: PlaceHolder): void {
    this.#running.set(tool, (this.#running.get(tool) ?? 0) + 1);
    let holders = this.#holders.get(tool);
    if (holders === undefined) {
      holders = new Map();
      this.#holders.set(tool, holders);
    }
    holders.set(holder, (holders.get(holder) ?? 0) + 1);
  }
}

/**
 * The calls of bounded tools (`Tool.maxInFlight`) one agent tree has running, and its calls waiting for a place.
 * A call past its tool's bound waits (in order) instead of running: each running call holds a socket, a child
 * process or buffers in the kernel until it ends, and a burst of calls that never end held thousands (a red-team
 * pass, from one agent with memory_mb 64: 5,040 sockets, 2.1 GB of response bodies, or 2,000 process starts
 * that stalled the kernel's event loop for 27 s). A waiting call holds what any pending syscall holds and its
 * decoded arguments, both charged to the agent's memory (syscalls/tool.ts).
 *
 * Places are shared by an agent and the children that share its budget: counted per agent, the bound held once per
 * agent, and a root with 10 children opened 161 sockets. A child on a budget of its own gets a group of its own
 * (`group`): shared, a parent's call waited or not by how many calls the child had running, so a clean planner read
 * a `secret` worker's PIN from the order of two of its own replies, no clock needed (red-team pass 128). The tree
 * bounds all its groups together (TreePlaces), refusing with the labels of what fills it.
 */
export class ToolSlots {
  readonly #tree: TreePlaces;
  readonly #running = new Map<string, number>();
  readonly #waiting = new Map<string, Waiter[]>();
  // The signals with calls waiting, each with the one abort listener that refuses them when it aborts (thousands
  // of listeners would each cost the agent's end a scan) and how many calls wait on it. A signal is forgotten once
  // none does: `mcp serve` passes a signal per request, never aborted once answered, and keeping them all held
  // about 1 KB per call for the session's life (review 88).
  readonly #listening = new Map<AbortSignal, { readonly refuse: () => void; waiting: number }>();

  /** A tree's first group of places; `group` makes the others. */
  constructor(tree: TreePlaces = new TreePlaces()) {
    this.#tree = tree;
  }

  /** A group of places of its own in the same tree (for a child on a budget of its own). */
  group(): ToolSlots {
    return new ToolSlots(this.#tree);
  }

  /**
   * Takes a place for a call of `tool`, of which at most `bound` may run at once in the group: undefined when the
   * call may run now, else a promise that resolves when a place is handed to it, or rejects with KernelError
   * E_KILLED when `signal` (the calling agent's end) aborts first. Throws ObservedRefusal E_QUOTA when the group
   * has a place but the tree is full. Each place taken must be given back once with `give`, by the same `holder`.
   */
  take(tool: string, bound: number, signal: AbortSignal, holder: PlaceHolder = NOBODY): Promise<void> | undefined {
    if (signal.aborted) return Promise.reject(killed());
    const running = this.#running.get(tool) ?? 0;
    if (running < bound) {
      this.#tree.enter(tool, bound, holder);
      this.#running.set(tool, running + 1);
      return undefined;
    }
    let listening = this.#listening.get(signal);
    if (listening === undefined) {
      const refuse = () => this.#refuse(signal);
      listening = { refuse, waiting: 0 };
      this.#listening.set(signal, listening);
      signal.addEventListener('abort', refuse, { once: true });
    }
    listening.waiting += 1;
    return new Promise((start, refuse) => {
      let queue = this.#waiting.get(tool);
      if (queue === undefined) {
        queue = [];
        this.#waiting.set(tool, queue);
      }
      queue.push({ signal, holder, start, refuse });
    });
  }

  /** Gives back `holder`'s place of `tool`: to the call that has waited longest, if any. Never throws. */
  give(tool: string, holder: PlaceHolder = NOBODY): void {
    const queue = this.#waiting.get(tool);
    const next = queue?.shift();
    if (next !== undefined) {
      if (queue?.length === 0) this.#waiting.delete(tool);
      const listening = this.#listening.get(next.signal);
      if (listening !== undefined && --listening.waiting === 0) {
        this.#listening.delete(next.signal);
        next.signal.removeEventListener('abort', listening.refuse);
      }
      this.#tree.pass(tool, holder, next.holder);
      next.start();
      return;
    }
    this.#tree.leave(tool, holder);
    const left = (this.#running.get(tool) ?? 1) - 1;
    if (left > 0) this.#running.set(tool, left);
    else this.#running.delete(tool);
  }

  // Refuses the waiting calls of the agent whose end `signal` reports; everyone else's keep their turn.
  #refuse(signal: AbortSignal): void {
    this.#listening.delete(signal);
    for (const [tool, queue] of [...this.#waiting]) {
      const kept = queue.filter((waiter) => waiter.signal !== signal);
      if (kept.length === queue.length) continue;
      if (kept.length === 0) this.#waiting.delete(tool);
      else this.#waiting.set(tool, kept);
      for (const waiter of queue) if (waiter.signal === signal) waiter.refuse(killed());
    }
  }
}

interface Waiter {
  readonly signal: AbortSignal;
  readonly holder: PlaceHolder;
  readonly start: () => void;
  readonly refuse: (error: KernelError) => void;
}

const killed = () => new KernelError('E_KILLED', 'sys.tool: the agent has ended');
