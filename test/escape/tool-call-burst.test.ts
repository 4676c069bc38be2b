// Attack (a red-team pass on kernel-side exhaustion): fire thousands of tool calls that never end. Each call
// of net.http, proc.exec or model.chat holds kernel resources until it ends (a socket and a connection pool, an
// OS process with its pipes, response buffers), tools run in the kernel's own process whichever tier the agent
// is in, and a pending call was charged a flat 8 KiB against memory_mb. Measured before the bounds: one agent
// with memory_mb 64 held 5,040 sockets, or 2.1 GB of response bodies from a server that sends 9.5 MB and
// stalls, or 2,000 child processes whose synchronous starts stalled the kernel's event loop for 27 s and ended
// an innocent sibling. Each such tool now has a bound on the calls one agent may have running at once (past it,
// a call waits for a place, holding only what any pending syscall holds), and a response body is charged to the
// agent's memory as it arrives.
import { mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHttpTool, createProcTool, defineTool, type Kernel } from '../../index.js';
import { TREE_PLACES_FACTOR } from '../../runtime/tool-use/tool-slots.js';
import { HTTP_MAX_IN_FLIGHT } from '../../tools/http.js';
import { PROC_MAX_IN_FLIGHT } from '../../tools/proc.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { ISOLATION_MODES, testKernel, waitFor } from '../helpers/kernel.js';

