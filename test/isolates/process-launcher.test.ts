// The process tier's clock: waiting for a sandbox host to start is the kernel's time, not the agent's. A run
// whose host starts cold (no warm host) must not be ended at wall_ms by a clock that started at spawn, before
// its isolate existed. Regression: fresh runs ended with "quota exceeded: wall_ms" after 50–150 ms of their
// own wall time whenever the host took longer to start than the agent's whole wall limit.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { defaultHostEntry } from '../../isolates/host-spawn.js';
import { processTestKernel } from '../helpers/kernel.js';

// The host's start is made slower than the agent's wall limit by construction: the entry waits this long
// before it loads the real sandbox host. (A bare cold start, about 150 ms idle, once raced an 80 ms limit.)
const HOST_DELAY_MS = 2000;
// The agent's own wall time includes building its realm in the new host: a few ms idle, up to about a second
// on a loaded 2-core machine.
const WALL_MS = 1500;

let kernel: Kernel | undefined;
let dir: string | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('process launcher', () => {
  it('does not charge the wait for a cold sandbox host to the agent’s wall clock', async () => {
    const real = defaultHostEntry();
    dir = mkdtempSync(join(tmpdir(), 'isokernel-slow-host-'));
    const script = join(dir, 'slow-host.mjs');
    writeFileSync(
      script,
      `await new Promise((resolve) => setTimeout(resolve, ${HOST_DELAY_MS}));\nawait import(${JSON.stringify(pathToFileURL(real.script).href)});\n`,
    );
    ({ kernel } = processTestKernel(
      { sandboxHosts: { warm: 0 }, limits: { wall_ms: WALL_MS, cpu_ms: 5000 } },
      { entry: { execArgv: real.execArgv, script } },
    ));
    const started = performance.now();
    const result = await kernel.run({
      code: 'export default () => { let x = 0; for (let i = 0; i < 3e6; i++) x += i; return x > 0; }',
    });
    const waited = performance.now() - started;
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: true });
    // The premise: the run as a whole outlasted the agent's wall limit (the host's start did).
    expect(waited).toBeGreaterThan(HOST_DELAY_MS);
    expect(waited).toBeGreaterThan(WALL_MS);
    expect(result.usage.wall_ms).toBeLessThan(WALL_MS);
  }, 60_000);
});
