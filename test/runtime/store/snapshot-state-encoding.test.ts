import fc from 'fast-check';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { serializeState } from '../../../runtime/store/snapshot-state-encoding.js';
import { decodeSnapshotWire } from '../../../syscalls/snapshot-wire.js';

// Keys that exercise superjson's path syntax and a JS object's key order (array indices first).
const oddKey = fc.constantFrom(
  'a.b',
  'a\\b',
  '\\.',
  '.',
  '',
  '0',
  '7',
  '01',
  '-1',
  '1.5',
  '4294967294',
  '4294967295',
  'x.0',
  'cause',
);
const key = fc.oneof(fc.string({ maxLength: 5 }), oddKey);
const forbiddenKey = fc.constantFrom('__proto__', 'constructor', 'prototype');

// Defined, not assigned, as the decoder does: a `__proto__` key stays an own data property.
const objectOf = (entries: readonly (readonly [string, unknown])[]): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
};

const TYPED = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array] as const;

// Fresh objects at every use (a shared instance is not something the decoder builds). Without `nanInFloats`, float
// arrays hold only what survives JSON (NaN and ±Infinity come back as 0, a Float32Array overflows past 3e38).
const leaf = (options: { invalidDates: boolean; nanInFloats: boolean }) =>
  fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.double(),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt({ min: -2n, max: 2n }),
    fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }),
    fc.date({ noInvalidDate: !options.invalidDates }).map((date) => new Date(date.getTime())),
    fc.constantFrom(['a.b', 'gi'], ['x', ''], ['[\\]/]+', 'u']).map(([source, flags]) => new RegExp(source, flags)),
    fc.constantFrom('https://example.com/a?b=c#d', 'http://x/', 'file:///tmp/a.b').map((href) => new URL(href)),
    fc
      .tuple(fc.constantFrom(...TYPED), fc.array(fc.integer({ min: 0, max: 127 }), { maxLength: 6 }))
      .map(([Ctor, items]) => new Ctor(items)),
    fc
      .array(options.nanInFloats ? fc.double() : fc.double({ min: -1e30, max: 1e30, noNaN: true }), { maxLength: 4 })
      .map((items) => (items.length % 2 === 0 ? new Float64Array(items) : new Float32Array(items))),
  );

const arbitraryState = (options: { invalidDates: boolean; nanInFloats: boolean; forbidden: boolean }) =>
  fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf(options),
      fc.array(tie('value'), { maxLength: 4 }),
      fc
        .array(fc.tuple(options.forbidden ? fc.oneof(key, forbiddenKey) : key, tie('value')), { maxLength: 4 })
        .map(objectOf),
      fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
      fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
      fc
        .tuple(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), fc.option(tie('value'), { nil: undefined }))
        .map(([name, message, cause]) => {
          const error = cause === undefined ? new Error(message) : new Error(message, { cause });
          error.name = name;
          return error;
        }),
    ),
  })).value;

// superjson's result or its refusal, and serializeState's; both refuse the same values.
function expectSame(value: unknown): void {
  let expected: ReturnType<typeof superjson.serialize>;
  try {
    expected = superjson.serialize(value);
  } catch {
    expect(() => serializeState(value)).toThrow();
    return;
  }
  const actual = serializeState(value);
  expect(actual).toStrictEqual(expected);
  expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
}

// The value at a superjson path of a state (through Maps' entries, Sets' members, Errors' fields).
function valueAt(state: unknown, path: string): unknown {
  let at: unknown = state;
  // Never the root's path: "" is the path of a key "" of the root.
  for (const raw of splitPath(path)) {
    if (at instanceof Map) at = [...at.entries()];
    else if (at instanceof Set) at = [...at.values()];
    else if (at instanceof Error) at = { name: at.name, message: at.message, cause: at.cause };
    at = (at as Record<string, unknown>)[raw];
  }
  return at;
}

function splitPath(path: string): string[] {
  const out: string[] = [];
  let segment = '';
  for (let i = 0; i < path.length; i++) {
    const char = path[i];
    if (char === '\\') segment += path[++i];
    else if (char === '.') {
      out.push(segment);
      segment = '';
    } else segment += char;
  }
  out.push(segment);
  return out;
}

