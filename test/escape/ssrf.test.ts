// Attack: server-side request forgery through net.http. The agent names URLs that reach the host's own network
// (loopback services, cloud metadata, the LAN) by every spelling we know: other schemes, credentials in the URL,
// numeric IPv4 forms, IPv4 inside IPv6, names that resolve to private addresses, answers mixing public and
// private addresses, and a name that resolves differently the second time (DNS rebinding).
//
// No test here sends a packet to anything but 127.0.0.1: decisions about other private or public addresses are
// tested on the guard itself, and the tool is only pointed at hosts that are loopback whatever the outcome.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tool } from '../../runtime/tool-use/tool-contract.js';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import {
  AddressBlockedError,
  AddressGuard,
  AddressLookupError,
  embeddedIpv4,
  guardedConnector,
  parseCidr,
} from '../../tools/address-guard.js';
import { createHttpTool, type HttpResult } from '../../tools/http.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { refusal, testToolContext } from '../helpers/tool-context.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`host=${req.headers.host}`);
  });
});

afterAll(async () => {
  await server.close();
});

async function call(tool: Tool, args: unknown): Promise<HttpResult> {
  return (await runToolUse(prepareToolUse(tool, args), testToolContext())) as HttpResult;
}

describe('SSRF: schemes and URL forms', () => {
  const tool = createHttpTool({ allowPrivate: ['127.0.0.1/32'] });

  it.each([
    'file:///etc/passwd',
    'data:text/plain,hello',
    'ftp://127.0.0.1/x',
    'javascript:alert(1)',
    'gopher://127.0.0.1:25/_HELO',
    'ws://127.0.0.1/',
    'wss://127.0.0.1/',
    'dict://127.0.0.1:11211/stats',
    '//127.0.0.1/',
    '/etc/passwd',
    'http://user:pass@127.0.0.1/',
    'http://example.com@127.0.0.1/',
    'http://127.0.0.1/a/..%2f..%2fadmin',
  ])('refuses %s before anything is sent', (url) => {
    expect(() => prepareToolUse(tool, { url })).toThrow(expect.objectContaining({ code: 'E_BAD_ARG' }));
  });

  it('refuses such URLs in run as well, should a caller skip the gate', async () => {
    const error = await refusal(
      Promise.resolve().then(() => tool.run({ url: 'file:///etc/passwd' }, testToolContext())),
    );
    expect(error.code).toBe('E_BAD_ARG');
  });
});

describe('SSRF: loopback by any spelling is refused by default', () => {
  const tool = createHttpTool();

  it.each([
    ['decimal', (port: number) => `http://2130706433:${port}/`],
    ['hex', (port: number) => `http://0x7f000001:${port}/`],
    ['dotted hex', (port: number) => `http://0x7f.0x0.0x0.0x1:${port}/`],
    ['octal', (port: number) => `http://0177.0.0.1:${port}/`],
    ['short', (port: number) => `http://127.1:${port}/`],
    ['other loopback', (port: number) => `http://127.0.0.2:${port}/`],
    ['IPv6 loopback', (port: number) => `http://[::1]:${port}/`],
    ['unspecified', (port: number) => `http://0.0.0.0:${port}/`],
    ['zero', (port: number) => `http://0:${port}/`],
    ['unspecified IPv6', (port: number) => `http://[::]:${port}/`],
  ])('%s', async (_spelling, url) => {
    const before = server.connections();
    const error = await refusal(call(tool, { url: url(server.port) }));
    expect(error.code).toBe('E_CAP_DENIED');
    expect(error.message).toMatch(/^net\.http: .+ resolves to a private or local address$/);
    expect(server.connections()).toBe(before);
  });

  it.each([
    ['IPv4-mapped IPv6', (port: number) => `http://[::ffff:127.0.0.1]:${port}/`],
    ['IPv4-mapped IPv6 in hex', (port: number) => `http://[::ffff:7f00:1]:${port}/`],
  ])('%s is refused as an argument, never connected (a second spelling of an IPv4 server)', async (_spelling, url) => {
    const before = server.connections();
    const error = await refusal(call(tool, { url: url(server.port) }));
    expect(error.code).toBe('E_BAD_ARG');
    expect(server.connections()).toBe(before);
  });

  it('refuses a DNS name that resolves to loopback (localhost), without naming the address', async () => {
    const before = server.connections();
    const error = await refusal(call(tool, { url: `http://localhost:${server.port}/` }));
    expect(error).toMatchObject({
      code: 'E_CAP_DENIED',
      message: 'net.http: localhost resolves to a private or local address',
    });
    expect(server.connections()).toBe(before);
  });

  it('refuses a name whose answer mixes an allowed address with a refused one', async () => {
    const mixed = createHttpTool({ allowPrivate: ['127.0.0.1/32'], resolve: async () => ['127.0.0.1', '::1'] });
    const before = server.connections();
    const error = await refusal(call(mixed, { url: `http://mixed.test:${server.port}/` }));
    expect(error.code).toBe('E_CAP_DENIED');
    expect(error.message).not.toContain('127.0.0.1');
    expect(error.message).not.toContain('::1');
    expect(server.connections()).toBe(before);
  });

  it('allows exactly the configured block', async () => {
    const open = createHttpTool({ allowPrivate: ['127.0.0.1/32'] });
    expect((await call(open, { url: `http://2130706433:${server.port}/` })).status).toBe(200);
    // Its IPv6 form is refused as a URL (one spelling per server), not let through as the same block.
    expect((await refusal(call(open, { url: `http://[::ffff:127.0.0.1]:${server.port}/` }))).code).toBe('E_BAD_ARG');
    expect((await refusal(call(open, { url: `http://127.0.0.2:${server.port}/` }))).code).toBe('E_CAP_DENIED');
  });
});

