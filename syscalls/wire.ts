import type { ErrorCode } from '../runtime/core/errors.js';
import { fitsBytes } from '../runtime/core/payload-size.js';

/**
 * The syscall wire codec: the host half of the string boundary (the guest half is the prelude in isolates/).
 * Everything an agent sends arrives here as a string and leaves as checked JSON data; everything the kernel
 * sends back leaves as a string. Both isolation tiers use it: inline, the sandbox calls it directly; in a
 * sandbox host process, the same strings travel over IPC first.
 */

/** Nesting deeper than this is refused; deep structures exist only to attack recursive host code. */
export const MAX_DEPTH = 64;

export type DecodeResult = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * Parses a guest payload: checks it is a string within `maxBytes`, parses it as JSON (with `exact`, only the
 * text JSON.stringify gives back for the value, as the guest's encoder writes it), and walks the result
 * refusing `__proto__` keys and nesting deeper than MAX_DEPTH. JSON.parse only ever creates own data
 * properties, so once `__proto__` keys are refused no later copy of the value (Object.assign, zod records)
 * can reach a prototype; a `constructor` key is plain data. Never throws.
 */
export function decodePayload(payload: unknown, maxBytes: number, exact = false): DecodeResult {
  if (typeof payload !== 'string') return { ok: false, message: 'payload is not a string' };
  if (!fitsBytes(payload, maxBytes)) {
    return { ok: false, message: `payload exceeds ${maxBytes} bytes` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return { ok: false, message: 'payload is not valid JSON' };
  }
  if (exact && JSON.stringify(parsed) !== payload)
    return { ok: false, message: 'payload is not in the guest encoding' };
  const problem = inspect(parsed, 0);
  return problem === undefined ? { ok: true, value: parsed } : { ok: false, message: problem };
}

function inspect(value: unknown, depth: number): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (depth >= MAX_DEPTH) return `payload nests deeper than ${MAX_DEPTH}`;
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = inspect(item, depth + 1);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  for (const key in value) {
    if (key === '__proto__') return 'payload has a __proto__ key';
    const problem = inspect((value as Record<string, unknown>)[key], depth + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** A reply carrying a value. Throws TypeError if the value has no JSON form (a host tool bug). */
export function encodeValue(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? 'v' : `v${text}`;
}

/** A reply carrying an error; the message must already be safe to show to the agent. */
export function encodeError(code: ErrorCode, message: string): string {
  return `e${JSON.stringify([code, message])}`;
}

/** The pending marker: the reply will be delivered later. */
export const PENDING = '';
