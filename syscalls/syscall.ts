import type { z } from 'zod';
import type { AgentSession } from '../runtime/agent.js';

/**
 * One syscall: the zod schema of its argument array and its handler. The handler receives the caller's
 * session (bound to the isolate the call arrived on) and arguments that have already passed the schema.
 * It may return a value or a promise; throwing a KernelError reports that code, anything else E_INTERNAL.
 */
export interface Syscall<Args = unknown> {
  readonly name: string;
  readonly args: z.ZodType<Args>;
  run(session: AgentSession, args: Args): unknown;
}

/** Declares a syscall; the generic ties the handler's argument type to its schema. */
export function defineSyscall<Args>(spec: Syscall<Args>): Syscall<Args> {
  return Object.freeze({ ...spec });
}

/** Calls `onValue` with the result of `value`, synchronously when it is not a promise. */
export function whenSettled<T, R>(
  value: T | PromiseLike<T>,
  onValue: (v: T) => R,
  onError: (e: unknown) => R,
): R | Promise<R> {
  if (value !== null && typeof value === 'object' && typeof (value as PromiseLike<T>).then === 'function') {
    return Promise.resolve(value as PromiseLike<T>).then(onValue, onError);
  }
  return onValue(value as T);
}
