// Attack: hand fetch hostile arguments: getters on init that change their answer between reads or throw,
// Proxies for init and headers, a body whose toString lies, a forged AbortSignal, fetch re-entered from a
// getter. fetch reads each init member once, builds one plain argument object and sends one string; the
// kernel checks that string, so whatever the getters do, what is sent is what the kernel authorized, and a
// throw rejects the fetch inside the agent without anything being sent.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpTool, type Kernel } from '../../index.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { testKernel } from '../helpers/kernel.js';

let server: TestServer;
let kernel: Kernel;
beforeAll(async () => {
  server = await startTestServer((req, res) => res.end(`${req.method} ${req.url}`));
  kernel = testKernel({
    tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })],
    // GET only: a method changed after authorization would be an escalation.
    policy: {
      capabilities: [{ action: 'net.http', resource: `${server.origin}/allowed/**`, constraint: { method: 'GET' } }],
    },
    limits: { cpu_ms: 5000, wall_ms: 10_000 },
  });
});
afterAll(async () => {
  await kernel.close();
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

async function value(code: string): Promise<unknown> {
  const result = await kernel.run({ code, input: server.origin });
  expect(result.ok, JSON.stringify(result)).toBe(true);
  return result.ok ? result.value : undefined;
}

describe('getters on init', () => {
  it('each member is read exactly once, so a getter cannot show one value and send another', async () => {
    const out = await value(`export default async (origin) => {
      const reads = {};
      let n = 0;
      const init = {};
      for (const key of ['method', 'headers', 'body', 'signal', 'redirect']) {
        Object.defineProperty(init, key, { get() { reads[key] = (reads[key] ?? 0) + 1; return key === 'method' ? (n++ === 0 ? 'GET' : 'DELETE') : undefined; } });
      }
      const text = await (await fetch(origin + '/allowed/x', init)).text();
      return { reads, text };
    }`);
    expect(out).toEqual({
      reads: { method: 1, headers: 1, body: 1, signal: 1, redirect: 1 },
      text: 'GET /allowed/x',
    });
    expect(server.requests.map((r) => r.method)).toEqual(['GET']);
  });

  it('a throwing getter, a lying Proxy or a forged signal rejects the fetch in the agent; nothing is sent', async () => {
    const out = await value(`export default async (origin) => {
      const url = origin + '/allowed/x';
      const outcome = (p) => p.then(() => 'sent', (e) => e.constructor.name + (e.code ? ':' + e.code : ''));
      const throwing = { get method() { throw new RangeError('getter'); } };
      const proxy = new Proxy({}, { get(_, key) { if (key === 'headers') return new Proxy({}, { ownKeys() { throw new SyntaxError('keys'); } }); return undefined; } });
      const forged = { signal: { aborted: true, reason: 'x', addEventListener() {} } };
      const lyingBody = { method: 'POST', body: { toString() { throw new EvalError('body'); } } };
      return [
        await outcome(fetch(url, throwing)),
        await outcome(fetch(url, proxy)),
        await outcome(fetch(url, forged)),
        await outcome(fetch(url, lyingBody)),
        await outcome(fetch({ toString() { throw new URIError('url'); } })),
        await outcome(fetch(url, { redirect: 'manual' })),
      ];
    }`);
    expect(out).toEqual(['RangeError', 'SyntaxError', 'TypeError', 'EvalError', 'URIError', 'TypeError']);
    expect(server.requests).toEqual([]);
  });

  it('what a getter changes is still checked by the kernel: another method or URL is refused', async () => {
    const out = await value(`export default async (origin) => {
      const outcome = (p) => p.then((r) => r.status, (e) => e.code);
      return [
        await outcome(fetch(origin + '/allowed/x', { get method() { return 'POST'; }, body: 'x' })),
        await outcome(fetch({ toString: () => origin + '/elsewhere' })),
        await outcome(fetch(origin + '/allowed/x', { get headers() { return { host: 'evil.example' }; } })),
      ];
    }`);
    expect(out).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED', 'E_BAD_ARG']);
    expect(server.requests).toEqual([]);
  });

  it('fetch re-entered from a getter of its own init makes two independent, checked calls', async () => {
    const out = await value(`export default async (origin) => {
      let inner;
      const init = { get headers() { inner ??= fetch(origin + '/allowed/inner'); return { 'x-depth': '1' }; } };
      const outer = await (await fetch(origin + '/allowed/outer', init)).text();
      return [outer, await (await inner).text()];
    }`);
    expect(out).toEqual(['GET /allowed/outer', 'GET /allowed/inner']);
  });
});
