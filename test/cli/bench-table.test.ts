import { describe, expect, it } from 'vitest';
import { benchFigure, type FigurePlan } from '../../cli/bench-figures.js';
import { formatFacts, formatTable, type MachineFacts } from '../../cli/bench-table.js';

const plans: FigurePlan[] = [
  { figure: 'a.latency', unit: 'time', what: 'a latency', floor_what: 'a floor', target: { kind: 'ratio', max: 3 } },
  { figure: 'a.rate', unit: 'rate', what: 'a throughput', target: { kind: 'rate', min: 150_000, unit: 'syscalls/s' } },
  { figure: 'a.size', unit: 'bytes', what: 'a size', floor_what: 'a bare isolate' },
  { figure: 'a.peer', unit: 'time', what: 'not installed' },
];
const rows = [
  benchFigure('a', plans[0]!, { figure: 'a.latency', p50_ns: 32_900, p99_ns: 41_000, floor_ns: 1480 }),
  benchFigure('a', plans[1]!, { figure: 'a.rate', p50_ns: 6666, p99_ns: 8000, floor_ns: 2000 }),
  benchFigure('a', plans[2]!, {
    figure: 'a.size',
    p50_ns: null,
    p99_ns: null,
    floor_ns: null,
    bytes: 1.25 * 2 ** 20,
    floor_bytes: 2 ** 20,
  }),
  benchFigure('a', plans[3]!, undefined, 'npm run bench:peers installs it'),
];
const facts: MachineFacts = {
  node: 'v20.20.2',
  isolated_vm: '5.0.4',
  platform: 'linux x64',
  cpus: 2,
  cpu_model: 'AMD EPYC',
  memory_gb: 24,
  load_start: [0.5, 1, 1.25],
  load_end: [2, 1.5, 1.25],
  quick: false,
  started_at: '2026-12-02T19:00:00.000Z',
};

describe('formatTable', () => {
  const lines = formatTable(rows, new Map(plans.map((plan) => [plan.figure, plan])), facts);

  it('starts with the machine facts, then one Markdown table with the documented columns', () => {
    expect(lines[0]).toBe(formatFacts(facts));
    expect(lines[0]).toBe(
      'Node v20.20.2 · isolated-vm 5.0.4 · linux x64 · 2 CPUs (AMD EPYC) · 24 GB · load 0.50 1.00 1.25 at start, ' +
        '2.00 1.50 1.25 at end · full run · 2026-12-02T19:00:00.000Z',
    );
    const cells = (line: string) =>
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim());
    expect(cells(lines[2]!)).toEqual(['figure', 'p50', 'p99', 'floor', 'ratio', 'target', 'met']);
    expect(cells(lines[3]!).every((cell) => /^-+$/.test(cell))).toBe(true);
    expect(cells(lines[4]!)).toEqual(['a.latency', '32.9 µs', '41.0 µs', '1.48 µs', '22.2×', 'ratio ≤ 3×', 'no']);
    expect(cells(lines[5]!)).toEqual([
      'a.rate',
      '6.67 µs (150k/s)',
      '8.00 µs',
      '2.00 µs (500k/s)',
      '3.33×',
      '≥ 150k syscalls/s',
      'yes',
    ]);
    expect(cells(lines[6]!)).toEqual(['a.size', '1.25 MB', '', '1 MB', '1.25×', '', '']);
    expect(cells(lines[7]!)).toEqual(['a.peer', 'skipped', '', '', '', '', '']);
    // Padded to equal widths, so the table reads in a terminal too.
    expect(new Set(lines.slice(2, 8).map((line) => line.length)).size).toBe(1);
  });

  it('ends with a legend: what each figure is, its floor, and why one was skipped', () => {
    expect(lines.slice(9)).toEqual([
      '- `a.latency`: a latency; floor: a floor',
      '- `a.rate`: a throughput',
      '- `a.size`: a size; floor: a bare isolate',
      '- `a.peer`: not installed (skipped: npm run bench:peers installs it)',
    ]);
  });
});
