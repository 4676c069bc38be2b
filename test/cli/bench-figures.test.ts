import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  benchFigure,
  type FigurePlan,
  formatBytes,
  formatNs,
  formatTarget,
  isFigureId,
  suiteMessageSchema,
  type Target,
} from '../../cli/bench-figures.js';

const plan = (target: Target | undefined, unit: FigurePlan['unit'] = 'time'): FigurePlan => ({
  figure: 'x.y',
  unit,
  what: 'something',
  ...(target === undefined ? {} : { target }),
});
const ns = fc.double({ min: 0.01, max: 1e10, noNaN: true });

describe('benchFigure', () => {
  it('a ratio target is met exactly when the row’s own p50 ÷ floor is within it', () => {
    fc.assert(
      fc.property(ns, ns, fc.double({ min: 0.1, max: 100, noNaN: true }), (p50, floor, max) => {
        const row = benchFigure('s', plan({ kind: 'ratio', max }), {
          figure: 'x.y',
          p50_ns: p50,
          p99_ns: p50,
          floor_ns: floor,
        });
        expect(row.ratio).not.toBeNull();
        expect(Math.abs(row.ratio! - row.p50_ns! / row.floor_ns!)).toBeLessThanOrEqual(0.0005 * row.ratio!);
        expect(row.met).toBe(row.ratio! <= max);
        expect(row.target).toBe(`ratio ≤ ${max}×`);
      }),
    );
  });

  it('a rate target is met exactly when per_second = 1e9 ÷ p50 reaches it', () => {
    fc.assert(
      fc.property(ns, fc.integer({ min: 1, max: 10_000_000 }), (p50, min) => {
        const row = benchFigure('s', plan({ kind: 'rate', min, unit: 'ops/s' }, 'rate'), {
          figure: 'x.y',
          p50_ns: p50,
          p99_ns: p50,
          floor_ns: null,
        });
        expect(row.per_second).toBe(Math.round(1e9 / row.p50_ns!));
        expect(row.met).toBe(row.per_second! >= min);
        expect(row.ratio).toBeNull();
      }),
    );
  });

  it('p50 and bytes targets compare the reported numbers; a figure without a target has met null', () => {
    const p50 = benchFigure('s', plan({ kind: 'p50', maxNs: 250 }), {
      figure: 'x.y',
      p50_ns: 250.004,
      p99_ns: 400,
      floor_ns: 100,
    });
    expect([p50.p50_ns, p50.met, p50.ratio]).toEqual([250, true, 2.5]);
    const size = benchFigure('s', plan({ kind: 'bytes', max: 1024 }, 'bytes'), {
      figure: 'x.y',
      p50_ns: null,
      p99_ns: null,
      floor_ns: null,
      bytes: 2048.4,
      floor_bytes: 1024,
    });
    expect(size).toEqual({
      suite: 's',
      figure: 'x.y',
      p50_ns: null,
      p99_ns: null,
      floor_ns: null,
      ratio: 2,
      target: '≤ 1 KB',
      met: false,
      bytes: 2048,
      floor_bytes: 1024,
    });
    expect(benchFigure('s', plan(undefined), { figure: 'x.y', p50_ns: 5, p99_ns: 6, floor_ns: null }).met).toBeNull();
  });

  it('a skipped or missing measurement keeps the id and target, with no numbers and the reason', () => {
    const target: Target = { kind: 'p50', maxNs: 1_000_000 };
    expect(
      benchFigure('s', plan(target), {
        figure: 'x.y',
        p50_ns: null,
        p99_ns: null,
        floor_ns: null,
        skipped: 'no build',
      }),
    ).toEqual({
      suite: 's',
      figure: 'x.y',
      p50_ns: null,
      p99_ns: null,
      floor_ns: null,
      ratio: null,
      target: 'p50 ≤ 1 ms',
      met: null,
      skipped: 'no build',
    });
    expect(benchFigure('s', plan(target), undefined, 'suite s timed out').skipped).toBe('suite s timed out');
  });
});

describe('formatting', () => {
  it('formatNs picks the unit after rounding and never writes an exponent', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e13, noNaN: true }), (value) => {
        const text = formatNs(value);
        expect(text).toMatch(/^\d+(\.\d+)? (ns|µs|ms|s)$/);
        const number = Number(text.split(' ')[0]);
        if (!text.endsWith(' s')) expect(number).toBeLessThan(1000);
      }),
    );
    expect([formatNs(999.9), formatNs(5400), formatNs(1e6, true), formatNs(1.7)]).toEqual([
      '1.00 µs',
      '5.40 µs',
      '1 ms',
      '1.70 ns',
    ]);
  });

  it('targets read as the issue writes them', () => {
    expect(formatTarget({ kind: 'ratio', max: 1.2 })).toBe('ratio ≤ 1.2×');
    expect(formatTarget({ kind: 'p50', maxNs: 250 })).toBe('p50 ≤ 250 ns');
    expect(formatTarget({ kind: 'p50', maxNs: 1500 })).toBe('p50 ≤ 1.5 µs');
    expect(formatTarget({ kind: 'rate', min: 300_000, unit: 'records/s' })).toBe('≥ 300k records/s');
    expect(formatTarget({ kind: 'bytes', max: 1.5 * 1024 * 1024 })).toBe('≤ 1.5 MB');
    expect(formatBytes(512)).toBe('512 B');
  });
});

describe('suite messages', () => {
  it('accept dotted lower-case ids only, and refuse negative or non-finite numbers and unknown fields', () => {
    expect(['syscall.noop.same_thread', 'throughput.agents_8'].every(isFigureId)).toBe(true);
    expect(['syscall', 'Syscall.noop', 'a..b', 'a.b-c', ''].some(isFigureId)).toBe(false);
    const measured = (figure: Record<string, unknown>) =>
      suiteMessageSchema.safeParse({
        type: 'measured',
        figures: [{ figure: 'a.b', p50_ns: 1, p99_ns: 2, floor_ns: null, ...figure }],
      }).success;
    expect(measured({})).toBe(true);
    expect(measured({ p50_ns: -1 })).toBe(false);
    expect(measured({ p99_ns: Number.POSITIVE_INFINITY })).toBe(false);
    expect(measured({ extra: 1 })).toBe(false);
    expect(measured({ figure: 'nodot' })).toBe(false);
  });
});
