// Attack: make the kernel end an agent by force on a shared sandbox host (agentsPerHost > 1), so that the host
// is marked tainted (its isolate thread may still run a built-in that ignores termination), and count on the
// supervisor placing the next tenants' runs there while another run keeps the host alive. A new run must never
// start on a host known to be tainted: it goes to a clean host, and the tainted one is retired when its last
// run ends.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { processTestKernel, waitFor } from '../helpers/kernel.js';
import { isAlive } from '../helpers/processes.js';

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe('placement on a tainted sandbox host', () => {
  it('a run started after a forced kill on a shared host goes to another host', async () => {
    // No spare host, so the attacker shares the keeper's host, as runs do once spares are used up.
    const made = processTestKernel(
      { limits: { cpu_ms: 20_000, wall_ms: 30_000, memory_mb: 64 } },
      { warm: 0, agentsPerHost: 4 },
    );
    kernel = made.kernel;
    const { launcher } = made;
    // Keeps the shared host in use while the attack runs.
    const keeper = kernel.spawn({
      code: `export default async function main() {
        let n = 0;
        for (let i = 0; i < 40; i++) { await sys.tool('sleep', { ms: 25 }); n += await sys.tool('echo', 1); }
        return n;
      }`,
    });
    await waitFor(() => launcher.hostPid(keeper.id) !== undefined, 'the keeper is placed', 20_000);
    const shared = launcher.hostPid(keeper.id);
    const attacker = kernel.spawn({
      code: 'export default async function main() { for (;;) {} }',
      limits: { cpu_ms: 200 },
    });
    expect(launcher.hostPid(attacker.id)).toBe(shared);
    expect(await attacker.result).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });

    const tenant = kernel.spawn({ code: 'export default async function main() { return sys.tool("echo", "mine"); }' });
    expect(launcher.hostPid(tenant.id)).toBeDefined();
    expect(launcher.hostPid(tenant.id)).not.toBe(shared);
    expect(await tenant.result).toMatchObject({ ok: true, value: 'mine' });
    expect(await keeper.result).toMatchObject({ ok: true, value: 40 });
    // The tainted host is retired once its last run has ended.
    await waitFor(() => !isAlive(shared as number), 'the tainted host exits', 10_000);
  }, 60_000);
});
