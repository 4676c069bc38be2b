import { GuestRealm } from './guest-realm.js';

/** Idle realms kept per memory size. */
export const DEFAULT_POOL_SIZE = 2;
/** Memory sizes pooled at once; spawns with other sizes build their realm on demand. */
const MAX_POOLED_SIZES = 4;

/**
 * Keeps a few realms ready so that spawning an agent does not wait for isolated-vm to build an isolate and a
 * context. `take` never returns a realm twice; refills happen one realm per event-loop turn after a take, off
 * the spawn's own path. A realm never claimed is disposed on `close`.
 */
export class RealmPool {
  readonly #size: number;
  readonly #preludeConfig: string;
  readonly #idle = new Map<number, GuestRealm[]>();
  #refilling = false;
  #closed = false;

  /** `preludeConfig`: the prelude's configuration text every realm is built with (see GuestRealm). */
  constructor(preludeConfig: string, size = DEFAULT_POOL_SIZE) {
    this.#preludeConfig = preludeConfig;
    this.#size = size;
  }

  /** A realm for an agent allowed `memoryMb`: an idle one, or a new one. Throws what building one throws. */
  take(memoryMb: number): GuestRealm {
    const idle = this.#idle.get(memoryMb);
    let realm = idle?.pop();
    // An idle realm runs no agent code, but if isolated-vm ever disposed one, do not hand it out.
    while (realm?.isolate.isDisposed === true) realm = idle?.pop();
    realm ??= new GuestRealm(memoryMb, this.#preludeConfig);
    if (!this.#closed && this.#size > 0 && (idle !== undefined || this.#idle.size < MAX_POOLED_SIZES)) {
      if (idle === undefined) this.#idle.set(memoryMb, []);
      this.#scheduleRefill();
    }
    return realm;
  }

  /** Starts filling the pool for `memoryMb` ahead of the first take (a sandbox host warming up). */
  prepare(memoryMb: number): void {
    if (this.#closed || this.#size === 0 || this.#idle.has(memoryMb) || this.#idle.size >= MAX_POOLED_SIZES) return;
    this.#idle.set(memoryMb, []);
    this.#scheduleRefill();
  }

  /** Disposes every idle realm and stops refilling. */
  close(): void {
    this.#closed = true;
    for (const realms of this.#idle.values()) for (const realm of realms) realm.dispose();
    this.#idle.clear();
  }

  /** Idle realms for `memoryMb` (for tests and diagnostics). */
  idle(memoryMb: number): number {
    return this.#idle.get(memoryMb)?.length ?? 0;
  }

  #scheduleRefill(): void {
    if (this.#refilling) return;
    this.#refilling = true;
    setImmediate(() => {
      this.#refilling = false;
      if (this.#closed) return;
      for (const [memoryMb, realms] of this.#idle) {
        if (realms.length >= this.#size) continue;
        try {
          realms.push(new GuestRealm(memoryMb, this.#preludeConfig));
        } catch {
          return; // Out of resources: spawns build realms on demand and report their own failures.
        }
        this.#scheduleRefill();
        return;
      }
    });
  }
}
