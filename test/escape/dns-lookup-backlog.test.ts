// Attack (red-team pass 144): wedge every name lookup in the kernel's process with lookups that never answer. The
// system resolver is getaddrinfo on libuv's thread pool, and a started lookup cannot be called off: an agent's call
// ended at its abort and gave its place among net.http's calls back while its lookup stayed queued. Sixteen calls to
// names of a domain whose nameserver never answers, from an agent that then returned, left sixteen lookups queued;
// twenty such children left 320, a neighbour's lookup of a name in /etc/hosts waited 30 s and failed, and the
// process exited 80 s after `kernel.close()`. A tenant (every agent of a tree) now has one lookup started at a time
// and the process two, what libuv runs at once (review 148: keyed by agent, with eight, four children queued them
// inside libuv and a neighbour's call timed out at 30 s); the rest wait their turn, the owner with fewest running
// first, and those whose calls ended never start. The slow nameserver here is a resolver the host gives the tool
// (the lookups are queued the same way for the system resolver).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHttpTool, type Kernel } from '../../index.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { testKernel } from '../helpers/kernel.js';

let server: TestServer;
let kernel: Kernel;
const started: string[] = [];

beforeAll(async () => {
  server = await startTestServer((_req, res) => res.writeHead(200).end('ok'));
  const resolve = (hostname: string): Promise<string[]> => {
    started.push(hostname);
    // The attacker's nameserver answers after a long while; every other name at once.
    if (hostname.endsWith('.attacker.test')) return new Promise((done) => setTimeout(() => done(['127.0.0.1']), 3000));
    return Promise.resolve(['127.0.0.1']);
  };
  kernel = testKernel({
    tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'], resolve })],
    policy: {
      capabilities: [
        { action: 'net.http', resource: `http://**:${server.port}/**` },
        { action: 'agent.spawn', resource: 'inline' },
      ],
    },
  });
});
afterAll(async () => {
  await kernel.close();
  await server.close();
});

const attackerStarts = () => started.filter((name) => name.endsWith('.attacker.test')).length;

// A neighbour of another tenant is served beside the attacker's started lookup (one of the same tenant waits its
// turn); once that lookup settles, the attacker's calls that waited have ended, and none of their lookups starts.
async function neighbourServedAndNoLateStarts(): Promise<void> {
  const neighbour = await kernel.run({
    namespace: 'other',
    code: `export default async () => (await sys.tool('net.http', { url: 'http://victim.test:${server.port}/' })).status`,
  });
  expect(neighbour).toMatchObject({ ok: true, value: 200 });
  await new Promise((resolve) => setTimeout(resolve, 3500));
  expect(attackerStarts()).toBe(1);
}

it("an agent's lookups that never answer start one at a time, and none starts after its calls ended", async () => {
  const attacker = await kernel.run({
    code: `export default async () => {
      for (let i = 0; i < 16; i++) sys.tool('net.http', { url: 'http://h' + i + '.attacker.test:${server.port}/' }).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 200));
      return 'gone';
    }`,
  });
  expect(attacker).toMatchObject({ ok: true, value: 'gone' });
  // Before: 16.
  expect(attackerStarts()).toBe(1);
  await neighbourServedAndNoLateStarts();
}, 20_000);

it('a tree of agents is one owner: four children with four calls each start one lookup at a time', async () => {
  started.length = 0;
  const child = `export default async ({ n }) => {
    for (let i = 0; i < 4; i++) sys.tool('net.http', { url: 'http://c' + n + 'x' + i + '.attacker.test:${server.port}/' }).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 300));
    return n;
  }`;
  const tree = await kernel.run({
    code: `export default async () => {
      const caps = (await sys.caps()).filter((c) => c.action === 'net.http').map((c) => ({ from: c.id }));
      const ids = [];
      for (let n = 0; n < 4; n++) ids.push(await sys.spawn({ code: ${JSON.stringify(child)}, input: { n }, caps }));
      const out = [];
      for (const id of ids) out.push(await sys.join(id));
      return out;
    }`,
  });
  expect(tree).toMatchObject({ ok: true, value: [0, 1, 2, 3] });
  // Keyed by agent with eight places, as first fixed: 8 (review 148).
  expect(attackerStarts()).toBe(1);
  await neighbourServedAndNoLateStarts();
}, 20_000);
