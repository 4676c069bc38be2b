/**
 * Attack: an agent allowed one harmless program floods its output. Reported: `yes` with no arguments ran at
 * full CPU until the 30 s timeout (the output cap only discarded bytes, it did not stop the program), and
 * its capped output then exceeded the syscall payload cap, so the agent got E_TOOL_FAILED instead of a
 * truncated result. The defaults are the point here: the proc tool is configured with nothing but programs.
 */
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProcTool, type Kernel } from '../../index.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../../tools/proc.js';
import { testKernel } from '../helpers/kernel.js';

let base: string;
let kernel: Kernel;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-flood-')));
  kernel = testKernel({
    tools: [createProcTool({ programs: { yes: { path: '/usr/bin/yes' }, sh: { path: '/bin/sh' } }, roots: [base] })],
    policy: {
      capabilities: [
        { action: 'proc.exec', resource: 'yes' },
        { action: 'proc.exec', resource: 'sh' },
      ],
    },
  });
});

afterAll(async () => {
  await kernel.close();
  await rm(base, { recursive: true, force: true });
});

async function exec(args: object): Promise<Record<string, unknown>> {
  const result = await kernel.run({
    code: `export default async (args) => {
      try {
        const r = await sys.tool('proc.exec', args);
        return { ...r, stdoutLength: r.stdout.length, stderrLength: r.stderr.length, stdout: r.stdout.slice(0, 8) };
      } catch (e) { return { code: e.code, message: e.message }; }
    }`,
    input: args,
    limits: { wall_ms: 60_000 },
  });
  if (!result.ok) throw new Error(`agent failed: ${result.error.code}`);
  return result.value as Record<string, unknown>;
}

describe('proc output flood', () => {
  it('`yes` with no arguments is killed as soon as the output cap is reached, not by the timeout', async () => {
    const out = await exec({ program: 'yes' });
    expect(out).toMatchObject({ truncated: true, timed_out: false, signal: 'SIGKILL', exit_code: null });
    expect(out['stdoutLength']).toBe(DEFAULT_MAX_OUTPUT_BYTES);
    expect(out['stdout']).toBe('y\ny\ny\ny\n');
  });

  it('the default caps fit the payload cap: control bytes on both streams (6 JSON characters each) come back truncated', async () => {
    const script = `head -c ${DEFAULT_MAX_OUTPUT_BYTES - 1} /dev/zero >&2; exec cat /dev/zero`;
    const out = await exec({ program: 'sh', args: ['-c', script] });
    expect(out['code']).toBeUndefined();
    expect(out).toMatchObject({ truncated: true, timed_out: false, signal: 'SIGKILL' });
    expect(out['stdoutLength']).toBe(DEFAULT_MAX_OUTPUT_BYTES);
    expect(out['stderrLength']).toBe(DEFAULT_MAX_OUTPUT_BYTES - 1);
  });

  it('the same holds for base64 output', async () => {
    const out = await exec({ program: 'sh', args: ['-c', 'exec cat /dev/urandom'], encoding: 'base64' });
    expect(out).toMatchObject({ truncated: true, timed_out: false, signal: 'SIGKILL' });
    expect(out['stdoutLength']).toBe(Math.ceil(DEFAULT_MAX_OUTPUT_BYTES / 3) * 4);
  });
});
