import type { Bench, Task } from 'tinybench';

/** One row of a benchmark table: a measured task and the floor it is compared with. */
export interface Row {
  name: string;
  task: string;
  floor?: string;
  /** Work units per iteration (for batched tasks); figures are per unit. */
  per?: number;
  target?: string;
}

function stats(task: Task | undefined, per: number): { p50: number; p99: number } {
  const result = task?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${task?.name} has no result`);
  return { p50: (result.latency.p50 * 1e6) / per, p99: (result.latency.p99 * 1e6) / per };
}

function ns(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} µs` : `${value.toFixed(0)} ns`;
}

/** Prints median, p99 and the ratio to the floor for each row; returns the rows as data for README tables. */
export function report(title: string, bench: Bench, rows: readonly Row[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  console.log(`\n${title}`);
  for (const row of rows) {
    const per = row.per ?? 1;
    const measured = stats(bench.getTask(row.task), per);
    const floor = row.floor === undefined ? undefined : stats(bench.getTask(row.floor), per);
    const ratio = floor === undefined ? undefined : measured.p50 / floor.p50;
    out.push({
      name: row.name,
      p50: ns(measured.p50),
      p99: ns(measured.p99),
      floor_p50: floor === undefined ? '' : ns(floor.p50),
      ratio: ratio === undefined ? '' : `${ratio.toFixed(2)}×`,
      target: row.target ?? '',
    });
  }
  console.table(out);
  return out;
}
