/**
 * The syscalls whose reply is still to come (a tool running, a join waiting), so that closing the kernel lets their
 * effects end and be recorded before the audit log closes. Without it, a host tool still running at `close` finished
 * its effect after the log had closed, and the log held its intent alone (red-team pass 77: three writes done, three
 * intents, no outcome).
 */
export class CallsInFlight {
  readonly #calls = new Set<Promise<unknown>>();

  /** Calls now in flight. */
  get size(): number {
    return this.#calls.size;
  }

  /** Tracks `reply` until it settles. */
  add(reply: Promise<unknown>): void {
    this.#calls.add(reply);
    const done = (): void => {
      this.#calls.delete(reply);
    };
    reply.then(done, done);
  }

  /**
   * Resolves true once every call in flight now (and any added meanwhile) has settled, or false after `ms` with some
   * still running. Never rejects.
   */
  async settled(ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (this.#calls.size > 0) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, left);
      });
      await Promise.race([Promise.allSettled([...this.#calls]), timedOut]);
      clearTimeout(timer);
    }
    return true;
  }
}
