import type ivm from 'isolated-vm';
import type { ErrorCode, KernelErrorInfo } from '../runtime/core/errors.js';
import type { Limits } from '../runtime/process/limits.js';
import type { Usage } from '../runtime/process/run-result.js';
import { encodeError, PENDING } from '../syscalls/wire.js';
import { checkModuleSource } from './code-check.js';
import { libraryReply } from './guest-libraries.js';
import type { GuestRealm } from './guest-realm.js';
import { loadSuperjson } from './guest-superjson.js';
import { decodeOutcome, endedClean, type GuestOutcome } from './main-outcome.js';
import { LOAD_LIBRARY, LOAD_SUPERJSON } from './prelude.js';
import type { RealmPool } from './realm-pool.js';
import type { LimitName, Watchdog, Watched } from './watchdog.js';

/** How the host side of a sandbox reaches the kernel. Both functions must never throw. */
export interface SandboxHooks {
  /** One syscall from the guest: returns the reply, or a promise of it. */
  enter(syscall: unknown, payload: unknown): string | Promise<string>;
  /** isolated-vm reported a catastrophic error for this isolate (see README, "Memory"). */
  catastrophe(): void;
  /** Called synchronously the moment the agent ends, before disposal, so later syscalls are refused. */
  ended(): void;
  /** The isolate's CPU time so far, in ms: every watchdog tick and once at the end. Must not throw. */
  cpu(totalMs: number): void;
  /** Bytes the kernel holds for the agent outside its isolate (see Watched `heldBytes`). Must not throw. */
  heldBytes(): number;
  /** The kernel's time decoding the agent's result, in ms, told once the agent has ended. Must not throw. */
  decoded(ms: number): void;
}

export interface SandboxSpec {
  readonly code: string;
  readonly filename: string;
  readonly inputJson: string;
  readonly limits: Limits;
  readonly maxPayloadBytes: number;
  readonly hooks: SandboxHooks;
  readonly watchdog: Watchdog;
  /** Where the isolate comes from: a ready realm (isolate, context, prelude) claimed by this sandbox alone. */
  readonly realms: RealmPool;
  /**
   * After a clean end (see `endedClean`), wait up to this many ms for the isolate's thread to finish what it is
   * running before disposal, and report whether it did not (`stillRunning`): a built-in that ignores
   * termination, started from a promise chain after the agent's end, runs on after disposal. Absent: dispose at
   * once (inline, where no process is handed to another tenant).
   */
  readonly confirmIdleMs?: number;
}

/** What a sandbox resolves to. */
export interface SandboxEnd {
  readonly outcome: SandboxOutcome;
  readonly usage: SandboxUsage;
  /** The isolate's thread was still busy when it was disposed after a clean end (see `confirmIdleMs`). */
  readonly stillRunning: boolean;
  /**
   * The watchdog ended it for memory_mb by a figure that counts process growth no reading of its heap explains,
   * which other agents may have caused: the end depends on them (memory-neighbours.ts), and `usage.heap_peak_mb` is
   * the watchdog's estimate. Otherwise the peak is its own heap's, read exactly.
   */
  readonly memoryEstimated: boolean;
}

/** What the sandbox measures; the kernel adds syscalls and counted quotas. */
export type SandboxUsage = Pick<Usage, 'cpu_ms' | 'wall_ms' | 'heap_peak_mb'>;

export type SandboxOutcome = { ok: true; value: unknown } | { ok: false; error: KernelErrorInfo };

const LIMIT_MESSAGES: Record<LimitName, string> = {
  cpu: 'quota exceeded: cpu_ms',
  wall: 'quota exceeded: wall_ms',
  memory: 'quota exceeded: memory_mb',
};

/**
 * One agent in one isolate, from source check to disposal. The outcome promise resolves exactly once and
 * never rejects; when it does, the isolate has been disposed, so no agent code starts after it (a built-in that
 * ignores termination runs on: see `confirmIdleMs`).
 *
 * Agent code only ever runs on isolated-vm's worker threads (module evaluation and `main` are entered
 * asynchronously); synchronous isolated-vm calls are used only during setup, before agent code exists.
 */
