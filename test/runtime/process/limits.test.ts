import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, resolveLimits } from '../../../runtime/process/limits.js';

describe('resolveLimits', () => {
  it('returns the base when nothing is given and merges overrides', () => {
    expect(resolveLimits(undefined, DEFAULT_LIMITS, 'limits')).toBe(DEFAULT_LIMITS);
    expect(resolveLimits({ cpu_ms: 50 }, DEFAULT_LIMITS, 'limits')).toEqual({ ...DEFAULT_LIMITS, cpu_ms: 50 });
  });

  it('throws TypeError naming the argument for unknown keys and non-numbers', () => {
    expect(() => resolveLimits({ cpu: 1 }, DEFAULT_LIMITS, 'request.limits')).toThrow(/request\.limits\.cpu/);
    expect(() => resolveLimits({ cpu_ms: '5' }, DEFAULT_LIMITS, 'x')).toThrow(TypeError);
    expect(() => resolveLimits({ cpu_ms: Number.NaN }, DEFAULT_LIMITS, 'x')).toThrow(TypeError);
    expect(() => resolveLimits({ cpu_ms: Number.POSITIVE_INFINITY }, DEFAULT_LIMITS, 'x')).toThrow(TypeError);
    expect(() => resolveLimits([], DEFAULT_LIMITS, 'x')).toThrow(TypeError);
  });

  it('throws RangeError outside the bounds', () => {
    expect(() => resolveLimits({ memory_mb: 4 }, DEFAULT_LIMITS, 'x')).toThrow(RangeError);
    expect(() => resolveLimits({ cpu_ms: 0 }, DEFAULT_LIMITS, 'x')).toThrow(RangeError);
    expect(() => resolveLimits({ wall_ms: -1 }, DEFAULT_LIMITS, 'x')).toThrow(RangeError);
  });
});
