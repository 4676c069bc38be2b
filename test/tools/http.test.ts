import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tool, ToolContext } from '../../runtime/tool-use/tool-contract.js';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import {
  createHttpTool,
  type HttpOptions,
  type HttpResult,
  httpConfigSchema,
  httpOptionsFromConfig,
  httpResource,
} from '../../tools/http.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { refusal, testToolContext } from '../helpers/tool-context.js';

const LOOPBACK: HttpOptions = { allowPrivate: ['127.0.0.1/32'] };
const BINARY = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x01]);

let server: TestServer;
let silent: TestServer;

beforeAll(async () => {
  server = await startTestServer((req, res) => {
    const path = req.url.split('?')[0];
    if (path === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('hello, wörld');
    } else if (path === '/echo') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ method: req.method, url: req.url, body: req.body.toString('utf8'), headers: req.headers }),
      );
    } else if (path?.startsWith('/status/')) {
      res.writeHead(Number(path.slice('/status/'.length)), { 'content-type': 'text/plain' }).end('status body');
    } else if (path === '/binary') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(BINARY);
    } else if (path === '/headers') {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Custom-Header', 'Value');
      res.writeHead(204).end();
    } else if (path === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(2000));
    } else if (path === '/chunked-big') {
      // No content-length: the cap has to be enforced while reading.
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 20; i++) res.write('y'.repeat(100));
      res.end();
    } else if (path === '/charset') {
      // Node writes header strings byte for byte as Latin-1: the first is UTF-8 on the wire, the second is not.
      res.writeHead(200, { 'x-utf8': Buffer.from('Zürich', 'utf8').toString('latin1'), 'x-latin1': 'caf\xe9' }).end();
    } else if (path === '/to-utf8') {
      res.writeHead(302, { location: Buffer.from('/echo?city=Zürich', 'utf8').toString('latin1') }).end();
    } else if (path === '/te-gzip') {
      // Node frames the body in chunks; the `gzip` coding before it is left in the body (undici does not undo it).
      res.writeHead(200, { 'transfer-encoding': 'gzip, chunked' }).end(gzipSync('compressed'));
    } else if (path === '/bom') {
      res.writeHead(200).end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('text')]));
    } else {
      res.writeHead(404).end('not found');
    }
  });
  // Accepts connections and requests, never answers.
  silent = await startTestServer(() => undefined);
});

afterAll(async () => {
  await server.close();
  await silent.close();
});

/** Runs a call the way the kernel does: schema, resource, then the tool behind the gate's error mapping. */
async function call(tool: Tool, args: unknown, ctx: ToolContext = testToolContext()): Promise<HttpResult> {
  const use = prepareToolUse(tool, args);
  return (await runToolUse(use, ctx)) as HttpResult;
}

function echoOf(result: HttpResult): { method: string; url: string; body: string; headers: Record<string, string> } {
  return JSON.parse(result.body ?? '');
}

describe('net.http tool shape', () => {
  it('declares its action, default method, target and web label', () => {
    const tool = createHttpTool();
    expect(tool.name).toBe('net.http');
    expect(tool.action ?? tool.name).toBe('net.http');
    expect(tool.defaults).toEqual({ method: 'GET' });
    expect(tool.target).toBe('url');
    expect(tool.labels?.source).toEqual(['web']);
  });

  it('uses the normalized URL as the resource', () => {
    const tool = createHttpTool();
    expect(prepareToolUse(tool, { url: 'HTTP://Example.COM:80/a/./b/../c?q=1#frag' }).resource).toBe(
      'http://example.com/a/c?q=1',
    );
    expect(httpResource('https://example.com')).toBe('https://example.com/');
    expect(httpResource('wss://example.com/')).toBeUndefined();
    expect(httpResource('https://user@example.com/')).toBeUndefined();
  });
});