export class Sandbox implements Watched {
  readonly outcome: Promise<SandboxEnd>;
  readonly cpuLimitMs: number;
  readonly wallDeadline: number;
  readonly memoryLimitBytes: number;
  readonly #spec: SandboxSpec;
  readonly #startedAt = performance.now();
  #realm: GuestRealm | undefined;
  #isolate: ivm.Isolate | undefined;
  #context: ivm.Context | undefined;
  #deliver: ivm.Reference<(id: number, reply: string) => void> | undefined;
  #superjson: Promise<void> | undefined;
  #ended = false;
  /** Set while a clean end waits for its isolate to go quiet (`confirmIdleMs`): ends the wait. */
  #graceOver: ((stillRunning: boolean) => void) | undefined;
  /** Ended by the watchdog's memory estimate (see SandboxEnd `memoryEstimated`). */
  #memoryEstimated = false;
  #resolve!: (value: SandboxEnd) => void;

  constructor(spec: SandboxSpec) {
    this.#spec = spec;
    this.cpuLimitMs = spec.limits.cpu_ms;
    this.wallDeadline = this.#startedAt + spec.limits.wall_ms;
    this.memoryLimitBytes = spec.limits.memory_mb * 1024 * 1024;
    this.outcome = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    this.#run().catch(() => this.#fail('E_INTERNAL', 'internal kernel error'));
  }

