import { fileURLToPath } from 'node:url';
import type { RunResult } from '../../index.js';
import { runNode } from './node-process.js';

const CHILD = fileURLToPath(new URL('./child-agents.ts', import.meta.url));

export interface BatchOutcome {
  /** The child's exit code, or null if it was killed by a signal (for example, after a timeout). */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** One entry per agent that finished, in order; a crash or hang leaves the rest missing. */
  results: RunResult[];
  stderr: string;
  timedOut: boolean;
}

export interface ChildOutcome extends Omit<BatchOutcome, 'results'> {
  /** The agent's result, when the child got far enough to report it. */
  result: RunResult | undefined;
}

/**
 * Runs each of `codes` in turn in one separate Node process (one kernel, `limits` for every agent, with
 * --no-node-snapshot) and waits up to `timeoutMs` for the process to exit. Crash-class attacks use this so
 * that an abort or a hang of the host is observed, not suffered.
 */
export async function runBatchInChild(
  codes: readonly string[],
  limits: Record<string, number> = {},
  timeoutMs = 30_000,
): Promise<BatchOutcome> {
  const run = await runNode(['--no-node-snapshot', '--import', 'tsx', CHILD], {
    env: { ...process.env, ISOKERNEL_AGENT_CODES: JSON.stringify(codes), ISOKERNEL_LIMITS: JSON.stringify(limits) },
    timeoutMs,
  });
  const results: RunResult[] = [];
  for (const line of run.stdout.split('\n')) {
    if (line.trim() === '') continue;
    try {
      results.push((JSON.parse(line) as { result: RunResult }).result);
    } catch {
      break;
    }
  }
  return { exitCode: run.status, signal: run.signal, results, stderr: run.stderr, timedOut: run.timedOut };
}

/** One agent in a separate Node process; see runBatchInChild. */
export async function runInChild(
  code: string,
  limits: Record<string, number> = {},
  timeoutMs = 20_000,
): Promise<ChildOutcome> {
  const { results, ...rest } = await runBatchInChild([code], limits, timeoutMs);
  return { ...rest, result: results[0] };
}
