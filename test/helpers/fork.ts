import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunResult } from '../../index.js';
import type { IsolationMode } from './kernel.js';

const CHILD = fileURLToPath(new URL('./child-agents.ts', import.meta.url));

/** One agent's report from the child: its result, how long the run took, and the child's own children. */
export interface AgentReport {
  readonly result: RunResult;
  readonly ms: number;
  /** Pids of the kernel process's children (sandbox hosts) before the run and 100 ms after it. */
  readonly before: number[];
  readonly after: number[];
  /** Peak resident memory of the kernel's process so far, in MB. */
  readonly maxRssMb: number;
}

export interface BatchOutcome {
  /** The child's exit code, or null if it was killed by a signal (for example, after a timeout). */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** One entry per agent that finished, in order; a crash or hang leaves the rest missing. */
  results: RunResult[];
  reports: AgentReport[];
  /** Children the kernel process still had after `kernel.close()`; undefined if it never got there. */
  left: number[] | undefined;
  stderr: string;
  timedOut: boolean;
  /** The kernel closed (its last line arrived) but the process had not exited `exitGraceMs` later. */
  hungAfterClose: boolean;
}

export interface ChildOutcome extends Omit<BatchOutcome, 'results' | 'reports'> {
  /** The agent's result, when the child got far enough to report it. */
  result: RunResult | undefined;
  report: AgentReport | undefined;
}

export interface ChildOptions {
  readonly limits?: Record<string, number>;
  readonly timeoutMs?: number;
  readonly isolation?: IsolationMode;
  /** Once the kernel reports it closed, the process must exit within this long or it is killed as hung. */
  readonly exitGraceMs?: number;
  /** Extra Node options for the child (a smaller `--max-old-space-size`, to make a heap blow-up an abort). */
  readonly nodeArgs?: readonly string[];
}

/**
 * Runs each of `codes` in turn in one separate Node process (one kernel, `limits` for every agent, with
 * --no-node-snapshot, inline unless `isolation` says otherwise) and waits up to `timeoutMs` for the process
 * to exit. Crash-class attacks use this so that an abort or a hang of the host is observed, not suffered.
 */
export function runBatchInChild(
  codes: readonly string[],
  limits: Record<string, number> = {},
  timeoutMs = 30_000,
  isolation: IsolationMode = 'inline',
  exitGraceMs?: number,
  nodeArgs: readonly string[] = [],
): Promise<BatchOutcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--no-node-snapshot', ...nodeArgs, '--import', 'tsx', CHILD], {
      env: {
        ...process.env,
        ISOKERNEL_AGENT_CODES: JSON.stringify(codes),
        ISOKERNEL_LIMITS: JSON.stringify(limits),
        ISOKERNEL_ISOLATION: isolation,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let hungAfterClose = false;
    let graceTimer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (exitGraceMs !== undefined && graceTimer === undefined && stdout.includes('{"left":')) {
        graceTimer = setTimeout(() => {
          hungAfterClose = true;
          child.kill('SIGKILL');
        }, exitGraceMs);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (graceTimer !== undefined) clearTimeout(graceTimer);
      const reports: AgentReport[] = [];
      let left: number[] | undefined;
      for (const line of stdout.split('\n')) {
        if (line.trim() === '') continue;
        try {
          const parsed = JSON.parse(line) as AgentReport | { left: number[] };
          if ('left' in parsed) left = parsed.left;
          else reports.push(parsed);
        } catch {
          break;
        }
      }
      resolve({
        exitCode,
        signal,
        results: reports.map((r) => r.result),
        reports,
        left,
        stderr,
        timedOut: timedOut && !hungAfterClose,
        hungAfterClose,
      });
    });
  });
}

/** One agent in a separate Node process; see runBatchInChild. */
export async function runInChild(code: string, options: ChildOptions = {}): Promise<ChildOutcome> {
  const { results, reports, ...rest } = await runBatchInChild(
    [code],
    options.limits,
    options.timeoutMs ?? 20_000,
    options.isolation,
    options.exitGraceMs,
    options.nodeArgs,
  );
  return { ...rest, result: results[0], report: reports[0] };
}
