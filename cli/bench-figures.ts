/**
 * The figures `isokernel bench` reports: what a suite measures (a figure with its floor and target), how a
 * suite hands its measurements to the runner, and the row `--json` prints. Figure ids are stable: a script
 * compares two runs by id, so an id never changes meaning and a figure that could not be measured is still
 * reported, with `skipped` saying why.
 */
import { z } from 'zod';

/**
 * A target from the benchmark issue, checked against one measurement:
 * - `ratio`: p50 ÷ floor (or bytes ÷ floor bytes) at most `max`;
 * - `p50`: the median at most `maxNs` nanoseconds;
 * - `rate`: at least `min` operations per second (`unit` names them: records/s, syscalls/s);
 * - `bytes`: at most `max` bytes.
 */
export type Target =
  | { readonly kind: 'ratio'; readonly max: number }
  | { readonly kind: 'p50'; readonly maxNs: number }
  | { readonly kind: 'rate'; readonly min: number; readonly unit: string }
  | { readonly kind: 'bytes'; readonly max: number };

/**
 * What a figure's numbers are: a latency (`time`), a cost per operation measured as throughput (`rate`:
 * p50_ns is nanoseconds per operation, and `per_second` is its inverse) or a size (`bytes`).
 */
export type FigureUnit = 'time' | 'rate' | 'bytes';

/** A figure as a suite declares it before measuring: its id, its unit, what it is, its floor and target. */
export interface FigurePlan {
  readonly figure: string;
  readonly unit: FigureUnit;
  /** One line saying what is measured. */
  readonly what: string;
  /** What the floor is, when the figure has one: a baseline measured in the same run. */
  readonly floor_what?: string;
  readonly target?: Target;
}

/** A figure as a suite measured it (nanoseconds or bytes; null where the figure has no such number). */
export interface FigureMeasurement {
  readonly figure: string;
  readonly p50_ns: number | null;
  readonly p99_ns: number | null;
  readonly floor_ns: number | null;
  readonly bytes?: number;
  readonly floor_bytes?: number;
  /** Set instead of the numbers when the figure could not be measured (a peer not installed, no build). */
  readonly skipped?: string;
}

/** One row of `isokernel bench --json`. */
export interface BenchFigure {
  readonly suite: string;
  readonly figure: string;
  readonly p50_ns: number | null;
  readonly p99_ns: number | null;
  readonly floor_ns: number | null;
  /** p50 ÷ floor (bytes ÷ floor bytes for sizes), to 4 significant digits; null without a floor. */
  readonly ratio: number | null;
  /** The target as text (`ratio ≤ 3×`, `p50 ≤ 250 ns`, `≥ 150k syscalls/s`, `≤ 1.5 MB`), or null. */
  readonly target: string | null;
  /** Whether the target is met; null without a target or a measurement. */
  readonly met: boolean | null;
  /** Operations per second, for `rate` figures (1e9 ÷ p50_ns). */
  readonly per_second?: number;
  readonly bytes?: number;
  readonly floor_bytes?: number;
  readonly skipped?: string;
}

const ID = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/;
const finite = z.number().finite().nonnegative();
const targetSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('ratio'), max: finite }),
  z.strictObject({ kind: z.literal('p50'), maxNs: finite }),
  z.strictObject({ kind: z.literal('rate'), min: finite, unit: z.string().min(1).max(40) }),
  z.strictObject({ kind: z.literal('bytes'), max: finite }),
]);
const planSchema = z.strictObject({
  figure: z.string().regex(ID).max(100),
  unit: z.enum(['time', 'rate', 'bytes']),
  what: z.string().min(1).max(300),
  floor_what: z.string().min(1).max(300).optional(),
  target: targetSchema.optional(),
});
const measurementSchema = z.strictObject({
  figure: z.string().regex(ID).max(100),
  p50_ns: finite.nullable(),
  p99_ns: finite.nullable(),
  floor_ns: finite.nullable(),
  bytes: finite.optional(),
  floor_bytes: finite.optional(),
  skipped: z.string().min(1).max(500).optional(),
});

/** What a suite process sends its runner over the IPC channel: first its plan, then its measurements. */
export const suiteMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('plan'), figures: z.array(planSchema).max(200) }),
  z.strictObject({ type: z.literal('measured'), figures: z.array(measurementSchema).max(200) }),
]);
export type SuiteMessage = z.infer<typeof suiteMessageSchema>;

/** True when `id` is a valid figure id: dotted lower-case words, at least two (`syscall.noop.async`). */
export function isFigureId(id: string): boolean {
  return ID.test(id);
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));
// Four significant digits: a peer's ratio may be 0.0003 (node:vm's call against a whole audited syscall).
const significant = (value: number): number => Number(value.toPrecision(4));

/**
 * Joins a figure's plan and measurement into its output row: computes the ratio to the floor, the rate and
 * whether the target is met. A missing measurement gives a skipped row (`reason`).
 */
