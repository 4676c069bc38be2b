// Attack: a compromised sandbox host escapes its resident-memory bound. The supervisor bounds each host at its
// size when it said `ready` plus what its agents may use; a host that grows and then says `ready` again would
// move its own base up each time and grow without end (here 5 steps of 96 MB against a bound of about 128 MB
// over its base). `ready` is the first frame of a host and only that: a second one is a protocol violation,
// audited, and the host is SIGKILLed, ending its agent E_CRASHED.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import type { ProcessLauncher } from '../../isolates/process-launcher.js';
import { expectFailed } from '../helpers/containment.js';
import { forgingHostKernel, violationRecords } from '../helpers/forging-host.js';
import { waitFor } from '../helpers/kernel.js';
import { isAlive } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'isokernel-rss-evasion-'));
const auditFile = join(dir, 'audit.jsonl');
let kernel: Kernel;
let launcher: ProcessLauncher;
beforeAll(() => {
  ({ kernel, launcher } = forgingHostKernel({
    limits: { wall_ms: 20_000, memory_mb: 16 },
    audit: { file: auditFile, fsync: 'always' },
  }));
});
afterAll(async () => {
  await kernel.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a sandbox host that says ready again', () => {
  it('is a violation: the host is killed before it outgrows its bound, its agent E_CRASHED', async () => {
    const handle = kernel.spawn({ code: 'replayed ready' });
    await waitFor(() => launcher.hostPid(handle.id) !== undefined, 'the agent has a host', 20_000);
    const pid = launcher.hostPid(handle.id) as number;
    expectFailed(await handle.result, 'E_CRASHED', /broke the protocol/);
    expect(violationRecords(auditFile)).toMatchObject([{ status: 'denied', agent: `sandbox-host:${pid}` }]);
    await waitFor(() => !isAlive(pid), 'the host is gone');
  }, 60_000);
});
