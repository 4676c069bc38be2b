import { KernelError } from '../core/errors.js';
import { EMPTY_LABEL, joinLabels, type Label } from '../labels/label.js';

/**
 * Bytes the kernel keeps in its own heap on agents' behalf (docs/architecture.md §6). The watchdog measures
 * each isolate's heap, but a handle's value, a child's result buffered for `join`, or an in-memory store's
 * entries live in the kernel's heap, where no isolate limit sees them: an agent fetching one 1 MB value as a
 * handle thousands of times took the host to 4.3 GB. Every such byte is charged here:
 *
 * - per agent (`HeldMemory`), against its `memory_mb`, for what it holds while it lives (handles, buffered
 *   child results); crossing it ends the agent with E_QUOTA, and the watchdog counts these bytes with the
 *   isolate's heap, so heap and held bytes together stay within the one `memory_mb`;
 * - per kernel (`HeldMemoryPool`), in total: one pool for every agent's holdings and one for the in-memory
 *   stores' contents (the kernel splits `maxHeldBytes` between them); past it, holding more is refused with
 *   E_QUOTA (no agent is ended: the host's bound is full).
 *
 * Sizes are estimates of V8's heap use that never fall below it for JSON data (see `estimateBytes`).
 */

/** The message of every memory_mb end, the watchdog's (isolates/sandbox.ts) included. */
export const MEMORY_EXCEEDED = 'quota exceeded: memory_mb';

/** What the whole kernel may hold for agents. */
export class HeldMemoryPool {
  readonly limit: number;
  readonly #full: string;
  #used = 0;

  /**
   * `full` is the E_QUOTA message of a refusal (the kernel's two pools say which is full). Throws RangeError when
   * `limit` is not a positive safe integer.
   */
  constructor(limit: number, full = 'the kernel memory held for agents is exhausted') {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer of bytes');
    this.limit = limit;
    this.#full = full;
  }

  get used(): number {
    return this.#used;
  }

  /** Takes `bytes` from the pool. Throws KernelError E_QUOTA, taking nothing, when the pool would overflow. */
  take(bytes: number): void {
    if (!(bytes >= 0)) throw new RangeError('bytes must be a non-negative number');
    if (this.#used + bytes > this.limit) {
      throw new KernelError('E_QUOTA', this.#full);
    }
    this.#used += bytes;
  }

  /** Gives `bytes` back. Never throws. */
  give(bytes: number): void {
    if (bytes > 0) this.#used = Math.max(0, this.#used - bytes);
  }
}

/** One agent's kernel-held bytes, against its memory_mb and the kernel's pool. */
export class HeldMemory {
  readonly limit: number;
  readonly #pool: HeldMemoryPool;
  readonly #exceeded: (observed: Label) => void;
  #held = 0;
  /**
   * The join of what decided the sizes held so far. It only rises: what is held may include bytes a labelled
   * source sized (a handle's value, a child's result) while the agent stays clean, and then any later hold,
   * clean or not, crosses the limit or not because of them.
   */
  #label: Label = EMPTY_LABEL;
  #released = false;
  #observer: ((held: number) => void) | undefined;

  /**
   * `exceeded` ends the agent (E_QUOTA memory_mb) after joining `observed` into its label; it must not throw.
   */
  constructor(pool: HeldMemoryPool, limit: number, exceeded: (observed: Label) => void) {
    this.#pool = pool;
    this.limit = limit;
    this.#exceeded = exceeded;
  }

  get held(): number {
    return this.#held;
  }

  /**
   * The join of what decided every size held so far (it only rises). The watchdog counts held bytes with the
   * isolate's heap against the same memory_mb, so a memory kill depends on them and takes this label.
   */
  get label(): Label {
    return this.#label;
  }

  /**
   * Calls `observer` with the bytes held after every change (one observer: a sandbox host's launcher, which
   * tells the host what its watchdog must count with the heap). It must not throw.
   */
  observe(observer: (held: number) => void): void {
    this.#observer = observer;
  }

  /**
   * Charges `bytes` the kernel now holds for the agent. Throws KernelError E_QUOTA, holding nothing: with
   * 'quota exceeded: memory_mb' after ending the agent when its own limit would be crossed, or when the
   * kernel's pool is full, or when the agent has already ended. `observed` is the label of what decided `bytes`
   * (a file's size, a result's): whether the agent ends depends on it, and its parent sees that end, so the
   * agent's label takes it before it ends (joined after the kill, it came too late for the parent's `join`).
   */
  hold(bytes: number, observed: Label = EMPTY_LABEL): void {
    if (this.#released) throw new KernelError('E_KILLED', 'the agent has ended');
    if (this.#held + bytes > this.limit) {
      this.#exceeded(joinLabels(this.#label, observed));
      throw new KernelError('E_QUOTA', MEMORY_EXCEEDED);
    }
    this.#pool.take(bytes);
    this.#held += bytes;
    if (observed.length > 0) this.#label = joinLabels(this.#label, observed);
    this.#observer?.(this.#held);
  }

  /** `hold` of a value's estimated size (see estimateBytes); stops measuring once it is over the limit. */
  holdValue(value: unknown, observed: Label = EMPTY_LABEL): void {
    this.hold(estimateBytes(value, this.limit - this.#held + 1), observed);
  }

  /** Gives back `bytes` held earlier (a pending call settled). Never throws. */
  release(bytes: number): void {
    if (this.#released || !(bytes > 0)) return;
    const given = Math.min(bytes, this.#held);
    this.#held -= given;
    this.#pool.give(given);
    this.#observer?.(this.#held);
  }

  /** Gives back everything the agent held (it ended). Idempotent; later holds are refused. */
  releaseAll(): void {
    if (this.#released) return;
    this.#released = true;
    this.#pool.give(this.#held);
    this.#held = 0;
    this.#observer?.(0);
    this.#observer = undefined;
  }
}

/**
 * An upper estimate of the V8 heap a value of JSON data occupies: 16 bytes per value plus 2 per string
 * character (V8's two-byte strings; one-byte ones use half), 8 per array slot, 16 per object property. A value
 * reached twice counts twice (over-counting is safe). Returns as soon as the total exceeds `stopAbove`, so
 * measuring an agent-sized value costs at most O(stopAbove). Never throws.
 */
export function estimateBytes(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let total = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    total += 16;
    if (typeof item === 'string') {
      total += 2 * item.length;
    } else if (Array.isArray(item)) {
      total += 8 * item.length;
      // Checked before the children are queued: one huge array reached many times costs one look.
      if (total > stopAbove) return total;
      for (const each of item) pending.push(each);
    } else if (item !== null && typeof item === 'object') {
      const keys = Object.keys(item);
      total += 16 * keys.length;
      if (total > stopAbove) return total;
      for (const key of keys) {
        total += 2 * key.length;
        pending.push((item as Record<string, unknown>)[key]);
      }
    }
    if (total > stopAbove) return total;
  }
  return total;
}