export function benchFigure(
  suite: string,
  plan: FigurePlan,
  measured: FigureMeasurement | undefined,
  reason = 'not measured',
): BenchFigure {
  const target = plan.target === undefined ? null : formatTarget(plan.target);
  if (measured === undefined || measured.skipped !== undefined) {
    const skipped = measured?.skipped ?? reason;
    return {
      suite,
      figure: plan.figure,
      p50_ns: null,
      p99_ns: null,
      floor_ns: null,
      ratio: null,
      target,
      met: null,
      skipped,
    };
  }
  // Rounded to 0.01 ns (and whole bytes) first, so the ratio is the one a script recomputes from the row.
  const p50 = measured.p50_ns === null ? null : round(measured.p50_ns, 2);
  const p99 = measured.p99_ns === null ? null : round(measured.p99_ns, 2);
  const floor = measured.floor_ns === null ? null : round(measured.floor_ns, 2);
  const bytes = measured.bytes === undefined ? undefined : Math.round(measured.bytes);
  const floorBytes = measured.floor_bytes === undefined ? undefined : Math.round(measured.floor_bytes);
  let ratio: number | null = null;
  if (plan.unit === 'bytes') {
    if (bytes !== undefined && floorBytes !== undefined && floorBytes > 0) ratio = significant(bytes / floorBytes);
  } else if (p50 !== null && floor !== null && floor > 0) {
    ratio = significant(p50 / floor);
  }
  const perSecond = plan.unit === 'rate' && p50 !== null && p50 > 0 ? Math.round(1e9 / p50) : null;
  const row: BenchFigure = {
    suite,
    figure: plan.figure,
    p50_ns: p50,
    p99_ns: p99,
    floor_ns: floor,
    ratio,
    target,
    met: plan.target === undefined ? null : targetMet(plan.target, { p50, ratio, perSecond, bytes }),
    ...(perSecond === null ? {} : { per_second: perSecond }),
    ...(bytes === undefined ? {} : { bytes }),
    ...(floorBytes === undefined ? {} : { floor_bytes: floorBytes }),
  };
  return row;
}

/** Whether `target` is met by these numbers; null when the number it is about was not measured. */
export function targetMet(
  target: Target,
  values: { p50: number | null; ratio: number | null; perSecond: number | null; bytes: number | undefined },
): boolean | null {
  switch (target.kind) {
    case 'ratio':
      return values.ratio === null ? null : values.ratio <= target.max;
    case 'p50':
      return values.p50 === null ? null : values.p50 <= target.maxNs;
    case 'rate':
      return values.perSecond === null ? null : values.perSecond >= target.min;
    case 'bytes':
      return values.bytes === undefined ? null : values.bytes <= target.max;
  }
}

/** `target` as the text the table and the JSON show. */
export function formatTarget(target: Target): string {
  switch (target.kind) {
    case 'ratio':
      return `ratio ≤ ${target.max}×`;
    case 'p50':
      return `p50 ≤ ${formatNs(target.maxNs, true)}`;
    case 'rate':
      return `≥ ${formatCount(target.min)} ${target.unit}`;
    case 'bytes':
      return `≤ ${formatBytes(target.max)}`;
  }
}

/**
 * Nanoseconds with a unit and three significant digits: `783 ns`, `5.40 µs`, `1.15 ms`, `1.52 s`; with `trim`,
 * trailing zeros go (`1 ms`, `1.5 µs`), as targets are written.
 */
export function formatNs(raw: number, trim = false): string {
  // Rounded first, so 999.9 ns is written 1.00 µs rather than 1.00e+3 ns.
  const ns = raw < 1 ? raw : Number(raw.toPrecision(3));
  const [value, unit] =
    ns < 1000 ? [ns, 'ns'] : ns < 1e6 ? [ns / 1e3, 'µs'] : ns < 1e9 ? [ns / 1e6, 'ms'] : [ns / 1e9, 's'];
  const text = value < 1 ? value.toFixed(2) : value >= 1000 ? value.toFixed(0) : value.toPrecision(3);
  return `${trim ? String(Number(text)) : text} ${unit}`;
}

/** A count with k/M suffixes: `150k`, `1.2M`. */
export function formatCount(n: number): string {
  if (n >= 1e6) return `${Number((n / 1e6).toPrecision(3))}M`;
  if (n >= 1e3) return `${Number((n / 1e3).toPrecision(3))}k`;
  return `${Number(n.toPrecision(3))}`;
}

/** Bytes in binary units, as `memory_mb` counts them (1 MB = 1024 × 1024 bytes). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Number((bytes / (1024 * 1024)).toPrecision(3))} MB`;
  if (bytes >= 1024) return `${Number((bytes / 1024).toPrecision(3))} KB`;
  return `${Math.round(bytes)} B`;
}
