// Attack (red-team pass 144): wedge every name lookup in the kernel's process with lookups that never answer. The
// system resolver is getaddrinfo on libuv's thread pool, and a started lookup cannot be called off: an agent's call
// ended at its abort and gave its place among net.http's calls back while its lookup stayed queued. Sixteen calls to
// names of a domain whose nameserver never answers, from an agent that then returned, left sixteen lookups queued;
// twenty such children left 320, a neighbour's lookup of a name in /etc/hosts waited 30 s and failed, and the
// process exited 80 s after `kernel.close()`. An agent now has at most two lookups started at once, the process
// eight; the rest wait their turn, and those whose calls ended never start. The slow nameserver here is a resolver
// the host gives the tool (the lookups are queued the same way for the system resolver).
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
    policy: { capabilities: [{ action: 'net.http', resource: `http://**:${server.port}/**` }] },
  });
});
afterAll(async () => {
  await kernel.close();
  await server.close();
});

it("an agent's lookups that never answer start two at a time, and none starts after its calls ended", async () => {
  const attacker = await kernel.run({
    code: `export default async () => {
      for (let i = 0; i < 16; i++) sys.tool('net.http', { url: 'http://h' + i + '.attacker.test:${server.port}/' }).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 200));
      return 'gone';
    }`,
  });
  expect(attacker).toMatchObject({ ok: true, value: 'gone' });
  const attackerStarts = () => started.filter((name) => name.endsWith('.attacker.test')).length;
  // Before: 16.
  expect(attackerStarts()).toBe(2);
  // A neighbour's lookup starts at once, and its call answers.
  const neighbour = await kernel.run({
    code: `export default async () => (await sys.tool('net.http', { url: 'http://victim.test:${server.port}/' })).status`,
  });
  expect(neighbour).toMatchObject({ ok: true, value: 200 });
  // Once the two started lookups settle, the calls that waited have ended: none of them starts.
  await new Promise((resolve) => setTimeout(resolve, 3500));
  expect(attackerStarts()).toBe(2);
}, 20_000);
