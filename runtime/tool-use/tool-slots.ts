import { KernelError } from '../core/errors.js';

/**
 * The calls of bounded tools (`Tool.maxInFlight`) one agent tree has running, and its calls waiting for a place.
 * A call past its tool's bound waits (in order) instead of running: each running call holds a socket, a child
 * process or buffers in the kernel until it ends, and a burst of calls that never end held thousands (a red-team
 * pass, from one agent with memory_mb 64: 5,040 sockets, 2.1 GB of response bodies, or 2,000 process starts
 * that stalled the kernel's event loop for 27 s). A waiting call holds what any pending syscall holds and its
 * decoded arguments, both charged to the agent's memory (syscalls/tool.ts).
 *
 * One tree shares one set of places: counted per agent, the bound held once per agent, and a root with 10
 * children opened 161 sockets. So a wait reveals how many calls the caller's own tree has running (a timing
 * signal between its agents, which SECURITY.md leaves uncontrolled), never anything of other trees.
 */
export class ToolSlots {
  readonly #running = new Map<string, number>();
  readonly #waiting = new Map<string, Waiter[]>();
  // The signals with calls waiting, each with the one abort listener that refuses them when it aborts (thousands
  // of listeners would each cost the agent's end a scan) and how many calls wait on it. A signal is forgotten once
  // none does: `mcp serve` passes a signal per request, never aborted once answered, and keeping them all held
  // about 1 KB per call for the session's life (review 88).
  readonly #listening = new Map<AbortSignal, { readonly refuse: () => void; waiting: number }>();

  /**
   * Takes a place for a call of `tool`, of which at most `bound` may run at once in the tree: undefined when the
   * call may run now, else a promise that resolves when a place is handed to it, or rejects with KernelError
   * E_KILLED when `signal` (the calling agent's end) aborts first. Each place taken must be given back once with
   * `give`.
   */
  take(tool: string, bound: number, signal: AbortSignal): Promise<void> | undefined {
    if (signal.aborted) return Promise.reject(killed());
    const running = this.#running.get(tool) ?? 0;
    if (running < bound) {
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
      queue.push({ signal, start, refuse });
    });
  }

  /** Gives back a place of `tool`: to the call that has waited longest, if any. Never throws. */
  give(tool: string): void {
    const queue = this.#waiting.get(tool);
    const next = queue?.shift();
    if (next !== undefined) {
      if (queue?.length === 0) this.#waiting.delete(tool);
      const listening = this.#listening.get(next.signal);
      if (listening !== undefined && --listening.waiting === 0) {
        this.#listening.delete(next.signal);
        next.signal.removeEventListener('abort', listening.refuse);
      }
      next.start();
      return;
    }
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
  readonly start: () => void;
  readonly refuse: (error: KernelError) => void;
}

const killed = () => new KernelError('E_KILLED', 'sys.tool: the agent has ended');
