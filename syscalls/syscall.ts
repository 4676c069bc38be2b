import type { z } from 'zod';
import type { AgentSession } from '../runtime/agent.js';
import type { Attempt } from '../runtime/audit-trail.js';

/**
 * One syscall: the zod schema of its argument array and its handler. The handler receives the caller's
 * session (bound to the isolate the call arrived on), arguments that have already passed the schema, and
 * the audit attempt: it must call `attempt.begin()` right before its effect (after `attempt.describe` when
 * it knows more than the syscall name). It may return a value or a promise; throwing a KernelError reports
 * that code, anything else E_INTERNAL.
 */
export interface Syscall<Args = unknown> {
  readonly name: string;
  readonly args: z.ZodType<Args>;
  /** Quota a successful call is charged, recorded in its audit outcome. */
  readonly charge?: Readonly<Record<string, number>>;
  run(session: AgentSession, args: Args, attempt: Attempt): unknown;
}

/** Declares a syscall; the generic ties the handler's argument type to its schema. */
export function defineSyscall<Args>(spec: Syscall<Args>): Syscall<Args> {
  return Object.freeze({ ...spec });
}
