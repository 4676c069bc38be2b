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
 * Parses a guest payload: checks it is a string within `maxBytes`, parses it as JSON (with `uniqueKeys`, refusing
 * text that names a key twice in one object, which the guest's encoder never writes: see `membersIn`), and walks
 * the result
 * refusing `__proto__` keys and nesting deeper than MAX_DEPTH. JSON.parse only ever creates own data
 * properties, so once `__proto__` keys are refused no later copy of the value (Object.assign, zod records)
 * can reach a prototype; a `constructor` key is plain data. Never throws.
 */
export function decodePayload(payload: unknown, maxBytes: number, uniqueKeys = false): DecodeResult {
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
  const problem = inspect(parsed, 0);
  if (problem !== undefined) return { ok: false, message: problem };
  if (uniqueKeys && membersIn(payload) !== keysIn(parsed)) return { ok: false, message: 'payload names a key twice' };
  return { ok: true, value: parsed };
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

// Members the JSON text spells (each `:` outside a string starts one's value). Text written by a sandbox host, not
// by the guest encoder in this process, may name a key twice, and JSON.parse keeps one but sizes the object for
// every one it read: 86 spellings of one index key gave it 86 keys' elements, 28 times the held estimate (red-team
// pass 43). The text must have exactly as many members as the parsed value has keys. Key order and number or
// string spellings are left alone: they do not change what the value holds.
function membersIn(text: string): number {
  let members = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c) i++;
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x3a) {
      members++;
    }
  }
  return members;
}

// Keys of every object in a parsed value.
function keysIn(value: unknown): number {
  let keys = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (item === null || typeof item !== 'object') continue;
    if (Array.isArray(item)) {
      for (const each of item) pending.push(each);
      continue;
    }
    for (const key of Object.keys(item)) {
      keys++;
      pending.push((item as Record<string, unknown>)[key]);
    }
  }
  return keys;
}
