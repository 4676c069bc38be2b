import { GuestRealm } from './guest-realm.js';

/** Idle realms kept per memory size. */
export const DEFAULT_POOL_SIZE = 2;
/** Memory sizes pooled at once; spawns with other sizes build their realm on demand. */
const MAX_POOLED_SIZES = 4;

/**
 * How long a refill waits for the agents on realms handed out to end before it starts anyway (agents that run
 * longer than this are past their start; the pool must not stay short behind them).
 */
export const REFILL_DEFER_MS = 10;

/**
 * Keeps a few realms ready so that spawning an agent does not wait for isolated-vm to build an isolate and a
 * context. `take` never returns a realm twice; refills build one realm at a time after a take, mostly on the
 * isolate's own thread (GuestRealm.build). A refill is background work for later spawns, and creating the isolate
 * itself is synchronous (≈ 3 ms of the kernel's event loop): while the pool still holds a realm of the size a
 * refill would build, it waits until the agents started on realms taken from the pool have ended or have run for
 * REFILL_DEFER_MS, so that it does not sit on the path of a spawn in flight. A pool that has run out of a size
 * refills at once (the next spawn would otherwise build its realm on its own path). A realm never claimed is
 * disposed on `close`, including one whose build finishes after it.
 */
export class RealmPool {
  readonly #size: number;
  readonly #refillDeferMs: number;
  readonly #preludeConfig: string;
  readonly #idle = new Map<number, GuestRealm[]>();
  #refilling = false;
  #closed = false;
  /** Realms handed out whose agents have not ended yet, nor run for REFILL_DEFER_MS. */
  #starting = 0;

  /**
   * `preludeConfig`: the prelude's configuration text every realm is built with (see GuestRealm). `refillDeferMs`:
   * how long a refill waits for a starting agent at most (REFILL_DEFER_MS; tests change it).
   */
  constructor(preludeConfig: string, size = DEFAULT_POOL_SIZE, refillDeferMs = REFILL_DEFER_MS) {
    this.#preludeConfig = preludeConfig;
    this.#size = size;
    this.#refillDeferMs = refillDeferMs;
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
    if (realm === undefined)
      return GuestRealm.build(memoryMb, this.#preludeConfig).then((built) => this.#started(built));
    return Promise.resolve(this.#started(realm));
  }

  // `realm` goes to an agent that is starting: refills of sizes the pool still holds wait until it has ended or
  // has run for REFILL_DEFER_MS (whichever comes first).
  #started(realm: GuestRealm): GuestRealm {
    if (this.#closed || this.#size === 0) return realm;
    this.#starting++;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.#starting--;
      if (this.#starting === 0) this.#scheduleRefill();
    };
    const timer = setTimeout(settle, this.#refillDeferMs);
    timer.unref();
    realm.onDisposed(settle);
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

  // One build in flight at a time, for the first size short of realms; the next starts when it lands. A build
  // starts on the next event-loop turn at the earliest: creating the isolate itself is synchronous, and must not
  // sit on the path of the spawn whose take asked for the refill. Sizes the pool has run out of come first and
  // build at once; the others wait while agents are starting (the last one to settle schedules the refill again).
  #scheduleRefill(): void {
    if (this.#refilling || this.#closed) return;
    this.#refilling = true;
    setImmediate(() => {
      let short: number | undefined;
      for (const [memoryMb, realms] of this.#idle) {
        if (realms.length === 0) {
          short = memoryMb;
          break;
        }
        if (realms.length < this.#size && this.#starting === 0) short ??= memoryMb;
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
