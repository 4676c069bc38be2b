import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTool, type Kernel, loadPolicy } from '../../index.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack (red-team issue 12, item 8): README says net.http refuses `secret` in url, headers and body, but the
 * tool declared no sinks, so only policy sinks applied. With README's own example policy (a sink on `body`
 * only), an agent labelled `secret` sent the secret through the URL, a header and `body_base64`. The tool now
 * declares `{ '*': ['secret'] }` and a policy sink may name `'*'`: every argument refuses `secret` with
 * E_TAINT before a byte leaves, and the server receives nothing.
 */
const SECRET = 'sk-live-4242';
let server: TestServer;
let kernel: Kernel | undefined;

beforeAll(async () => {
  server = await startTestServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

// README's example policy, with the server's origin in place of api.example.com.
function readmeKernel(): Kernel {
  kernel = testKernel({
    tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })],
    policy: {
      capabilities: [{ action: 'net.http', resource: `${server.origin}/**` }],
      labels: { sinks: [{ tool: 'net.http', arg: 'body', deny: ['secret'] }] },
    },
  });
  return kernel;
}

const ATTEMPTS = `
  const secret = input.secret;
  const b64 = (s) => { const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'; let o = '';
    for (let i = 0; i < s.length; i += 3) { const n = (s.charCodeAt(i) << 16) | ((s.charCodeAt(i + 1) || 0) << 8) | (s.charCodeAt(i + 2) || 0);
      o += A[n >> 18] + A[(n >> 12) & 63] + (i + 1 < s.length ? A[(n >> 6) & 63] : '=') + (i + 2 < s.length ? A[n & 63] : '='); }
    return o; };
  const attempt = async (args) => { try { await sys.tool('net.http', args); return 'sent'; } catch (e) { return e.code; } };
  return {
    url: await attempt({ url: input.origin + '/leak?s=' + secret }),
    header: await attempt({ url: input.origin + '/h', headers: { 'x-token': secret } }),
    body_base64: await attempt({ url: input.origin + '/b', method: 'POST', body_base64: b64(secret) }),
    body: await attempt({ url: input.origin + '/p', method: 'POST', body: secret }),
  };
`;

describe('secret through net.http arguments the policy sink does not name', () => {
  it('an agent labelled secret is refused with E_TAINT in url, headers, body_base64 and body; nothing is sent', async () => {
    const k = readmeKernel();
    const result = await k.run({
      code: `export default async (input) => { ${ATTEMPTS} }`,
      input: { origin: server.origin, secret: SECRET },
      label: ['secret'],
    });
    expect(result).toMatchObject({
      ok: true,
      value: { url: 'E_TAINT', header: 'E_TAINT', body_base64: 'E_TAINT', body: 'E_TAINT' },
    });
    expect(server.requests).toEqual([]);
  });

  it('benign twin: an unlabelled agent sends the same requests', async () => {
    const k = readmeKernel();
    const before = server.requests.length;
    const result = await k.run({
      code: `export default async (input) => { ${ATTEMPTS} }`,
      input: { origin: server.origin, secret: 'public-value' },
    });
    expect(result).toMatchObject({
      ok: true,
      value: { url: 'sent', header: 'sent', body_base64: 'sent', body: 'sent' },
    });
    expect(server.requests.length - before).toBe(4);
  });

  it("a policy sink may name '*': it covers every argument of the tool, named or not", async () => {
    const policy = loadPolicy({
      capabilities: [{ action: 'net.http', resource: `${server.origin}/**` }],
      labels: { sinks: [{ tool: 'net.http', arg: '*', deny: ['email'] }] },
    });
    expect(policy.labels?.sinks).toEqual([{ tool: 'net.http', arg: '*', deny: ['email'] }]);
    kernel = testKernel({ tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })], policy });
    const before = server.requests.length;
    const result = await kernel.run({
      code: `export default async (input) => {
        try { await sys.tool('net.http', { url: input.origin + '/x', headers: { 'x-mail': 'hi' } }); return 'sent'; }
        catch (e) { return e.code; }
      }`,
      input: { origin: server.origin },
      label: ['email'],
    });
    expect(result).toMatchObject({ ok: true, value: 'E_TAINT' });
    expect(server.requests.length).toBe(before);
  });
});