describe('net.http requests (parity with an HTTP provider)', () => {
  const tool = createHttpTool(LOOPBACK);

  it('GETs text by default and reports status, final URL, headers and no redirects', async () => {
    const result = await call(tool, { url: `${server.origin}/text` });
    expect(result).toMatchObject({ status: 200, url: `${server.origin}/text`, body: 'hello, wörld', redirects: 0 });
    expect(result.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(result.body_base64).toBeUndefined();
    expect(server.requests.at(-1)?.method).toBe('GET');
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'] as const)('sends a %s with a body and headers', async (method) => {
    const result = await call(tool, {
      url: `${server.origin}/echo`,
      method,
      headers: { 'Content-Type': 'application/json', 'X-Trace': 'abc' },
      body: '{"name":"Alice ✓"}',
    });
    const echo = echoOf(result);
    expect(echo.method).toBe(method);
    expect(echo.body).toBe('{"name":"Alice ✓"}');
    expect(echo.headers['content-type']).toBe('application/json');
    expect(echo.headers['x-trace']).toBe('abc');
    expect(echo.headers['content-length']).toBe(String(Buffer.byteLength('{"name":"Alice ✓"}')));
  });

  it('sends a binary body given in base64 byte for byte', async () => {
    await call(tool, { url: `${server.origin}/echo`, method: 'POST', body_base64: BINARY.toString('base64') });
    expect(server.requests.at(-1)?.body.equals(BINARY)).toBe(true);
  });

  it('returns a binary response as body_base64', async () => {
    const result = await call(tool, { url: `${server.origin}/binary` });
    expect(result.body).toBeUndefined();
    expect(Buffer.from(result.body_base64 ?? '', 'base64').equals(BINARY)).toBe(true);
  });

  it('keeps a byte-order mark as part of the text', async () => {
    expect((await call(tool, { url: `${server.origin}/bom` })).body).toBe('\ufefftext');
  });

  it.each([201, 204, 400, 404, 500, 503])('returns status %i as a result, not an error', async (status) => {
    const result = await call(tool, { url: `${server.origin}/status/${status}` });
    expect(result.status).toBe(status);
    expect(result.body).toBe(status === 204 ? '' : 'status body');
  });

  it('lowercases response headers and joins repeated ones', async () => {
    const result = await call(tool, { url: `${server.origin}/headers` });
    expect(result.headers['x-custom-header']).toBe('Value');
    expect(result.headers['set-cookie']).toBe('a=1, b=2');
    expect(Object.keys(result.headers).filter((name) => name !== name.toLowerCase())).toEqual([]);
  });

  it('reads a header value as UTF-8 when its bytes are UTF-8, else as Latin-1', async () => {
    const result = await call(tool, { url: `${server.origin}/charset` });
    expect(result.headers['x-utf8']).toBe('Zürich');
    expect(result.headers['x-latin1']).toBe('café');
  });

  it('reads a UTF-8 Location as UTF-8', async () => {
    const ctx = testToolContext();
    const result = await call(tool, { url: `${server.origin}/to-utf8` }, ctx);
    expect(ctx.reauthorized).toEqual([`${server.origin}/echo?city=Z%C3%BCrich`]);
    expect(result.url).toBe(`${server.origin}/echo?city=Z%C3%BCrich`);
    expect(echoOf(result).url).toBe('/echo?city=Z%C3%BCrich');
  });

  it('HEAD and OPTIONS work; HEAD has an empty body', async () => {
    const head = await call(tool, { url: `${server.origin}/text`, method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
    expect((await call(tool, { url: `${server.origin}/echo`, method: 'OPTIONS' })).status).toBe(200);
  });

  it('keeps the query of the URL', async () => {
    const echo = echoOf(await call(tool, { url: `${server.origin}/echo?a=1&b=two` }));
    expect(echo.url).toBe('/echo?a=1&b=two');
  });
});

describe('net.http vault injection', () => {
  const tool = createHttpTool(LOOPBACK);

  it('merges injected headers over same-named agent headers and adds the injected query', async () => {
    const ctx: ToolContext = {
      ...testToolContext(),
      inject: { headers: { Authorization: 'Bearer VAULT-TOKEN' }, query: { api_key: 'VAULT-KEY' } },
    };
    const result = await call(
      tool,
      { url: `${server.origin}/echo?x=1`, headers: { authorization: 'Bearer agent' } },
      ctx,
    );
    const echo = echoOf(result);
    expect(echo.headers['authorization']).toBe('Bearer VAULT-TOKEN');
    expect(echo.url).toBe('/echo?x=1&api_key=VAULT-KEY');
    // The reported URL is the authorized one, never the one carrying the secret.
    expect(result.url).toBe(`${server.origin}/echo?x=1`);
  });
});

describe('net.http transfer codings', () => {
  const tool = createHttpTool(LOOPBACK);
  const vault: ToolContext = { ...testToolContext(), inject: { headers: {}, query: { api_key: 'VAULT-KEY' } } };

  it('returns a body under a transfer coding undici does not undo when the call carries no secret', async () => {
    const result = await call(tool, { url: `${server.origin}/te-gzip` });
    expect(result.headers['transfer-encoding']).toBe('gzip, chunked');
    expect(result.body_base64).toBe(gzipSync('compressed').toString('base64'));
  });

  it('refuses such a body when the call carries vault secrets, and keeps chunked bodies', async () => {
    const error = await refusal(call(tool, { url: `${server.origin}/te-gzip` }, vault));
    expect(error).toMatchObject({
      code: 'E_TOOL_FAILED',
      message: 'net.http: a transfer-encoded response to a request carrying vault secrets',
    });
    const chunked = await call(tool, { url: `${server.origin}/chunked-big` }, vault);
    expect(chunked.headers['transfer-encoding']).toBe('chunked');
    expect(chunked.body).toBe('y'.repeat(2000));
  });
});

describe('net.http limits', () => {
  it('refuses loopback by default and allows it when configured', async () => {
    const closed = createHttpTool();
    const error = await refusal(call(closed, { url: `${server.origin}/text` }));
    expect(error.code).toBe('E_CAP_DENIED');
    expect(error.message).toBe('net.http: 127.0.0.1 resolves to a private or local address');
    expect((await call(createHttpTool(LOOPBACK), { url: `${server.origin}/text` })).status).toBe(200);
  });

  it('fails a response over the cap, declared or streamed', async () => {
    const tool = createHttpTool({ ...LOOPBACK, maxResponseBytes: 1000 });
    for (const path of ['/big', '/chunked-big']) {
      const error = await refusal(call(tool, { url: `${server.origin}${path}` }));
      expect(error).toMatchObject({ code: 'E_TOOL_FAILED', message: 'net.http: response exceeds 1000 bytes' });
    }
    expect((await call(tool, { url: `${server.origin}/text` })).status).toBe(200);
  });

  it('refuses a request body over the cap, counting bytes', async () => {
    const tool = createHttpTool({ ...LOOPBACK, maxRequestBytes: 10 });
    const before = server.requests.length;
    // 6 characters, 12 bytes: passes the schema's character bound, fails the byte count.
    const error = await refusal(call(tool, { url: `${server.origin}/echo`, method: 'POST', body: 'éééééé' }));
    expect(error).toMatchObject({ code: 'E_BAD_ARG', message: 'net.http: request body exceeds 10 bytes' });
    expect(() => prepareToolUse(tool, { url: `${server.origin}/echo`, method: 'POST', body: 'x'.repeat(11) })).toThrow(
      /body/,
    );
    expect(server.requests.length).toBe(before);
    expect((await call(tool, { url: `${server.origin}/echo`, method: 'POST', body: 'é'.repeat(5) })).status).toBe(200);
  });

  it('times out against a server that never answers', async () => {
    const tool = createHttpTool({ ...LOOPBACK, timeoutMs: 200 });
    const started = Date.now();
    const error = await refusal(call(tool, { url: `${silent.origin}/hang` }));
    expect(error).toMatchObject({ code: 'E_TOOL_FAILED', message: 'net.http: request timed out' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(silent.requests.length).toBeGreaterThan(0);
  });

  it('stops when the calling agent ends', async () => {
    const ctx = testToolContext();
    const pending = call(createHttpTool(LOOPBACK), { url: `${silent.origin}/hang` }, ctx);
    setTimeout(() => ctx.abort.abort(), 50);
    expect(await refusal(pending)).toMatchObject({ code: 'E_TOOL_FAILED', message: 'net.http: request aborted' });
  });

  it('reports connection and DNS failures with fixed messages', async () => {
    const closing = await startTestServer(() => undefined);
    const origin = closing.origin;
    await closing.close();
    const refused = await refusal(call(createHttpTool(LOOPBACK), { url: `${origin}/` }));
    expect(refused).toMatchObject({ code: 'E_TOOL_FAILED', message: 'net.http: connection failed' });
    const noDns = createHttpTool({
      resolve: async () => {
        throw new Error('getaddrinfo ENOTFOUND secret-internal-detail');
      },
    });
    const unresolved = await refusal(call(noDns, { url: 'http://nowhere.test/' }));
    expect(unresolved).toMatchObject({ code: 'E_TOOL_FAILED', message: 'net.http: the host could not be resolved' });
  });
});

describe('net.http argument validation', () => {
  const tool = createHttpTool(LOOPBACK);
  const url = 'http://127.0.0.1:9/';

  it.each([
    ['a CR/LF in a header value', { 'X-A': 'v\r\nInjected: 1' }],
    ['a LF in a header value', { 'X-A': 'v\nx' }],
    ['a NUL in a header value', { 'X-A': 'v\u0000' }],
    ['a CR/LF in a header name', { 'X-A\r\nInjected': '1' }],
    ['a space in a header name', { 'X A': '1' }],
    ['Host', { Host: 'internal' }],
    ['Connection', { connection: 'close' }],
    ['Transfer-Encoding', { 'Transfer-Encoding': 'chunked' }],
    ['Content-Length', { 'content-length': '5' }],
    ['Proxy-Authorization', { 'Proxy-Authorization': 'Basic x' }],
    ['X-Original-URL (routing by header)', { 'X-Original-URL': '/inbox/1' }],
    ['X-Forwarded-Host', { 'X-Forwarded-Host': 'internal' }],
    ['Forwarded', { Forwarded: 'host=internal' }],
    ['X-HTTP-Method-Override', { 'X-HTTP-Method-Override': 'DELETE' }],
    ['X-Script-Name', { 'X-Script-Name': '/x' }],
    ['a name with an underscore, which CGI reads as a dash', { X_Original_URL: '/inbox/1' }],
    ['Proxy (httpoxy)', { Proxy: 'http://evil.test' }],
    ['a header given twice', { 'x-a': '1', 'X-A': '2' }],
    ['non-ASCII in a value', { 'X-A': 'ü' }],
  ])('refuses %s', (_what, headers) => {
    expect(() => prepareToolUse(tool, { url, headers })).toThrow(expect.objectContaining({ code: 'E_BAD_ARG' }));
  });

  it('never echoes a refused header value', () => {
    let thrown: unknown;
    try {
      prepareToolUse(tool, { url, headers: { 'X-A': 'SECRET-VALUE\r\n' } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toEqual(expect.objectContaining({ code: 'E_BAD_ARG' }));
    expect((thrown as Error).message).not.toContain('SECRET-VALUE');
  });

  it.each([
    { url, method: 'TRACE' },
    { url, method: 'get' },
    { url, body: 'x' },
    { url, method: 'HEAD', body_base64: 'eA==' },
    { url, method: 'POST', body: 'x', body_base64: 'eA==' },
    { url, method: 'POST', body_base64: 'not base64!' },
    { url, method: 'POST', body_base64: 'eB==' },
    { url, method: 'POST', body_base64: 'eA' },
    { url, extra: 1 },
    { url, headers: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`x-${i}`, 'v'])) },
    {},
  ])('refuses %j', (args) => {
    expect(() => prepareToolUse(tool, args)).toThrow(expect.objectContaining({ code: 'E_BAD_ARG' }));
  });
});

describe('createHttpTool options and config', () => {
  it.each([
    [{ maxResponseBytes: 0 }, RangeError, /maxResponseBytes/],
    [{ maxResponseBytes: 1.5 }, TypeError, /maxResponseBytes/],
    [{ maxRequestBytes: -1 }, RangeError, /maxRequestBytes/],
    [{ timeoutMs: Number.NaN }, TypeError, /timeoutMs/],
    [{ maxRedirects: 21 }, RangeError, /maxRedirects/],
    [{ allowPrivate: ['127.0.0.1/33'] }, TypeError, /allowPrivate\[0\]/],
    [{ allowPrivate: ['localhost'] }, TypeError, /allowPrivate\[0\]/],
    [{ allowPrivate: '127.0.0.1/32' }, TypeError, /allowPrivate/],
    [{ maxResponseByte: 5 }, TypeError, /options\.maxResponseByte: not a known option/],
    [{ resolve: 'dns' }, TypeError, /options\.resolve: must be a function/],
  ])('refuses %j', (options, type, message) => {
    expect(() => createHttpTool(options as HttpOptions)).toThrow(type);
    expect(() => createHttpTool(options as HttpOptions)).toThrow(message);
  });

  it('parses the policy-file form strictly and maps it to options', () => {
    const config = httpConfigSchema.parse({
      allow_private: ['127.0.0.1/32', '::1'],
      max_response_bytes: 1024,
      max_request_bytes: 512,
      timeout_ms: 1000,
      max_redirects: 0,
    });
    expect(httpOptionsFromConfig(config)).toEqual({
      allowPrivate: ['127.0.0.1/32', '::1'],
      maxResponseBytes: 1024,
      maxRequestBytes: 512,
      timeoutMs: 1000,
      maxRedirects: 0,
    });
    expect(httpOptionsFromConfig(httpConfigSchema.parse({}))).toEqual({});
    expect(httpConfigSchema.safeParse({ allow_private: ['10.0.0.0/99'] }).success).toBe(false);
    expect(httpConfigSchema.safeParse({ allow_hosts: ['x'] }).success).toBe(false);
    expect(httpConfigSchema.safeParse({ timeout_ms: 0 }).success).toBe(false);
  });
});

describe('net.http and the caller signal', () => {
  // Node's AbortSignal.any keeps each combined signal in its parents' dependant set until they abort: composing the
  // caller's own signal (an agent's, or the host's for kernel.submit, which lives as long as the kernel) kept
  // about 100 bytes a call for that signal's whole life (review 92).
  it('leaves nothing on the caller signal after its calls end', async () => {
    const ctx = testToolContext();
    const dependants = (): number | undefined => {
      const key = Object.getOwnPropertySymbols(ctx.signal).find((s) => s.description === 'kDependantSignals');
      const set = key === undefined ? undefined : (ctx.signal as unknown as Record<symbol, unknown>)[key];
      // Node's own SafeSet, of another realm than the test's Set.
      return typeof set === 'object' && set !== null && 'size' in set ? Number(set.size) : undefined;
    };
    const tool = createHttpTool(LOOPBACK);
    for (let i = 0; i < 20; i++) await call(tool, { url: `${server.origin}/text` }, ctx);
    // Undefined where Node keeps no such set (nothing to leak there).
    expect(dependants() ?? 0).toBe(0);
  });
});