describe('serializeState', () => {
  it('returns what superjson.serialize returns, for values of every type the snapshot decoder builds', () => {
    fc.assert(fc.property(arbitraryState({ invalidDates: true, nanInFloats: true, forbidden: false }), expectSame), {
      numRuns: 1500,
    });
  });

  it('matches superjson on a value reached twice, at two depths', () => {
    const state = arbitraryState({ invalidDates: true, nanInFloats: true, forbidden: false });
    fc.assert(
      fc.property(state, (value) => expectSame([value, { again: [value] }])),
      { numRuns: 300 },
    );
  });

  it('refuses what superjson refuses (a __proto__, constructor or prototype key, at any depth)', () => {
    fc.assert(fc.property(arbitraryState({ invalidDates: true, nanInFloats: true, forbidden: true }), expectSame), {
      numRuns: 500,
    });
    const proto = objectOf([['__proto__', 1]]);
    expect(() => superjson.serialize({ a: [proto] })).toThrow();
    expect(() => serializeState({ a: [proto] })).toThrow();
    expect(() => serializeState(new Map([[1, { deep: objectOf([['constructor', 1]]) }]]))).toThrow();
  });

  it('matches superjson on named cases', () => {
    const cases: unknown[] = [
      undefined,
      null,
      1n,
      Number.NaN,
      -0,
      'x',
      [],
      {},
      new Set(),
      new Map(),
      new Date(Number.NaN),
      { d: new Date(Number.NaN) },
      new Error('bare'),
      new Error('with a cause', { cause: { at: [1n, undefined] } }),
      { a: 1n, b: [1n, Number.NaN, Number.NaN], c: new Map<unknown, unknown>([[{ x: 1n }, 2n]]) },
      // The index key is listed before the flattened path in superjson's intermediate object: "1", then "0.a".
      [{ a: 1n }, 2n],
      { 'a.b': { 'c\\d': [undefined, new Error('m', { cause: 3n })] }, 5: new URL('http://x/'), z: /a\/b/gi },
      new Set([new Date(0), new Date(1), { 'k.': [Number.POSITIVE_INFINITY] }]),
      new Map<unknown, unknown>([
        [new Map([[1n, new Set([Number.NaN])]]), { '01': -0, '1': 1n }],
        [[1n], new Uint16Array([1, 2])],
      ]),
      [[[[1n]]], { 4294967295: 1n, 4294967294: 2n, '01': 3n, '-1': 4n }],
      { x: { 3: { y: 1n }, 2: 2n, b: { 0: 3n } } },
    ];
    for (const value of cases) expectSame(value);
  });

  it('lists no referential equality of objects for a decoded state: only repeated bigints and NaNs', () => {
    fc.assert(
      fc.property(arbitraryState({ invalidDates: false, nanInFloats: false, forbidden: false }), (value) => {
        const wire = JSON.parse(JSON.stringify(superjson.serialize(value)));
        const decoded = decodeSnapshotWire(wire, 1 << 30);
        if (!decoded.ok) throw new Error(decoded.message);
        const form = serializeState(decoded.value);
        // The decoder's state re-encodes to the form it was decoded from, key order included.
        expect(JSON.stringify(form)).toBe(JSON.stringify(wire));
        const equalities = (form.meta?.referentialEqualities ?? {}) as Record<string, string[]>;
        expect(Array.isArray(equalities)).toBe(false);
        for (const [representative, others] of Object.entries(equalities)) {
          for (const path of [representative, ...others]) {
            const at = valueAt(decoded.value, path);
            expect(typeof at === 'bigint' || Number.isNaN(at)).toBe(true);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('writes a shared value as superjson does (the same JSON again, and an equality), and refuses a cycle', () => {
    const shared = { z: 1n, y: { '0': [Number.NaN], 'a.b': new Date(0) } };
    const map = new Map([[1, shared]]);
    const date = new Date(5);
    for (const value of [
      { p: shared, q: shared },
      [shared, [shared], map, { m: map }],
      new Set([shared, { inner: shared }]),
      { d: date, e: [date], f: new Error('x', { cause: date }) },
    ]) {
      expectSame(value);
    }
    const cyclic: unknown[] = [];
    cyclic.push([cyclic]);
    expect(() => serializeState(cyclic)).toThrow(TypeError);
    const inner: Record<string, unknown> = {};
    inner['self'] = { again: inner };
    expect(() => serializeState({ inner })).toThrow(TypeError);
    expect(() => serializeState({ f: () => 1 })).toThrow(TypeError);
    expect(() => serializeState([Symbol('s')])).toThrow(TypeError);
    expect(() => serializeState(new (class Point {})())).toThrow(TypeError);
  });

  it('refuses, quickly, a long key above many repeated bigints (equality paths that would take gigabytes)', () => {
    // 100 KB of key and 2000 entries: well inside the payload cap, 200 million characters of equality paths.
    const state = { ['k'.repeat(100_000)]: new Map(Array.from({ length: 2000 }, (_, i) => [i, 1n])) };
    const started = performance.now();
    expect(() => serializeState(state)).toThrow(RangeError);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('matches superjson on a state 250 deep with repeated bigints at its leaves (no recursion)', () => {
    let spine: unknown = Array.from({ length: 300 }, () => {
      let chain: unknown = 1n;
      for (let d = 0; d < 25; d++) chain = [chain];
      return chain;
    });
    for (let d = 0; d < 225; d++) spine = { 'k.': spine };
    expectSame({ s: spine });
  });
});
