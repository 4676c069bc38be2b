// Attack (review 123): end the agent by the charge for starting its own program. Each start of `proc.exec` is
// metered (proc-spawn-uncharged.test.ts), and a charge that crosses `cpu_ms` ends the agent at once, aborting its
// calls: after the program was started but before its call listened for the abort, so that program was never
// killed. With a 512 MiB kernel, 3 of 5 agents looping on six `sleep` calls under a small `cpu_ms` left one
// running past the kernel's close (unconfined, until its own end). The call now looks at its signal once it
// listens. Here the meter is the one that ends the caller, every time: a real program started, and the signal
// aborted by the charge that follows its start, as a crossed `cpu_ms` does.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KernelError } from '../../runtime/core/errors.js';
import { execute } from '../../tools/proc-exec.js';
import { checkGitRepository, gitEnvironment } from '../../tools/proc-git.js';

const NAP = '17.25';
let base: string;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-metered-start-')));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** Pids of this process's children running `file` (with `arg`, when given). */
function children(file: string, arg?: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1];
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (Number(parent) === process.pid && args[0] === file && (arg === undefined || args[1] === arg)) {
        found.push(Number(entry));
      }
    } catch {
      // Gone since the listing.
    }
  }
  return found;
}

/** A meter whose charge ends the caller: the signal is aborted right after the call it meters returned. */
function endingMeter(): { metered: <T>(call: () => T) => T; signal: AbortSignal } {
  const controller = new AbortController();
  return {
    signal: controller.signal,
    metered: (call) => {
      try {
        return call();
      } finally {
        controller.abort();
      }
    },
  };
}

it('a program whose start ended its caller is killed, not left running (review 123)', async () => {
  const { metered, signal } = endingMeter();
  const running = execute('sleep', { file: '/bin/sleep', argv0: 'sleep', args: [NAP] }, base, {
    env: { PATH: '/usr/bin:/bin' },
    stdin: undefined,
    timeoutMs: 60_000,
    maxOutput: 1024,
    encoding: 'utf8',
    signal,
    metered,
  });
  const started = performance.now();
  await expect(running).rejects.toMatchObject({ code: 'E_KILLED' });
  // Killed at once, not at its own end nor at the timeout.
  expect(performance.now() - started).toBeLessThan(10_000);
  expect(children('/bin/sleep', NAP)).toEqual([]);
});

it("git's configuration listing whose start ended its caller is killed as well", async () => {
  const { metered, signal } = endingMeter();
  // A fake git that lists nothing for a long time: the listing's own timeout is 10 s.
  const checking = checkGitRepository('/bin/sleep', base, gitEnvironment({ PATH: '/usr/bin:/bin' }), {
    launch: (command) => ({ ...command, args: [NAP] }),
    metered,
    signal,
  });
  const started = performance.now();
  await expect(checking).rejects.toBeInstanceOf(KernelError);
  expect(performance.now() - started).toBeLessThan(5_000);
  expect(children('/bin/sleep', NAP)).toEqual([]);
});