  get isolate(): ivm.Isolate {
    if (this.#isolate === undefined) throw new Error('sandbox has no isolate');
    return this.#isolate;
  }

  /** Ends the agent with `code` (E_KILLED by default). A no-op once it has ended. */
  kill(code: ErrorCode, message: string): void {
    this.#fail(code, message);
  }

  exceeded(limit: LimitName, shared = false): void {
    if (shared && !this.#ended) this.#memoryEstimated = true;
    this.#fail('E_QUOTA', LIMIT_MESSAGES[limit]);
  }

  lost(): void {
    this.#fail('E_QUOTA', LIMIT_MESSAGES.memory);
  }

  sampled(cpuMs: number): void {
    if (!this.#ended) this.#spec.hooks.cpu(cpuMs);
  }

  heldBytes(): number {
    return this.#spec.hooks.heldBytes();
  }

  async #run(): Promise<void> {
    const { code, filename, inputJson, limits, hooks } = this.#spec;
    const check = checkModuleSource(code);
    if (!check.ok) return this.#fail('E_BAD_CODE', check.message);

    let realm: GuestRealm;
    try {
      realm = await this.#spec.realms.take(limits.memory_mb);
    } catch {
      return this.#fail('E_INTERNAL', 'internal kernel error');
    }
    // Killed (or out of time) while its realm was being built: the realm was never claimed.
    if (this.#ended) {
      realm.dispose();
      return;
    }
    realm.claim({
      enter: this.#enter,
      done: this.#done,
      catastrophe: () => {
        // The isolate is beyond recovery and its thread may spin; settle the agent now and let the host
        // decide about the process (the CLI exits; embedders get the 'catastrophe' event).
        hooks.catastrophe();
        this.#fail('E_QUOTA', LIMIT_MESSAGES.memory);
      },
    });
    const { isolate, context, start } = realm;
    this.#realm = realm;
    this.#isolate = isolate;
    this.#context = context;
    this.#deliver = realm.deliver;
    this.#spec.watchdog.add(this);

    let namespace: ivm.Reference<unknown>;
    try {
      let module: ivm.Module;
      try {
        module = isolate.compileModuleSync(code, { filename });
      } catch (error) {
        return this.#fail('E_BAD_CODE', compileMessage(error, filename));
      }
      if (module.dependencySpecifiers.length > 0)
        return this.#fail('E_BAD_CODE', 'import declarations are not allowed');
      module.instantiateSync(context, () => {
        throw new Error('imports are not allowed');
      });
      if (this.#ended) return;
      // Top-level agent code runs here, on a worker thread, under the watchdog.
      await module.evaluate();
      namespace = module.namespace;
    } catch (error) {
      return this.#failFromIsolate(error, true);
    }
    if (this.#ended) return;
    // Ignored, not awaited: start never throws (main's outcome arrives through `done`), and an awaited
    // apply would fail with the first promise rejection main's synchronous part left unhandled when the
    // task ended (isolated-vm's task epilogue), ending a valid agent with E_INTERNAL.
    try {
      start.applyIgnored(undefined, [namespace.derefInto(), inputJson]);
    } catch (error) {
      this.#failFromIsolate(error, false);
    }
  }

  // Errors out of isolated-vm: agent exceptions during module evaluation carry the agent's own message
  // (see thrownMessage); anything after a kill or a disposal is reported by the reason we already recorded.
  #failFromIsolate(error: unknown, evaluating: boolean): void {
    if (this.#ended) return;
    if (this.#isolate?.isDisposed) {
      this.#fail('E_QUOTA', LIMIT_MESSAGES.memory);
    } else if (evaluating) {
      this.#fail('E_AGENT_FAILED', thrownMessage(error));
    } else {
      this.#fail('E_INTERNAL', 'internal kernel error');
    }
  }

  readonly #enter = (id: unknown, syscall: unknown, payload: unknown): string => {
    try {
      if (typeof id !== 'number') return encodeError('E_BAD_ARG', 'malformed syscall');
      // Not syscalls: the prelude asking for its serializer or for a guest part's source (answered at once,
      // from text the sandbox holds), which decide nothing and touch nothing.
      if (syscall === LOAD_LIBRARY) return libraryReply(payload);
      // An ended agent starts no superjson load: its module tasks would run in the isolate after the end, behind
      // the idle probe of a clean end (`confirmIdleMs`), on globals the agent may have replaced.
      if (syscall === LOAD_SUPERJSON && this.#ended) return encodeError('E_KILLED', 'the agent has ended');
      const reply = syscall === LOAD_SUPERJSON ? this.#loadSuperjson() : this.#spec.hooks.enter(syscall, payload);
      if (typeof reply === 'string') return reply;
      reply.then(
        (late) => this.#deliverReply(id, late),
        () => this.#deliverReply(id, encodeError('E_INTERNAL', 'internal kernel error')),
      );
      return PENDING;
    } catch {
      return encodeError('E_INTERNAL', 'internal kernel error');
    }
  };

  #loadSuperjson(): Promise<string> {
    const { isolate } = this;
    const context = this.#context;
    if (context === undefined) return Promise.resolve(encodeError('E_INTERNAL', 'internal kernel error'));
    this.#superjson ??= loadSuperjson(isolate, context);
    return this.#superjson.then(
      () => 'v',
      () => encodeError('E_INTERNAL', 'internal kernel error'),
    );
  }

  #deliverReply(id: number, reply: string): void {
    if (this.#ended || this.#deliver === undefined) return;
    try {
      this.#deliver.applyIgnored(undefined, [id, reply]);
    } catch {
      // The isolate went away between the check and the call; the agent has ended either way.
    }
  }

  readonly #done = (reply: unknown): void => {
    if (this.#ended) return;
    // The result's shape decides the time its decoding takes: the agent's work (red-team pass 118: ten children
    // returning 320,000 empty arrays each held the kernel's loop 2-3 s, charged to nobody).
    const started = performance.now();
    const outcome = toSandboxOutcome(decodeOutcome(reply, this.#spec.maxPayloadBytes));
    const ms = performance.now() - started;
    this.#finish(outcome);
    this.#spec.hooks.decoded(ms);
  };

  #fail(code: ErrorCode, message: string): void {
    this.#finish({ ok: false, error: { code, message } });
  }

  #finish(outcome: SandboxOutcome): void {
    // A limit, a kill or a catastrophe while a clean end waits for its isolate (below): it is running, so dispose
    // of it now, as the watchdog would have; the host is retired (review of pass 72's fix).
    if (this.#ended) {
      this.#graceOver?.(true);
      return;
    }
    this.#ended = true;
    this.#spec.hooks.ended();
    const grace = this.#spec.confirmIdleMs;
    const context = this.#context;
    if (grace === undefined || context === undefined || !endedClean(outcome)) {
      this.#release(outcome, false);
      return;
    }
    // A task queued now runs once the isolate's thread is done with what it runs (the agent's last promise
    // reactions, replies delivered before its end). No agent code can be queued after it: nothing is delivered to
    // an ended agent, and the one way V8 posts agent code by itself, FinalizationRegistry, is not in the guest.
    // Meanwhile the watchdog still watches it (see above).
    const over = (stillRunning: boolean): void => {
      if (this.#graceOver !== over) return;
      this.#graceOver = undefined;
      clearTimeout(timer);
      this.#release(outcome, stillRunning);
    };
    this.#graceOver = over;
    const timer = setTimeout(() => over(true), grace);
    context.eval('0').then(
      () => over(false),
      () => over(true),
    );
  }

  #release(outcome: SandboxOutcome, stillRunning: boolean): void {
    let cpuMs = 0;
    let heapPeak = 0;
    const isolate = this.#isolate;
    if (isolate !== undefined) {
      const { peak, ownPeak, unread, offHeap } = this.#spec.watchdog.remove(this);
      heapPeak = this.#memoryEstimated ? peak : ownPeak;
      try {
        cpuMs = Number(isolate.cpuTime) / 1e6;
      } catch {}
      this.#realm?.dispose(unread, offHeap);
      this.#spec.hooks.cpu(cpuMs);
    }
    this.#resolve({
      outcome,
      usage: {
        cpu_ms: round(cpuMs),
        wall_ms: round(performance.now() - this.#startedAt),
        heap_peak_mb: round(heapPeak / (1024 * 1024)),
      },
      stillRunning,
      memoryEstimated: this.#memoryEstimated,
    });
  }
}

function toSandboxOutcome(reported: GuestOutcome | KernelErrorInfo): SandboxOutcome {
  if ('code' in reported) return { ok: false, error: reported };
  switch (reported.kind) {
    case 'value':
      return { ok: true, value: reported.value };
    case 'thrown':
      return { ok: false, error: { code: 'E_AGENT_FAILED', message: reported.message } };
    case 'no-main':
      return { ok: false, error: { code: 'E_BAD_CODE', message: 'the module has no default export function' } };
    default:
      return { ok: false, error: { code: 'E_INTERNAL', message: 'internal kernel error' } };
  }
}

/** isolated-vm's fixed sentence for a thrown object that is not an Error (it names the host library). */
const NON_ERROR_THROWN = 'An object was thrown from supplied code within isolated-vm';

/**
 * The text of a value the agent's top-level code threw, as isolated-vm copied it out, by the prelude's
 * rules for main: the agent's own message (a thrown primitive is its own text), cut to 1000 characters.
 */
function thrownMessage(error: unknown): string {
  if (error instanceof Error) {
    const message = String(error.message);
    return message.startsWith(NON_ERROR_THROWN) ? 'agent threw a non-error value' : message.slice(0, 1000);
  }
  return error === undefined ? 'agent threw a non-error value' : String(error).slice(0, 1000);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

// The code check parses the module without building its regexp literals, so V8 is the first to read their
// patterns, and its SyntaxError is what the agent's author needs ("Invalid regular expression: /(/: Unterminated
// group"). isolated-vm appends the position as " [filename:line:column]", and the filename may be a host path (the
// CLI passes the agent file's): that suffix, matched on the exact filename, becomes "(line:column)", as the code
// check writes positions. Anything else stays unexplained.
function compileMessage(error: unknown, filename: string): string {
  if (!(error instanceof SyntaxError)) return 'the module does not compile';
  const at = error.message.lastIndexOf(` [${filename}:`);
  const where = at === -1 ? null : /^(\d+):(\d+)\]$/.exec(error.message.slice(at + filename.length + 3));
  if (where === null) return 'the module does not compile';
  return `syntax error: ${error.message.slice(0, Math.min(at, 250))} (${where[1]}:${where[2]})`;
}
