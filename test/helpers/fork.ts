import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunResult } from '../../index.js';

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
export function runBatchInChild(
  codes: readonly string[],
  limits: Record<string, number> = {},
  timeoutMs = 30_000,
): Promise<BatchOutcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--no-node-snapshot', '--import', 'tsx', CHILD], {
      env: { ...process.env, ISOKERNEL_AGENT_CODES: JSON.stringify(codes), ISOKERNEL_LIMITS: JSON.stringify(limits) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
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
      const results: RunResult[] = [];
      for (const line of stdout.split('\n')) {
        if (line.trim() === '') continue;
        try {
          results.push((JSON.parse(line) as { result: RunResult }).result);
        } catch {
          break;
        }
      }
      resolve({ exitCode, signal, results, stderr, timedOut });
    });
  });
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
