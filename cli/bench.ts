/**
 * `isokernel bench [--json] [--suite NAME[,NAME]] [--quick] [--peers]`: runs the benchmark suites of a source
 * checkout, each in its own Node process (so one suite's isolates and heap do not skew the next), and prints
 * one table of every figure with its floor, ratio and target, plus the machine's facts; or, with `--json`,
 * one array of figures with stable ids (machine facts then go to stderr, so stdout is only the array).
 *
 * Where the suites are: `bench/*.bench.ts` (the kernel's) and `bench/thirdparty/*.bench.ts` (the peers',
 * group `peers`) beside this package's package.json. They are TypeScript, run through bench/loader (esbuild's
 * plain transform, so the code measured is the code the build ships, see bench/loader/hooks.mjs) and measure the
 * kernel's internals (the dispatcher on a hand-built session, the audit log, the authority), so they are not
 * part of the published package: `isokernel bench` works from a checkout with its dev dependencies installed
 * (`npm ci`), whether it is started from the source (`npm run bench`) or the build (`npx isokernel bench`), and
 * says so otherwise.
 *
 * A suite reports over the IPC channel: first its plan (every figure id it will measure, what it is, its floor
 * and target), then its measurements. A figure planned but not measured (a crash, a timeout, a peer not
 * installed) is still printed, as skipped with the reason, so a script comparing two runs sees the same ids.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../runtime/core/package-root.js';
import {
  type BenchFigure,
  benchFigure,
  type FigureMeasurement,
  type FigurePlan,
  suiteMessageSchema,
} from './bench-figures.js';
import { formatFacts, formatTable, type MachineFacts } from './bench-table.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Io } from './io.js';

export interface BenchOptions {
  /** Print one JSON array instead of the table. */
  readonly json?: boolean;
  /** Comma-separated suite names or group names (`kernel`, `peers`); default: every kernel suite. */
  readonly suite?: string;
  /** Fewer iterations, same figures: the whole kernel set in under a minute on a 2-core machine. */
  readonly quick?: boolean;
  /** Also run the peer suites (bench/thirdparty; `npm run bench:peers` installs what they need). */
  readonly peers?: boolean;
}

/** A suite file found in a checkout. */
export interface Suite {
  readonly name: string;
  readonly group: 'kernel' | 'peers';
  readonly file: string;
}

/** What one suite process produced. */
export interface SuiteOutcome {
  readonly figures: readonly BenchFigure[];
  readonly plans: readonly FigurePlan[];
  /** Why the suite failed (crash, timeout, a malformed message), or undefined when it ran to the end. */
  readonly failure: string | undefined;
}

const SUITE_SUFFIX = '.bench.ts';
const QUICK_TIMEOUT_MS = 180_000;
const FULL_TIMEOUT_MS = 1_200_000;

/** The suites of the checkout at `root`, kernel suites first, each group sorted by name. */
export function findSuites(root: string): Suite[] {
  const list = (dir: string, group: Suite['group']): Suite[] =>
    existsSync(dir)
      ? readdirSync(dir)
          .filter((file) => file.endsWith(SUITE_SUFFIX))
          .sort()
          .map((file) => ({ name: basename(file, SUITE_SUFFIX), group, file: join(dir, file) }))
      : [];
  return [...list(join(root, 'bench'), 'kernel'), ...list(join(root, 'bench', 'thirdparty'), 'peers')];
}

/**
 * The suites `selection` names (comma-separated suite or group names), or every kernel suite (and the peers
 * with `peers`). Returns a message naming the unknown names and the known ones when a name matches nothing.
 */
export function selectSuites(
  all: readonly Suite[],
  selection: string | undefined,
  peers: boolean,
): Suite[] | { unknown: string } {
  if (selection === undefined) return all.filter((suite) => suite.group === 'kernel' || peers);
  const names = selection
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = names.filter((name) => !all.some((suite) => suite.name === name || suite.group === name));
  if (unknown.length > 0 || names.length === 0) {
    const known = [...new Set(all.flatMap((suite) => [suite.name, suite.group]))].join(', ');
    return { unknown: `unknown suite ${unknown.join(', ') || '(none given)'}; suites: ${known}` };
  }
  return all.filter((suite) => names.includes(suite.name) || names.includes(suite.group));
}

/** Node, isolated-vm, CPUs, memory and the load average now (the load at the end is filled in later). */
export function machineFacts(root: string, quick: boolean): MachineFacts {
  const cores = cpus();
  const load = loadavg().map((v) => Number(v.toFixed(2)));
  return {
    node: process.version,
    isolated_vm: moduleVersion(root, 'isolated-vm'),
    platform: `${process.platform} ${process.arch}`,
    cpus: cores.length,
    cpu_model: cores[0]?.model.trim() ?? 'unknown',
    memory_gb: Math.round(totalmem() / 2 ** 30),
    load_start: load,
    load_end: load,
    quick,
    started_at: new Date().toISOString(),
  };
}

function moduleVersion(root: string, name: string): string | null {
  try {
    const manifest = createRequire(join(root, 'package.json')).resolve(`${name}/package.json`);
    const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown }).version;
    return typeof version === 'string' ? version : null;
  } catch {
    return null;
  }
}

