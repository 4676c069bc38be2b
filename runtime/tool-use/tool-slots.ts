import { KernelError } from '../core/errors.js';

/**
 * The calls of bounded tools (`Tool.maxInFlight`) one agent has running, and its calls waiting for a place.
 * A call past its tool's bound waits (in order) instead of running: each running call holds a socket, a child
 * process or buffers in the kernel until it ends, and a burst of calls that never end held thousands (a red-team
 * pass, from one agent with memory_mb 64: 5,040 sockets, 2.1 GB of response bodies, or 2,000 process starts
 * that stalled the kernel's event loop for 27 s). A waiting call holds only what any pending syscall holds,
 * which is charged to the agent's memory. Only the agent's own calls count, so a wait reveals nothing of others.
 */
export class ToolSlots {
  readonly #signal: AbortSignal;
  readonly #running = new Map<string, number>();
  readonly #waiting = new Map<string, Waiter[]>();
  #listening = false;

  /** `signal` aborts when the agent ends: every waiting call is then refused with E_KILLED. */
  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  /**
   * Takes a place for a call of `tool`, of which at most `bound` may run at once: undefined when the call may
   * run now, else a promise that resolves when a place is handed to it, or rejects with KernelError E_KILLED
   * when the agent ends first. Each place taken must be given back once with `give`.
   */
  take(tool: string, bound: number): Promise<void> | undefined {
    if (this.#signal.aborted) return Promise.reject(killed());
    const running = this.#running.get(tool) ?? 0;
    if (running < bound) {
      this.#running.set(tool, running + 1);
      return undefined;
    }
    // One listener for all waiters: thousands of abort listeners would each cost the agent's end a scan.
    if (!this.#listening) {
      this.#listening = true;
      this.#signal.addEventListener('abort', () => this.#refuseAll(), { once: true });
    }
    return new Promise((start, refuse) => {
      let queue = this.#waiting.get(tool);
      if (queue === undefined) {
        queue = [];
        this.#waiting.set(tool, queue);
      }
      queue.push({ start, refuse });
    });
  }

  /** Gives back a place of `tool`: to the call that has waited longest, if any. Never throws. */
  give(tool: string): void {
    const queue = this.#waiting.get(tool);
    const next = queue?.shift();
    if (next !== undefined) {
      if (queue?.length === 0) this.#waiting.delete(tool);
      next.start();
      return;
    }
    const left = (this.#running.get(tool) ?? 1) - 1;
    if (left > 0) this.#running.set(tool, left);
    else this.#running.delete(tool);
  }

  #refuseAll(): void {
    const queues = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const queue of queues) for (const waiter of queue) waiter.refuse(killed());
  }
}

interface Waiter {
  readonly start: () => void;
  readonly refuse: (error: KernelError) => void;
}

const killed = () => new KernelError('E_KILLED', 'sys.tool: the agent has ended');
