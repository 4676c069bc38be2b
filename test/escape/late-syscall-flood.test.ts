// Attack: a compromised sandbox host reports its agent's end, then keeps sending syscalls in that agent's
// name. Each one is refused (E_KILLED) but still costs the kernel an audit attempt (two records) and a reply,
// so without a bound the host writes the kernel's audit log without end, long after any budget of the agent.
// Late syscalls arrive honestly in the moment between an agent's end and its host learning of it (thousands,
// under load, for an agent looping on syscalls), so they are not a violation; but past the agent's own
// `syscalls` budget plus a margin they are dropped: not dispatched, audited or answered, with one
// `sandbox.late` record saying so. The audit records a host can cause for an ended agent are bounded. (The
// host stays up after the agent's end because another run shares it: `agentsPerHost` 2.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import type { ProcessLauncher } from '../../isolates/process-launcher.js';
import { readAuditRecords } from '../helpers/audit-file.js';
import { forgingHostKernel } from '../helpers/forging-host.js';
import { waitFor } from '../helpers/kernel.js';
import { LATE_FLOOD_CALLS } from './forging-host-plan.js';

const SYSCALLS = 100;
const dir = mkdtempSync(join(tmpdir(), 'isokernel-late-flood-'));
const auditFile = join(dir, 'audit.jsonl');
let kernel: Kernel;
let launcher: ProcessLauncher;
beforeAll(() => {
  // Two runs per host and no warm spare: the sleeper's run keeps the host serving after the flooder's ends.
  ({ kernel, launcher } = forgingHostKernel(
    { limits: { wall_ms: 20_000, syscalls: SYSCALLS }, audit: { file: auditFile, fsync: 'always' } },
    { warm: 0, agentsPerHost: 2 },
  ));
});
afterAll(async () => {
  await kernel.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('syscalls in the name of an agent that has ended', () => {
  it('past its budget and a margin they are dropped, with one record saying so: the audit records stay bounded', async () => {
    let late = 0;
    const sleeper = kernel.spawn({ code: 'sleeper' });
    await waitFor(() => launcher.hostPid(sleeper.id) !== undefined, 'the sleeper has a host', 20_000);
    const handle = kernel.spawn({ code: 'late syscall flood' });
    kernel.on('syscall', (event) => {
      if (event.agent === handle.id && event.code === 'E_KILLED') late++;
    });
    await waitFor(() => launcher.hostPid(handle.id) !== undefined, 'the agent has a host', 20_000);
    expect(launcher.hostPid(handle.id)).toBe(launcher.hostPid(sleeper.id));
    expect(await handle.result).toMatchObject({ ok: true, value: 1 });
    const lateRecords = () =>
      readAuditRecords(auditFile).filter((record) => record.action === 'sandbox.late' && record.phase === 'outcome');
    await waitFor(() => lateRecords().length > 0, 'the drop is recorded', 20_000);
    // The rest of the flood (25000 in all, paced over about half a second) arrives and is dropped.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(lateRecords()).toMatchObject([{ agent: handle.id, status: 'killed' }]);
    expect(late).toBeGreaterThan(0);
    expect(late).toBeLessThan(LATE_FLOOD_CALLS / 5);
    const records = readAuditRecords(auditFile).filter((record) => record.agent === handle.id);
    expect(records.length).toBeLessThan((2 * LATE_FLOOD_CALLS) / 5);
    kernel.kill(sleeper.id);
    await sleeper.result;
  }, 60_000);
});