/**
 * Runs one suite in its own process with the module loader at `loader` (an `--import` URL) and collects its figures. Never throws
 * for anything the suite does: a crash, a timeout or a malformed message becomes `failure`, and every figure
 * it planned but did not measure is skipped with that reason. `onOutput` receives whatever it prints.
 */
export function runSuite(
  suite: Suite,
  options: { root: string; loader: string; quick: boolean; timeoutMs?: number; onOutput: (line: string) => void },
): Promise<SuiteOutcome> {
  const plans = new Map<string, FigurePlan>();
  const measured = new Map<string, FigureMeasurement>();
  let failure: string | undefined;
  const fail = (reason: string): void => {
    failure ??= reason;
  };
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, ['--no-node-snapshot', '--import', options.loader, suite.file], {
        cwd: options.root,
        env: { ...process.env, ISOKERNEL_BENCH_QUICK: options.quick ? '1' : '0' },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
    } catch (error) {
      resolve({ figures: [], plans: [], failure: `could not start: ${(error as Error).message}` });
      return;
    }
    const timeoutMs = options.timeoutMs ?? (options.quick ? QUICK_TIMEOUT_MS : FULL_TIMEOUT_MS);
    const timer = setTimeout(() => {
      fail(`timed out after ${Math.round(timeoutMs / 1000)} s`);
      child.kill('SIGKILL');
    }, timeoutMs);
    for (const stream of [child.stdout, child.stderr]) {
      let pending = '';
      stream?.setEncoding('utf8').on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) options.onOutput(line);
      });
      stream?.on('end', () => {
        if (pending !== '') options.onOutput(pending);
      });
    }
    child.on('message', (raw) => {
      const parsed = suiteMessageSchema.safeParse(raw);
      if (!parsed.success) return fail('sent a malformed message');
      const message = parsed.data;
      if (message.type === 'plan') {
        for (const plan of message.figures) plans.set(plan.figure, plan as FigurePlan);
        return;
      }
      for (const figure of message.figures) {
        if (!plans.has(figure.figure)) return fail(`measured ${figure.figure}, which it did not plan`);
        measured.set(figure.figure, figure as FigureMeasurement);
      }
    });
    child.on('error', (error) => fail(`could not run: ${error.message}`));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) fail(signal === null ? `exited with code ${code}` : `ended by ${signal}`);
      if (plans.size === 0) fail('planned no figures');
      const reason = failure === undefined ? 'not measured' : `suite ${suite.name} ${failure}`;
      const figures = [...plans.values()].map((plan) =>
        benchFigure(suite.name, plan, measured.get(plan.figure), reason),
      );
      resolve({ figures, plans: [...plans.values()], failure });
    });
  });
}

/**
 * Runs the selected suites one after another and prints the table (or the JSON array). Exit 0 when every
 * suite ran to the end (targets not met do not fail a run: the figures are measurements), 1 when a suite
 * failed or the checkout cannot run suites, 2 on a bad `--suite`.
 */
export async function benchCommand(options: BenchOptions, io: Io): Promise<number> {
  const root = packageRoot();
  const all = findSuites(root);
  if (all.length === 0) {
    io.err(
      'isokernel bench: no suites here. The suites are TypeScript in the source repository (bench/*.bench.ts) and ' +
        'are not published with the package: run it from a checkout after npm ci (npm run bench, or npx isokernel bench).',
    );
    return EXIT_FAILED;
  }
  let loader: string;
  try {
    createRequire(join(root, 'package.json')).resolve('esbuild');
    loader = pathToFileURL(join(root, 'bench', 'loader', 'register.mjs')).href;
  } catch {
    io.err(
      'isokernel bench: the suites are compiled with esbuild, a dev dependency: run npm ci in the checkout first.',
    );
    return EXIT_FAILED;
  }
  const selected = selectSuites(all, options.suite, options.peers === true);
  if (!Array.isArray(selected)) {
    io.err(`isokernel bench: ${selected.unknown}`);
    return EXIT_USAGE;
  }
  const quick = options.quick === true;
  const started = machineFacts(root, quick);
  const figures: BenchFigure[] = [];
  const plans = new Map<string, FigurePlan>();
  let failed = 0;
  for (const [index, suite] of selected.entries()) {
    const began = performance.now();
    io.err(`isokernel bench: [${index + 1}/${selected.length}] ${suite.name}`);
    const outcome = await runSuite(suite, {
      root,
      loader,
      quick,
      onOutput: (line) => io.err(`  ${suite.name}: ${line}`),
    });
    figures.push(...outcome.figures);
    for (const plan of outcome.plans) plans.set(plan.figure, plan);
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    if (outcome.failure === undefined) io.err(`isokernel bench: ${suite.name} done in ${seconds} s`);
    else {
      failed++;
      io.err(`isokernel bench: suite ${suite.name} ${outcome.failure} (after ${seconds} s)`);
    }
  }
  const facts: MachineFacts = { ...started, load_end: loadavg().map((v) => Number(v.toFixed(2))) };
  if (options.json === true) {
    io.err(`isokernel bench: ${formatFacts(facts)}`);
    io.out(JSON.stringify(figures, null, 2));
  } else {
    io.out(formatTable(figures, plans, facts).join('\n'));
  }
  return failed === 0 ? EXIT_OK : EXIT_FAILED;
}
