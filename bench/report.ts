/**
 * What every suite uses to report: it plans its figures (stable ids, what each is, its floor and target) as
 * soon as it starts, records each measurement, and publishes them at the end. Under `isokernel bench` the plan
 * and the measurements go to the runner over the IPC channel (cli/bench.ts), which prints the one table; run on
 * its own (`node --no-node-snapshot --import ./bench/loader/register.mjs bench/label.bench.ts`) a suite prints its own table.
 *
 * Figures are nanoseconds per operation: tasks that batch operations say how many (`per`), and throughput
 * figures report the cost per operation of each round (`per_second` is its inverse).
 */
import { basename } from 'node:path';
import type { Bench, BenchOptions } from 'tinybench';
import {
  benchFigure,
  type FigureMeasurement,
  type FigurePlan,
  type FigureUnit,
  isFigureId,
  type SuiteMessage,
  type Target,
} from '../cli/bench-figures.js';
import { formatTable } from '../cli/bench-table.js';

/** True under `isokernel bench --quick`: fewer iterations, the same figures. */
export const QUICK = process.env['ISOKERNEL_BENCH_QUICK'] === '1';

/** `full` in a full run, `quick` under --quick. */
export function scaled<T>(full: T, quick: T): T {
  return QUICK ? quick : full;
}

/**
 * tinybench options for a full run, shortened under --quick: a tenth of the time, and a minimum of 4
 * iterations instead of tinybench's 64 (which would otherwise dominate slow tasks).
 */
export function benchOptions(full: { time: number; warmupTime: number; iterations?: number }): BenchOptions {
  if (!QUICK) return { time: full.time, warmupTime: full.warmupTime, iterations: full.iterations ?? 64 };
  return {
    time: Math.max(100, full.time / 10),
    warmupTime: Math.max(50, full.warmupTime / 5),
    iterations: Math.min(full.iterations ?? 64, 4),
    warmupIterations: 2,
  };
}

/** How a suite describes one figure. */
export interface FigureSpec {
  /** Default `time`. */
  readonly unit?: FigureUnit;
  readonly what: string;
  /** What the floor is (omit for a figure without one). */
  readonly floor?: string;
  readonly target?: Target;
}

/** Linear-interpolation quantile (`q` in 0..1) of `samples`; NaN for none. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

function send(message: SuiteMessage, done?: () => void): void {
  if (process.send === undefined) done?.();
  else process.send(message, undefined, {}, () => done?.());
}

/**
 * A suite's figures, planned up front. Every id in the plan is published: measured, or skipped with a reason,
 * so the figure ids of a suite are the same in every run.
 */
export class Figures<Id extends string> {
  readonly #suite = basename(process.argv[1] ?? 'suite').replace(/\.bench\.[cm]?[jt]s$/, '');
  readonly #plans: Map<Id, FigurePlan>;
  readonly #measured = new Map<Id, FigureMeasurement>();

