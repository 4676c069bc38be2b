import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { findSuites, runSuite, type Suite, selectSuites } from '../../cli/bench.js';
import { isokernel, json, REPO } from '../helpers/cli-process.js';
import { ISOLATED_VM_VERSION } from '../helpers/runtime.js';

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'isokernel-bench-test-')));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = ['suite', 'figure', 'p50_ns', 'p99_ns', 'floor_ns', 'ratio', 'target', 'met'];
const LABEL_FIGURES = ['label.check.clean', 'label.check.tainted', 'label.check.denied', 'label.join'];

describe('isokernel bench (the built CLI, from this checkout)', () => {
  it('--quick --json --suite label prints one JSON array of the documented fields with the label figure ids', async () => {
    const run = await isokernel(['bench', '--quick', '--json', '--suite', 'label'], { cwd: dir });
    expect(run.status, run.stderr).toBe(0);
    const rows = json<Record<string, unknown>[]>(run);
    expect(Array.isArray(rows)).toBe(true);
    expect(rows.map((row) => row['figure'])).toEqual(LABEL_FIGURES);
    for (const row of rows) {
      expect(Object.keys(row)).toEqual(FIELDS);
      expect(row['suite']).toBe('label');
      for (const field of ['p50_ns', 'p99_ns', 'floor_ns', 'ratio']) {
        expect(typeof row[field], `${row['figure']}.${field}`).toBe('number');
      }
      const { p50_ns, floor_ns, ratio } = row as { p50_ns: number; floor_ns: number; ratio: number };
      // The ratio is the row's own p50 ÷ floor, to 4 significant digits.
      expect(Math.abs(ratio - p50_ns / floor_ns)).toBeLessThanOrEqual(0.0005 * ratio);
      expect(row['met'] === null || typeof row['met'] === 'boolean').toBe(true);
    }
    // Targets from the issue, as text; met is a boolean exactly where there is a target.
    expect(rows.map((row) => row['target'])).toEqual(['p50 ≤ 50 ns', 'p50 ≤ 50 ns', null, 'p50 ≤ 30 ns']);
    expect(rows.map((row) => typeof row['met'])).toEqual(['boolean', 'boolean', 'object', 'boolean']);
    // Machine facts go to stderr, so stdout stays one array.
    expect(run.stderr).toContain(`Node ${process.version} · isolated-vm ${ISOLATED_VM_VERSION}`);
  }, 90_000);

  it('a peer suite reports the same figure ids whether or not the peer is prepared (skipped with the reason)', async () => {
    const run = await isokernel(['bench', '--quick', '--json', '--suite', 'agent-os'], { cwd: dir });
    expect(run.status, run.stderr).toBe(0);
    const rows = json<Record<string, unknown>[]>(run);
    expect(rows.map((row) => row['figure'])).toEqual([
      'peers.agent_os.verify',
      'peers.agent_os.check_taint.allowed',
      'peers.agent_os.check_taint.denied',
    ]);
    for (const row of rows) {
      if (row['skipped'] === undefined) {
        expect(typeof row['p50_ns']).toBe('number');
        expect(typeof row['floor_ns']).toBe('number');
      } else {
        expect(row['skipped']).toMatch(/bench:peers|ISOKERNEL_AGENT_OS_REPO/);
        expect([row['p50_ns'], row['ratio'], row['met']]).toEqual([null, null, null]);
      }
    }
  }, 90_000);

  it('refuses an unknown suite with exit 2 and names the suites there are', async () => {
    const run = await isokernel(['bench', '--suite', 'labels'], { cwd: dir });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/unknown suite labels; suites: .*\blabel\b.*\bsyscall\b/);
  });
});

