// The facts /proc gives about a process, and the one verdict the audit lock and untracked writes share: a record of
// this pid namespace and boot is judged by its pid and start time; any other only by a lease.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import {
  currentBootId,
  currentPidNamespace,
  isRunning,
  leaseHolds,
  type ProcessRecord,
  recordedProcessRuns,
  samePidSpace,
  startTimeOf,
} from '../../../runtime/core/process-identity.js';

const children: ChildProcess[] = [];

function sleeper(): ChildProcess {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => child.once('exit', resolve));
}

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

const linux = process.platform === 'linux';

describe.runIf(linux)('what /proc says', () => {
  it('a running child is running and has a start time; after it is reaped it is not', async () => {
    const child = sleeper();
    const pid = child.pid ?? 0;
    expect(isRunning(pid)).toBe(true);
    expect(startTimeOf(pid)).toMatch(/^[0-9]+$/);
    child.kill('SIGKILL');
    await exited(child);
    expect(isRunning(pid)).toBe(false);
    expect(startTimeOf(pid)).toBeNull();
  });

  it('this boot and pid namespace are named, and the same each time', () => {
    expect(currentBootId()).toMatch(/^[0-9a-f-]+$/);
    expect(currentPidNamespace()).toMatch(/^[0-9]+$/);
    expect(currentPidNamespace()).toBe(currentPidNamespace());
  });
});

describe.runIf(linux)('recordedProcessRuns', () => {
  function recordOf(pid: number): ProcessRecord {
    return { pid, start: startTimeOf(pid), ns: currentPidNamespace(), boot: currentBootId() };
  }

  it('runs while the recorded process runs, and not once it is gone', async () => {
    const child = sleeper();
    const record = recordOf(child.pid ?? 0);
    expect(recordedProcessRuns(record)).toBe(true);
    child.kill('SIGKILL');
    await exited(child);
    expect(recordedProcessRuns(record)).toBe(false);
  });

  it('a pid now held by a process that started at another time is a reused pid: not running', () => {
    const child = sleeper();
    const record = recordOf(child.pid ?? 0);
    expect(recordedProcessRuns({ ...record, start: String(Number(record.start) + 1) })).toBe(false);
  });

  it('a record naming this process is another process that had its pid, and a record without a start time counts', () => {
    expect(recordedProcessRuns(recordOf(process.pid))).toBe(false);
    const child = sleeper();
    expect(recordedProcessRuns({ pid: child.pid ?? 0, start: null })).toBe(true);
  });
});

describe.runIf(linux)('samePidSpace', () => {
  const here = { pid: 1, start: null, ns: currentPidNamespace(), boot: currentBootId() };

  it('is this namespace and boot only', () => {
    expect(samePidSpace(here)).toBe(true);
    expect(samePidSpace({ ...here, boot: '00000000-0000-0000-0000-000000000000' })).toBe(false);
    expect(samePidSpace({ ...here, ns: null })).toBe(false);
    expect(samePidSpace({ ...here, boot: null })).toBe(false);
  });

  it("a real second pid namespace's record is not judged by its pid here", (context) => {
    // `unshare -rpf` makes a user and pid namespace without privileges where the kernel allows it.
    const probe = spawnSync(
      'unshare',
      [
        '-rpf',
        process.execPath,
        '--no-node-snapshot',
        '--import',
        'tsx',
        '-e',
        `import('${new URL('../../../runtime/core/process-identity.ts', import.meta.url).pathname}').then((m) =>
          console.log(JSON.stringify({ pid: process.pid, start: m.startTimeOf('self'), ns: m.currentPidNamespace(), boot: m.currentBootId() })))`,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    if (probe.status !== 0) context.skip();
    const record = JSON.parse(probe.stdout) as ProcessRecord;
    // Its pid 1 is init of its own namespace; here pid 1 runs too, and is another process.
    expect(record.pid).toBe(1);
    expect(record.boot).toBe(currentBootId());
    expect(record.ns).not.toBe(currentPidNamespace());
    expect(samePidSpace(record)).toBe(false);
  });
});

describe('leaseHolds', () => {
  it('holds within the lease of a renewal, and not past it either way', () => {
    const now = Date.now();
    expect(leaseHolds(now - 500, 5_000)).toBe(true);
    expect(leaseHolds(now - 10_000, 5_000)).toBe(false);
    // A renewal from the future beyond the lease was not made by a clock like this one.
    expect(leaseHolds(now + 10_000, 5_000)).toBe(false);
    expect(leaseHolds(now + 1_000, 5_000)).toBe(true);
  });
});
