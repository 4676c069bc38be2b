import type { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import type { AgentSession } from '../runtime/process/session.js';

/**
 * One syscall: the zod schema of its argument array and its handler. The handler receives the caller's
 * session (bound to the isolate the call arrived on), arguments that have already passed the schema, and
 * the audit attempt: it must call `attempt.begin()` right before its effect (after `attempt.describe` when
 * it knows more than the syscall name). It may return a value or a promise; throwing a KernelError reports
 * that code, anything else E_INTERNAL.
 */
export interface Syscall<Args = unknown> {
  /** The wire name, and the stub's place on `sys` (`mem.get` is `sys.mem.get`). */
  readonly name: string;
  /** How the guest calls it: the prelude builds the stub, and `sys.d.ts` declares it, from this. */
  readonly guest: GuestStub;
  readonly args: z.ZodType<Args>;
  /** Quota a successful call is charged, recorded in its audit outcome. */
  readonly charge?: Readonly<Record<string, number>>;
  run(session: AgentSession, args: Args, attempt: Attempt): unknown;
}

/** The guest side of a syscall. */
export interface GuestStub {
  /**
   * Parameter names in order. The stub sends exactly this many arguments, an absent one as null, so every
   * syscall's argument tuple has a fixed length; one name starting with `...` sends the arguments as given.
   */
  readonly params: readonly string[];
  /** The TypeScript signature of the stub (parameters and return type), for `sys.d.ts`. */
  readonly type: string;
  /** One sentence for `sys.d.ts`. */
  readonly doc: string;
  /**
   * `superjson-argument`: the prelude sends the first argument in superjson's form (Dates, Maps, BigInts
   * survive); `superjson-result`: it decodes the reply from that form. Absent: plain JSON both ways.
   */
  readonly encoding?: 'superjson-argument' | 'superjson-result';
  /**
   * Not on `sys`: the plumbing of a guest global (timers, console, crypto) that the prelude's parts call.
   * It is decoded, authorized and audited like every syscall; it is only left out of the agent's API.
   */
  readonly internal?: true;
}

/** Declares a syscall; the generic ties the handler's argument type to its schema. */
export function defineSyscall<Args>(spec: Syscall<Args>): Syscall<Args> {
  return Object.freeze({ ...spec });
}
