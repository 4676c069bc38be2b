import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli-process.js';

// The example host program as a user runs it (after `npm run build`, which `npm test` does first).
function runExample(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-node-snapshot', 'examples/agent-loop/host.mjs', ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('examples/agent-loop', () => {
  for (const mode of [[], ['--code-mode']]) {
    it(`the scripted model obeys the inbox's injection, the kernel refuses the send, the summary is printed ${mode.join(' ')}`, async () => {
      const run = await runExample(...mode);
      expect(run.status).toBe(0);
      expect(run.stdout).toContain('The spring launch is on May 4');
      expect(run.stderr).toMatch(/-> E_TAINT/);
      expect(run.stdout + run.stderr).not.toContain('sk-example-private-key');
    });
  }
});
