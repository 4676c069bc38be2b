// Attack: a compromised sandbox host reports its agent's end, then keeps sending syscalls in that agent's
// name. Each one is refused (E_KILLED) but still costs the kernel an audit attempt (two records) and a reply,
// so without a bound the host writes the kernel's audit log without end, long after any budget of the agent.
// A late syscall is normal only in the moment between an agent's end and its host learning of it; a host
// that goes on past the agent's own `syscalls` budget (plus a margin for that moment) is compromised: refused,
// audited as a `sandbox.violation`, and SIGKILLed, with the audit records it caused bounded. (The host stays
// up after the agent's end because another run shares it: `agentsPerHost` 2.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import type { ProcessLauncher } from '../../isolates/process-launcher.js';
import { readAuditRecords } from '../helpers/audit-file.js';
import { forgingHostKernel, violationRecords } from '../helpers/forging-host.js';
import { waitFor } from '../helpers/kernel.js';
import { isAlive } from '../helpers/processes.js';
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
  it('past its budget and a margin: a violation, the host killed, the audit records bounded', async () => {
    let late = 0;
    const sleeper = kernel.spawn({ code: 'sleeper' });
    await waitFor(() => launcher.hostPid(sleeper.id) !== undefined, 'the sleeper has a host', 20_000);
    const handle = kernel.spawn({ code: 'late syscall flood' });
    kernel.on('syscall', (event) => {
      if (event.agent === handle.id && event.code === 'E_KILLED') late++;
    });
    await waitFor(() => launcher.hostPid(handle.id) !== undefined, 'the agent has a host', 20_000);
    const pid = launcher.hostPid(handle.id) as number;
    expect(pid).toBe(launcher.hostPid(sleeper.id));
    expect(await handle.result).toMatchObject({ ok: true, value: 1 });
    // Killed for the flood, long before the sleeper's wall limit would end its run.
    expect(await sleeper.result).toMatchObject({ ok: false, error: { code: 'E_CRASHED', message: /protocol/ } });
    await waitFor(() => !isAlive(pid), 'the flooding host is killed');
    expect(violationRecords(auditFile)).toMatchObject([{ status: 'denied', agent: `sandbox-host:${pid}` }]);
    // A few thousand at most: the budget plus the margin, never the 25000 the host sent.
    expect(late).toBeGreaterThan(0);
    expect(late).toBeLessThan(LATE_FLOOD_CALLS / 5);
    const records = readAuditRecords(auditFile).filter((record) => record.agent === handle.id);
    expect(records.length).toBeLessThan((2 * LATE_FLOOD_CALLS) / 5);
  }, 60_000);
});
