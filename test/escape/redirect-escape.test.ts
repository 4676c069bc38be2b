// Attack: escape net.http's authorization through redirects. The agent holds a capability for one origin (A) and
// points the tool at a URL on A that redirects elsewhere: to an origin it holds no capability for (B), to other
// schemes, to refused addresses, in loops, or with the vault's secrets echoed into the Location. Every hop must
// be re-authorized, get only its own injected secrets, and never carry the previous origin's credentials.
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Injection, Tool, ToolContext } from '../../runtime/tool-use/tool-contract.js';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import { createHttpTool, type HttpResult } from '../../tools/http.js';
import { type ReceivedRequest, startTestServer, type TestServer } from '../helpers/http-server.js';
import { refusal, type TestToolContext, testToolContext } from '../helpers/tool-context.js';

const HOP1_TOKEN = 'Bearer HOP1-VAULT-TOKEN-7Qx';
const HOP1_KEY = 'HOP1-VAULT-KEY-3Zp';
const HOP1_QUERY = 'HOP1-VAULT-QUERY-9Wk';
const HOP2_KEY = 'HOP2-VAULT-KEY-5Rm';

let a: TestServer;
let b: TestServer;
/** Where A's `/to?...` redirects point; set by each test. */
let target = '';

function redirect(res: ServerResponse, status: number, location: string): void {
  res.writeHead(status, { location }).end('moved');
}

function echo(req: ReceivedRequest, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ method: req.method, url: req.url, body: req.body.toString('utf8'), headers: req.headers }));
}

beforeAll(async () => {
  b = await startTestServer(echo);
  a = await startTestServer((req, res) => {
    const url = new URL(req.url, 'http://a.invalid');
    const status = Number(url.searchParams.get('status') ?? '302');
    if (url.pathname === '/to') redirect(res, status, target);
    else if (url.pathname === '/hop1') redirect(res, 302, '/hop2');
    else if (url.pathname === '/hop2') redirect(res, 307, `${b.origin}/final`);
    else if (url.pathname === '/loop') redirect(res, 302, '/loop');
    else if (url.pathname === '/slash') redirect(res, 301, `/slash/${url.search}`);
    else echo(req, res);
  });
});

afterAll(async () => {
  await a.close();
  await b.close();
});

const tool = createHttpTool({ allowPrivate: ['127.0.0.1/32'] });

async function call(t: Tool, args: unknown, ctx: ToolContext): Promise<HttpResult> {
  return (await runToolUse(prepareToolUse(t, args), ctx)) as HttpResult;
}

/** A context with hop-1 secrets bound to A and hop-2 secrets bound to B. */
function vaultContext(allow?: (resource: string) => boolean): TestToolContext {
  const base = testToolContext({
    ...(allow === undefined ? {} : { allow }),
    inject: (resource): Injection =>
      resource.startsWith(`${b.origin}/`)
        ? { headers: { 'x-api-key': HOP2_KEY }, query: {} }
        : { headers: { authorization: HOP1_TOKEN, 'x-api-key': HOP1_KEY }, query: { token: HOP1_QUERY } },
  });
  return {
    ...base,
    inject: { headers: { authorization: HOP1_TOKEN, 'x-api-key': HOP1_KEY }, query: { token: HOP1_QUERY } },
  };
}

function everything(requests: readonly ReceivedRequest[]): string {
  return JSON.stringify(requests.map((r) => ({ ...r, body: r.body.toString('utf8') })));
}

