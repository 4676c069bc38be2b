import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHttpTool, defineTool, type Kernel } from '../../index.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack: fetch a labelled server under another spelling of its URL (red-team pass 105). A policy source tags the
 * mail server's answers `email`; the agent holds a broad grant and asks for the same server as `mail.corp.test.`
 * (DNS drops the dot), as `[::ffff:127.0.0.1]`, or for `/%69nbox` (the server decodes it to `/inbox`). The source was
 * matched on the string, so the inbox came back unlabelled and was forwarded. Each such spelling is now refused or
 * written in its one canonical form before any rule sees it.
 */
let mail: TestServer;
let kernel: Kernel | undefined;
const forwarded: unknown[] = [];

const forward = defineTool({
  name: 'forward',
  description: 'forwards text outside',
  input: z.strictObject({ body: z.unknown() }),
  labels: { sinks: { '*': ['email'] } },
  run: (args) => {
    forwarded.push(args);
    return 'sent';
  },
});

beforeAll(async () => {
  // A server that decodes its path before routing, as most do.
  mail = await startTestServer((req, res) => {
    if (decodeURIComponent(req.url ?? '').startsWith('/inbox')) res.writeHead(200).end('inbox: merger');
    else res.writeHead(404).end('nope');
  });
});
afterAll(async () => {
  await mail.close();
});
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  forwarded.length = 0;
});

// DNS answers a name with a trailing dot as the name without it.
const resolve = async (host: string) =>
  (host.endsWith('.') ? host.slice(0, -1) : host) === 'mail.corp.test' ? ['127.0.0.1'] : [];

const FETCH_AND_FORWARD = `export default async ({ url }) => {
  let body;
  try { ({ body } = await sys.tool('net.http', { url })); } catch (e) { return ['not fetched', e.code]; }
  const label = await sys.label();
  try { await sys.tool('forward', { body }); return [body, label, 'sent']; } catch (e) { return [body, label, e.code]; }
}`;

function mailKernel(grant: string, source: string): Kernel {
  kernel = testKernel({
    tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'], resolve }), forward],
    policy: {
      capabilities: [
        { action: 'net.http', resource: grant },
        { action: 'forward', resource: 'forward' },
      ],
      labels: { sources: [{ tool: 'net.http', resource: source, tags: ['email'] }] },
    },
  });
  return kernel;
}

describe('one server, two spellings of its URL', () => {
  it.each([
    ['a trailing dot', (port: number) => `http://mail.corp.test.:${port}/inbox`, 'mail'],
    ['an IPv4-mapped IPv6 address', (port: number) => `http://[::ffff:127.0.0.1]:${port}/inbox`, 'ip'],
  ])('%s is refused, not fetched unlabelled', async (_what, url, source) => {
    const port = mail.port;
    const k = mailKernel(
      `http://**:${port}/**`,
      source === 'ip' ? `${mail.origin}/**` : `http://mail.corp.test:${port}/**`,
    );
    const result = await k.run({ code: FETCH_AND_FORWARD, input: { url: url(port) } });
    // Before: ['inbox: merger', ['web'], 'sent'].
    expect(result).toMatchObject({ ok: true, value: ['not fetched', 'E_BAD_ARG'] });
    expect(forwarded).toEqual([]);
  });

  it('an escaped path is the path it names: labelled, and the forward is refused', async () => {
    const k = mailKernel(`${mail.origin}/**`, `${mail.origin}/inbox/**`);
    const result = await k.run({ code: FETCH_AND_FORWARD, input: { url: `${mail.origin}/%69nbox/1` } });
    expect(result).toMatchObject({ ok: true, value: ['inbox: merger', ['email', 'web'], 'E_TAINT'] });
    expect(forwarded).toEqual([]);
  });
});

