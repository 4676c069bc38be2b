import { describe, expect, it } from 'vitest';
import { constraintsAllow, constraintsNarrow, constraintsSchema } from '../../../runtime/core/constraint-match.js';

describe('constraints', () => {
  it('a missing param takes the tool default before matching', () => {
    const get = { method: 'GET' };
    expect(constraintsAllow(get, { method: 'GET' }, undefined)).toBe(true);
    expect(constraintsAllow(get, {}, { method: 'GET' })).toBe(true);
    expect(constraintsAllow(get, { method: undefined }, { method: 'GET' })).toBe(true);
    expect(constraintsAllow(get, {}, { method: 'POST' })).toBe(false);
    expect(constraintsAllow(get, {}, undefined)).toBe(false);
    expect(constraintsAllow(get, { method: 'POST' }, { method: 'GET' })).toBe(false);
    expect(constraintsAllow({}, { anything: 1 }, undefined)).toBe(true);
  });

  it('compares strictly: no case folding, no coercion, no prototype lookups', () => {
    expect(constraintsAllow({ method: 'GET' }, { method: 'get' }, undefined)).toBe(false);
    expect(constraintsAllow({ port: 443 }, { port: '443' }, undefined)).toBe(false);
    expect(constraintsAllow({ method: 'GET' }, { method: ['GET'] }, undefined)).toBe(false);
    expect(constraintsAllow({ method: 'GET' }, { method: { toString: () => 'GET' } }, undefined)).toBe(false);
    const inherited = Object.create({ method: 'GET' }) as Record<string, unknown>;
    expect(constraintsAllow({ method: 'GET' }, inherited, undefined)).toBe(false);
    expect(constraintsAllow({ method: ['GET', 'HEAD'] }, { method: 'HEAD' }, undefined)).toBe(true);
    expect(constraintsAllow({ length: 3 }, 'abc' as unknown as Record<string, unknown>, undefined)).toBe(false);
    expect(constraintsAllow({ length: 0 }, [] as unknown as Record<string, unknown>, undefined)).toBe(false);
    expect(constraintsAllow({ length: 3 }, undefined, 'abc' as unknown as Record<string, unknown>)).toBe(false);
    expect(constraintsAllow({ method: ['GET', 'HEAD'] }, { method: 'POST' }, undefined)).toBe(false);
  });

  it('narrowing keeps every parent constraint with a subset of its values', () => {
    expect(constraintsNarrow({ method: ['GET', 'HEAD'] }, { method: 'GET' })).toBe(true);
    expect(constraintsNarrow({ method: 'GET' }, { method: ['GET', 'POST'] })).toBe(false);
    expect(constraintsNarrow({ method: 'GET' }, {})).toBe(false);
    expect(constraintsNarrow({}, { method: 'GET' })).toBe(true);
  });

  it('schema refuses __proto__, bad names, non-finite numbers, nesting and too many entries', () => {
    expect(constraintsSchema.safeParse({ method: 'GET', port: 443, dry: true, m: ['a', 1] }).success).toBe(true);
    expect(constraintsSchema.safeParse(JSON.parse('{"__proto__":{"x":1}}')).success).toBe(false);
    expect(constraintsSchema.safeParse({ 'bad name': 1 }).success).toBe(false);
    expect(constraintsSchema.safeParse({ n: Number.NaN }).success).toBe(false);
    expect(constraintsSchema.safeParse({ n: { deep: 1 } }).success).toBe(false);
    expect(constraintsSchema.safeParse({ n: [] }).success).toBe(false);
    expect(
      constraintsSchema.safeParse(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 1]))).success,
    ).toBe(false);
  });
});
