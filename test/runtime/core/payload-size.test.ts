import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../../index.js';
import {
  fitsBytes,
  jsonBytesUpTo,
  jsonLengthAtLeast,
  jsonWithin,
  utf8Length,
} from '../../../runtime/core/payload-size.js';
import { testKernel } from '../../helpers/kernel.js';

// 3 UTF-8 bytes, 1 UTF-16 unit: a text of these is three times longer on the wire than its .length.
const EURO = '€';

describe('fitsBytes', () => {
  it('agrees with the exact UTF-8 length for every string and cap (lone surrogates included)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), fc.nat(300), (text, max) => {
        expect(fitsBytes(text, max)).toBe(Buffer.byteLength(text, 'utf8') <= max);
      }),
    );
  });

  it('counts a 3-byte character as 3, not 1', () => {
    expect(utf8Length(EURO.repeat(10))).toBe(30);
    expect(fitsBytes(EURO.repeat(10), 29)).toBe(false);
    expect(fitsBytes(EURO.repeat(10), 30)).toBe(true);
  });
});

describe('jsonWithin', () => {
  it('returns the JSON text when it fits, measured in bytes', () => {
    expect(jsonWithin({ a: EURO }, 11)).toEqual({ ok: true, json: `{"a":"${EURO}"}` });
    expect(jsonWithin({ a: EURO }, 10)).toEqual({ ok: false, reason: 'too-large' });
  });

  it('encodes undefined as null', () => {
    expect(jsonWithin(undefined, 4)).toEqual({ ok: true, json: 'null' });
  });

  it('reports a value with no JSON form as unserializable, without throwing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    // A cycle is endless once expanded: refused by its size before anything is serialized.
    expect(jsonWithin(cyclic, 1000)).toEqual({ ok: false, reason: 'too-large' });
    expect(jsonWithin(10n, 1000)).toEqual({ ok: false, reason: 'unserializable' });
    const throwing = {
      get x() {
        throw new Error('getter');
      },
    };
    expect(jsonWithin(throwing, 1000)).toEqual({ ok: false, reason: 'unserializable' });
  });
});

describe('agent-facing caps count bytes', () => {
  const MAX = 4096;
  let kernel: Kernel;
  afterEach(async () => {
    await kernel?.close();
  });

  // A handle to 1000 '€' (3002 bytes as JSON, 1002 UTF-16 units): twice is 2007 units and 6007 bytes.
  const HANDLE = `const h = await sys.tool('echo', '${EURO}'.repeat(1000), { handle: true });`;

  async function codeOf(body: string): Promise<unknown> {
    kernel = testKernel({ maxPayloadBytes: MAX });
    kernel.programs.add('child', 'export default async (input) => typeof input');
    const result = await kernel.run({
      code: `export default async () => { ${HANDLE} try { ${body}; return 'accepted'; } catch (e) { return e.code; } }`,
    });
    return result.ok ? result.value : result.error.code;
  }

  it('sys.mem.put refuses a value over the cap in bytes once handles are substituted', async () => {
    expect(await codeOf(`await sys.mem.put('k', [h, h])`)).toBe('E_BAD_ARG');
  });

  it('sys.spawn refuses an input over the cap in bytes once handles are substituted', async () => {
    expect(await codeOf(`await sys.spawn({ program: 'child', input: [h, h] })`)).toBe('E_BAD_ARG');
  });

  it('sys.snapshot refuses a state over the cap in bytes once handles are substituted', async () => {
    expect(await codeOf(`await sys.snapshot({ a: h, b: h })`)).toBe('E_BAD_ARG');
  });

  it('a reply over the cap in bytes is refused (E_TOOL_FAILED)', async () => {
    expect(await codeOf(`await sys.tool('echo', [h, h])`)).toBe('E_TOOL_FAILED');
  });

  it('the same values within the cap are accepted (the measure, not the path, refuses them)', async () => {
    expect(await codeOf(`await sys.mem.put('k', [h]); await sys.snapshot({ a: h })`)).toBe('accepted');
  });
});

describe('jsonBytesUpTo', () => {
  it('property: the UTF-8 length of the JSON text of JSON data, or more than the bound once past it', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(2000), (value, bound) => {
        const exact = Buffer.byteLength(JSON.stringify(value), 'utf8');
        expect(jsonBytesUpTo(value, Number.POSITIVE_INFINITY)).toBe(exact);
        const measured = jsonBytesUpTo(value, bound);
        if (exact <= bound) expect(measured).toBe(exact);
        else expect(measured).toBeGreaterThan(bound);
      }),
      { numRuns: 1000 },
    );
  });

  it('counts what a lower bound would not: numbers, literals, escapes, lone surrogates, multibyte text', () => {
    for (const value of [
      [-Math.PI * 1e-300, 1e21, true, false, null],
      '\u0001"\\\n',
      '\ud800x',
      'é€😀',
      [undefined, () => 1],
      { a: undefined, b: 1 },
    ]) {
      expect(jsonBytesUpTo(value, Number.POSITIVE_INFINITY)).toBe(Buffer.byteLength(JSON.stringify(value), 'utf8'));
    }
    expect(jsonBytesUpTo([Number.NaN, Number.POSITIVE_INFINITY], Number.POSITIVE_INFINITY)).toBe('[null,null]'.length);
  });
});

describe('jsonLengthAtLeast', () => {
  it('property: the bound never exceeds the JSON text, so jsonWithin agrees with serializing', () => {
    fc.assert(
      fc.property(fc.anything({ withObjectString: true, withNullPrototype: true }), fc.nat(400), (value, max) => {
        let text: string | undefined;
        try {
          text = JSON.stringify(value ?? null);
        } catch {
          text = undefined;
        }
        if (text === undefined) return;
        expect(jsonLengthAtLeast(value, Number.POSITIVE_INFINITY)).toBeLessThanOrEqual(text.length);
        expect(jsonWithin(value, max).ok).toBe(utf8Length(text) <= max);
      }),
      { numRuns: 1000 },
    );
  });

  it('stops as soon as the bound passes the limit: a value repeated 10 000 times is refused without its text', () => {
    const big = Array.from({ length: 100_000 }, () => 'x'.repeat(10));
    const repeated = Array.from({ length: 10_000 }, () => big);
    // Serialized, this is 13 GB: V8 would throw (or the host run out of memory) long before a length compare.
    expect(jsonWithin(repeated, 1024 * 1024)).toEqual({ ok: false, reason: 'too-large' });
    expect(jsonLengthAtLeast(repeated, 1000)).toBeGreaterThan(1000);
  });
});
