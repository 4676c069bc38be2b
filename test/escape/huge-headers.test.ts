// Attack: exhaust the host through headers: thousands of request headers, megabyte values, a response whose
// headers never end. The guest's Headers object lives in the agent's own heap (bounded by memory_mb); what
// crosses is one string within the payload cap, which net.http validates (64 headers, 8 KiB values) before any
// connection; a response header block over 16 KiB fails the call. The host stays up and the agent gets a code.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTool, type Kernel } from '../../index.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { testKernel } from '../helpers/kernel.js';

let server: TestServer;
let kernel: Kernel;
let endless: ReturnType<typeof createServer>;
let endlessOrigin = '';
beforeAll(async () => {
  server = await startTestServer((_req, res) => res.end('ok'));
  // Answers every connection with a status line and then header lines forever (until the client hangs up).
  endless = createServer((socket) => {
    socket.on('error', () => {});
    socket.write('HTTP/1.1 200 OK\r\n');
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write(`x-${Math.random()}: ${'a'.repeat(1000)}\r\n`);
    }, 1);
    socket.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
  const address = endless.address();
  endlessOrigin = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  kernel = testKernel({
    tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'], timeoutMs: 5000 })],
    policy: {
      capabilities: [
        { action: 'net.http', resource: `${server.origin}/**` },
        { action: 'net.http', resource: `${endlessOrigin}/**` },
      ],
    },
    limits: { cpu_ms: 5000, wall_ms: 15_000, memory_mb: 64 },
  });
});
afterAll(async () => {
  await kernel.close();
  await server.close();
  await new Promise((resolve) => endless.close(resolve));
});

describe('huge headers', () => {
  it('too many, too long or oversized request headers are refused by the kernel before any connection', async () => {
    const before = server.connections();
    const result = await kernel.run({
      input: server.origin,
      code: `export default async (origin) => {
        const outcome = (p) => p.then((r) => r.status, (e) => e.code ?? e.constructor.name);
        const many = new Headers();
        for (let i = 0; i < 5000; i++) many.append('x-h' + i, 'v');
        const long = { 'x-long': 'a'.repeat(100000) };
        const huge = { 'x-huge': 'a'.repeat(2 * 1024 * 1024) };
        return [await outcome(fetch(origin, { headers: many })), await outcome(fetch(origin, { headers: long })), await outcome(fetch(origin, { headers: huge }))];
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['E_BAD_ARG', 'E_BAD_ARG', 'E_BAD_ARG'] });
    expect(server.connections()).toBe(before);
  });

  it('a response whose header block never ends fails the call with E_TOOL_FAILED; the host is fine', async () => {
    const result = await kernel.run({
      input: endlessOrigin,
      code: `export default async (origin) => {
        try { await fetch(origin + '/'); return 'answered'; } catch (e) { return e.code; }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: 'E_TOOL_FAILED' });
    const after = await kernel.run({ code: 'export default () => new Headers({ a: "1" }).get("a")' });
    expect(after).toMatchObject({ ok: true, value: '1' });
  });

  it('a Headers object grown without bound costs the agent its memory budget, not the host', async () => {
    const result = await kernel.run({
      code: `export default () => {
        const h = new Headers();
        for (let i = 0; ; i++) h.append('x-' + i, 'v'.repeat(1000));
      }`,
      limits: { memory_mb: 16, wall_ms: 15_000 },
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
  });
});
