import ivm from 'isolated-vm';
import { encodeError } from '../syscalls/wire.js';
import { disposeIsolate, markBuild, recordBuiltIsolate, type Unread } from './isolate-memory.js';
import { getPreludeSource, PRELUDE_FILENAME } from './prelude.js';
import { isolateHeapLimitMb } from './watchdog.js';

/** What a realm forwards to the sandbox that claimed it. */
export interface RealmBinding {
  enter(id: unknown, syscall: unknown, payload: unknown): string;
  done(reply: unknown): void;
  catastrophe(): void;
}

/**
 * An isolate and context in which the prelude has run: everything an agent needs before its own code.
 * Building one costs a few milliseconds of isolated-vm setup, so the launcher keeps a few ready (see
 * realm-pool.ts). `GuestRealm.build` does that work on the isolate's own thread (isolated-vm's async calls), so a
 * refill does not hold up the kernel's event loop while agents run. The host callbacks are installed before the
 * prelude runs and forward to the sandbox that claims the realm; a realm is claimed at most once and disposed
 * with its agent, so nothing can pass from one agent to another.
 */
export class GuestRealm {
  readonly isolate: ivm.Isolate;
  readonly context: ivm.Context;
  readonly memoryMb: number;
  /** The prelude's resolver for late replies. */
  readonly deliver: ivm.Reference<(id: number, reply: string) => void>;
  /** The prelude's runner for `main`. */
  readonly start: ivm.Reference<(ns: unknown, input: string) => void>;
  readonly #slot: BindingSlot;
  #onDisposed: (() => void) | undefined;

  /** Use `GuestRealm.build`; the constructor only adopts what it built. */
  constructor(memoryMb: number, parts: RealmParts) {
    this.memoryMb = memoryMb;
    this.isolate = parts.isolate;
    this.context = parts.context;
    this.deliver = parts.deliver;
    this.start = parts.start;
    this.#slot = parts.slot;
  }

  /**
   * Builds a realm; no agent code exists yet. `preludeConfig` is the JSON text the prelude function receives
   * (prelude-config.ts; a sandbox host gets it from the kernel as a string). Rejects with what isolated-vm
   * throws, the isolate disposed.
   */
  static async build(memoryMb: number, preludeConfig: string): Promise<GuestRealm> {
    const slot: BindingSlot = { binding: undefined, claimed: false };
    const mark = markBuild();
    const isolate = new ivm.Isolate({
      memoryLimit: isolateHeapLimitMb(memoryMb),
      onCatastrophicError: () => {
        if (slot.binding !== undefined) slot.binding.catastrophe();
        else disposeIsolate(isolate);
      },
    });
    try {
      const context = await isolate.createContext();
      // The prelude's completion value is a function of the two host callbacks and its configuration: the
      // callbacks reach it as arguments and are never on the global object.
      const script = await compilePrelude(isolate);
      const prelude = (await script.run(context, { reference: true })) as ivm.Reference<
        (...args: unknown[]) => unknown[]
      >;
      const enter = new ivm.Callback(
        (id: unknown, syscall: unknown, payload: unknown) =>
          slot.binding?.enter(id, syscall, payload) ?? encodeError('E_KILLED', 'no agent'),
        { sync: true },
      );
      const done = new ivm.Callback((reply: unknown) => slot.binding?.done(reply), { ignored: true });
      const exported = (await prelude.apply(undefined, [enter, done, preludeConfig], {
        result: { reference: true },
      })) as unknown as ivm.Reference<unknown[]>;
      prelude.release();
      const deliver = (await exported.get(0, { reference: true })) as ivm.Reference<
        (id: number, reply: string) => void
      >;
      const start = (await exported.get(1, { reference: true })) as ivm.Reference<(ns: unknown, input: string) => void>;
      recordBuiltIsolate(isolate, await isolate.getHeapStatistics(), mark);
      return new GuestRealm(memoryMb, { isolate, context, deliver, start, slot });
    } catch (error) {
      disposeIsolate(isolate);
      throw error;
    }
  }

  /** Hands the realm to one sandbox. Throws Error if it was claimed before. */
  claim(binding: RealmBinding): void {
    if (this.#slot.claimed) throw new Error('realm already claimed');
    this.#slot.claimed = true;
    this.#slot.binding = binding;
  }

  /**
   * Calls `listener` once, right after the realm is disposed (the pool uses it to learn that the agent on a realm it
   * handed out has ended). Replaces an earlier listener. `listener` must not throw.
   */
  onDisposed(listener: () => void): void {
    this.#onDisposed = listener;
  }

  /**
   * `unread`: given if the agent was busy, what the watchdog charged it beyond its last reading; `offHeap`: the memory
   * outside its heap the watchdog charged it with (`disposeIsolate`).
   */
  dispose(unread?: Unread, offHeap = 0): void {
    // The slot keeps its binding: calls the isolate's thread still makes while it is disposed reach the ended session,
    // which refuses and audits them (after-main.test.ts). It keeps that session reachable for a few seconds more
    // (review 138: 5-7 KB an agent), until V8 lets the callbacks go.
    disposeIsolate(this.isolate, unread, offHeap);
    const listener = this.#onDisposed;
    this.#onDisposed = undefined;
    listener?.();
  }
}

/** What the host callbacks forward to: filled in when a sandbox claims the realm. */
interface BindingSlot {
  binding: RealmBinding | undefined;
  claimed: boolean;
}

/** What `GuestRealm.build` hands the constructor. */
export interface RealmParts {
  readonly isolate: ivm.Isolate;
  readonly context: ivm.Context;
  readonly deliver: ivm.Reference<(id: number, reply: string) => void>;
  readonly start: ivm.Reference<(ns: unknown, input: string) => void>;
  readonly slot: BindingSlot;
}

// V8's code cache for the prelude, produced by the first realm in this process: later isolates skip parsing
// and compiling it (≈ 0.7 ms each, and the memory of a full compile in every realm). V8 checks the data and
// compiles normally if it rejects it. Builds that start while the first is producing it wait for it: a burst of
// concurrent spawns would otherwise each compile from scratch.
let preludeCache: ivm.ExternalCopy<ArrayBuffer> | undefined;
let producing: Promise<unknown> | undefined;

async function compilePrelude(isolate: ivm.Isolate): Promise<ivm.Script> {
  if (preludeCache === undefined && producing !== undefined) await producing.catch(() => {});
  if (preludeCache !== undefined) {
    const script = await isolate.compileScript(getPreludeSource(), {
      filename: PRELUDE_FILENAME,
      cachedData: preludeCache,
    });
    if ((script as { cachedDataRejected?: boolean }).cachedDataRejected === true) preludeCache = undefined;
    return script;
  }
  const compiling = isolate.compileScript(getPreludeSource(), {
    filename: PRELUDE_FILENAME,
    produceCachedData: true,
  });
  producing ??= compiling;
  try {
    const script = await compiling;
    preludeCache ??= (script as ivm.CachedDataResult).cachedData;
    return script;
  } finally {
    if (producing === compiling) producing = undefined;
  }
}
