/**
 * Name lookups, bounded per owner (a tenant: every agent of a tree) and per process. The system resolver is
 * getaddrinfo on libuv's thread pool, which runs two of them at once, first come first served, and a started
 * getaddrinfo cannot be called off: a call's abort answered the call, and its place among the tool's calls went with
 * it, while its lookup stayed queued. An agent's calls to names whose nameserver never answers so piled up lookups
 * without bound: 320 were pending after twenty children of sixteen calls each had ended, every lookup in the process
 * waited behind them for minutes (a neighbour's took 30 s and failed), and the process could not exit (red-team pass
 * 144). Here an owner has at most PER_OWNER lookup started at a time and the process at most TOTAL, what libuv runs
 * at once (review 148: with eight, a tree of four agents queued them inside libuv, where no turn is fair, and a
 * neighbour's call timed out at 30 s); the rest wait, each owner's in order and the owners with fewest running
 * first, and a waiting lookup whose call has ended never starts. A started lookup counts until it settles, or for
 * HOLD_MS at most.
 */

/** Resolves a host name to its addresses. */
export type LookupStart = (hostname: string) => Promise<readonly string[]>;

/** Lookups one owner may have started at once. */
export const PER_OWNER = 1;
/** Lookups the process may have started at once: the getaddrinfo calls libuv runs at once. */
export const TOTAL = 2;
/**
 * How long a started lookup keeps its place at most. getaddrinfo gives up by itself (about 10 s with the default
 * resolv.conf), but a resolver the host gave may never settle, and its places would then stop every later lookup.
 */
export const HOLD_MS = 30_000;

interface Waiter {
  readonly hostname: string;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (addresses: readonly string[]) => void;
  readonly reject: (error: unknown) => void;
  readonly abort: () => void;
}

/** Thrown for a lookup whose call ended before it started. */
export class LookupAbortedError extends Error {
  constructor() {
    super('name lookup given up');
    this.name = 'LookupAbortedError';
  }
}

export class LookupQueue {
  readonly #start: LookupStart;
  /** Waiting lookups by owner, in the order the owners are served next among equals. */
  readonly #waiting = new Map<string, Waiter[]>();
  readonly #startedBy = new Map<string, number>();
  #started = 0;

  readonly #holdMs: number;

  constructor(start: LookupStart, holdMs = HOLD_MS) {
    this.#start = start;
    this.#holdMs = holdMs;
  }

  /** How many lookups have started and not settled: for tests and the host's diagnostics. */
  get started(): number {
    return this.#started;
  }

  /** Resolves `hostname` for `owner`; rejects with LookupAbortedError once `signal` aborts before it started. */
  lookup(hostname: string, owner: string, signal?: AbortSignal): Promise<readonly string[]> {
    if (signal?.aborted === true) return Promise.reject(new LookupAbortedError());
    return new Promise((resolve, reject) => {
      const abort = (): void => {
        const queue = this.#waiting.get(owner);
        const at = queue?.indexOf(waiter) ?? -1;
        if (queue === undefined || at === -1) return;
        queue.splice(at, 1);
        if (queue.length === 0) this.#waiting.delete(owner);
        reject(new LookupAbortedError());
      };
      const waiter: Waiter = { hostname, signal, resolve, reject, abort };
      signal?.addEventListener('abort', abort, { once: true });
      const queue = this.#waiting.get(owner);
      if (queue === undefined) this.#waiting.set(owner, [waiter]);
      else queue.push(waiter);
      this.#pump();
    });
  }

  // Starts waiting lookups while the process has room: next, the waiting owner with the fewest started (the one
  // waiting longest among equals), so an owner that has none running goes before one that has.
  #pump(): void {
    while (this.#started < TOTAL) {
      let chosen: string | undefined;
      let fewest = PER_OWNER;
      for (const owner of this.#waiting.keys()) {
        const running = this.#startedBy.get(owner) ?? 0;
        if (running < fewest) {
          chosen = owner;
          fewest = running;
        }
      }
      const queue = chosen === undefined ? undefined : this.#waiting.get(chosen);
      const waiter = queue?.shift();
      if (chosen === undefined || queue === undefined || waiter === undefined) return;
      // The owner goes to the back of the line.
      this.#waiting.delete(chosen);
      if (queue.length > 0) this.#waiting.set(chosen, queue);
      this.#run(chosen, waiter);
    }
  }

  #run(owner: string, waiter: Waiter): void {
    waiter.signal?.removeEventListener('abort', waiter.abort);
    this.#started += 1;
    this.#startedBy.set(owner, (this.#startedBy.get(owner) ?? 0) + 1);
    let held = true;
    const settle = (): void => {
      if (!held) return;
      held = false;
      clearTimeout(timer);
      this.#started -= 1;
      const left = (this.#startedBy.get(owner) ?? 1) - 1;
      if (left > 0) this.#startedBy.set(owner, left);
      else this.#startedBy.delete(owner);
      this.#pump();
    };
    const timer = setTimeout(settle, this.#holdMs);
    timer.unref();
    // A resolver the host gave may answer synchronously, or throw: either settles this lookup.
    Promise.resolve()
      .then(() => this.#start(waiter.hostname))
      .then(
        (addresses) => {
          settle();
          waiter.resolve(addresses);
        },
        (error: unknown) => {
          settle();
          waiter.reject(error);
        },
      );
  }
}
