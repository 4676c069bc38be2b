import { GuestRealm } from './guest-realm.js';

/** Idle realms kept per memory size. */
export const DEFAULT_POOL_SIZE = 2;
/** Memory sizes pooled at once; spawns with other sizes build their realm on demand. */
const MAX_POOLED_SIZES = 4;

/**
 * Keeps a few realms ready so that spawning an agent does not wait for isolated-vm to build an isolate and a
 * context. `take` never returns a realm twice; refills build one realm at a time after a take, on the isolate's
 * own thread (GuestRealm.build), off the spawn's path and the kernel's event loop. A realm never claimed is
 * disposed on `close`, including one whose build finishes after it.
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

  /** A realm for an agent allowed `memoryMb`: an idle one, or a new one. Rejects with what building one throws. */
  take(memoryMb: number): Promise<GuestRealm> {
    const idle = this.#idle.get(memoryMb);
    let realm = idle?.pop();
    // An idle realm runs no agent code, but if isolated-vm ever disposed one, do not hand it out (and drop it from
    // the memory account).
    while (realm?.isolate.isDisposed === true) {
      realm.dispose();
      realm = idle?.pop();
    }
    if (!this.#closed && this.#size > 0 && (idle !== undefined || this.#idle.size < MAX_POOLED_SIZES)) {
      if (idle === undefined) this.#idle.set(memoryMb, []);
      this.#scheduleRefill();
    }
    return realm === undefined ? GuestRealm.build(memoryMb, this.#preludeConfig) : Promise.resolve(realm);
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

  // One build in flight at a time, for the first size short of realms; the next starts when it lands. A build
  // starts on the next event-loop turn: creating the isolate itself is synchronous, and must not sit on the path
  // of the spawn whose take asked for the refill.
  #scheduleRefill(): void {
    if (this.#refilling || this.#closed) return;
    this.#refilling = true;
    setImmediate(() => {
      let short: number | undefined;
      for (const [memoryMb, realms] of this.#idle) {
        if (realms.length < this.#size) {
          short = memoryMb;
          break;
        }
      }
      if (this.#closed || short === undefined) {
        this.#refilling = false;
        return;
      }
      const memoryMb = short;
      GuestRealm.build(memoryMb, this.#preludeConfig).then(
        (realm) => {
          this.#refilling = false;
          const realms = this.#idle.get(memoryMb);
          if (this.#closed || realms === undefined) {
            realm.dispose();
            return;
          }
          realms.push(realm);
          this.#scheduleRefill();
        },
        () => {
          // Out of resources: spawns build realms on demand and report their own failures.
          this.#refilling = false;
        },
      );
    });
  }
}
