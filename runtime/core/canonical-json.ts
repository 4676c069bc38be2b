/**
 * Canonical JSON: object keys sorted by UTF-16 code unit order, no whitespace, no `undefined`, finite
 * numbers only. Two equal values always encode to the same string, so the encoding can be hashed and
 * signed. Used for capability tokens, audit records and snapshots.
 *
 * Throws TypeError on values that have no canonical form (functions, symbols, bigints, non-finite numbers,
 * cycles, non-plain objects such as Dates or Maps).
 */
export function canonicalJson(value: unknown): string {
  return encode(value, new Set());
}

function encode(value: unknown, seen: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (seen.has(value)) throw new TypeError('canonicalJson: cyclic value');
      seen.add(value);
      let out: string;
      if (Array.isArray(value)) {
        out = `[${value.map((item) => encode(item, seen)).join(',')}]`;
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) throw new TypeError('canonicalJson: not a plain object');
        const record = value as Record<string, unknown>;
        const keys = Object.keys(record)
          .filter((key) => record[key] !== undefined)
          .sort();
        out = `{${keys.map((key) => `${JSON.stringify(key)}:${encode(record[key], seen)}`).join(',')}}`;
      }
      seen.delete(value);
      return out;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}
