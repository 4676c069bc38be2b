/**
 * Whether a value's JSON text fits `max` characters, decided without building text far larger than `max`.
 *
 * A value the kernel assembled (handles substituted into an agent's arguments) can repeat one large value
 * thousands of times: serializing it only to compare the length would make the host build gigabytes of JSON
 * (V8 gives up at 512 MiB, after the work). A tree walk first computes a lower bound on the text's length and
 * stops as soon as it passes `max`; only a value whose bound fits is serialized, and its text is then at most
 * a small multiple of `max` (escapes and long numbers are what the bound leaves out).
 */

/** True when `JSON.stringify(value ?? null)` is at most `max` characters. Never throws. */
export function fitsJson(value: unknown, max: number): boolean {
  if (jsonLengthAtLeast(value, max) > max) return false;
  try {
    return (JSON.stringify(value ?? null) ?? '').length <= max;
  } catch {
    return false;
  }
}

/**
 * A lower bound on the length of `value`'s JSON text (strings and keys by their length plus quotes, numbers
 * and literals one character or more, separators), walked as a tree and returned as soon as it exceeds
 * `stopAbove`. Never throws.
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
