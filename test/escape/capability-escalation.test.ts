// Attacks on the capability layer, end to end: hostile agent code through a real kernel, and a careless host
// misusing the host API. Every test states what must hold; a failing one is an escalation.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel, type Tool } from '../../index.js';
import { decodeBase64Url } from '../../runtime/core/base64.js';
import { normalizePath, normalizeUrl } from '../../runtime/core/resource-match.js';
import { kernelInternals } from '../../runtime/kernel.js';
import { loadPolicy, loadPolicyText, PolicyError } from '../../runtime/policy/policy.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  // ------------------------------------------------------------------------------------------------ fixtures

  const files = new Map([
    ['/workspace/a.txt', 'alpha'],
    ['/etc/passwd', 'root:x:0:0'],
  ]);

  /** Every resource a tool really acted on, to check that nothing outside the grant was touched. */
  let acted: string[] = [];
  /** Called inside `hook` tool runs, so a test can act deterministically while a call is in flight. */
  let onHook: () => void = () => {};

  const tools: Tool[] = [
    defineTool({
      name: 'files.read',
      description: 'reads a file (normalizes, then authorizes what it reads)',
      action: 'fs.read',
      target: 'path',
      input: z.strictObject({ path: z.string().max(4096) }),
      resource: ({ path }) => normalizePath(path),
      run: ({ path }) => {
        const real = normalizePath(path)!;
        acted.push(real);
        return files.get(real) ?? null;
      },
    }),
    defineTool({
      name: 'web.fetch',
      description: 'pretends to fetch a URL',
      action: 'net.http',
      target: 'url',
      defaults: { method: 'GET' },
      input: z.strictObject({ url: z.string().max(4096), method: z.string().optional() }),
      resource: ({ url }) => normalizeUrl(url),
      run: ({ url, method }) => {
        const real = normalizeUrl(url)!;
        acted.push(`${method ?? 'GET'} ${real}`);
        return { url: real, method: method ?? 'GET' };
      },
    }),
    defineTool({
      name: 'raw.read',
      description: 'careless: its resource is the raw path argument',
      action: 'fs.read_raw',
      input: z.strictObject({ path: z.string() }),
      resource: ({ path }) => path,
      run: ({ path }) => {
        acted.push(path);
        return path;
      },
    }),
    defineTool({
      name: 'kv.get',
      description: 'careless: its resource is the raw key argument (a name)',
      input: z.strictObject({ key: z.string() }),
      resource: ({ key }) => key,
      run: ({ key }) => {
        acted.push(key);
        return key;
      },
    }),
    defineTool({
      name: 'weird.resource',
      description: 'its resource function misbehaves on request',
      input: z.strictObject({ mode: z.string() }),
      resource: ({ mode }) => {
        if (mode === 'throw') throw new Error('boom /work/secret');
        if (mode === 'number') return 42 as unknown as string;
        if (mode === 'boxed') return new String('weird.resource') as unknown as string;
        if (mode === 'promise') return Promise.resolve('weird.resource') as unknown as string;
        if (mode === 'empty') return '';
        return undefined;
      },
      run: () => {
        acted.push('weird');
        return 'ran';
      },
    }),
    defineTool({
      name: 'http.raw',
      description: 'takes any record; constrained by method and port',
      action: 'net.raw',
      defaults: { method: 'GET', port: 443 },
      input: z.record(z.string(), z.unknown()),
      resource: () => 'api',
      run: (args) => {
        acted.push(JSON.stringify(args));
        return 'sent';
      },
    }),
    defineTool({
      name: 'count',
      description: 'counts its runs',
      input: z.unknown(),
      run: () => {
        acted.push('count');
        return acted.length;
      },
    }),
    defineTool({
      name: 'slow',
      description: 'counts its runs and resolves later',
      input: z.strictObject({ ms: z.number().int().min(0).max(1000) }),
      run: async ({ ms }) => {
        acted.push('slow');
        await new Promise((resolve) => setTimeout(resolve, ms));
        return 'done';
      },
    }),
    defineTool({
      name: 'hook',
      description: 'runs the test hook, then resolves on a later turn',
      input: z.unknown(),
      run: async () => {
        acted.push('hook');
        onHook();
        await new Promise((resolve) => setTimeout(resolve, 20));
        return 'hooked';
      },
    }),
  ];

  let kernels: Kernel[] = [];
  let dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(kernels.map((k) => k.close()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    kernels = [];
    dirs = [];
    acted = [];
    onHook = () => {};
  });

  function kernelWith(policy: object, options: { now?: () => number; store?: string } = {}): Kernel {
    const kernel = testKernel({ isolation, policy, tools, ...options });
    kernels.push(kernel);
    return kernel;
  }

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-escape-'));
    dirs.push(dir);
    return dir;
  }

  interface Attempt {
    readonly ok?: unknown;
    readonly code?: string;
    readonly message?: string;
  }

  /** An agent that runs each call in order and reports `{ ok }` or `{ code, message }` for each. */
  function sequence(calls: readonly (readonly [string, unknown, unknown?])[]): string {
    return `export default async () => {
    const out = [];
    for (const [name, args, options] of ${JSON.stringify(calls)}) {
      try { out.push({ ok: await sys.tool(name, args, options ?? undefined) }) }
      catch (e) { out.push({ code: e.code, message: e.message }) }
    }
    return out;
  }`;
  }

  async function runValue<T = unknown>(kernel: Kernel, code: string, input?: unknown): Promise<T> {
    const result = await kernel.run({ code, input });
    if (!result.ok) throw new Error(`agent failed: ${result.error.code} ${result.error.message}`);
    return result.value as T;
  }

  async function attempts(
    kernel: Kernel,
    calls: readonly (readonly [string, unknown, unknown?])[],
  ): Promise<Attempt[]> {
    return runValue<Attempt[]>(kernel, sequence(calls));
  }

  /** Token strings, signatures and nonces of capabilities: none may ever appear in a message an agent sees. */
  function secretsOf(kernel: Kernel, ids: readonly string[]): string[] {
    const out: string[] = [];
    for (const id of ids) {
      for (const token of kernel.authority.exportChain(id) ?? []) {
        const envelope = JSON.parse(new TextDecoder().decode(decodeBase64Url(token)!)) as {
          b: { nce: string };
          s: string;
        };
        out.push(token, envelope.s, envelope.s.slice(0, 24), envelope.b.nce, token.slice(-40));
      }
    }
    return out;
  }

  function expectNoSecrets(messages: readonly (string | undefined)[], secrets: readonly string[]): void {
    expect(secrets.length).toBeGreaterThan(0);
    for (const message of messages) {
      for (const secret of secrets) expect(message ?? '').not.toContain(secret);
    }
  }

  // ------------------------------------------------------------------------------------------------- attacks

  describe('agent: using a capability it does not hold', () => {
    it("another agent's capability id or token, in args or options, grants nothing", async () => {
      const kernel = kernelWith({ capabilities: [{ action: 'sleep', resource: 'sleep' }] });
      // Bob holds echo and waits; Mallory holds nothing for echo but is handed Bob's id and token.
      const bob = kernel.spawn({
        code: 'export default async () => { await sys.tool("sleep", { ms: 300 }); return 1 }',
      });
      const granted = kernel.grant(bob.id, { action: 'echo', resource: 'echo' });
      const chain = kernel.authority.exportChain(granted.id)!;
      // Read now: Bob's capabilities leave the authority when he ends, which may be before Mallory does.
      const secrets = secretsOf(kernel, [granted.id]);
      const mallory = await runValue<{ caps: unknown; tries: Attempt[] }>(
        kernel,
        `export default async ({ id, token, chain }) => {
        const tries = [];
        const attempt = async (f) => { try { tries.push({ ok: await f() }) } catch (e) { tries.push({ code: e.code, message: e.message }) } };
        await attempt(() => sys.tool('echo', { capability: id, token, chain }));
        await attempt(() => sys.tool('echo', 1, { capability: id }));
        await attempt(() => sys.tool('echo', 1, { token }));
        await attempt(() => sys.tool('echo', 1, { handle: false, capabilityId: id }));
        await attempt(() => sys.tool('echo', token));
        await attempt(() => sys.tool('__proto__', {}));
        await attempt(() => sys.tool('constructor', {}));
        return { caps: await sys.caps(), tries };
      }`,
        { id: granted.id, token: granted.token, chain },
      );
      expect(mallory.tries.map((t) => t.code)).toEqual([
        'E_CAP_DENIED',
        'E_BAD_ARG',
        'E_BAD_ARG',
        'E_BAD_ARG',
        'E_CAP_DENIED',
        'E_NO_TOOL',
        'E_NO_TOOL',
      ]);
      // sys.caps shows Mallory only her own (the policy's sleep), never Bob's echo.
      expect(mallory.caps).toEqual([expect.objectContaining({ action: 'sleep' })]);
      expect(JSON.stringify(mallory.caps)).not.toContain(granted.id);
      expect(acted).toEqual([]);
      expectNoSecrets(
        mallory.tries.map((t) => t.message),
        secrets,
      );
      expect(await bob.result).toMatchObject({ ok: true });
    });

    it('an altered or re-signed token is refused by the host import path, with no token bytes in the message', () => {
      const kernel = kernelWith({ capabilities: [] });
      const other = Kernel.create({ isolation });
      kernels.push(other);
      const granted = kernel.grant(other.hostPublicKey, { action: 'fs.read', resource: '/workspace/**', maxUses: 1 });
      const text = new TextDecoder().decode(decodeBase64Url(granted.token)!);
      const reencode = (t: string) => Buffer.from(t, 'utf8').toString('base64url');
      const forged = [
        reencode(text.replace('/workspace/**', '/**')),
        reencode(text.replace('"max":1', '"max":1000000')),
        reencode(text.replace(/"aud":"[^"]+"/, `"aud":"${kernel.hostPublicKey}"`)),
        reencode(text.replace(/"s":"[^"]+"/, `"s":"${'A'.repeat(86)}"`)),
        reencode(text.replace('{"b":', '{ "b":')),
        `${granted.token}=`,
        granted.token.slice(0, -1),
        granted.token.toUpperCase(),
      ];
      // Another trusted kernel (same root key through a shared store would be the realistic case) sees them.
      const verifier = Kernel.create({ isolation });
      kernels.push(verifier);
      verifier.authority.addTrustAnchor(kernel.authority.rootPublicKey);
      for (const token of forged) {
        const result = verifier.authority.verify(token);
        expect(result).toMatchObject({ ok: false, code: 'E_CAP_DENIED' });
        if (!result.ok) expectNoSecrets([result.message], [...secretsOf(kernel, [granted.id]), token.slice(0, 40)]);
      }
      expect(verifier.authority.verify(granted.token).ok).toBe(true);
    });
  });

  describe("agent: resources derived by a tool's resource()", () => {
    it('a non-normalized resource is refused, never matched leniently', async () => {
      const kernel = kernelWith({
        capabilities: [{ action: 'fs.read_raw', resource: '/workspace/**' }],
      });
      const bad = [
        '/workspace/../etc/passwd',
        '/workspace//etc',
        '/workspace/./a.txt',
        '/workspace/a.txt/',
        '/workspace/a.txt\u0000',
        '/workspace\\..\\etc',
        '/workspace/a\nb',
        '//workspace/a.txt',
      ];
      const results = await attempts(kernel, [
        ...bad.map((path) => ['raw.read', { path }] as const),
        ['raw.read', { path: '/workspace/a.txt' }],
        ['raw.read', { path: '/workspace' }],
        ['raw.read', { path: '/etc/passwd' }],
        // A relative path is a name, another kind of resource: no path grant matches it.
        ['raw.read', { path: 'workspace/a.txt' }],
      ]);
      expect(results.slice(0, bad.length).map((r) => r.code)).toEqual(bad.map(() => 'E_BAD_ARG'));
      expect(results.slice(bad.length)).toMatchObject([
        { ok: '/workspace/a.txt' },
        { code: 'E_CAP_DENIED' },
        { code: 'E_CAP_DENIED' },
        { code: 'E_CAP_DENIED' },
      ]);
      expect(acted).toEqual(['/workspace/a.txt']);
    });

    it('an attacker-chosen name cannot change kind, climb out or dodge case', async () => {
      const kernel = kernelWith({ capabilities: [{ action: 'kv.get', resource: 'public/**' }] });
      const keys = [
        'public/../secret',
        'public/./x',
        'public//x',
        'public/x/',
        'https:public/x',
        'HTTPS:public/x',
        'public\\..\\secret',
        'public/x\u0000',
        '/public/x',
        'https://public/x',
        'public',
        'PUBLIC/x',
        'publicx/y',
        'public/x',
      ];
      const results = await attempts(
        kernel,
        keys.map((key) => ['kv.get', { key }] as const),
      );
      const codes = Object.fromEntries(keys.map((key, i) => [key, results[i]?.code ?? 'ok']));
      expect(codes).toEqual({
        'public/../secret': 'E_BAD_ARG',
        'public/./x': 'E_BAD_ARG',
        'public//x': 'E_BAD_ARG',
        'public/x/': 'E_BAD_ARG',
        'https:public/x': 'E_BAD_ARG',
        'HTTPS:public/x': 'E_BAD_ARG',
        'public\\..\\secret': 'E_BAD_ARG',
        'public/x\u0000': 'E_BAD_ARG',
        '/public/x': 'E_CAP_DENIED',
        'https://public/x': 'E_CAP_DENIED',
        public: 'E_CAP_DENIED',
        'PUBLIC/x': 'E_CAP_DENIED',
        'publicx/y': 'E_CAP_DENIED',
        'public/x': 'ok',
      });
      expect(acted).toEqual(['public/x']);
    });

    it('a resource() that throws or returns a non-string refuses the call without leaking its error', async () => {
      const kernel = kernelWith({ capabilities: [{ action: '*', resource: '**' }] });
      const modes = ['throw', 'number', 'boxed', 'promise', 'empty', 'undefined'];
      const results = await attempts(
        kernel,
        modes.map((mode) => ['weird.resource', { mode }] as const),
      );
      for (const result of results) {
        expect(result.code).toBe('E_BAD_ARG');
        expect(result.message).not.toContain('/work/');
      }
      expect(acted).toEqual([]);
    });
  });

  describe('agent: argument constraints', () => {
    const policy = {
      capabilities: [{ action: 'net.raw', resource: 'api', constraint: { method: 'GET', port: [80, 443] } }],
    };

    it('a constrained param with another type, case, shape or null is refused; defaults only fill absence', async () => {
      const kernel = kernelWith(policy);
      const denied: object[] = [
        { method: 'POST' },
        { method: 'get' },
        { method: 'GET ' },
        { method: 'GET\u0000' },
        { method: ['GET'] },
        { method: ['GET', 'POST'] },
        { method: { value: 'GET' } },
        { method: null },
        { method: true },
        { port: '443' },
        { port: 443.5 },
        { port: 8443 },
        { port: [443] },
        { port: null },
        { port: true },
        { hasOwnProperty: 'x', method: 'POST' },
        { constructor: { method: 'GET' }, method: 'POST' },
      ];
      const allowed: object[] = [
        {},
        { method: 'GET' },
        { port: 80 },
        { method: 'GET', port: 443 },
        { constructor: 'x' },
      ];
      const results = await attempts(kernel, [
        ...denied.map((args) => ['http.raw', args] as const),
        ...allowed.map((args) => ['http.raw', args] as const),
      ]);
      expect(results.map((r) => r.code ?? 'ok')).toEqual([
        ...denied.map(() => 'E_CAP_DENIED'),
        ...allowed.map(() => 'ok'),
      ]);
      expect(acted).toEqual(allowed.map((args) => JSON.stringify(args)));
    });

    it('__proto__ cannot smuggle a param past the check (refused at the boundary), inherited keys are not args', async () => {
      const kernel = kernelWith(policy);
      const result = await runValue<Attempt[]>(
        kernel,
        `export default async () => {
        const out = [];
        const attempt = async (args) => { try { out.push({ ok: await sys.tool('http.raw', args) }) } catch (e) { out.push({ code: e.code }) } };
        await attempt(JSON.parse('{"__proto__":{"method":"POST"}}'));
        await attempt(JSON.parse('{"nested":{"__proto__":{"method":"POST"}}}'));
        await attempt(Object.create({ method: 'POST' }));
        return out;
      }`,
      );
      expect(result).toEqual([{ code: 'E_BAD_ARG' }, { code: 'E_BAD_ARG' }, { ok: 'sent' }]);
      // The inherited method never reached the tool: it ran with the default.
      expect(acted).toEqual(['{}']);
    });
  });

  describe('agent: URL tricks', () => {
    it('every URL a tool acts on is inside the granted origin and path, whatever the spelling', async () => {
      const kernel = kernelWith({
        capabilities: [
          { action: 'net.http', resource: 'https://api.example.com/v1/**', constraint: { method: ['GET', 'HEAD'] } },
        ],
      });
      const urls = [
        'https://api.example.com/v1/ok',
        'https://user:pw@api.example.com/v1/x',
        'https://api.example.com@evil.com/v1/x',
        'https://api.example.com%2f@evil.com/v1/x',
        'https://API.EXAMPLE.com/v1/x',
        'HTTPS://api.example.com:443/v1/x',
        'https://api.example.com:0443/v1/x',
        'https://api.example.com:8443/v1/x',
        'http://api.example.com/v1/x',
        'https://api.example.com./v1/x',
        'https://api.example.com.evil.com/v1/x',
        'https://\u0430pi.example.com/v1/x',
        'https://xn--pi-7kc.example.com/v1/x',
        'https://\uff41pi.example.com/v1/x',
        'https://api\u3002example\u3002com/v1/x',
        'https://api.example.com/v1/..%2fadmin',
        'https://api.example.com/v1/%2e%2e/admin',
        'https://api.example.com/v1/%2E%2E%2Fadmin',
        'https://api.example.com/v1/..;/admin',
        'https://api.example.com/v1%2fadmin',
        'https://api.example.com/v1/%252e%252e/admin',
        'https://api.example.com/v1\\..\\admin',
        'https:\\\\api.example.com/v1/x',
        'https://api.example.com/v1/\t../admin',
        'https://api.exa\nmple.com/v1/x',
        ' https://api.example.com/v1/x ',
        'https:/api.example.com/v1/x',
        'https:api.example.com/v1/x',
        'https://api.example.com/v1',
        'https://api.example.com/V1/x',
        'https://api.example.com/v1/x#/../../admin',
        'https://api.example.com/v1/x?next=/admin',
        'wss://api.example.com/v1/x',
        'file:///etc/passwd',
        'javascript://api.example.com/v1/x',
      ];
      const results = await attempts(kernel, [
        ...urls.map((url) => ['web.fetch', { url }] as const),
        ['web.fetch', { url: 'https://api.example.com/v1/x', method: 'POST' }],
        ['web.fetch', { url: 'https://api.example.com/v1/x', method: 'head' }],
      ]);
      expect(results.at(-2)).toMatchObject({ code: 'E_CAP_DENIED' });
      expect(results.at(-1)).toMatchObject({ code: 'E_CAP_DENIED' });
      const allowed = urls.filter((_, i) => results[i]?.ok !== undefined);
      expect(allowed).toEqual([
        'https://api.example.com/v1/ok',
        'https://API.EXAMPLE.com/v1/x',
        'HTTPS://api.example.com:443/v1/x',
        'https://api.example.com:0443/v1/x',
        'https://\uff41pi.example.com/v1/x',
        'https://api\u3002example\u3002com/v1/x',
        ' https://api.example.com/v1/x ',
        'https:/api.example.com/v1/x',
        'https:api.example.com/v1/x',
        'https://api.example.com/v1/x#/../../admin',
        'https://api.example.com/v1/x?next=/admin',
      ]);
      for (const entry of acted) expect(entry).toMatch(/^GET https:\/\/api\.example\.com\/v1\/[^/]/);
      for (const result of results) {
        if (result.code !== undefined) expect(['E_BAD_ARG', 'E_CAP_DENIED']).toContain(result.code);
      }
    });
  });

  describe('agent: path tricks', () => {
    it('reads stay under the granted tree whatever the spelling', async () => {
      const kernel = kernelWith({ capabilities: [{ action: 'fs.read', resource: '/workspace/**' }] });
      const paths = [
        '/workspace/a.txt',
        '/workspace//a.txt',
        '/workspace/./a.txt',
        '/workspace/a.txt/',
        '/workspace/sub/../a.txt',
        '/workspace/../etc/passwd',
        '/workspace/../../../../etc/passwd',
        '/workspace/a.txt\u0000/../../etc/passwd',
        '/workspace\\..\\etc\\passwd',
        '/workspace/\u2025/etc/passwd',
        '/workspace/a\u2215..\u2215..\u2215etc\u2215passwd',
        '/workspace',
        '/workspace/',
        '/workspacex/a.txt',
        '/WORKSPACE/a.txt',
        '/etc/passwd',
        'workspace/a.txt',
        '/workspace/%2e%2e/etc/passwd',
      ];
      const results = await attempts(
        kernel,
        paths.map((path) => ['files.read', { path }] as const),
      );
      expect(results.filter((r) => r.ok === 'root:x:0:0')).toEqual([]);
      for (const path of acted) expect(path.startsWith('/workspace/')).toBe(true);
      expect(results.slice(0, 5)).toEqual(paths.slice(0, 5).map(() => ({ ok: 'alpha' })));
      expect(results.slice(5).every((r) => r.code !== undefined || r.ok === null)).toBe(true);
    });
  });

  describe('agent: racing counters', () => {
    const burst = (tool: string, args: unknown, n: number) =>
      `export default async () => {
      const settled = await Promise.allSettled(Array.from({ length: ${n} }, () => sys.tool(${JSON.stringify(tool)}, ${JSON.stringify(args)})));
      const out = { ok: 0, codes: {} };
      for (const s of settled) { if (s.status === 'fulfilled') out.ok++; else out.codes[s.reason.code] = (out.codes[s.reason.code] ?? 0) + 1 }
      out.caps = await sys.caps();
      return out;
    }`;

    it('Promise.all of many sync and async calls debits max_uses exactly, never over', async () => {
      const kernel = kernelWith({
        capabilities: [
          { action: 'count', resource: 'count', max_uses: 7 },
          { action: 'slow', resource: 'slow', max_uses: 5 },
        ],
      });
      const sync = await runValue<{ ok: number; codes: object }>(kernel, burst('count', null, 60));
      expect(sync).toMatchObject({ ok: 7, codes: { E_CAP_EXHAUSTED: 53 } });
      const slow = await runValue<{ ok: number; codes: object }>(kernel, burst('slow', { ms: 5 }, 40));
      expect(slow).toMatchObject({ ok: 5, codes: { E_CAP_EXHAUSTED: 35 } });
      // Policy grants are per agent: each run above got its own 7 and 5.
      expect(acted.filter((a) => a === 'count')).toHaveLength(7);
      expect(acted.filter((a) => a === 'slow')).toHaveLength(5);
    });

    it('two agents racing on children of one bounded host capability get the parent total, not the sum', async () => {
      const kernel = kernelWith({ capabilities: [] });
      const parent = kernel.grant(kernel.hostPublicKey, { action: 'slow', resource: 'slow', maxUses: 6 });
      const first = kernel.spawn({ code: burst('slow', { ms: 5 }, 10) });
      const second = kernel.spawn({ code: burst('slow', { ms: 5 }, 10) });
      kernel.delegate(parent.id, first.id, { maxUses: 6 });
      kernel.delegate(parent.id, second.id, { maxUses: 6 });
      const [a, b] = await Promise.all([first.result, second.result]);
      const total = (a as { value: { ok: number } }).value.ok + (b as { value: { ok: number } }).value.ok;
      expect(total).toBe(6);
      expect(acted.filter((x) => x === 'slow')).toHaveLength(6);
      expect(kernel.capabilities(kernel.hostPublicKey)).toMatchObject([{ id: parent.id, remainingUses: 0 }]);
    });

    it('concurrent kernel.submit calls debit exactly too', async () => {
      const kernel = kernelWith({ capabilities: [{ action: 'slow', resource: 'slow', max_uses: 4 }] });
      const results = await Promise.all(
        Array.from({ length: 25 }, () => kernel.submit({ action: 'slow', params: { ms: 5 } })),
      );
      expect(results.filter((r) => r.status === 'OK')).toHaveLength(4);
      expect(results.filter((r) => r.error?.code === 'E_CAP_EXHAUSTED')).toHaveLength(21);
    });
  });

  describe('agent: revocation racing an in-flight call', () => {
    it('a call authorized before the revocation finishes; every call after it is refused, including delegated ones', async () => {
      const kernel = kernelWith({ capabilities: [] });
      const root = kernel.grant(kernel.hostPublicKey, { action: '*', resource: '**' });
      const agent = kernel.spawn({
        code: `export default async () => {
        const inflight = sys.tool('hook', null);
        const racing = Array.from({ length: 5 }, () => sys.tool('count', null).then(() => 'ok', (e) => e.code));
        const first = await inflight;
        const after = await Promise.all([
          sys.tool('count', null).then(() => 'ok', (e) => e.code),
          sys.tool('hook', null).then(() => 'ok', (e) => e.code),
        ]);
        return { first, racing: await Promise.all(racing), after, caps: await sys.caps() };
      }`,
      });
      kernel.delegate(root.id, agent.id);
      // The revocation lands while the hook call is in flight (from inside the tool, deterministically).
      onHook = () => kernel.revoke(root.id);
      const result = await agent.result;
      expect(result).toMatchObject({
        ok: true,
        value: {
          first: 'hooked',
          racing: ['E_CAP_REVOKED', 'E_CAP_REVOKED', 'E_CAP_REVOKED', 'E_CAP_REVOKED', 'E_CAP_REVOKED'],
          after: ['E_CAP_REVOKED', 'E_CAP_REVOKED'],
          caps: [],
        },
      });
      expect(acted).toEqual(['hook']);
    });
  });

  describe('agent: expiry with a clock that goes backwards', () => {
    it('once seen expired, a capability stays expired when the wall clock steps back', async () => {
      let now = 1_800_000_000_000;
      const start = now;
      const kernel = kernelWith(
        {
          capabilities: [
            { action: 'count', resource: 'count', expires_in: '10s' },
            { action: 'hook', resource: 'hook' },
          ],
        },
        { now: () => now },
      );
      const steps = [start + 11_000, start + 1_000, start + 5_000];
      onHook = () => {
        now = steps.shift() ?? now;
      };
      const value = await runValue(
        kernel,
        `export default async () => {
        const out = [];
        const use = () => sys.tool('count', null).then(() => 'ok', (e) => e.code);
        out.push(await use());
        for (let i = 0; i < 3; i++) { await sys.tool('hook', null); out.push(await use()); }
        return out;
      }`,
      );
      expect(value).toEqual(['ok', 'E_CAP_EXPIRED', 'E_CAP_EXPIRED', 'E_CAP_EXPIRED']);
    });

    it('the host path too: kernel.submit after the clock steps back over an expiry is refused', async () => {
      let now = 1_800_000_000_000;
      const kernel = kernelWith(
        { capabilities: [{ action: 'count', resource: 'count', expires_in: '1m' }] },
        {
          now: () => now,
        },
      );
      expect(await kernel.submit({ action: 'count' })).toMatchObject({ status: 'OK' });
      now += 61_000;
      expect(await kernel.submit({ action: 'count' })).toMatchObject({ error: { code: 'E_CAP_EXPIRED' } });
      now -= 3_600_000;
      expect(await kernel.submit({ action: 'count' })).toMatchObject({ error: { code: 'E_CAP_EXPIRED' } });
      // A clock that returns garbage fails closed.
      now = Number.NaN;
      expect(await kernel.submit({ action: 'count' })).toMatchObject({ error: { code: 'E_CAP_EXPIRED' } });
    });
  });

  describe('host: policy YAML tricks', () => {
    const rule = (extra: string) => `capabilities:\n  - { action: count, resource: count${extra} }\n`;
    const refused: Record<string, string> = {
      'js function tag': 'capabilities:\n  - action: count\n    resource: !!js/function "function () { return 1 }"\n',
      'js regexp tag': 'capabilities:\n  - { action: count, resource: !!js/regexp /.*/ }\n',
      'binary tag': 'capabilities:\n  - { action: count, resource: !!binary Y291bnQ= }\n',
      'timestamp for expires_in': rule(', expires_in: 2030-01-01'),
      'merge key':
        'capabilities:\n  - &base { action: count, resource: count, max_uses: 1 }\n  - { <<: *base, action: echo }\n',
      'merge key overriding max_uses':
        'capabilities:\n  - { action: count, resource: count, max_uses: 1, <<: { max_uses: 1000 } }\n',
      'duplicate max_uses':
        'capabilities:\n  - action: count\n    resource: count\n    max_uses: 1\n    max_uses: 1000000\n',
      'duplicate capabilities': 'capabilities: []\ncapabilities:\n  - { action: "*", resource: "**" }\n',
      'second document': 'capabilities: []\n---\ncapabilities:\n  - { action: "*", resource: "**" }\n',
      'billion laughs': `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ncapabilities: []\n`,
      'max_uses 1e309': rule(', max_uses: 1e309'),
      'max_uses .inf': rule(', max_uses: .inf'),
      'max_uses .nan': rule(', max_uses: .nan'),
      'max_uses 0': rule(', max_uses: 0'),
      'max_uses -1': rule(', max_uses: -1'),
      'max_uses 2.5': rule(', max_uses: 2.5'),
      'max_uses "5"': rule(', max_uses: "5"'),
      'max_uses above the cap': rule(', max_uses: 1000000001'),
      'expires_in 1e309': rule(', expires_in: 1e309'),
      'expires_in 0': rule(', expires_in: 0'),
      'expires_in -5': rule(', expires_in: -5'),
      'expires_in "-5s"': rule(', expires_in: "-5s"'),
      'expires_in rounding to 0': rule(', expires_in: 0.0001'),
      'expires_in of a century': rule(', expires_in: "36500d"'),
      'expires_in exponent string': rule(', expires_in: "1e3s"'),
      'constraint __proto__': rule(', constraint: { __proto__: { method: GET } }'),
      'rule __proto__': rule(', __proto__: { max_uses: 1 }'),
      'top-level __proto__': '__proto__: { capabilities: [] }\ncapabilities: []\n',
      'unknown rule key': rule(', max_use: 1'),
      'complex key': rule(', ? [max_uses] : 1'),
      'YAML 1.1 directive': `%YAML 1.1\n---\n${rule(', max_uses: 010')}`,
      'sexagesimal under YAML 1.1': `%YAML 1.1\n---\n${rule(', max_uses: 1:30')}`,
    };

    for (const [name, text] of Object.entries(refused)) {
      it(`refuses ${name}`, () => {
        expect(() => loadPolicyText(text, 'evil.yaml')).toThrow(PolicyError);
      });
    }

    it('refuses an over-large policy file before parsing it, and a Kernel with a bad policy does not start', () => {
      const dir = tempDir();
      const huge = join(dir, 'huge.yaml');
      writeFileSync(huge, `capabilities: []\n#${'x'.repeat(1024 * 1024)}\n`);
      expect(() => loadPolicy(huge)).toThrow(/larger than/);
      const evil = join(dir, 'evil.yaml');
      writeFileSync(evil, refused['js function tag']!);
      expect(() => Kernel.create({ isolation, policy: evil })).toThrow(PolicyError);
    });

    it('an object policy cannot hide a constraint in a prototype or drop one as undefined', () => {
      const inherited = Object.create({ method: 'GET' }) as object;
      expect(() =>
        loadPolicy({ capabilities: [{ action: 'net.raw', resource: 'api', constraint: inherited }] }),
      ).toThrow(PolicyError);
      expect(() =>
        loadPolicy({ capabilities: [{ action: 'net.raw', resource: 'api', constraint: { method: undefined } }] }),
      ).toThrow(PolicyError);
    });
  });

  describe('host: careless use of grant, delegate and submit', () => {
    it('grant refuses values a careless host might pass instead of silently widening', () => {
      const kernel = kernelWith({ capabilities: [] });
      const to = kernel.hostPublicKey;
      const base = { action: 'net.raw', resource: 'api' };
      const bad: object[] = [
        { ...base, maxUses: 0 },
        { ...base, maxUses: -1 },
        { ...base, maxUses: 1.5 },
        { ...base, maxUses: Number.POSITIVE_INFINITY },
        { ...base, maxUses: null },
        { ...base, expiresAt: new Date(0) },
        { ...base, expiresAt: '2030-01-01' },
        { ...base, expiresAt: Number.NaN },
        { ...base, constraints: { method: undefined } },
        { ...base, constraints: { method: null } },
        { ...base, constraints: { method: [] } },
        { ...base, constraints: Object.create({ method: 'GET' }) },
        { ...base, resource: '/workspace/../etc' },
        { ...base, resource: 'https://API.example.com/**' },
        { ...base, resource: 'https://user@api.example.com/**' },
        { ...base, action: 'fs.*.x' },
      ];
      for (const rule of bad) {
        expect(() => kernel.grant(to, rule as never), JSON.stringify(rule)).toThrow();
      }
      expect(kernel.capabilities(to)).toEqual([]);
      // A rule cannot redirect the grant to another holder.
      const other = Kernel.create({ isolation });
      kernels.push(other);
      // Fields that are not part of a rule are refused outright, not ignored.
      expect(() => kernel.grant(to, { ...base, audience: other.hostPublicKey } as never)).toThrow(/audience/);
      expect(kernel.capabilities(other.hostPublicKey)).toEqual([]);
      expect(kernel.capabilities(to)).toEqual([]);
    });

    it('a grant to an agent id that has ended fails instead of going elsewhere', async () => {
      const kernel = kernelWith({ capabilities: [] });
      const done = kernel.spawn({ code: 'export default () => 1' });
      await done.result;
      expect(() => kernel.grant(done.id, { action: 'count', resource: 'count' })).toThrow(TypeError);
    });

    it('delegate cannot widen: a wider, longer, unbounded or re-targeted child is still bounded by its parent', async () => {
      const kernel = kernelWith({ capabilities: [] }, { now: () => 1_800_000_000_000 });
      const parent = kernel.grant(kernel.hostPublicKey, {
        action: 'fs.read',
        resource: '/workspace/**',
        maxUses: 2,
        expiresAt: 1_800_000_060_000,
      });
      const agent = kernel.spawn({
        code: sequence([
          ['files.read', { path: '/etc/passwd' }],
          ['count', null],
          ['files.read', { path: '/workspace/a.txt' }],
          ['files.read', { path: '/workspace/a.txt' }],
          ['files.read', { path: '/workspace/a.txt' }],
        ]),
      });
      // Fields that are not part of a rule are refused outright.
      expect(() =>
        kernel.delegate(parent.id, agent.id, { action: '*', parentId: '0'.repeat(64), delegator: null } as never),
      ).toThrow(/parentId/);
      kernel.delegate(parent.id, agent.id, { action: '*', resource: '/**', expiresAt: 8e15 });
      expect((await agent.result) as unknown).toMatchObject({
        ok: true,
        value: [
          { code: 'E_CAP_DENIED' },
          { code: 'E_CAP_DENIED' },
          { ok: 'alpha' },
          { ok: 'alpha' },
          { code: 'E_CAP_EXHAUSTED' },
        ],
      });
      // The host cannot delegate what an agent holds, nor something unknown.
      const holder = kernel.spawn({
        code: 'export default async () => { await sys.tool("slow", { ms: 50 }).catch(() => {}); return 1 }',
      });
      const agentCap = kernel.grant(holder.id, { action: 'count', resource: 'count' });
      expect(() => kernel.delegate(agentCap.id, kernel.hostPublicKey)).toThrow(
        expect.objectContaining({ code: 'E_ESCALATION' }),
      );
      expect(() => kernel.delegate('f'.repeat(64), kernel.hostPublicKey)).toThrow(
        expect.objectContaining({ code: 'E_CAP_DENIED' }),
      );
      await holder.result;
    });

    it('submit: the target is normalized by the tool before authorization and wins over params', async () => {
      const kernel = kernelWith({
        capabilities: [
          { action: 'fs.read', resource: '/workspace/**' },
          { action: 'net.http', resource: 'https://api.example.com/v1/**', constraint: { method: 'GET' } },
        ],
      });
      const cases: [object, string][] = [
        [{ action: 'fs.read', target: '/workspace/../etc/passwd' }, 'DENIED'],
        [{ action: 'fs.read', target: '/workspace/a.txt/../../etc/passwd' }, 'DENIED'],
        [{ action: 'fs.read', target: '/workspace/a.txt', params: { path: '/etc/passwd' } }, 'OK'],
        [{ action: 'fs.read', params: { path: '/etc/passwd' } }, 'DENIED'],
        [{ action: 'fs.read', target: '/workspace/a.txt\u0000' }, 'ERROR'],
        [{ action: 'net.http', target: 'https://API.example.com:443/v1/x' }, 'OK'],
        [{ action: 'net.http', target: 'https://api.example.com/v1/%2e%2e/admin' }, 'DENIED'],
        [{ action: 'net.http', target: 'https://api.example.com@evil.com/v1/x' }, 'ERROR'],
        [{ action: 'net.http', target: 'https://api.example.com/v1/x', params: { method: 'POST' } }, 'DENIED'],
        [
          {
            action: 'net.http',
            target: 'https://api.example.com/v1/x',
            params: JSON.parse('{"__proto__":{"method":"POST"}}'),
          },
          'ERROR',
        ],
      ];
      for (const [request, status] of cases) {
        expect((await kernel.submit(request as never)).status, JSON.stringify(request)).toBe(status);
      }
      expect(acted).toEqual(['/workspace/a.txt', 'GET https://api.example.com/v1/x']);
    });

    it('error messages never carry token strings, signatures or nonces', async () => {
      const kernel = kernelWith({ capabilities: [{ action: 'count', resource: 'count', max_uses: 1 }] });
      const mine = kernel.grant(kernel.hostPublicKey, { action: 'fs.read', resource: '/workspace/**', maxUses: 1 });
      const revoked = kernel.grant(kernel.hostPublicKey, { action: 'slow', resource: 'slow' });
      kernel.revoke(revoked.id);
      const messages: (string | undefined)[] = [];
      for (const request of [
        { action: 'fs.read', target: '/workspace/a.txt' },
        { action: 'fs.read', target: '/workspace/a.txt' },
        { action: 'fs.read', target: '/etc/passwd' },
        { action: 'slow', params: { ms: 1 } },
        { action: 'count' },
        { action: 'count' },
        { action: 'count', target: mine.token },
        { action: 'fs.read', target: `/workspace/${mine.token}` },
      ]) {
        messages.push((await kernel.submit(request)).error?.message);
      }
      for (const parent of [mine.id, revoked.id, 'f'.repeat(64)]) {
        try {
          kernel.delegate(parent, kernel.hostPublicKey, { resource: '/workspace/x/**' });
        } catch (error) {
          messages.push((error as Error).message);
        }
      }
      const agentMessages = await attempts(kernel, [
        ['count', null],
        ['count', null],
        ['files.read', { path: '/workspace/a.txt' }],
        ['slow', { ms: 1 }],
      ]);
      messages.push(...agentMessages.map((m) => m.message));
      const ids = [mine.id, revoked.id, ...kernel.capabilities(kernel.hostPublicKey).map((c) => c.id)];
      // The agent's own token appears only in messages that echo the agent's own resource: check others.
      expectNoSecrets(
        messages.filter((m) => !m?.includes('/workspace/ey')),
        secretsOf(kernel, ids),
      );
    });
  });

  describe('host: a second Kernel over the same store directory', () => {
    it('a restarted kernel keeps counters and revocations (sequential)', async () => {
      const store = join(tempDir(), 'state');
      const principal = Kernel.create({ isolation });
      kernels.push(principal);
      const first = Kernel.create({ isolation, store });
      const cap = first.grant(principal.hostPublicKey, { action: 'count', resource: 'count', maxUses: 3 });
      const other = first.grant(principal.hostPublicKey, { action: 'slow', resource: 'slow' });
      const use = (k: Kernel, action = 'count') =>
        kernelInternals(k).authority.authorize({ holder: principal.hostPublicKey, action, resource: action }).ok;
      expect([use(first), use(first)]).toEqual([true, true]);
      first.revoke(other.id);
      await first.close();
      const second = Kernel.create({ isolation, store });
      kernels.push(second);
      expect(second.authority.verify(cap.token).ok).toBe(true);
      // Verified and known again, and judged as it stands: revoked before the restart.
      expect(second.authority.verify(other.token)).toMatchObject({ ok: false, code: 'E_CAP_REVOKED' });
      expect([use(second), use(second), use(second, 'slow')]).toEqual([true, false, false]);
    });

    it('two live kernels over one store never allow more than max_uses together, and see each other revoke', () => {
      const store = join(tempDir(), 'state');
      const principal = Kernel.create({ isolation });
      const first = Kernel.create({ isolation, store });
      const second = Kernel.create({ isolation, store });
      kernels.push(principal, first, second);
      const cap = first.grant(principal.hostPublicKey, { action: 'count', resource: 'count', maxUses: 3 });
      const other = first.grant(principal.hostPublicKey, { action: 'slow', resource: 'slow' });
      expect(second.authority.verify(cap.token).ok).toBe(true);
      expect(second.authority.verify(other.token).ok).toBe(true);
      const use = (k: Kernel, action = 'count') =>
        kernelInternals(k).authority.authorize({ holder: principal.hostPublicKey, action, resource: action }).ok;
      const outcomes = [use(first), use(second), use(first), use(second), use(first), use(second)];
      expect(outcomes.filter(Boolean)).toHaveLength(3);
      expect(second.capabilities(principal.hostPublicKey)).toContainEqual(
        expect.objectContaining({ id: cap.id, remainingUses: 0 }),
      );
      expect(use(second, 'slow')).toBe(true);
      first.revoke(other.id);
      expect(use(second, 'slow')).toBe(false);
      // A third kernel opened later starts from the stored count, not from zero.
      const third = Kernel.create({ isolation, store });
      kernels.push(third);
      expect(third.authority.verify(cap.token).ok).toBe(true);
      expect(use(third)).toBe(false);
    });
  });
});
