/**
 * The one measure of payload size: UTF-8 bytes. Every cap named in bytes (`maxPayloadBytes`, the agent
 * source cap) is checked here, whichever direction the data travels, so a name that says bytes never
 * counts UTF-16 units (a string of 3-byte characters is three times longer on the wire than its
 * `.length`).
 */

/**
 * Host misuse by size: a request's payload past `maxPayloadBytes`. A RangeError like any other (its name too),
 * typed so a host that relays a client's data (the MCP server's `execute`) can answer the client without
 * matching a message.
 */
export class PayloadTooLargeError extends RangeError {}

/** The UTF-8 length of `text` in bytes; a lone surrogate counts as the 3 bytes of U+FFFD it encodes to. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * True when `text` is at most `maxBytes` bytes of UTF-8. A UTF-16 unit encodes to 1 to 3 bytes (a
 * surrogate pair to 4, i.e. 2 per unit), so most texts are decided by `.length` alone and only the
 * ones in between are counted.
 */
export function fitsBytes(text: string, maxBytes: number): boolean {
  if (text.length > maxBytes) return false;
  if (text.length * 3 <= maxBytes) return true;
  return utf8Length(text) <= maxBytes;
}

/**
 * The JSON text of `value` (`null` for undefined) when it has one and it fits in `maxBytes`; otherwise
 * why not. Never throws: a getter that throws is `'unserializable'`, a cycle `'too-large'`.
 */
export function jsonWithin(
  value: unknown,
  maxBytes: number,
): { ok: true; json: string } | { ok: false; reason: 'unserializable' | 'too-large' } {
  // A value the kernel assembled (handles substituted into arguments) can repeat one large value thousands
  // of times: a bounded walk refuses it before the host builds gigabytes of text only to measure them.
  // A cycle expands without end, so it is too large too.
  let json: string | undefined;
  try {
    // Exact, not a lower bound: a handle of long numbers named many times passed a lower bound at a twelfth of
    // its text, which was then built whole before it was refused (a review of pass 54's fix).
    if (jsonBytesUpTo(value, maxBytes) > maxBytes) return { ok: false, reason: 'too-large' };
    json = JSON.stringify(value ?? null);
  } catch {
    json = undefined;
  }
  if (json === undefined) return { ok: false, reason: 'unserializable' };
  return fitsBytes(json, maxBytes) ? { ok: true, json } : { ok: false, reason: 'too-large' };
}

/**
 * A lower bound on the length of `value`'s JSON text (strings and keys by their length plus quotes, numbers
 * and literals one character or more, separators), walked as a tree and returned as soon as it exceeds
 * `stopAbove`. A getter that throws throws here too.
 */
export function jsonLengthAtLeast(value: unknown, stopAbove: number): number {
  let total = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string') {
      total += item.length + 2;
    } else if (Array.isArray(item)) {
      total += 1 + item.length;
      if (total > stopAbove) return total;
      for (const each of item) pending.push(each);
    } else if (item !== null && typeof item === 'object') {
      total += 2;
      for (const key of Object.keys(item)) {
        const entry = (item as Record<string, unknown>)[key];
        // JSON leaves these properties out: counting them would refuse values that fit.
        if (entry === undefined || typeof entry === 'function' || typeof entry === 'symbol') continue;
        total += key.length + 3;
        pending.push(entry);
      }
    } else {
      total += 1;
    }
    if (total > stopAbove) return total;
  }
  return total;
}

/**
 * The length in UTF-8 bytes of `JSON.stringify(value)` for JSON data (strings, finite and non-finite numbers,
 * booleans, null, arrays, plain objects; `toJSON` is not consulted), walked as a tree and returned as soon as it
 * exceeds `stopAbove`. Exact where `jsonLengthAtLeast` is a lower bound (a number counted 1 where its text is up to
 * 25 characters let a handle of numbers named many times pass as a twelfth of its size, red-team pass 54). Each
 * distinct string is encoded once. A getter that throws throws here too.
 */
export function jsonBytesUpTo(value: unknown, stopAbove: number): number {
  const strings = new Map<string, number>();
  const stringBytes = (text: string): number => {
    let bytes = strings.get(text);
    if (bytes === undefined) {
      bytes = Buffer.byteLength(JSON.stringify(text), 'utf8');
      strings.set(text, bytes);
    }
    return bytes;
  };
  let total = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string') {
      total += stringBytes(item);
    } else if (typeof item === 'number') {
      total += Number.isFinite(item) ? String(item).length : 4;
    } else if (typeof item === 'boolean') {
      total += item ? 4 : 5;
    } else if (Array.isArray(item)) {
      total += 2 + Math.max(0, item.length - 1);
      if (total > stopAbove) return total;
      for (const each of item) {
        // JSON writes what it cannot encode in an array as null.
        const encodable = each !== undefined && typeof each !== 'function' && typeof each !== 'symbol';
        pending.push(encodable ? each : null);
      }
    } else if (item !== null && typeof item === 'object') {
      let members = 0;
      for (const key of Object.keys(item)) {
        const entry = (item as Record<string, unknown>)[key];
        if (entry === undefined || typeof entry === 'function' || typeof entry === 'symbol') continue;
        total += stringBytes(key) + 1;
        members += 1;
        pending.push(entry);
      }
      total += 2 + Math.max(0, members - 1);
    } else {
      // null, and what JSON.stringify writes as null at the top (undefined answers no text: counted as null).
      total += 4;
    }
    if (total > stopAbove) return total;
  }
  return total;
}
