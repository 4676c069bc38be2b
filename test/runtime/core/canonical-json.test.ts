import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, jsonQuote } from '../../../runtime/core/canonical-json.js';

// JSON values without -0 at any depth (JSON has no -0; both encoders write 0): what canonicalJson keeps exactly.
const jsonValue = fc.jsonValue().map((value) => JSON.parse(JSON.stringify(value)) as unknown);

function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((item, i) => shuffleKeys(item, seed + i));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  const rotated = entries.slice(seed % (entries.length || 1)).concat(entries.slice(0, seed % (entries.length || 1)));
  return Object.fromEntries(rotated.reverse().map(([key, item]) => [key, shuffleKeys(item, seed + 1)]));
}

describe('canonicalJson', () => {
  it('property: parses back to the value it encoded', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(value);
      }),
    );
  });

  it('property: the same value with keys in another order encodes to the same string', () => {
    fc.assert(
      fc.property(jsonValue, fc.nat(50), (value, seed) => {
        expect(canonicalJson(shuffleKeys(value, seed))).toBe(canonicalJson(value));
      }),
    );
  });

  it('property: equals a plain reference encoder (sorted keys, JSON.stringify for the leaves)', () => {
    const reference = (value: unknown): string => {
      if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
      if (value === null || typeof value !== 'object') return JSON.stringify(value);
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${reference(record[key])}`).join(',')}}`;
    };
    fc.assert(
      fc.property(jsonValue, (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
    );
  });

  it('property: sorts keys as Array#sort does, for few keys (insertion sort) and many (builtin sort)', () => {
    // Keys mixing astral characters (surrogate pairs sort below U+E000..U+FFFF by code unit, above by code
    // point), lone surrogates and integer-like keys (which Object.keys lists first, in numeric order).
    const key = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 4 }),
      fc.nat(1000).map(String),
      fc.constantFrom('\uffff', '\u{10000}', 'é', 'e'),
    );
    fc.assert(
      fc.property(fc.uniqueArray(key, { maxLength: 40 }), (keys) => {
        const value = Object.fromEntries(keys.map((k, i) => [k, i]));
        const sorted = Object.keys(value).sort();
        const expected = `{${sorted.map((k) => `${JSON.stringify(k)}:${value[k]}`).join(',')}}`;
        expect(canonicalJson(value)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('drops undefined properties and sorts by UTF-16 code units', () => {
    expect(canonicalJson({ b: 1, a: undefined, A: 2, é: 3, z: [true, null] })).toBe(
      '{"A":2,"b":1,"z":[true,null],"é":3}',
    );
  });

  it('encodes -0 as 0, like JSON', () => {
    expect(canonicalJson({ n: -0 })).toBe('{"n":0}');
  });

  it('throws TypeError for values with no canonical form', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const deepCycle: Record<string, unknown> = { a: { b: {} } };
    (deepCycle['a'] as { b: Record<string, unknown> }).b['back'] = deepCycle['a'];
    const arrayCycle: unknown[] = [];
    arrayCycle.push([arrayCycle]);
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      10n,
      () => 1,
      Symbol('s'),
      new Date(0),
      new Map(),
      cyclic,
      deepCycle,
      arrayCycle,
      [1, undefined],
      // biome-ignore lint/suspicious/noSparseArray: a hole has no JSON form of its own.
      [, 1],
    ]) {
      expect(() => canonicalJson(bad), String(bad)).toThrow(TypeError);
    }
  });

  it('encodes a value reached twice without a cycle (shared, not cyclic)', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: [shared, shared] })).toBe('{"a":{"x":1},"b":[{"x":1},{"x":1}]}');
  });

  it('accepts objects without a prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare['k'] = 'v';
    expect(canonicalJson(bare)).toBe('{"k":"v"}');
  });
});

describe('jsonQuote', () => {
  it('property: equals JSON.stringify for every string (lone surrogates and control characters included)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(jsonQuote(text)).toBe(JSON.stringify(text));
      }),
    );
  });
});
