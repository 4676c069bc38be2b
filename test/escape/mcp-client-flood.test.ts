import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { McpServerOptions } from '../../agents/mcp-server.js';
import { defineTool, type Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { closeSessions, connectSession, answerText as text } from '../helpers/mcp-session.js';

/**
 * Red-team pass 85: a hostile MCP client (a prompt-injected model) flooded `isokernel mcp serve`. Direct calls
 * went through `kernel.submit`, which takes no tool place: 500 calls of `proc.exec sleep` ran 500 programs at
 * once where an agent's tree runs 8. Nothing bounded `execute`: 40 calls started 40 sandbox hosts (2.4 GB). A
 * cancelled `execute` kept its agent spinning until its cpu_ms ran out, so the client could cancel and go on.
 */

let running = 0;
let peak = 0;
const tools = [
  defineTool({
    name: 'slow.call',
    description: 'holds a scarce resource for a while',
    input: z.strictObject({}),
    maxInFlight: 2,
    run: async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 300));
      running -= 1;
      return 'done';
    },
  }),
];

let kernel: Kernel;
afterEach(async () => {
  await closeSessions();
  await kernel?.close();
  running = 0;
  peak = 0;
});

async function connect(options: McpServerOptions = {}) {
  kernel = testKernel({ tools, policy: { capabilities: [{ action: '*', resource: '**' }] } });
  return (await connectSession(kernel, options)).client;
}

describe('a session bounds what a client keeps running', () => {
  it('direct calls hold their tool’s places: 8 at once run 2 at a time, and all finish', async () => {
    const client = await connect();
    const calls = Array.from({ length: 8 }, () => client.callTool({ name: 'slow.call', arguments: {} }));
    const results = await Promise.all(calls);
    expect(results.map(text)).toEqual(Array(8).fill('done'));
    expect(peak).toBe(2);
  });

  it('past maxPendingCalls a call is E_QUOTA at once', async () => {
    const client = await connect({ maxPendingCalls: 5 });
    const results = await Promise.all(
      Array.from({ length: 8 }, () => client.callTool({ name: 'slow.call', arguments: {} })),
    );
    const refused = results.filter((result) => /^E_QUOTA: /.test(text(result)));
    expect(refused).toHaveLength(3);
    expect(results.filter((result) => text(result) === 'done')).toHaveLength(5);
  });

  it('at most maxExecutes execute runs live at once; the rest wait their turn and finish', async () => {
    const client = await connect({ maxExecutes: 3 });
    let agents = 0;
    const sampler = setInterval(() => {
      agents = Math.max(agents, kernel.stats().agents);
    }, 20);
    try {
      const results = await Promise.all(
        Array.from({ length: 9 }, (_, i) =>
          client.callTool({
            name: 'execute',
            arguments: { code: `await new Promise((resolve) => setTimeout(resolve, 300)); return ${i}` },
          }),
        ),
      );
      expect(results.map((result) => (result.structuredContent as { result: number }).result)).toEqual([
        0, 1, 2, 3, 4, 5, 6, 7, 8,
      ]);
    } finally {
      clearInterval(sampler);
    }
    // Each run is two agents: the parent that hands the code its capabilities, and the code.
    expect(agents).toBeGreaterThan(0);
    expect(agents).toBeLessThanOrEqual(2 * 3);
  });

  it('a cancelled execute ends its agent at once', async () => {
    const client = await connect();
    const cancel = new AbortController();
    const call = client
      .callTool({ name: 'execute', arguments: { code: 'for (;;) {}' } }, { signal: cancel.signal })
      .catch((error: unknown) => error);
    const started = Date.now();
    // The run's parent and the code's agent, spinning.
    while (kernel.live().length < 2 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(kernel.live()).toHaveLength(2);
    cancel.abort();
    await call;
    const cancelled = Date.now();
    while (kernel.live().length > 0 && Date.now() - cancelled < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(kernel.live()).toEqual([]);
    expect(Date.now() - cancelled).toBeLessThan(2000);
    // The parent's join of the spinning code is recorded killed (its outcome lands once the kill has settled).
    const joinKilled = () =>
      kernel.audit.records().filter((record) => record.syscall === 'join' && record.code === 'E_KILLED');
    while (joinKilled().length === 0 && Date.now() - cancelled < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(joinKilled()).toHaveLength(1);
  });
});
