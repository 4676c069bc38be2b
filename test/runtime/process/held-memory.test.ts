import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../runtime/core/errors.js';
import { jsonLengthAtLeast } from '../../../runtime/core/payload-size.js';
import { estimateBytes, HeldMemory, HeldMemoryPool } from '../../../runtime/process/held-memory.js';

describe('HeldMemoryPool and HeldMemory', () => {
  it('an agent holds up to its limit; crossing it ends the agent and holds nothing', () => {
    const pool = new HeldMemoryPool(1000);
    const ended: string[] = [];
    const agent = new HeldMemory(pool, 100, () => ended.push('ended'));
    agent.hold(60);
    expect(() => agent.hold(50)).toThrow(
      expect.objectContaining({ code: 'E_QUOTA', message: 'quota exceeded: memory_mb' }),
    );
    expect(ended).toEqual(['ended']);
    expect([agent.held, pool.used]).toEqual([60, 60]);
  });

  it('the pool bounds every agent together and refuses without ending anyone; an ended agent gives all back', () => {
    const pool = new HeldMemoryPool(100);
    const ended: string[] = [];
    const a = new HeldMemory(pool, 80, () => ended.push('a'));
    const b = new HeldMemory(pool, 80, () => ended.push('b'));
    a.hold(70);
    const refusal = (() => {
      try {
        b.hold(40);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(KernelError);
    expect(refusal).toMatchObject({ code: 'E_QUOTA', message: expect.stringContaining('kernel') });
    expect(ended).toEqual([]);
    a.releaseAll();
    expect(pool.used).toBe(0);
    expect(() => a.hold(1)).toThrow(expect.objectContaining({ code: 'E_KILLED' }));
    b.hold(40);
    expect(pool.used).toBe(40);
  });

  it('refuses a bad limit', () => {
    expect(() => new HeldMemoryPool(0)).toThrow(RangeError);
    expect(() => new HeldMemoryPool(Number.NaN)).toThrow(RangeError);
  });
});

describe('estimateBytes', () => {
  it('property: at least two bytes per character of every string and key, and 16 per value', () => {
    const counted = (value: unknown): number => {
      if (typeof value === 'string') return 16 + 2 * value.length;
      if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + counted(item), 16);
      if (value !== null && typeof value === 'object') {
        return Object.entries(value).reduce((sum, [key, item]) => sum + 2 * key.length + counted(item), 16);
      }
      return 16;
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(estimateBytes(value)).toBeGreaterThanOrEqual(counted(value));
        expect(estimateBytes(value)).toBeGreaterThanOrEqual(jsonLengthAtLeast(value, Number.POSITIVE_INFINITY));
      }),
    );
  });

  it('stops once over the limit: one huge array reached many times is looked at once', () => {
    const big = new Array(1_000_000).fill(0);
    const repeated = new Array(1000).fill(big);
    const started = performance.now();
    expect(estimateBytes(repeated, 10_000)).toBeGreaterThan(10_000);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
