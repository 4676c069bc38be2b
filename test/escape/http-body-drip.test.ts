// Attack (red-team pass 127): a server the agent may reach sends its body in 1-byte pieces. Each piece cost the
// kernel a socket read, undici's parse, a stream turn and a memory hold of its own, none of it charged: 8 calls
// dripping for 10 s took 4.4 s of the kernel's CPU for 158 ms of the agent's kernel_ms, and the chunks, slices of
// the socket's reads, kept 24.9 MB alive for 680 KB of body (0.74 MB charged). The socket's reads now run metered
// to the caller, the body is copied into one buffer held as it grows, and a connection is given at most 65,536
// reads (review 131: a cap on body pieces refused 100,000 NDJSON rows that came in 128 reads, and missed a chunk
// extension dripped a byte a write, which makes no piece at all).
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTool } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// /drip/<ms>: 1-byte chunks, one a write, for <ms>; /many/<n>: n 1-byte chunks, a thousand a write; /ext: one chunk
// whose extension never ends, a byte a write.
const SERVER = `const net = require('node:net');
const server = net.createServer((socket) => {
  socket.on('error', () => {});
  socket.setNoDelay(true);
  socket.once('data', (data) => {
    const [, kind, n] = String(data).split(' ')[1].split('/');
    socket.write('HTTP/1.1 200 OK\\r\\ntransfer-encoding: chunked\\r\\n\\r\\n');
    if (kind === 'ext') {
      socket.write('1;');
      const drip = () => { if (!socket.destroyed) { socket.write('x'); setImmediate(drip); } };
      drip();
      return;
    }
    if (kind === 'many') {
      for (let sent = 0; sent < Number(n); sent += 1000) socket.write('1\\r\\na\\r\\n'.repeat(Math.min(1000, Number(n) - sent)));
      socket.end('0\\r\\n\\r\\n');
      return;
    }
    const end = Date.now() + Number(n);
    const step = () => {
      if (socket.destroyed) return;
      if (Date.now() > end) return socket.end('0\\r\\n\\r\\n');
      socket.write('1\\r\\na\\r\\n');
      setImmediate(step);
    };
    step();
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;

let server: ChildProcess;
let origin = '';
beforeAll(async () => {
  server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) =>
    server.stdout?.once('data', (data) => resolve(String(data).trim())),
  );
  origin = `http://127.0.0.1:${port}`;
});
afterAll(() => {
  server.kill('SIGKILL');
});

const kernelFor = (isolation: (typeof ISOLATION_MODES)[number]) =>
  testKernel({
    isolation,
    tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })],
    policy: { capabilities: [{ action: 'net.http', resource: `${origin}/**` }] },
    limits: { cpu_ms: 60_000, wall_ms: 60_000 },
  });

// The kernel process's CPU over a run (this process runs the kernel; the process tier's agent runs elsewhere).
async function cpuOf<T>(run: () => Promise<T>): Promise<{ result: T; cpuMs: number }> {
  const before = process.cpuUsage();
  const result = await run();
  const used = process.cpuUsage(before);
  return { result, cpuMs: (used.user + used.system) / 1000 };
}

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it("charges the kernel's work on a dripped body to the agent", async () => {
    const kernel = kernelFor(isolation);
    try {
      const idle = await cpuOf(() =>
        kernel.run({ code: 'export default () => new Promise((resolve) => setTimeout(resolve, 2000))' }),
      );
      const drip = await cpuOf(() =>
        kernel.run({
          input: origin,
          code: `export default async (origin) => {
            const calls = Array.from({ length: 4 }, (_, i) => sys.tool('net.http', { url: origin + '/drip/2000/' + i }));
            return (await Promise.all(calls)).map((response) => response.body.length);
          }`,
        }),
      );
      expect(drip.result.ok, JSON.stringify(drip.result)).toBe(true);
      const work = drip.cpuMs - idle.cpuMs;
      const seen = JSON.stringify({ kernel_ms: drip.result.usage.kernel_ms, work, idle: idle.cpuMs });
      // Before: about 2% of it (the rest is the socket's native reads and the server's share of this machine).
      expect(drip.result.usage.kernel_ms, seen).toBeGreaterThan(0.1 * work);
    } finally {
      await kernel.close();
    }
  }, 60_000);

  it('ends a connection given more than 65,536 reads, and takes a body of many chunks in few reads', async () => {
    const kernel = kernelFor(isolation);
    try {
      const result = await kernel.run({
        input: origin,
        code: `export default async (origin) => {
          const rows = await sys.tool('net.http', { url: origin + '/many/100000' });
          try { await sys.tool('net.http', { url: origin + '/ext/0' }); return 'read'; }
          catch (error) { return [rows.body.length, error.code, error.message]; }
        }`,
      });
      expect(result).toMatchObject({
        ok: true,
        value: [100_000, 'E_TOOL_FAILED', 'net.http: the response arrived in more than 65536 reads'],
      });
    } finally {
      await kernel.close();
    }
  }, 60_000);
});
