// Attack: learn labelled data from whether a sandbox host dies. A host's death ends every agent on it with
// E_CRASHED, and any of them can cause it (H5's fatal size check aborts the host, or growth past the host's RSS
// bound has it SIGKILLed). An agent that read a secret crashes its host or not by a bit of it: a clean run sharing
// that host (agentsPerHost > 1) ends E_CRASHED or not, and the host program reads the bit from its result, labelled
// []. (Within one run nothing new leaks: children run on their parent's host and die with it, and a run's result
// already carries its descendants' labels through its usage.) Memory ends already took their neighbours' labels
// (memory-attribution-channel); a crash end now does too.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel, RunResult } from '../../index.js';
import { processTestKernel, testToolsPolicy, waitFor } from '../helpers/kernel.js';
import { pinVault } from '../helpers/web-and-mail.js';

const LIMITS = { memory_mb: 1024, cpu_ms: 30_000, wall_ms: 60_000 };

// H5: a V8 fatal size check aborts the sandbox host (memory-bombs.test.ts). Taken only when the PIN says so.
const crashIf = (condition: string) => `if (${condition}) "x".repeat(2 ** 28).split("");`;
const READ_AND_CRASH = `const { pin } = await sys.tool('vault.read', {}); ${crashIf("pin.startsWith('4')")}`;

// Clean: waits, reads nothing.
const VICTIM = `export default async () => {
  for (let i = 0; i < 400; i++) await sys.tool('sleep', { ms: 25 });
  return 'survived';
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

function crashKernel(agentsPerHost: number) {
  const made = processTestKernel(
    {
      limits: LIMITS,
      tools: [pinVault],
      policy: {
        capabilities: [...testToolsPolicy.capabilities, { action: 'vault.read', resource: 'vault.read' }],
      },
    },
    { warm: 0, agentsPerHost },
  );
  kernel = made.kernel;
  return made;
}

// Two runs on one host: the clean victim first, then the attacker placed beside it.
async function sharedHostRuns(attacker: string): Promise<{ victim: RunResult; attacker: RunResult }> {
  const { kernel: live, launcher } = crashKernel(2);
  const victim = live.spawn({ code: VICTIM });
  await waitFor(() => launcher.hostPid(victim.id) !== undefined, 'the victim is placed', 20_000);
  const attacking = live.spawn({ code: attacker });
  expect(launcher.hostPid(attacking.id)).toBe(launcher.hostPid(victim.id));
  const [victimResult, attackerResult] = await Promise.all([victim.result, attacking.result]);
  return { victim: victimResult, attacker: attackerResult };
}

describe('a host crash caused by one agent, read from the agents beside it (process tier)', () => {
  it('a clean run sharing the host ends E_CRASHED with the crashing run’s labels', async () => {
    const { victim, attacker } = await sharedHostRuns(
      `export default async () => { ${READ_AND_CRASH} return 'quiet'; }`,
    );
    // The channel ran: the PIN's first digit crashed the host, and both runs ended with it.
    expect(attacker).toMatchObject({ ok: false, error: { code: 'E_CRASHED' } });
    expect(victim).toMatchObject({ ok: false, error: { code: 'E_CRASHED' } });
    // Before, the victim's end was labelled [] while it told the PIN's bit.
    expect(victim.label).toContain('secret');
  }, 120_000);

  it('a crash by an agent that read nothing leaves the victim clean', async () => {
    const { victim } = await sharedHostRuns(`export default async () => { ${crashIf('true')} return 'quiet'; }`);
    expect(victim).toMatchObject({ ok: false, error: { code: 'E_CRASHED' } });
    expect(victim.label ?? []).toEqual([]);
  }, 120_000);
});
