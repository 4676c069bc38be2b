import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunResult } from '../../index.js';

const CHILD = fileURLToPath(new URL('./child-agent.ts', import.meta.url));

export interface ChildOutcome {
  /** The child's exit code, or null if it was killed by a signal (for example, after a timeout). */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The agent's result, when the child got far enough to report it. */
  result: RunResult | undefined;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs agent `code` in a separate Node process (with --no-node-snapshot) and waits up to `timeoutMs`.
 * Crash-class attacks use this so that an abort or a hang of the host is observed, not suffered.
 */
export function runInChild(
  code: string,
  limits: Record<string, number> = {},
  timeoutMs = 20_000,
): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--no-node-snapshot', '--import', 'tsx', CHILD], {
      env: { ...process.env, ISOKERNEL_AGENT_CODE: code, ISOKERNEL_LIMITS: JSON.stringify(limits) },
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
      let result: RunResult | undefined;
      const line = stdout.trim().split('\n').pop();
      if (line) {
        try {
          result = (JSON.parse(line) as { result: RunResult }).result;
        } catch {
          result = undefined;
        }
      }
      resolve({ exitCode, signal, result, stderr, timedOut });
    });
  });
}
