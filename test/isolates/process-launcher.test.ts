// The process tier's clock: waiting for a sandbox host to start is the kernel's time, not the agent's. A run
// whose host starts cold (no warm host) must not be ended at wall_ms by a clock that started at spawn, before
// its isolate existed. Regression: fresh runs ended with "quota exceeded: wall_ms" after 50–150 ms of their
// own wall time whenever the host took longer to start than the agent's whole wall limit.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe('process launcher', () => {
  it('does not charge the wait for a cold sandbox host to the agent’s wall clock', async () => {
    // Starting a host (Node, isolated-vm, a realm) takes longer than 80 ms (about 150 ms on an idle machine, more
    // under load); the agent itself, a few ms.
    kernel = testKernel({ isolation: 'process', sandboxHosts: { warm: 0 }, limits: { wall_ms: 80, cpu_ms: 5000 } });
    const started = performance.now();
    const result = await kernel.run({
      code: 'export default () => { let x = 0; for (let i = 0; i < 3e6; i++) x += i; return x > 0; }',
    });
    const waited = performance.now() - started;
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: true });
    // The premise: the run as a whole outlasted the agent's wall limit (the host start did).
    expect(waited).toBeGreaterThan(80);
  }, 60_000);
});