// Red-team pass 145 and review 147: servers route more spellings to one document than the URL's normal form has.
// Express's router matches paths case-insensitively by default; Tomcat, Jetty and Spring drop `;` path parameters
// before routing; nginx decodes escapes before matching; Windows drops a name's trailing dots and spaces; Rails
// routes `/inbox/1.json` to `/inbox/1`; an index is served at `/inbox` as at `/inbox/`; IIS URL Rewrite, Symfony and
// Zend route by an `X-Original-URL` header. A source tagging `/inbox/**` matched none of them, so the inbox came back
// labelled `web` only and was forwarded. The server here does all of these at once.
describe('one document, the spellings its server routes to it', () => {
  let router: TestServer;
  beforeAll(async () => {
    router = await startTestServer((req, res) => {
      const header = req.headers['x-original-url'];
      const path = (typeof header === 'string' ? header : (req.url ?? '')).split('?')[0] ?? '';
      const segments = path
        .split('/')
        .map((segment) =>
          decodeURIComponent(segment.split(';')[0] ?? '')
            .replace(/[. ]+$/, '')
            .toLowerCase(),
        )
        .filter((segment) => segment !== '');
      const last = segments.length - 1;
      if (last >= 0) segments[last] = (segments[last] ?? '').replace(/\.(json|xml)$/, '');
      if (segments[0] === 'inbox') res.writeHead(200).end(`inbox ${segments.slice(1).join('/') || 'index'}: merger`);
      else res.writeHead(200).end('public page');
    });
  });
  afterAll(async () => {
    await router.close();
  });

  it.each([
    ['the canonical path (benign twin)', '/inbox/1', 'inbox 1: merger'],
    ['upper case', '/INBOX/1', 'inbox 1: merger'],
    ['mixed case', '/Inbox/1', 'inbox 1: merger'],
    ['a path parameter', '/inbox;v=1/1', 'inbox 1: merger'],
    ['an empty path parameter', '/inbox;/1', 'inbox 1: merger'],
    ['a segment of parameters alone', '/;x/inbox/1', 'inbox 1: merger'],
    ['the index without its slash', '/inbox', 'inbox index: merger'],
    ['the index with it', '/inbox/', 'inbox index: merger'],
    ["the index's format suffix", '/inbox.xml', 'inbox index: merger'],
    ['a trailing dot', '/inbox./1', 'inbox 1: merger'],
  ])('%s (%s) is labelled, and the forward refused', async (_what, path, body) => {
    const k = mailKernel(`${router.origin}/**`, `${router.origin}/inbox/**`);
    const result = await k.run({ code: FETCH_AND_FORWARD, input: { url: `${router.origin}${path}` } });
    // Before, for every spelling but the twin's: [body, ['web'], 'sent'].
    expect(result).toMatchObject({ ok: true, value: [body, ['email', 'web'], 'E_TAINT'] });
    expect(forwarded).toEqual([]);
  });

  it.each([
    ['a format suffix', '/inbox/1', '/inbox/1.json', 'inbox 1: merger'],
    ['a trailing space', '/inbox/1', '/inbox/1%20', 'inbox 1: merger'],
    ['an escaped reserved character', '/inbox/@alice/**', '/inbox/%40alice/1', 'inbox @alice/1: merger'],
    ['a source written escaped', '/inbox/%40alice/**', '/inbox/@alice/1', 'inbox @alice/1: merger'],
  ])('%s: a source on %s covers %s', async (_what, source, path, body) => {
    const k = mailKernel(`${router.origin}/**`, `${router.origin}${source}`);
    const result = await k.run({ code: FETCH_AND_FORWARD, input: { url: `${router.origin}${path}` } });
    expect(result).toMatchObject({ ok: true, value: [body, ['email', 'web'], 'E_TAINT'] });
    expect(forwarded).toEqual([]);
  });

  it('a source written in upper case covers the paths in lower case too', async () => {
    const k = mailKernel(`${router.origin}/**`, `${router.origin}/Inbox/**`);
    const result = await k.run({ code: FETCH_AND_FORWARD, input: { url: `${router.origin}/inbox/2` } });
    expect(result).toMatchObject({ ok: true, value: ['inbox 2: merger', ['email', 'web'], 'E_TAINT'] });
  });

  it("a public page stays public, and a routing header is the kernel's to set", async () => {
    const k = mailKernel(`${router.origin}/**`, `${router.origin}/inbox/**`);
    const page = await k.run({ code: FETCH_AND_FORWARD, input: { url: `${router.origin}/public` } });
    expect(page).toMatchObject({ ok: true, value: ['public page', ['web'], 'sent'] });
    forwarded.length = 0;
    const routed = await k.run({
      code: `export default async () => {
        try { await sys.tool('net.http', { url: ${JSON.stringify(`${router.origin}/public`)}, headers: { 'X-Original-URL': '/inbox/1' } }); return 'fetched'; }
        catch (e) { return [e.code, e.message]; }
      }`,
    });
    // Before: the inbox, labelled ['web'], and forwarded.
    expect(routed).toMatchObject({ ok: true, value: ['E_BAD_ARG', expect.stringContaining('x-original-url')] });
    expect(forwarded).toEqual([]);
  });
});