  /** Throws TypeError on an id that is not a dotted lower-case name. */
  constructor(specs: Record<Id, FigureSpec>) {
    this.#plans = new Map(
      (Object.entries(specs) as [Id, FigureSpec][]).map(([figure, spec]) => {
        if (!isFigureId(figure)) throw new TypeError(`figure id ${figure} is not a dotted lower-case name`);
        const plan: FigurePlan = {
          figure,
          unit: spec.unit ?? 'time',
          what: spec.what,
          ...(spec.floor === undefined ? {} : { floor_what: spec.floor }),
          ...(spec.target === undefined ? {} : { target: spec.target }),
        };
        return [figure, plan];
      }),
    );
    send({ type: 'plan', figures: [...this.#plans.values()] });
  }

  /**
   * Records tinybench task `task` (and the floor task `floor`) of `bench`, per operation when each iteration
   * runs `per` of them. A task that failed skips the figure and fails the suite (exit code 1).
   */
  fromTasks(id: Id, bench: Bench, task: string, options: { floor?: string; per?: number } = {}): void {
    const per = options.per ?? 1;
    const stats = (name: string): { p50: number; p99: number } | string => {
      const result = bench.getTask(name)?.result;
      if (result === undefined) return `no task ${name}`;
      if (result.state === 'errored') return `task ${name} failed: ${result.error.message}`;
      if (!('latency' in result)) return `task ${name} did not complete`;
      return { p50: (result.latency.p50 * 1e6) / per, p99: (result.latency.p99 * 1e6) / per };
    };
    const measured = stats(task);
    const floor = options.floor === undefined ? undefined : stats(options.floor);
    for (const problem of [measured, floor]) {
      if (typeof problem === 'string') {
        process.exitCode = 1;
        this.skip(id, problem);
        return;
      }
    }
    const m = measured as { p50: number; p99: number };
    const f = floor as { p50: number } | undefined;
    this.#set(id, { p50_ns: m.p50, p99_ns: m.p99, floor_ns: f?.p50 ?? null });
  }

  /** Records per-operation costs in ns, one sample per round (p99 of a few rounds is about the worst one). */
  fromSamples(id: Id, samples: readonly number[], floorSamples?: readonly number[]): void {
    if (samples.length === 0) {
      this.skip(id, 'no samples');
      return;
    }
    this.#set(id, {
      p50_ns: quantile(samples, 0.5),
      p99_ns: quantile(samples, 0.99),
      floor_ns: floorSamples === undefined || floorSamples.length === 0 ? null : quantile(floorSamples, 0.5),
    });
  }

  /** Records numbers in ns measured elsewhere (another bench, another process). */
  fromValues(id: Id, values: { p50: number; p99: number | null; floor: number | null }): void {
    this.#set(id, { p50_ns: values.p50, p99_ns: values.p99, floor_ns: values.floor });
  }

  /** Records a size in bytes (the median of `samples`) and its floor's. */
  fromBytes(id: Id, samples: readonly number[], floorSamples?: readonly number[]): void {
    if (samples.length === 0) {
      this.skip(id, 'no samples');
      return;
    }
    this.#set(id, {
      p50_ns: null,
      p99_ns: null,
      floor_ns: null,
      bytes: quantile(samples, 0.5),
      ...(floorSamples === undefined || floorSamples.length === 0 ? {} : { floor_bytes: quantile(floorSamples, 0.5) }),
    });
  }

  /** Records a figure as not measured, with the reason (a peer not installed, no build). */
  skip(id: Id, reason: string): void {
    this.#set(id, { p50_ns: null, p99_ns: null, floor_ns: null, skipped: reason.slice(0, 500) });
  }

  /** The p50 recorded for `id` in ns, if any (for suites that derive one figure from another). */
  p50(id: Id): number | undefined {
    return this.#measured.get(id)?.p50_ns ?? undefined;
  }

  #set(id: Id, measurement: Omit<FigureMeasurement, 'figure'>): void {
    if (!this.#plans.has(id)) throw new TypeError(`figure ${id} is not in the plan`);
    this.#measured.set(id, { figure: id, ...measurement });
  }

  /**
   * Sends every planned figure to the runner (unmeasured ones as skipped), or prints the table when the suite
   * runs on its own. Resolves once the runner has the message.
   */
  publish(): Promise<void> {
    const figures = [...this.#plans.keys()].map(
      (id) =>
        this.#measured.get(id) ?? { figure: id, p50_ns: null, p99_ns: null, floor_ns: null, skipped: 'not measured' },
    );
    if (process.send === undefined) {
      const rows = [...this.#plans.values()].map((plan) =>
        benchFigure(this.#suite, plan, this.#measured.get(plan.figure as Id)),
      );
      const plans = new Map([...this.#plans.values()].map((plan) => [plan.figure, plan]));
      console.log(formatTable(rows, plans, undefined).join('\n'));
      return Promise.resolve();
    }
    return new Promise((resolve) => send({ type: 'measured', figures }, resolve));
  }
}
