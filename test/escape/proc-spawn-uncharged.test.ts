/**
 * Attack: make the kernel start programs, whose start it pays for on its event loop, charged to nobody. Reported
 * (red-team pass 121): Node starts a child by forking the kernel's process on the event loop, which copies its
 * page tables: with a 1 GiB kernel one start took 30-75 ms, and 48 `git status` calls (two starts each: the
 * repository's configuration check, then the run) held the loop 3.2 s while the agent was charged 45 ms of
 * kernel time. Both starts now run under the caller's meter (ToolContext.metered).
 *
 * The kernel's own process is made large with a touched buffer, as many isolates would make it; each start is
 * timed where Node makes it (ChildProcess.prototype.spawn, wrapped to measure, the real spawn runs), and the
 * agent's kernel_ms must cover most of that time. Ratios in one run, no absolute times.
 */
import { ChildProcess, execFileSync } from 'node:child_process';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProcTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

let base: string;
let ballast: Buffer | undefined;
const spawned: number[] = [];
// Node's own start of a child (child_process.spawn and execFile both go through it); not in its typings.
type Start = (this: ChildProcess, options: unknown) => unknown;
const prototype = ChildProcess.prototype as unknown as { spawn: Start };
const original = prototype.spawn;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-spawn-cost-')));
  execFileSync('git', ['init', '-q', base]);
  ballast = Buffer.alloc(1 << 30, 1);
  prototype.spawn = function (this: ChildProcess, options: unknown) {
    const started = performance.now();
    try {
      return original.call(this, options);
    } finally {
      spawned.push(performance.now() - started);
    }
  };
});

afterAll(async () => {
  prototype.spawn = original;
  ballast = undefined;
  await rm(base, { recursive: true, force: true });
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterAll(async () => {
    await kernel?.close();
  });

  it("the starts of an agent's programs are its kernel time", async () => {
    kernel = testKernel({
      isolation,
      tools: [createProcTool({ roots: [base], programs: { git: { path: '/usr/bin/git' } }, sandbox: 'off' })],
      policy: { capabilities: [{ action: 'proc.exec', resource: 'git' }] },
    });
    // The process tier starts its sandbox host before the agent: only the agent's own starts are counted.
    await kernel.run({ code: 'export default () => 0' });
    spawned.length = 0;
    const result = await kernel.run({
      code: `export default async () => {
        const one = () => sys.tool('proc.exec', { program: 'git', args: ['status', '--short'] });
        for (let i = 0; i < 4; i++) await Promise.all(Array.from({ length: 4 }, one));
        return 'done';
      }`,
    });
    expect(result.ok).toBe(true);
    expect(spawned).toHaveLength(32);
    const starts = spawned.reduce((sum, ms) => sum + ms, 0);
    expect(ballast?.length).toBe(1 << 30);
    expect(result.usage.kernel_ms).toBeGreaterThanOrEqual(0.8 * starts);
  }, 120_000);
});
