import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunResult } from '../../index.js';

const CHILD = fileURLToPath(new URL('./child-batch.ts', import.meta.url));

export interface BatchOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** One entry per agent that finished, in order; a crash or hang leaves the rest missing. */
  results: RunResult[];
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs each of `codes` in turn in one separate Node process (one kernel, `limits` for every agent) and
 * waits up to `timeoutMs` for the process to exit; see test/helpers/fork.ts for the single-agent form.
 */
export function runBatchInChild(
  codes: readonly string[],
  limits: Record<string, number>,
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
