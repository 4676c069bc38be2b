import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quantile } from '../../bench/report.js';

describe('quantile', () => {
  it('lies between the smallest and largest sample and never decreases with q', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 50 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (samples, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(quantile(samples, low)).toBeGreaterThanOrEqual(Math.min(...samples));
          expect(quantile(samples, high)).toBeLessThanOrEqual(Math.max(...samples));
          expect(quantile(samples, low)).toBeLessThanOrEqual(quantile(samples, high));
        },
      ),
    );
  });

  it('is the median at 0.5 and interpolates between ranks', () => {
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([10, 20], 0.99)).toBeCloseTo(19.9);
    expect(quantile([], 0.5)).toBeNaN();
  });
});
