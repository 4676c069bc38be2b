import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { defaultHostEntry, prestartSandboxHost, takePrestartedHost } from '../../isolates/host-spawn.js';
import { processTestKernel, waitFor } from '../helpers/kernel.js';
import { runNode } from '../helpers/node-process.js';
import { isAlive } from '../helpers/processes.js';

const MODULE = fileURLToPath(new URL('../../isolates/host-spawn.ts', import.meta.url));

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  // A test that prestarted and did not adopt leaves nothing for the next one.
  takePrestartedHost({ execArgv: [], script: '' });
});

describe('prestarted sandbox host', () => {
  it('the first host a kernel starts is the prestarted process, and the run works on it', async () => {
    const pid = prestartSandboxHost();
    expect(pid).toBeGreaterThan(0);
    expect(prestartSandboxHost()).toBe(pid);
    const made = processTestKernel({}, { warm: 0 });
    kernel = made.kernel;
    const run = kernel.spawn({ code: 'export default async function main() { return sys.tool("echo", "on it"); }' });
    expect(made.launcher.hostPid(run.id)).toBe(pid);
    expect(await run.result).toMatchObject({ ok: true, value: 'on it' });
    // Adopted means taken: the next kernel host is a new process.
    expect(takePrestartedHost(defaultHostEntry())).toBeUndefined();
  }, 30_000);

  it('a prestarted host of another entry is not adopted: it is killed', async () => {
    const pid = prestartSandboxHost() as number;
    expect(takePrestartedHost({ execArgv: [], script: '/elsewhere/sandbox-host.js' })).toBeUndefined();
    await waitFor(() => !isAlive(pid), 'the discarded host exits', 5000);
  }, 20_000);

  it('a process that prestarts and never adopts exits at once and leaves no host behind', async () => {
    const script = `const m = await import(${JSON.stringify(MODULE)}); console.log(m.prestartSandboxHost());`;
    const child = await runNode(['--import', 'tsx', '--input-type=module', '-e', script], { timeoutMs: 20_000 });
    expect(child).toMatchObject({ status: 0, timedOut: false });
    const pid = Number(child.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    await waitFor(() => !isAlive(pid), 'the unadopted host exits with its process', 5000);
  }, 30_000);
});

describe('the host bundled from source', () => {
  it('is one copy per content, shared by processes, and left in place when a process is killed', async () => {
    // Test workers are killed by their runner without exit handlers: a copy per process leaked one per worker.
    const script = `const m = await import(${JSON.stringify(MODULE)}); console.log(m.defaultHostEntry().script);`;
    const paths: string[] = [];
    for (let i = 0; i < 2; i++) {
      const child = await runNode(['--import', 'tsx', '--input-type=module', '-e', script], { timeoutMs: 20_000 });
      expect(child).toMatchObject({ status: 0, timedOut: false });
      paths.push(child.stdout.trim());
    }
    expect(paths[0]).toBe(paths[1]);
    expect(paths[0]).toBe(defaultHostEntry().script);
    expect(basename(paths[0]!)).toBe('sandbox-host.mjs');
    expect(paths[0]).toMatch(/isokernel-host-[0-9a-f]{16}[/\\]sandbox-host\.mjs$/);
    expect(existsSync(paths[0]!)).toBe(true);
  }, 60_000);
});