// Fires `n` calls at once and counts their outcomes by error code ('ok' for a result).
const BURST = (tool: string, args: string) => `export default async (n) => {
  const calls = [];
  for (let i = 0; i < n; i++) calls.push(sys.tool('${tool}', ${args}).then(() => 'ok', (e) => e.code));
  const count = {};
  for (const code of await Promise.all(calls)) count[code] = (count[code] ?? 0) + 1;
  return count;
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  let server: TestServer | undefined;
  let root: string | undefined;
  const open: ServerResponse[] = [];
  afterEach(async () => {
    await kernel?.close();
    for (const res of open.splice(0)) res.destroy();
    await server?.close();
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
    kernel = undefined;
    server = undefined;
    root = undefined;
  });

  const httpKernel = async (answer: (res: ServerResponse) => void) => {
    server = await startTestServer((_req, res) => {
      open.push(res);
      answer(res);
    });
    kernel = testKernel({
      isolation,
      tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'], timeoutMs: 60_000 })],
      policy: {
        capabilities: [
          { action: 'net.http', resource: `${server.origin}/**` },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    return server.origin;
  };

  it('requests that never answer: past the bound, calls wait and open no socket', async () => {
    const origin = await httpKernel(() => {});
    const result = await kernel!.run({
      code: BURST('net.http', `{ url: '${origin}/' + i }`),
      input: 300,
      limits: { memory_mb: 64, wall_ms: 3000 },
    });
    // The run ends on its wall limit with the bounded calls still waiting; what counts is what the kernel opened.
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: wall_ms' } });
    expect(server!.connections()).toBeLessThanOrEqual(HTTP_MAX_IN_FLIGHT);
  }, 30_000);

  it('a tree of children firing calls that never end runs at most the bound for the whole tree', async () => {
    // Counted per agent, the bound held once per agent: a root and 10 children opened 161 sockets of net.http.
    let running = 0;
    let most = 0;
    let calls = 0;
    const hang = defineTool({
      name: 'hang',
      description: 'runs until its caller ends',
      input: z.strictObject({ i: z.number() }),
      maxInFlight: 4,
      run: (_args, ctx) => {
        calls++;
        running++;
        most = Math.max(most, running);
        return new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            running--;
            resolve(null);
          });
        });
      },
    });
    kernel = testKernel({
      isolation,
      tools: [hang],
      policy: {
        capabilities: [
          { action: 'hang', resource: 'hang' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    const child = BURST('hang', '{ i }');
    const agent = kernel.spawn({
      code: `export default async () => {
        const caps = [{ action: 'hang' }];
        for (let c = 0; c < 10; c++) await sys.spawn({ code: ${JSON.stringify(child)}, input: 20, caps });
        await sys.tool('hang', { i: -1 });
      }`,
      limits: { children: 10 },
    });
    // All 11 agents are live and calls run; half a second more for every child to fire its 20.
    await waitFor(() => kernel!.agents().length === 11 && running >= 4, 'the tree running its calls', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    kernel.kill(agent.id);
    await agent.result;
    expect(most).toBe(4);
    expect(calls).toBe(4);
  }, 40_000);

  it(`children on budgets of their own have places of their own, at most ${TREE_PLACES_FACTOR} times the bound a tree`, async () => {
    // Pass 128 gave such a child places of its own (a shared set was a channel from it to its parent); the tree
    // still bounds them together, and a call past that is refused E_QUOTA instead of waiting.
    let running = 0;
    let most = 0;
    const hang = defineTool({
      name: 'hang',
      description: 'runs until its caller ends',
      input: z.strictObject({ i: z.number() }),
      maxInFlight: 4,
      run: (_args, ctx) => {
        running++;
        most = Math.max(most, running);
        return new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            running--;
            resolve(null);
          });
        });
      },
    });
    kernel = testKernel({
      isolation,
      tools: [hang],
      policy: {
        capabilities: [
          { action: 'hang', resource: 'hang' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    const child = BURST('hang', '{ i }');
    const agent = kernel.spawn({
      code: `export default async () => {
        const caps = [{ action: 'hang' }];
        const ids = [];
        for (let c = 0; c < 10; c++) ids.push(await sys.spawn({ code: ${JSON.stringify(child)}, input: 8, caps, budget: { syscalls: 100 } }));
        return await Promise.all(ids.map((id) => sys.join(id)));
      }`,
      limits: { children: 10, wall_ms: 20_000 },
    });
    // The children whose calls were all refused end; the rest wait on calls that never end.
    await waitFor(() => running >= 4 * TREE_PLACES_FACTOR, 'the tree full', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    kernel.kill(agent.id);
    await agent.result;
    expect(most).toBe(4 * TREE_PLACES_FACTOR);
  }, 40_000);

  it('a child that ends takes only its own waiting calls with it: its siblings’ calls still run', async () => {
    const origin = await httpKernel((res) => setTimeout(() => res.end('hi'), 300));
    const burst = BURST('net.http', `{ url: '${origin}/' + i }`);
    const result = await kernel!.run({
      code: `export default async () => {
        const caps = [{ action: 'net.http' }];
        const doomed = await sys.spawn({ code: ${JSON.stringify(burst)}, input: 30, caps });
        const sibling = await sys.spawn({ code: ${JSON.stringify(burst)}, input: 30, caps });
        // Both bursts are in the kernel, the doomed child's first, none answered yet.
        await new Promise((resolve) => setTimeout(resolve, 100));
        await sys.kill(doomed);
        return await sys.join(sibling);
      }`,
      limits: { wall_ms: 20_000 },
    });
    expect(result).toMatchObject({ ok: true, value: { ok: 30 } });
  }, 30_000);

  it('benign twin: a burst of requests that answer all succeed, never more than the bound at once', async () => {
    let running = 0;
    let most = 0;
    const origin = await httpKernel((res) => {
      running++;
      most = Math.max(most, running);
      setTimeout(() => {
        running--;
        res.end('hi');
      }, 20);
    });
    const result = await kernel!.run({ code: BURST('net.http', `{ url: '${origin}/' + i }`), input: 100 });
    expect(result).toMatchObject({ ok: true, value: { ok: 100 } });
    expect(most).toBeLessThanOrEqual(HTTP_MAX_IN_FLIGHT);
    expect(most).toBeGreaterThan(1);
  }, 30_000);

  it('response bodies held by stalled requests are the agent’s memory: it ends E_QUOTA memory_mb', async () => {
    // 9.5 MB sent at once, then the response stalls; 16 calls hold 152 MB for an agent allowed 64.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const origin = await httpKernel((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 152; i++) res.write(chunk);
    });
    const result = await kernel!.run({
      code: BURST('net.http', `{ url: '${origin}/' + i }`),
      input: HTTP_MAX_IN_FLIGHT,
      limits: { memory_mb: 64, wall_ms: 20_000 },
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
  }, 40_000);

  it('a call waiting for its place is authorized when it starts: a revocation meanwhile refuses it', async () => {
    // Authorized when queued, a waiting call ran whatever happened to the capability meanwhile: a host that
    // revoked an agent's net.http saw its queued requests go out for minutes after.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const runs: number[] = [];
    const slow = defineTool({
      name: 'slow',
      description: 'the first call waits for the host',
      input: z.strictObject({ n: z.number() }),
      maxInFlight: 1,
      run: async ({ n }) => {
        runs.push(n);
        if (n === 0) await gate;
        return n;
      },
    });
    let fired = false;
    const signal = defineTool({
      name: 'fired',
      description: 'the agent has issued its calls (frames arrive in order: they are all in the kernel)',
      input: z.strictObject({}),
      run: () => {
        fired = true;
        return null;
      },
    });
    kernel = testKernel({
      isolation,
      tools: [slow, signal],
      policy: { capabilities: [{ action: 'fired', resource: 'fired' }] },
    });
    const root = kernel.grant(kernel.hostPublicKey, { action: 'slow', resource: 'slow' });
    const agent = kernel.spawn({
      code: `export default async () => {
        const calls = [0, 1, 2].map((n) => sys.tool('slow', { n }).then((v) => v, (e) => e.code));
        await sys.tool('fired', {});
        return Promise.all(calls);
      }`,
    });
    kernel.delegate(root.id, agent.id);
    await waitFor(() => runs.length === 1 && fired, 'the first call running, the others waiting');
    kernel.revoke(root.id);
    release();
    expect(await agent.result).toMatchObject({ ok: true, value: [0, 'E_CAP_REVOKED', 'E_CAP_REVOKED'] });
    expect(runs).toEqual([0]);
  });

  it('a burst of programs runs the bound at a time, and the queue dies with the agent', async () => {
    root = mkdtempSync(join(tmpdir(), 'isokernel-burst-'));
    kernel = testKernel({
      isolation,
      tools: [createProcTool({ programs: { sleep: { path: '/usr/bin/sleep' } }, roots: [root], timeout_ms: 30_000 })],
      policy: { capabilities: [{ action: 'proc.exec', resource: 'sleep' }] },
    });
    const code = BURST('proc.exec', `{ program: 'sleep', args: ['0.25'] }`);
    // 4 waves of the bound: at least 4 × 0.25 s, where all at once took one wave.
    let started = performance.now();
    const result = await kernel.run({ code, input: 4 * PROC_MAX_IN_FLIGHT });
    expect(result).toMatchObject({ ok: true, value: { ok: 4 * PROC_MAX_IN_FLIGHT } });
    expect(performance.now() - started).toBeGreaterThan(950);
    // 2,000 calls: the wall limit ends the agent with ~8 waves done, and the rest never start a process.
    started = performance.now();
    const flood = await kernel.run({ code, input: 2000, limits: { memory_mb: 128, wall_ms: 2000 } });
    expect(flood).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: wall_ms' } });
    expect(performance.now() - started).toBeLessThan(8000);
  }, 40_000);
});
