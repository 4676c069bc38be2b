/**
 * The one measure of payload size: UTF-8 bytes. Every cap named in bytes (`maxPayloadBytes`, the agent
 * source cap) is checked here, whichever direction the data travels, so a name that says bytes never
 * counts UTF-16 units (a string of 3-byte characters is three times longer on the wire than its
 * `.length`).
 */

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
 * why not. Never throws: a getter that throws or a cycle is `'unserializable'`.
 */
export function jsonWithin(
  value: unknown,
  maxBytes: number,
): { ok: true; json: string } | { ok: false; reason: 'unserializable' | 'too-large' } {
  let json: string | undefined;
  try {
    json = JSON.stringify(value ?? null);
  } catch {
    json = undefined;
  }
  if (json === undefined) return { ok: false, reason: 'unserializable' };
  return fitsBytes(json, maxBytes) ? { ok: true, json } : { ok: false, reason: 'too-large' };
}

/**
 * True when `value`, walked as a tree (a shared reference counted each time it is reached, as an
 * encoder would write it out), is larger than `maxBytes`: strings by their UTF-8 length plus quotes,
 * every other node a flat 8. Maps, Sets and arrays are walked like objects. Stops as soon as it knows,
 * so it costs O(maxBytes) however large the value expands; used where handles or shared references
 * let a small payload stand for a huge value.
 */
export function expandedSizeExceeds(value: unknown, maxBytes: number): boolean {
  let size = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    size += typeof item === 'string' ? utf8Length(item) + 2 : 8;
    if (size > maxBytes) return true;
    if (item === null || typeof item !== 'object') continue;
    if (item instanceof Map) {
      for (const [key, entry] of item) pending.push(key, entry);
    } else if (item instanceof Set || Array.isArray(item)) {
      for (const entry of item) pending.push(entry);
    } else {
      for (const key of Object.keys(item)) pending.push(key, (item as Record<string, unknown>)[key]);
    }
  }
  return false;
}