describe('redirects are authorized hop by hop', () => {
  it('refuses a redirect to an origin the agent holds no capability for, before contacting it', async () => {
    target = `${b.origin}/secret`;
    const ctx = testToolContext({ allow: (resource) => !resource.startsWith(`${b.origin}/`) });
    const before = b.connections();
    const error = await refusal(call(tool, { url: `${a.origin}/to` }, ctx));
    expect(error.code).toBe('E_CAP_DENIED');
    expect(ctx.reauthorized).toEqual([`${b.origin}/secret`]);
    expect(b.connections()).toBe(before);
  });

  it('re-authorizes every hop of a chain with the normalized URL', async () => {
    const ctx = testToolContext();
    const result = await call(tool, { url: `${a.origin}/hop1` }, ctx);
    expect(ctx.reauthorized).toEqual([`${a.origin}/hop2`, `${b.origin}/final`]);
    expect(result).toMatchObject({ status: 200, url: `${b.origin}/final`, redirects: 2 });
  });

  it('normalizes the Location before authorizing it', async () => {
    target = `HTTP://127.0.0.1:${b.port}/x/../final#frag`;
    const ctx = testToolContext();
    const result = await call(tool, { url: `${a.origin}/to` }, ctx);
    expect(ctx.reauthorized).toEqual([`${b.origin}/final`]);
    expect(result.url).toBe(`${b.origin}/final`);
  });

  it.each([
    'file:///etc/passwd',
    'data:text/plain,hi',
    'javascript:alert(1)',
    'ftp://127.0.0.1/x',
    'gopher://127.0.0.1:25/x',
    'http://user:pw@127.0.0.1/',
    'http://[::1',
    // An IPv4 address in IPv6 form is a second spelling of a server (red-team pass 105): refused as a URL.
    'http://[::ffff:7f00:2]/',
  ])('refuses a redirect to %s without authorizing it', async (location) => {
    target = location;
    const ctx = testToolContext();
    const error = await refusal(call(tool, { url: `${a.origin}/to` }, ctx));
    expect(error.code).toBe('E_TOOL_FAILED');
    expect(ctx.reauthorized).toEqual([]);
  });

  it.each([
    ['IPv6 loopback', () => `http://[::1]:${b.port}/`],
    ['unspecified', () => `http://0.0.0.0:${b.port}/`],
  ])('refuses a redirect to a refused address (%s) at the hop', async (_what, location) => {
    target = location();
    const before = b.connections();
    const error = await refusal(call(tool, { url: `${a.origin}/to` }, testToolContext()));
    expect(error.code).toBe('E_CAP_DENIED');
    expect(error.message).toMatch(/resolves to a private or local address$/);
    expect(b.connections()).toBe(before);
  });

  it('stops after max_redirects and returns the last redirect as the result', async () => {
    const ctx = testToolContext();
    const limited = createHttpTool({ allowPrivate: ['127.0.0.1/32'], maxRedirects: 3 });
    const result = await call(limited, { url: `${a.origin}/loop` }, ctx);
    expect(result).toMatchObject({ status: 302, redirects: 3, url: `${a.origin}/loop` });
    expect(result.headers['location']).toBe('/loop');
    expect(ctx.reauthorized).toHaveLength(3);
  });

  it('follows nothing with max_redirects 0', async () => {
    target = `${b.origin}/final`;
    const ctx = testToolContext();
    const none = createHttpTool({ allowPrivate: ['127.0.0.1/32'], maxRedirects: 0 });
    const result = await call(none, { url: `${a.origin}/to` }, ctx);
    expect(result).toMatchObject({ status: 302, redirects: 0 });
    expect(ctx.reauthorized).toEqual([]);
  });
});