describe('suite selection', () => {
  const all = findSuites(REPO);

  it('finds the kernel suites in bench/ and leaves room for new ones by file name', () => {
    const kernel = all.filter((suite) => suite.group === 'kernel').map((suite) => suite.name);
    expect(kernel).toEqual(
      expect.arrayContaining([
        'audit',
        'capability',
        'cli',
        'label',
        'memory',
        'spawn',
        'syscall',
        'throughput',
        'tree',
        'vault',
      ]),
    );
  });

  it('runs the kernel suites by default, the peers only when asked, and groups by name', () => {
    const fake: Suite[] = [
      { name: 'label', group: 'kernel', file: 'a' },
      { name: 'ses', group: 'peers', file: 'b' },
    ];
    expect(selectSuites(fake, undefined, false)).toEqual([fake[0]]);
    expect(selectSuites(fake, undefined, true)).toEqual(fake);
    expect(selectSuites(fake, 'peers', false)).toEqual([fake[1]]);
    expect(selectSuites(fake, 'ses, label', false)).toEqual(fake);
    expect(selectSuites(fake, 'nope', false)).toEqual({
      unknown: 'unknown suite nope; suites: label, kernel, ses, peers',
    });
    expect(selectSuites(fake, ',', false)).toEqual({
      unknown: 'unknown suite (none given); suites: label, kernel, ses, peers',
    });
  });
});

describe('a suite that fails', () => {
  const loader = pathToFileURL(join(REPO, 'bench', 'loader', 'register.mjs')).href;
  const plan = {
    type: 'plan',
    figures: [
      { figure: 'fake.first', unit: 'time', what: 'first', floor_what: 'floor', target: { kind: 'ratio', max: 2 } },
      { figure: 'fake.second', unit: 'time', what: 'second' },
    ],
  };
  const suite = (name: string, body: string): Suite => {
    const file = join(dir, `${name}.bench.mjs`);
    writeFileSync(file, `const send = (m) => new Promise((r) => process.send(m, undefined, {}, r));\n${body}\n`);
    return { name, group: 'kernel', file };
  };
  const run = (s: Suite, timeoutMs?: number) => {
    const output: string[] = [];
    return runSuite(s, {
      root: REPO,
      loader,
      quick: true,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      onOutput: (line) => output.push(line),
    }).then((outcome) => ({ ...outcome, output }));
  };

  it('that crashes keeps what it measured and lists the rest as skipped, naming the suite and the exit', async () => {
    const crash = suite(
      'crash',
      `await send(${JSON.stringify(plan)});
       await send({ type: 'measured', figures: [{ figure: 'fake.first', p50_ns: 300, p99_ns: 900, floor_ns: 100 }] });
       console.log('about to fail');
       process.exit(3);`,
    );
    const outcome = await run(crash);
    expect(outcome.failure).toBe('exited with code 3');
    expect(outcome.output).toContain('about to fail');
    expect(outcome.figures).toEqual([
      {
        suite: 'crash',
        figure: 'fake.first',
        p50_ns: 300,
        p99_ns: 900,
        floor_ns: 100,
        ratio: 3,
        target: 'ratio ≤ 2×',
        met: false,
      },
      {
        suite: 'crash',
        figure: 'fake.second',
        p50_ns: null,
        p99_ns: null,
        floor_ns: null,
        ratio: null,
        target: null,
        met: null,
        skipped: 'suite crash exited with code 3',
      },
    ]);
  });

  it('that hangs is killed at its timeout and its figures are skipped', async () => {
    const hang = suite('hang', `await send(${JSON.stringify(plan)}); setInterval(() => {}, 1000);`);
    const outcome = await run(hang, 3000);
    expect(outcome.failure).toBe('timed out after 3 s');
    expect(outcome.figures.map((figure) => figure.skipped)).toEqual([
      'suite hang timed out after 3 s',
      'suite hang timed out after 3 s',
    ]);
  });

  it('that sends a malformed message, or measures a figure it did not plan, fails', async () => {
    const malformed = suite(
      'malformed',
      `await send(${JSON.stringify(plan)}); await send({ type: 'measured', figures: [{ figure: 'fake.first', p50_ns: -1, p99_ns: 0, floor_ns: 0 }] });`,
    );
    expect((await run(malformed)).failure).toBe('sent a malformed message');
    const unplanned = suite(
      'unplanned',
      `await send(${JSON.stringify(plan)}); await send({ type: 'measured', figures: [{ figure: 'fake.third', p50_ns: 1, p99_ns: 1, floor_ns: null }] });`,
    );
    expect((await run(unplanned)).failure).toBe('measured fake.third, which it did not plan');
  });

  it('that plans nothing fails even when it exits 0', async () => {
    const silent = suite('silent', 'void send;');
    const outcome = await run(silent);
    expect(outcome.failure).toBe('planned no figures');
    expect(outcome.figures).toEqual([]);
  });
});
