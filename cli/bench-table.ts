/**
 * The one table `isokernel bench` prints: a Markdown table (readable in a terminal, pasted as is into
 * bench/RESULTS.md) of every figure, the machine it ran on, and a legend saying what each figure and its floor
 * are.
 */
import { type BenchFigure, type FigurePlan, formatBytes, formatCount, formatNs } from './bench-figures.js';

/** The machine a run measured: figures are only comparable between runs on the same facts. */
export interface MachineFacts {
  readonly node: string;
  /** isolated-vm's version, or null when it cannot be found. */
  readonly isolated_vm: string | null;
  readonly platform: string;
  readonly cpus: number;
  readonly cpu_model: string;
  readonly memory_gb: number;
  /** The 1, 5 and 15 minute load averages when the run started and when it ended. */
  readonly load_start: readonly number[];
  readonly load_end: readonly number[];
  readonly quick: boolean;
  readonly started_at: string;
}

const COLUMNS = ['figure', 'p50', 'p99', 'floor', 'ratio', 'target', 'met'] as const;

function cells(row: BenchFigure, plan: FigurePlan | undefined): string[] {
  if (row.skipped !== undefined) return [row.figure, 'skipped', '', '', '', row.target ?? '', ''];
  const time = (ns: number | null): string => (ns === null ? '' : formatNs(ns));
  let p50 = time(row.p50_ns);
  let p99 = time(row.p99_ns);
  let floor = time(row.floor_ns);
  if (plan?.unit === 'rate') {
    const rate = (ns: number | null): string => (ns === null || ns <= 0 ? '' : ` (${formatCount(1e9 / ns)}/s)`);
    p50 += rate(row.p50_ns);
    floor += rate(row.floor_ns);
  } else if (plan?.unit === 'bytes') {
    p50 = row.bytes === undefined ? '' : formatBytes(row.bytes);
    p99 = '';
    floor = row.floor_bytes === undefined ? '' : formatBytes(row.floor_bytes);
  }
  const ratio = row.ratio === null ? '' : `${formatRatio(row.ratio)}×`;
  const met = row.met === null ? '' : row.met ? 'yes' : 'no';
  return [row.figure, p50, p99, floor, ratio, row.target ?? '', met];
}

function formatRatio(ratio: number): string {
  if (ratio >= 100) return ratio.toFixed(0);
  if (ratio >= 10) return ratio.toFixed(1);
  if (ratio >= 0.01) return ratio.toFixed(2);
  return ratio.toPrecision(2);
}

/** One line of machine facts. */
export function formatFacts(facts: MachineFacts): string {
  const load = (values: readonly number[]): string => values.map((v) => v.toFixed(2)).join(' ');
  return (
    `Node ${facts.node} · isolated-vm ${facts.isolated_vm ?? 'unknown'} · ${facts.platform} · ` +
    `${facts.cpus} CPUs (${facts.cpu_model}) · ${facts.memory_gb} GB · ` +
    `load ${load(facts.load_start)} at start, ${load(facts.load_end)} at end · ` +
    `${facts.quick ? 'quick run (fewer iterations)' : 'full run'} · ${facts.started_at}`
  );
}

/**
 * The table of `rows` (in order), padded for a terminal and valid Markdown, then the legend: each figure's
 * description, its floor and, for a skipped figure, why. `plans` maps figure ids to their plans.
 */
export function formatTable(
  rows: readonly BenchFigure[],
  plans: ReadonlyMap<string, FigurePlan>,
  facts: MachineFacts | undefined,
): string[] {
  const body = rows.map((row) => cells(row, plans.get(row.figure)));
  const widths = COLUMNS.map((name, i) => Math.max(name.length, ...body.map((cols) => cols[i]!.length)));
  const line = (cols: readonly string[]): string => `| ${cols.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out: string[] = [];
  if (facts !== undefined) out.push(formatFacts(facts), '');
  out.push(line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), '');
  for (const row of rows) {
    const plan = plans.get(row.figure);
    let text = `- \`${row.figure}\`: ${plan?.what ?? ''}`;
    if (plan?.floor_what !== undefined) text += `; floor: ${plan.floor_what}`;
    if (row.skipped !== undefined) text += ` (skipped: ${row.skipped})`;
    out.push(text);
  }
  return out;
}
