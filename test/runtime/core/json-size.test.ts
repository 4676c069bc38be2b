import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fitsJson, jsonLengthAtLeast } from '../../../runtime/core/json-size.js';

describe('json size', () => {
  it('property: the bound never exceeds the JSON text, so fitsJson agrees with serializing', () => {
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
        expect(fitsJson(value, max)).toBe(text.length <= max);
      }),
      { numRuns: 1000 },
    );
  });

  it('stops as soon as the bound passes the limit: a repeated huge value is not walked again', () => {
    const big = Array.from({ length: 100_000 }, () => 'x'.repeat(10));
    const repeated = Array.from({ length: 10_000 }, () => big);
    const started = performance.now();
    expect(fitsJson(repeated, 1024 * 1024)).toBe(false);
    expect(jsonLengthAtLeast(repeated, 1000)).toBeGreaterThan(1000);
    // One pass over at most a million characters' worth, not 10 000 x 1.3 MB of text.
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