describe('SSRF: the connection is pinned to the checked address', () => {
  it('resolves once and connects to the answer it checked (DNS rebinding)', async () => {
    const asked: string[] = [];
    // A rebinding resolver: a harmless answer first, the metadata endpoint afterwards.
    const tool = createHttpTool({
      allowPrivate: ['127.0.0.1/32'],
      resolve: async (hostname) => {
        asked.push(hostname);
        return asked.length === 1 ? ['127.0.0.1'] : ['169.254.169.254'];
      },
    });
    const result = await call(tool, { url: `http://rebind.test:${server.port}/` });
    // `.test` names do not exist in public DNS: the response proves the request used the checked answer.
    expect(result.body).toBe(`host=rebind.test:${server.port}`);
    expect(asked).toEqual(['rebind.test']);
  });

  it('re-checks the connected peer even if the lookup were bypassed', async () => {
    // A guard whose lookup skips the check, standing in for any path around it.
    class LeakyGuard extends AddressGuard {
      override readonly lookup: AddressGuard['lookup'] = (_hostname, _options, callback) => {
        callback(null, [{ address: '127.0.0.1', family: 4 }]);
      };
    }
    const connector = await guardedConnector(new LeakyGuard(), { timeoutMs: 2000 });
    const requests = server.requests.length;
    const connections = server.connections();
    const error = await new Promise<Error | null>((resolve) => {
      connector({ hostname: 'leaky.test', protocol: 'http:', port: String(server.port) }, (...outcome) =>
        resolve(outcome[0]),
      );
    });
    expect(error).toBeInstanceOf(AddressBlockedError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The socket was opened (the lookup let it through) and closed unused by the peer check.
    expect(server.connections()).toBe(connections + 1);
    expect(server.requests.length).toBe(requests);
  });

  it('checks literal IP hosts in the connector before opening a socket', async () => {
    const connector = await guardedConnector(new AddressGuard(), { timeoutMs: 2000 });
    const before = server.connections();
    const error = await new Promise<Error | null>((resolve) => {
      connector({ hostname: '127.0.0.1', protocol: 'http:', port: String(server.port) }, (...outcome) =>
        resolve(outcome[0]),
      );
    });
    expect(error).toBeInstanceOf(AddressBlockedError);
    expect(server.connections()).toBe(before);
  });

  it('net.connect through the guard lookup refuses a name resolving to loopback', async () => {
    const guard = new AddressGuard({ resolve: async () => ['127.0.0.1'] });
    const before = server.connections();
    const error = await new Promise<Error>((resolve) => {
      const socket = connect({ host: 'loop.test', port: server.port, lookup: guard.lookup });
      socket.on('error', resolve);
      socket.on('connect', () => resolve(new Error('connected')));
    });
    expect(error).toBeInstanceOf(AddressBlockedError);
    expect(server.connections()).toBe(before);
  });
});

describe('AddressGuard decisions (no traffic)', () => {
  const guard = new AddressGuard();

  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '0.0.0.0',
    '0.1.2.3',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.127.255.255',
    '192.0.0.8',
    '192.0.2.1',
    '198.18.0.1',
    '198.51.100.1',
    '203.0.113.1',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '::127.0.0.1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '0:0:0:0:0:ffff:a9fe:a9fe',
    '::ffff:10.0.0.1',
    '64:ff9b::7f00:1',
    '64:ff9b::a9fe:a9fe',
    '2002:7f00:1::',
    '2002:a9fe:a9fe::1',
    'fe80::1',
    'febf::1',
    'fec0::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    'ff05::2',
    '100::1',
    '2001:db8::1',
    '2001::1',
    '3fff::1',
    'fe80::1%eth0',
    'localhost',
    'example.com',
    '',
    '1.2.3',
  ])('refuses %s', (address) => {
    expect(guard.allows(address)).toBe(false);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('allows public %s', (address) => {
    expect(guard.allows(address)).toBe(true);
  });

  it('allowPrivate opens exactly its blocks, in both spellings of an IPv4 address', () => {
    const open = new AddressGuard({ allowPrivate: ['127.0.0.1/32', '10.1.0.0/16', 'fd00::/8'] });
    expect(open.allows('127.0.0.1')).toBe(true);
    expect(open.allows('::ffff:127.0.0.1')).toBe(true);
    expect(open.allows('127.0.0.2')).toBe(false);
    expect(open.allows('::1')).toBe(false);
    expect(open.allows('10.1.200.3')).toBe(true);
    expect(open.allows('10.2.0.1')).toBe(false);
    expect(open.allows('fd00::1')).toBe(true);
    expect(open.allows('fc00::1')).toBe(false);
    expect(open.allows('169.254.169.254')).toBe(false);
  });

  it('decodes IPv4 carried in IPv6', () => {
    expect(embeddedIpv4('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(embeddedIpv4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIpv4('2002:c0a8:101::')).toBe('192.168.1.1');
    expect(embeddedIpv4('2606:4700::1')).toBeUndefined();
    expect(embeddedIpv4('1.2.3.4')).toBeUndefined();
  });

  it('parses CIDR blocks strictly', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ network: '10.0.0.0', prefix: 8, family: 4 });
    expect(parseCidr('::1')).toEqual({ network: '::1', prefix: 128, family: 6 });
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', 'host/8', '', 7]) {
      expect(parseCidr(bad)).toBeUndefined();
    }
  });

  it('resolve checks every answer and refuses the name when any is refused', async () => {
    const answers: Record<string, string[]> = {
      'public.test': ['8.8.8.8', '2606:4700:4700::1111'],
      'mixed.test': ['8.8.8.8', '10.0.0.1'],
      'metadata.test': ['169.254.169.254'],
      'junk.test': ['not-an-ip'],
      'empty.test': [],
    };
    const resolving = new AddressGuard({ resolve: async (host) => answers[host] ?? [] });
    expect(await resolving.resolve('public.test')).toEqual([
      { address: '8.8.8.8', family: 4 },
      { address: '2606:4700:4700::1111', family: 6 },
    ]);
    await expect(resolving.resolve('mixed.test')).rejects.toBeInstanceOf(AddressBlockedError);
    await expect(resolving.resolve('metadata.test')).rejects.toBeInstanceOf(AddressBlockedError);
    await expect(resolving.resolve('junk.test')).rejects.toBeInstanceOf(AddressLookupError);
    await expect(resolving.resolve('empty.test')).rejects.toBeInstanceOf(AddressLookupError);
    await expect(resolving.resolve('[::1]')).rejects.toBeInstanceOf(AddressBlockedError);
  });

  it('lookup answers in the shape net asks for', async () => {
    const resolving = new AddressGuard({ resolve: async () => ['8.8.8.8', '2606:4700:4700::1111'] });
    const ask = (options: { all?: boolean; family?: number }) =>
      new Promise<unknown[]>((resolve) => resolving.lookup('x.test', options, (...args) => resolve(args)));
    expect(await ask({ all: true })).toEqual([
      null,
      [
        { address: '8.8.8.8', family: 4 },
        { address: '2606:4700:4700::1111', family: 6 },
      ],
    ]);
    expect(await ask({})).toEqual([null, '8.8.8.8', 4]);
    expect(await ask({ family: 6 })).toEqual([null, '2606:4700:4700::1111', 6]);
  });
});
