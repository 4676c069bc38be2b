import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../../index.js';
import { expandedSizeExceeds, fitsBytes, jsonWithin, utf8Length } from '../../../runtime/core/payload-size.js';
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
    expect(jsonWithin(cyclic, 1000)).toEqual({ ok: false, reason: 'unserializable' });
    expect(jsonWithin(10n, 1000)).toEqual({ ok: false, reason: 'unserializable' });
    const throwing = {
      get x() {
        throw new Error('getter');
      },
    };
    expect(jsonWithin(throwing, 1000)).toEqual({ ok: false, reason: 'unserializable' });
  });
});

describe('expandedSizeExceeds', () => {
  it('counts strings in UTF-8 bytes plus their quotes', () => {
    // 100 three-byte characters: 302 bytes as a JSON string, 102 UTF-16 units.
    expect(expandedSizeExceeds(EURO.repeat(100), 301)).toBe(true);
    expect(expandedSizeExceeds(EURO.repeat(100), 302)).toBe(false);
  });

  it('counts a shared reference every time it is reached', () => {
    const shared = 'x'.repeat(100);
    const value = Array.from({ length: 20 }, () => shared);
    expect(expandedSizeExceeds(value, 2000)).toBe(true);
    expect(expandedSizeExceeds(value, 2100)).toBe(false);
  });

  it('walks Maps and Sets', () => {
    expect(expandedSizeExceeds(new Map([['k', 'x'.repeat(500)]]), 400)).toBe(true);
    expect(expandedSizeExceeds(new Set(['x'.repeat(500)]), 400)).toBe(true);
  });
});

// Every cap named in bytes, on every path an agent can reach, counts UTF-8 bytes: a handle of 3-byte text
// repeated in a value is small as a payload, within the cap in UTF-16 units and over it in bytes.
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
