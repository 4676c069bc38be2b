/**
 * Canonical JSON: object keys sorted by UTF-16 code unit order, no whitespace, no `undefined`, finite
 * numbers only. Two equal values always encode to the same string, so the encoding can be hashed and
 * signed. The one encoder for capability tokens, audit records (and the digest of their arguments) and
 * snapshots; the audit record writer's fixed field order is tested equal to it.
 *
 * Throws TypeError on values that have no canonical form (functions, symbols, bigints, non-finite numbers,
 * cycles, non-plain objects such as Dates or Maps).
 */
export function canonicalJson(value: unknown): string {
  return encode(value, undefined);
}

// Strings JSON.stringify leaves as they are between quotes: no quote, backslash, control character or
// surrogate (a lone surrogate is escaped; pairs are rare enough to take the slow path).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what must be excluded.
const NO_ESCAPES = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** `JSON.stringify(text)`, without its slower general path when nothing needs escaping. */
export function jsonQuote(text: string): string {
  return NO_ESCAPES.test(text) ? `"${text}"` : JSON.stringify(text);
}

// `seen` holds the objects on the path from the root; it is created only when a nested object is reached,
// so the common shape (a flat object of primitives, as most syscall arguments are) allocates no set.
function encode(value: unknown, seen: Set<object> | undefined): string {
  switch (typeof value) {
    case 'string':
      return jsonQuote(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      // For a finite number, its string form is its JSON form (-0 included: both give "0").
      return `${value}`;
    case 'object': {
      if (value === null) return 'null';
      if (seen !== undefined) {
        if (seen.has(value)) throw new TypeError('canonicalJson: cyclic value');
        seen.add(value);
      }
      const out = Array.isArray(value) ? encodeArray(value, seen) : encodeObject(value, seen);
      seen?.delete(value);
      return out;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}

// Strings, the common leaf, are quoted here without a second dispatch.
function encodeChild(child: unknown, parent: object, seen: Set<object> | undefined): string {
  if (typeof child === 'string') return jsonQuote(child);
  return typeof child === 'object' && child !== null ? encode(child, seen ?? new Set([parent])) : encode(child, seen);
}

function encodeArray(array: readonly unknown[], seen: Set<object> | undefined): string {
  let out = '[';
  for (let i = 0; i < array.length; i += 1) out += `${i === 0 ? '' : ','}${encodeChild(array[i], array, seen)}`;
  return `${out}]`;
}

/**
 * Sorts distinct strings in place by UTF-16 code unit, the order `Array#sort()` gives strings, and returns them.
 * Insertion sort below 16: object keys are a handful (syscall arguments, a record's usage), and the builtin
 * sort's fixed cost (≈ 80 ns for two keys) was a fifth of encoding them for an audit intent's digest.
 */
export function sortKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i += 1) {
    const key = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > key; j -= 1) keys[j + 1] = keys[j]!;
    keys[j + 1] = key;
  }
  return keys;
}

// Reads each key once to drop undefined and once more to encode it, after sorting, whatever the value.
function encodeObject(value: object, seen: Set<object> | undefined): string {
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw new TypeError('canonicalJson: not a plain object');
  const record = value as Record<string, unknown>;
  const all = Object.keys(record);
  let keys = all;
  for (let i = 0; i < all.length; i += 1) {
    if (record[all[i]!] === undefined) {
      keys = all.slice(0, i);
      for (let j = i + 1; j < all.length; j += 1) if (record[all[j]!] !== undefined) keys.push(all[j]!);
      break;
    }
  }
  if (keys.length > 1) sortKeys(keys);
  let out = '{';
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i]!;
    out += `${i === 0 ? '' : ','}${jsonQuote(key)}:${encodeChild(record[key], record, seen)}`;
  }
  return `${out}}`;
}
