import { KernelError } from '../core/errors.js';

/**
 * The one host timer an agent may have (docs/architecture.md §6). The guest keeps its own timer queue
 * (setTimeout, setInterval) and asks to be woken at its earliest deadline; the kernel keeps a single
 * pending wake per agent, so a million guest timers cost the host one timer. Arming again supersedes the
 * pending wake (it resolves `false` at once, so no reply is ever left hanging); the wake that fires resolves
 * `true`. When the agent ends, `cancel` clears the timer and rejects the pending wake with E_KILLED: no
 * timer fires for an ended agent or keeps the host's event loop alive after it.
 */
interface Waiter {
  resolve(fired: boolean): void;
  reject(error: unknown): void;
}

export class WakeTimer {
  #timer: NodeJS.Timeout | undefined;
  #waiter: Waiter | undefined;
  #cancelled = false;

  /**
   * Resolves after `delayMs` (≥ 0, finite; the caller bounds it), superseding any pending wake. Rejects
   * with KernelError E_KILLED once the timer has been cancelled.
   */
  arm(delayMs: number): Promise<boolean> {
    if (this.#cancelled) return Promise.reject(new KernelError('E_KILLED', 'the agent has ended'));
    this.#settle(false);
    return new Promise<boolean>((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#timer = setTimeout(() => this.#settle(true), delayMs);
    });
  }

  /** True while a wake is pending (for tests and diagnostics). */
  get pending(): boolean {
    return this.#waiter !== undefined;
  }

  /** Clears the timer for good; the pending wake rejects with E_KILLED. Idempotent. */
  cancel(): void {
    this.#cancelled = true;
    const waiter = this.#clear();
    waiter?.reject(new KernelError('E_KILLED', 'the agent has ended'));
  }

  #settle(fired: boolean): void {
    this.#clear()?.resolve(fired);
  }

  #clear(): Waiter | undefined {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    return waiter;
  }
}
