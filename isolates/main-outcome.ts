import type { KernelErrorInfo } from '../runtime/core/errors.js';
import { decodePayload } from '../syscalls/wire.js';

/**
 * How the guest reports the end of `main` (the prelude's `done` callback): the one message the isolates
 * layer decodes itself, with the syscall wire's payload rules.
 */

/** How the guest reported the end of `main`. */
export type GuestOutcome =
  | { kind: 'value'; value: unknown }
  | { kind: 'thrown'; message: string }
  | { kind: 'no-main' }
  | { kind: 'malformed' };

/** Decodes the guest's `done` report. Never throws; the value is rebuilt like any payload. */
export function decodeOutcome(reply: unknown, maxBytes: number): GuestOutcome | KernelErrorInfo {
  if (typeof reply !== 'string' || reply.length === 0) return { kind: 'malformed' };
  const tag = reply[0];
  if (tag === 'b') return { kind: 'no-main' };
  // A value past the cap: the prelude sends its length, not its text (the prelude's `limit`).
  if (tag === 'o') return { code: 'E_AGENT_FAILED', message: `result rejected: payload exceeds ${maxBytes} bytes` };
  if (tag === 'v') {
    if (reply.length === 1) return { kind: 'value', value: undefined };
    const decoded = decodePayload(reply.slice(1), maxBytes);
    if (!decoded.ok) return { code: 'E_AGENT_FAILED', message: `result rejected: ${decoded.message}` };
    return { kind: 'value', value: decoded.value };
  }
  if (tag === 'e') {
    const decoded = decodePayload(reply.slice(1), maxBytes);
    if (decoded.ok && typeof decoded.value === 'string') return { kind: 'thrown', message: decoded.value };
  }
  return { kind: 'malformed' };
}

/**
 * Ends an agent makes itself (a value, a throw, code that does not load): its isolate was not stopped by force.
 * Any other end may leave a thread in a built-in that ignores termination.
 */
export function endedClean(
  outcome: { readonly ok: true } | { readonly ok: false; readonly error: KernelErrorInfo },
): boolean {
  return outcome.ok || outcome.error.code === 'E_AGENT_FAILED' || outcome.error.code === 'E_BAD_CODE';
}
