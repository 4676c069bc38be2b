// Attack: keep a killed agent's kill pending for as long as one likes, from a compromised sandbox host. The kernel
// SIGKILLs a host that does not confirm a kill in time; when one shared grace was re-armed by every
// confirmation, a host could withhold one kill for good while it spawned, killed and promptly confirmed other
// children (a red-team finding). Each kill now has its own deadline, which no confirmation moves.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { forgingHostKernel } from '../helpers/forging-host.js';
import { testToolsPolicy } from '../helpers/kernel.js';

describe('process tier: a host withholding one kill', () => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('is SIGKILLed at that kill’s deadline, whatever other kills it confirms meanwhile', async () => {
    ({ kernel } = forgingHostKernel({
      limits: { wall_ms: 10_000, children: 1000 },
      policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'agent.spawn', resource: 'inline' }] },
    }));
    let confirmedKills = 0;
    kernel.on('exit', (event) => {
      if (!event.result.ok && event.result.error.code === 'E_KILLED') confirmedKills++;
    });
    const started = performance.now();
    const result = await kernel.run({ code: 'withheld kill' });
    const elapsed = performance.now() - started;
    expect(result, JSON.stringify(result)).toMatchObject({
      ok: false,
      error: { code: 'E_CRASHED', message: 'a kill was not confirmed in time' },
    });
    // The churn would go on until the run's wall limit (10 s); the grace is 50 ms.
    expect(elapsed).toBeLessThan(3000);
    // The exercise happened: other kills were confirmed after the withheld one was sent.
    expect(confirmedKills).toBeGreaterThan(0);
  }, 30_000);

  it('is SIGKILLed one grace after that kill, however many kills it confirmed before', async () => {
    // Each deadline once followed the latest ever given: after 200 confirmed kills a withheld one lived 190 graces.
    ({ kernel } = forgingHostKernel({
      limits: { wall_ms: 20_000, children: 1000 },
      policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'agent.spawn', resource: 'inline' }] },
    }));
    let withheldAt: number | undefined;
    kernel.on('log', () => {
      withheldAt = performance.now();
    });
    const result = await kernel.run({ code: 'withheld kill late' });
    const ended = performance.now();
    expect(result, JSON.stringify(result)).toMatchObject({
      ok: false,
      error: { code: 'E_CRASHED', message: 'a kill was not confirmed in time' },
    });
    expect(withheldAt).toBeDefined();
    // 150 graces would be 7.5 s; one is 50 ms.
    expect(ended - (withheldAt ?? 0)).toBeLessThan(2000);
  }, 60_000);
});
