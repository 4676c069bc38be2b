import ivm from 'isolated-vm';
import { encodeError } from '../syscalls/wire.js';
import { forgetIsolate, recordIsolateSize } from './isolate-memory.js';
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
 * Building one costs about 2 ms of isolated-vm setup, so the launcher keeps a few ready (see realm-pool.ts).
 * The host callbacks are installed before the prelude runs and forward to the sandbox that claims the realm;
 * a realm is claimed at most once and disposed with its agent, so nothing can pass from one agent to another.
 */
export class GuestRealm {
  readonly isolate: ivm.Isolate;
  readonly context: ivm.Context;
  readonly memoryMb: number;
  /** The prelude's resolver for late replies. */
  readonly deliver: ivm.Reference<(id: number, reply: string) => void>;
  /** The prelude's runner for `main`. */
  readonly start: ivm.Reference<(ns: unknown, input: string) => void>;
  #binding: RealmBinding | undefined;
  #claimed = false;

  /**
   * Builds a realm synchronously; no agent code exists yet. `preludeConfig` is the JSON text the prelude
   * function receives (prelude-config.ts; a sandbox host gets it from the kernel as a string). Throws what
   * isolated-vm throws.
   */
  constructor(memoryMb: number, preludeConfig: string) {
    this.memoryMb = memoryMb;
    this.isolate = new ivm.Isolate({
      memoryLimit: isolateHeapLimitMb(memoryMb),
      onCatastrophicError: () => {
        if (this.#binding !== undefined) this.#binding.catastrophe();
        else this.dispose();
      },
    });
    try {
      this.context = this.isolate.createContextSync();
      // The prelude's completion value is a function of the two host callbacks and its configuration: the
      // callbacks reach it as arguments and are never on the global object.
      const prelude = compilePrelude(this.isolate).runSync(this.context, { reference: true }) as ivm.Reference<
        (...args: unknown[]) => unknown[]
      >;
      const enter = new ivm.Callback(
        (id: unknown, syscall: unknown, payload: unknown) =>
          this.#binding?.enter(id, syscall, payload) ?? encodeError('E_KILLED', 'no agent'),
        { sync: true },
      );
      const done = new ivm.Callback((reply: unknown) => this.#binding?.done(reply), { ignored: true });
      const exported = prelude.applySync(undefined, [enter, done, preludeConfig], {
        result: { reference: true },
      }) as unknown as ivm.Reference<unknown[]>;
      prelude.release();
      this.deliver = exported.getSync(0, { reference: true }) as ivm.Reference<(id: number, reply: string) => void>;
      this.start = exported.getSync(1, { reference: true }) as ivm.Reference<(ns: unknown, input: string) => void>;
      recordIsolateSize(this.isolate, this.isolate.getHeapStatisticsSync());
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  /** Hands the realm to one sandbox. Throws Error if it was claimed before. */
  claim(binding: RealmBinding): void {
    if (this.#claimed) throw new Error('realm already claimed');
    this.#claimed = true;
    this.#binding = binding;
  }

  dispose(): void {
    try {
      this.isolate.dispose();
    } catch {
      // Already disposed.
    }
    forgetIsolate(this.isolate);
  }
}

// V8's code cache for the prelude, produced by the first realm in this process: later isolates skip parsing
// and compiling it (≈ 0.7 ms each). V8 checks the data and compiles normally if it rejects it.
let preludeCache: ivm.ExternalCopy<ArrayBuffer> | undefined;

function compilePrelude(isolate: ivm.Isolate): ivm.Script {
  if (preludeCache !== undefined) {
    const script = isolate.compileScriptSync(getPreludeSource(), {
      filename: PRELUDE_FILENAME,
      cachedData: preludeCache,
    });
    if ((script as { cachedDataRejected?: boolean }).cachedDataRejected === true) preludeCache = undefined;
    return script;
  }
  const script = isolate.compileScriptSync(getPreludeSource(), { filename: PRELUDE_FILENAME, produceCachedData: true });
  preludeCache = (script as ivm.CachedDataResult).cachedData;
  return script;
}
