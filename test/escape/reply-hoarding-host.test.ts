// Attack: a compromised sandbox host asks for large replies and never reads them. The kernel writes each reply
// to the host's socket; what the host has not read stays in the kernel's process, so a peer that does not
// drain its socket could make the kernel buffer every reply (here 400 replies of 256 KiB, 100 MiB, from 400
// small frames; with the default budget, 20000 of 1 MiB). The kernel must count what it holds unread for the
// host as memory it holds for the agent: past memory_mb the agent ends with E_QUOTA and nothing more is
// written for it; the kernel serves on.
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import type { ProcessLauncher } from '../../isolates/process-launcher.js';
import { expectFailed } from '../helpers/containment.js';
import { forgingHostKernel } from '../helpers/forging-host.js';
import { recordingTool, waitFor } from '../helpers/kernel.js';
import { isAlive } from '../helpers/processes.js';
import { HOARD_VALUE_CHARS } from './forging-host-plan.js';

const MEMORY_MB = 16;
let kernel: Kernel;
let launcher: ProcessLauncher;
// Bytes this process handed to sockets in writes as large as one reply of the attack (the kernel's replies).
let replyBytes = 0;
const write = Socket.prototype.write;
beforeAll(() => {
  const { tool, capability } = recordingTool('recorded');
  ({ kernel, launcher } = forgingHostKernel({
    tools: [tool],
    policy: { capabilities: [capability] },
    // A wall limit the memory bound always beats, however slow the machine: the test is about memory.
    limits: { wall_ms: 20_000, memory_mb: MEMORY_MB },
  }));
  Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
    if (Buffer.isBuffer(chunk) && chunk.length >= HOARD_VALUE_CHARS) replyBytes += chunk.length;
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof write;
});
afterAll(async () => {
  Socket.prototype.write = write;
  await kernel.close();
});

describe('a sandbox host that does not read its replies', () => {
  it("unread replies are held against the agent's memory_mb: it ends E_QUOTA with them bounded by it", async () => {
    const handle = kernel.spawn({ code: 'reply hoarding' });
    await waitFor(() => launcher.hostPid(handle.id) !== undefined, 'the agent has a host', 20_000);
    const pid = launcher.hostPid(handle.id) as number;
    const result = await handle.result;
    expectFailed(result, 'E_QUOTA', /memory_mb/);
    // Every reply is 256 KiB: what the kernel wrote for a host that reads nothing stays within memory_mb
    // (about 64 replies), never the 400 asked for.
    expect(replyBytes).toBeGreaterThan(0);
    expect(replyBytes).toBeLessThanOrEqual(MEMORY_MB * 1024 * 1024);
    await waitFor(() => !isAlive(pid), 'the hoarding host is gone');
    expect(await kernel.run({ code: 'honest' })).toMatchObject({ ok: true, value: 'recorded' });
  }, 60_000);
});
