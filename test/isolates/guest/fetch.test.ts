// fetch, Headers, Request and Response inside the guest (isolates/guest/fetch.cjs), against a real HTTP server
// on 127.0.0.1, through the real net.http tool: same capability, labels and audit as a sys.tool call.
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpTool, type Kernel } from '../../../index.js';
import { type ReceivedRequest, startTestServer, type TestServer } from '../../helpers/http-server.js';
import { testKernel } from '../../helpers/kernel.js';

let server: TestServer;
let allowed: Kernel;
let denied: Kernel;
let release: (() => void) | undefined;

function handle(req: ReceivedRequest, res: ServerResponse): void {
  if (req.url === '/slow') {
    release = () => res.end('late');
    return;
  }
  if (req.url === '/binary') {
    res.setHeader('content-type', 'application/octet-stream');
    res.end(Buffer.from([0, 255, 128, 1]));
    return;
  }
  if (req.url === '/redirect') {
    res.writeHead(302, { location: '/echo?from=redirect' });
    res.end();
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.setHeader('set-cookie', ['a=1', 'b=2']);
  res.setHeader('x-test', 'yes');
  res.end(
    JSON.stringify({
      method: req.method,
      url: req.url,
      body: req.body.toString('base64'),
      type: req.headers['content-type'] ?? null,
      auth: req.headers['x-auth'] ?? null,
      length: req.headers['content-length'] ?? null,
      encoding: req.headers['accept-encoding'] ?? null,
    }),
  );
}

beforeAll(async () => {
  server = await startTestServer(handle);
  const http = () => createHttpTool({ allowPrivate: ['127.0.0.1/32'] });
  allowed = testKernel({
    tools: [http()],
    policy: { capabilities: [{ action: 'net.http', resource: `${server.origin}/**` }] },
    limits: { cpu_ms: 5000, wall_ms: 10_000 },
  });
  denied = testKernel({ tools: [http()], policy: { capabilities: [] }, limits: { cpu_ms: 5000, wall_ms: 10_000 } });
});
afterAll(async () => {
  await allowed.close();
  await denied.close();
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

async function value(kernel: Kernel, code: string): Promise<unknown> {
  const result = await kernel.run({ code, input: server.origin });
  expect(result.ok, JSON.stringify(result)).toBe(true);
  return result.ok ? result.value : undefined;
}

describe('fetch with the net.http capability', () => {
  it('GET and POST JSON the way model-written code does, with headers, status and a web label', async () => {
    const result = await allowed.run({
      input: server.origin,
      code: `export default async (origin) => {
        const get = await fetch(origin + '/echo?x=1');
        const first = await get.json();
        const res = await fetch(new URL('/echo', origin), {
          method: 'post',
          headers: { 'X-Auth': 'token', 'Content-Type': 'application/json', 'Content-Length': '999', 'Accept-Encoding': 'gzip' },
          body: JSON.stringify({ hello: 'wörld' }),
        });
        const second = await res.json();
        return {
          first: [first.method, first.url],
          second,
          status: res.status, ok: res.ok, url: res.url, redirected: res.redirected, type: res.type,
          header: res.headers.get('X-Test'), cookies: res.headers.getSetCookie(), used: res.bodyUsed,
          label: await sys.label(),
        };
      }`,
    });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    const out = (result as { value: Record<string, unknown> }).value;
    expect(out.first).toEqual(['GET', '/echo?x=1']);
    expect(out.second).toEqual({
      method: 'POST',
      url: '/echo',
      body: Buffer.from(JSON.stringify({ hello: 'wörld' })).toString('base64'),
      type: 'application/json',
      auth: 'token',
      length: String(Buffer.byteLength(JSON.stringify({ hello: 'wörld' }))),
      encoding: 'identity',
    });
    expect(out).toMatchObject({
      status: 200,
      ok: true,
      url: `${server.origin}/echo`,
      redirected: false,
      type: 'basic',
      header: 'yes',
      // net.http joins repeated response headers with ', ', so set-cookie arrives as one value.
      cookies: ['a=1, b=2'],
      used: true,
      label: ['web'],
    });
  });

  it('bytes go out as bytes and come back as bytes; redirects are followed by the tool', async () => {
    const out = await value(
      allowed,
      `export default async (origin) => {
        const sent = await (await fetch(origin + '/echo', { method: 'PUT', body: new Uint8Array([0, 255, 7]) })).json();
        const bin = await fetch(origin + '/binary');
        const bytes = Array.from(new Uint8Array(await bin.arrayBuffer()));
        const moved = await fetch(origin + '/redirect');
        return { sent: [sent.body, sent.type], bytes, moved: [moved.redirected, moved.url, (await moved.json()).url] };
      }`,
    );
    expect(out).toEqual({
      sent: [Buffer.from([0, 255, 7]).toString('base64'), null],
      bytes: [0, 255, 128, 1],
      moved: [true, `${server.origin}/echo?from=redirect`, '/echo?from=redirect'],
    });
  });

  it('AbortController aborting a fetch rejects it at once with the signal reason', async () => {
    const out = await value(
      allowed,
      `export default async (origin) => {
        const controller = new AbortController();
        const pending = fetch(origin + '/slow', { signal: controller.signal });
        await new Promise((r) => setTimeout(r, 50));
        controller.abort();
        const outcome = await pending.then(() => 'resolved', (e) => [e.name, e instanceof DOMException]);
        const early = await fetch(origin + '/echo', { signal: AbortSignal.abort('before') }).catch((e) => e);
        const timed = await fetch(origin + '/slow', { signal: AbortSignal.timeout(30) }).catch((e) => e.name);
        return { outcome, early, timed };
      }`,
    );
    release?.();
    expect(out).toEqual({ outcome: ['AbortError', true], early: 'before', timed: 'TimeoutError' });
  });

  it('one fetch is one audited net.http tool call', async () => {
    const out = (await value(
      allowed,
      `export default async (origin) => {
        await fetch(origin + '/echo');
        return (await sys.audit({ limit: 20 })).map((r) => [r.syscall, r.action, r.phase, r.status]);
      }`,
    )) as unknown[];
    expect(out).toContainEqual(['tool', 'net.http', 'outcome', 'ok']);
  });
});

describe('fetch without the capability', () => {
  it('rejects with the kernel code and sends nothing', async () => {
    const out = await value(
      denied,
      `export default async (origin) => {
        try { await fetch(origin + '/echo'); return 'sent'; } catch (e) { return [e.code, e instanceof Error]; }
      }`,
    );
    expect(out).toEqual(['E_CAP_DENIED', true]);
    expect(server.requests).toEqual([]);
  });
});

describe('Headers, Request and Response in the guest', () => {
  it('behave as the Fetch standard says for the parts agents use', async () => {
    const out = await value(
      denied,
      `export default async () => {
        const h = new Headers([['B', '2'], ['a', ' 1 ']]);
        h.append('b', '3');
        const bad = (f) => { try { f(); return 'accepted'; } catch (e) { return e.constructor.name; } };
        const req = new Request('https://x.example/p', { method: 'delete', headers: h });
        const res = Response.json({ ok: 1 }, { status: 201 });
        const copy = res.clone();
        return {
          entries: [...h], get: h.get('B'), has: h.has('c'),
          badName: bad(() => h.set('bad name', 'x')), badValue: bad(() => h.set('x', 'a\\nb')),
          req: [req.method, req.url, req.headers.get('a'), bad(() => new Request('https://x', { method: 'GET', body: 'x' }))],
          res: [res.status, res.headers.get('content-type'), await res.json(), await copy.text()],
          reuse: await res.text().then(() => 'again', (e) => e.constructor.name),
          immutable: bad(() => Response.error().headers.set('a', 'b')),
          statusRange: bad(() => new Response('x', { status: 99 })),
          text: await new Response(new Uint8Array([0xef, 0xbb, 0xbf, 104, 105])).text(),
        };
      }`,
    );
    expect(out).toEqual({
      entries: [
        ['a', '1'],
        ['b', '2, 3'],
      ],
      get: '2, 3',
      has: false,
      badName: 'TypeError',
      badValue: 'TypeError',
      req: ['DELETE', 'https://x.example/p', '1', 'TypeError'],
      res: [201, 'application/json', { ok: 1 }, '{"ok":1}'],
      reuse: 'TypeError',
      immutable: 'TypeError',
      statusRange: 'RangeError',
      text: 'hi',
    });
  });
});