describe('secrets and credentials stay with their hop', () => {
  it('sends hop-1 injections to A only and hop-2 injections to B only', async () => {
    target = `${b.origin}/final`;
    const aBefore = a.requests.length;
    const bBefore = b.requests.length;
    const result = await call(tool, { url: `${a.origin}/to` }, vaultContext());
    const atA = a.requests.slice(aBefore);
    const atB = b.requests.slice(bBefore);
    expect(atA[0]?.headers['authorization']).toBe(HOP1_TOKEN);
    expect(atA[0]?.url).toContain(`token=${HOP1_QUERY}`);
    expect(atB).toHaveLength(1);
    expect(atB[0]?.headers['x-api-key']).toBe(HOP2_KEY);
    for (const secret of [HOP1_TOKEN, HOP1_KEY, HOP1_QUERY, 'HOP1']) expect(everything(atB)).not.toContain(secret);
    expect(atB[0]?.headers['authorization']).toBeUndefined();
    expect(result.url).toBe(`${b.origin}/final`);
  });

  it("drops the agent's Authorization and Cookie on another origin but keeps them on the same one", async () => {
    const bBefore = b.requests.length;
    const aBefore = a.requests.length;
    await call(
      tool,
      { url: `${a.origin}/hop1`, headers: { Authorization: 'Bearer AGENT', Cookie: 'sid=AGENT', 'X-Keep': 'yes' } },
      testToolContext(),
    );
    const atA = a.requests.slice(aBefore);
    expect(atA.map((r) => r.headers['authorization'])).toEqual(['Bearer AGENT', 'Bearer AGENT']);
    expect(atA.map((r) => r.headers['cookie'])).toEqual(['sid=AGENT', 'sid=AGENT']);
    const atB = b.requests.slice(bBefore);
    expect(atB[0]?.headers['authorization']).toBeUndefined();
    expect(atB[0]?.headers['cookie']).toBeUndefined();
    expect(atB[0]?.headers['x-keep']).toBe('yes');
  });

  it('strips the injected query a server echoes into Location before authorizing the next hop', async () => {
    const ctx = vaultContext();
    const result = await call(tool, { url: `${a.origin}/slash?page=2` }, ctx);
    expect(ctx.reauthorized).toEqual([`${a.origin}/slash/?page=2`]);
    expect(JSON.stringify(ctx.reauthorized)).not.toContain(HOP1_QUERY);
    // The next hop (same origin) gets its own injection again.
    expect(JSON.parse(result.body ?? '').url).toBe(`/slash/?page=2&token=${HOP1_QUERY}`);
    expect(result.url).toBe(`${a.origin}/slash/?page=2`);
  });

  it('refuses a Location that smuggles an injected secret elsewhere, before authorizing or contacting it', async () => {
    for (const location of [
      `http://127.0.0.1:PORT/leak?k=${encodeURIComponent(HOP1_KEY)}`,
      `http://127.0.0.1:PORT/leak/${HOP1_QUERY}`,
      `http://127.0.0.1:PORT/leak?t=${encodeURIComponent(HOP1_TOKEN)}`,
      `http://127.0.0.1:PORT/leak?t=${HOP1_TOKEN.split(' ')[1]}`,
    ]) {
      target = location.replace('PORT', String(b.port));
      const ctx = vaultContext();
      const before = b.connections();
      const error = await refusal(call(tool, { url: `${a.origin}/to` }, ctx));
      expect(error).toMatchObject({
        code: 'E_TOOL_FAILED',
        message: 'net.http: redirect location carries an injected secret',
      });
      expect(ctx.reauthorized).toEqual([]);
      expect(b.connections()).toBe(before);
    }
  });

  it('never puts a secret in an error message', async () => {
    target = `${b.origin}/denied`;
    const error = await refusal(
      call(
        tool,
        { url: `${a.origin}/to` },
        vaultContext(() => false),
      ),
    );
    for (const secret of [HOP1_TOKEN, HOP1_KEY, HOP1_QUERY]) expect(error.message).not.toContain(secret);
  });
});

describe('redirect method rules', () => {
  const post = (status: number, method = 'POST') => ({
    url: `${a.origin}/to?status=${status}`,
    method,
    headers: { 'Content-Type': 'text/plain' },
    body: 'payload',
  });

  it.each([
    [303, 'POST', 'GET', ''],
    [303, 'PUT', 'GET', ''],
    [302, 'POST', 'GET', ''],
    [301, 'POST', 'GET', ''],
    [302, 'PUT', 'PUT', 'payload'],
    [307, 'POST', 'POST', 'payload'],
    [308, 'PUT', 'PUT', 'payload'],
  ])('%i after %s continues as %s', async (status, method, expected, body) => {
    target = `${b.origin}/final`;
    const result = await call(tool, post(status, method), testToolContext());
    const seen = JSON.parse(result.body ?? '');
    expect(seen.method).toBe(expected);
    expect(seen.body).toBe(body);
    expect(seen.headers['content-type']).toBe(body === '' ? undefined : 'text/plain');
  });
});
