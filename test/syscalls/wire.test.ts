import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePayload, encodeError, encodeValue, MAX_DEPTH } from '../../syscalls/wire.js';

const CAP = 1024 * 1024;

describe('decodePayload', () => {
  it('with uniqueKeys, refuses text that names a key twice, wherever it is, and nothing an encoder writes', () => {
    for (const text of ['{"a":1,"a":2}', '[1,{"x":{"2302":0,"2302":1}}]', '{"a":{"b":1,"b":1}}']) {
      expect(decodePayload(text, CAP, true)).toEqual({ ok: false, message: 'payload names a key twice' });
      expect(decodePayload(text, CAP).ok).toBe(true);
    }
    fc.assert(
      // What an encoder writes is decided alike with and without the check (a `__proto__` key is refused either way).
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        expect(decodePayload(text, CAP, true)).toEqual(decodePayload(text, CAP));
      }),
      { numRuns: 2000 },
    );
    // Colons and quotes inside strings and keys are not members; key order and number spellings are left alone.
    const tricky = `${JSON.stringify({ 'a:"': 'b":c\\', n: [':'] }).slice(0, -1)},"2":1e2}`;
    expect(decodePayload(tricky, CAP, true).ok).toBe(true);
  });

  it('refuses non-strings without looking inside them', () => {
    for (const value of [1, null, undefined, {}, [], new Uint8Array(4)]) {
      expect(decodePayload(value, CAP)).toEqual({ ok: false, message: 'payload is not a string' });
    }
  });

  it('enforces the byte cap in UTF-8 bytes, not characters', () => {
    const ascii = JSON.stringify('a'.repeat(100));
    expect(decodePayload(ascii, 102).ok).toBe(true);
    expect(decodePayload(ascii, 101).ok).toBe(false);
    // 40 three-byte characters: 42 UTF-16 units with quotes, 122 bytes.
    const wide = JSON.stringify('€'.repeat(40));
    expect(decodePayload(wide, 100)).toEqual({ ok: false, message: 'payload exceeds 100 bytes' });
  });

  it('refuses invalid JSON', () => {
    expect(decodePayload('{', CAP)).toEqual({ ok: false, message: 'payload is not valid JSON' });
  });

  it('refuses nesting deeper than MAX_DEPTH and accepts exactly that depth', () => {
    const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
    expect(decodePayload(nest(MAX_DEPTH), CAP).ok).toBe(true);
    expect(decodePayload(nest(MAX_DEPTH + 1), CAP)).toEqual({
      ok: false,
      message: `payload nests deeper than ${MAX_DEPTH}`,
    });
    expect(decodePayload(nest(100_000), 1_000_000).ok).toBe(false);
  });

  it('refuses __proto__ keys at any depth and cannot pollute', () => {
    expect(decodePayload('{"__proto__":{"polluted":1}}', CAP).ok).toBe(false);
    expect(decodePayload('[{"a":{"__proto__":{"polluted":1}}}]', CAP).ok).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps constructor keys as plain data that cannot reach a prototype', () => {
    const decoded = decodePayload('{"constructor":{"prototype":{"x":1}},"a":[{"b":2}]}', CAP);
    if (!decoded.ok) throw new Error('expected ok');
    const value = decoded.value as Record<string, unknown>;
    expect(Object.hasOwn(value, 'constructor')).toBe(true);
    const copy = Object.assign({}, value);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.prototype).not.toHaveProperty('x');
  });

  it('round-trips any JSON value (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const decoded = decodePayload(JSON.stringify(value), CAP);
        if (!decoded.ok) return JSON.stringify(value).includes('"__proto__"');
        return JSON.stringify(decoded.value) === JSON.stringify(value);
      }),
    );
  });
});

describe('replies', () => {
  it('encodes values and errors in the prelude wire format', () => {
    expect(encodeValue(undefined)).toBe('v');
    expect(encodeValue({ a: 1 })).toBe('v{"a":1}');
    expect(encodeError('E_NO_TOOL', 'no such tool')).toBe('e["E_NO_TOOL","no such tool"]');
    expect(() => encodeValue(10n)).toThrow(TypeError);
  });
});
