import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel } from '../../index.js';
import { normalizePath, normalizeUrl } from '../../runtime/core/resource-match.js';
import { kernelInternals } from '../../runtime/kernel.js';
import { verifyToken } from '../../token/index.js';
import { testKernel } from '../helpers/kernel.js';

// Realistic tools with declared actions, resources and defaults (the built-in fs/http tools follow this shape).
const files = new Map([['/workspace/a.txt', 'alpha']]);
const readFile = defineTool({
  name: 'files.read',
  description: 'reads a file from an in-memory tree',
  action: 'fs.read',
  target: 'path',
  input: z.strictObject({ path: z.string().max(1024) }),
  resource: ({ path }) => normalizePath(path),
  run: ({ path }) => files.get(normalizePath(path) ?? '') ?? null,
});
const fetchUrl = defineTool({
  name: 'web.fetch',
  description: 'pretends to fetch a URL',
  action: 'net.http',
  target: 'url',
  defaults: { method: 'GET' },
  input: z.strictObject({ url: z.string().max(2048), method: z.enum(['GET', 'POST']).optional() }),
  resource: ({ url }) => normalizeUrl(url),
  run: ({ url, method }) => ({ url, method: method ?? 'GET' }),
});
const tools = [readFile, fetchUrl];

let kernel: Kernel;
afterEach(async () => kernel?.close());

const call = (tool: string, args: unknown) =>
  `export default async () => { try { return { ok: await sys.tool(${JSON.stringify(tool)}, ${JSON.stringify(args)}) } } catch (e) { return { code: e.code, message: e.message } } }`;

async function agentCall(tool: string, args: unknown) {
  const result = await kernel.run({ code: call(tool, args) });
  if (!result.ok) throw new Error(`agent failed: ${result.error.code}`);
  return result.value as { ok?: unknown; code?: string; message?: string };
}

describe('default deny', () => {
  it('a kernel without a policy lets no agent run any tool', async () => {
    kernel = testKernel({ policy: { capabilities: [] }, tools });
    expect(await agentCall('echo', 1)).toEqual({ code: 'E_CAP_DENIED', message: expect.stringContaining('echo') });
    expect(await agentCall('files.read', { path: '/workspace/a.txt' })).toMatchObject({ code: 'E_CAP_DENIED' });
  });

  it('denials name the action and resource and never carry token bytes', async () => {
    kernel = testKernel({ policy: { capabilities: [{ action: 'fs.read', resource: '/workspace/**' }] }, tools });
    const denied = await agentCall('files.read', { path: '/etc/passwd' });
    expect(denied.code).toBe('E_CAP_DENIED');
    expect(denied.message).toContain('fs.read');
    expect(denied.message).toContain('/etc/passwd');
    for (const cap of kernel.capabilities(kernel.hostPublicKey)) {
      expect(denied.message).not.toContain(cap.id);
    }
  });
});

describe('policy rules', () => {
  it('allow exactly what they name; .. cannot climb out of the base', async () => {
    kernel = testKernel({ policy: { capabilities: [{ action: 'fs.read', resource: '/workspace/**' }] }, tools });
    expect(await agentCall('files.read', { path: '/workspace/a.txt' })).toEqual({ ok: 'alpha' });
    expect(await agentCall('files.read', { path: '/workspace/../secret' })).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(await agentCall('files.read', { path: '/workspace/out/../../x' })).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(await agentCall('files.read', { path: 'workspace/a.txt' })).toMatchObject({ code: 'E_BAD_ARG' });
  });

  it("a constraint absent from the request takes the tool's default", async () => {
    kernel = testKernel({
      policy: {
        capabilities: [{ action: 'net.http', resource: 'https://api.example.com/**', constraint: { method: 'GET' } }],
      },
      tools,
    });
    expect(await agentCall('web.fetch', { url: 'https://api.example.com/v1/x' })).toMatchObject({
      ok: { method: 'GET' },
    });
    expect(await agentCall('web.fetch', { url: 'https://api.example.com/v1/x', method: 'POST' })).toMatchObject({
      code: 'E_CAP_DENIED',
    });
    expect(await agentCall('web.fetch', { url: 'https://api.example.com.evil.com/v1' })).toMatchObject({
      code: 'E_CAP_DENIED',
    });
    expect(await agentCall('web.fetch', { url: 'https://api.example.com@evil.com/v1' })).toMatchObject({
      code: 'E_BAD_ARG',
    });
  });

  it('max_uses is debited per call and ends in E_CAP_EXHAUSTED', async () => {
    kernel = testKernel({ policy: { capabilities: [{ action: 'echo', resource: 'echo', max_uses: 2 }] } });
    const result = await kernel.run({
      code: `export default async () => { const out = []; for (let i = 0; i < 3; i++) { try { await sys.tool('echo', i); out.push('ok') } catch (e) { out.push(e.code) } } return out; }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['ok', 'ok', 'E_CAP_EXHAUSTED'] });
  });

  it('expires_in runs from the grant and expiry is enforced as time passes within a run', async () => {
    let now = 1_000_000;
    kernel = testKernel({
      policy: {
        capabilities: [{ action: 'echo', resource: 'echo', expires_in: '10s' }],
      },
      now: () => now,
    });
    // The clock moves 11 s once the first call has been answered: no timer races the agent's start.
    let moved = false;
    kernel.on('syscall', () => {
      if (!moved) now += 11_000;
      moved = true;
    });
    const result = await kernel.run({
      code: `export default async () => {
        const first = await sys.tool('echo', 1);
        try { await sys.tool('echo', 2); return 'allowed after expiry' } catch (e) { return [first, e.code] }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: [1, 'E_CAP_EXPIRED'] });
  });

  it("policyGrants 'shared' hands a run the host's grants: runs and kernel.submit debit one max_uses", async () => {
    kernel = testKernel({ policy: { capabilities: [{ action: 'echo', resource: 'echo', max_uses: 3 }] } });
    const twice = `export default async () => { const out = []; for (let i = 0; i < 2; i++) { try { await sys.tool('echo', i); out.push('ok') } catch (e) { out.push(e.code) } } return out; }`;
    // The default: each run holds fresh grants.
    expect(await kernel.run({ code: twice })).toMatchObject({ ok: true, value: ['ok', 'ok'] });
    expect(await kernel.run({ code: twice })).toMatchObject({ ok: true, value: ['ok', 'ok'] });
    expect(await kernel.run({ code: twice, policyGrants: 'shared' })).toMatchObject({ ok: true, value: ['ok', 'ok'] });
    const [held] = kernel.capabilities(kernel.hostPublicKey);
    expect(held?.remainingUses).toBe(1);
    expect(await kernel.run({ code: twice, policyGrants: 'shared' })).toMatchObject({
      ok: true,
      value: ['ok', 'E_CAP_EXHAUSTED'],
    });
    expect(await kernel.submit({ action: 'echo', target: 'echo' })).toMatchObject({
      status: 'DENIED',
      error: { code: 'E_CAP_EXHAUSTED' },
    });
  });

  it('policyGrants is for top agents, and names what it accepts', async () => {
    kernel = testKernel();
    expect(() => kernel.spawn({ code: 'export default () => 1', policyGrants: 'always' as 'shared' })).toThrow(
      /request\.policyGrants: must be "per-run" or "shared"/,
    );
    const parent = kernel.spawn({ code: 'export default () => new Promise((r) => setTimeout(r, 200))' });
    expect(() => kernel.spawn({ code: 'export default () => 1', parent: parent.id, policyGrants: 'shared' })).toThrow(
      /request\.policyGrants: is for top agents/,
    );
    await parent.result;
  });
});

describe('sys.caps and the host API', () => {
  it('sys.caps lists what the agent holds with remaining uses and expiry', async () => {
    kernel = testKernel({ policy: { capabilities: [{ action: 'echo', resource: 'echo', max_uses: 5 }] } });
    const result = await kernel.run({
      code: 'export default async () => { await sys.tool("echo", 1); return sys.caps(); }',
    });
    expect(result).toMatchObject({
      ok: true,
      value: [
        {
          id: expect.stringMatching(/^[0-9a-f]{64}$/),
          action: 'echo',
          resource: 'echo',
          remainingUses: 4,
          expiresAt: null,
        },
      ],
    });
  });

  it('grant gives a live agent a capability; revoke takes it away at once', async () => {
    kernel = testKernel({ policy: { capabilities: [] } });
    const handle = kernel.spawn({
      code: `export default async () => {
        const first = await sys.tool('echo', 1);
        await sys.tool('sleep', { ms: 200 }).catch(() => {});
        try { await sys.tool('echo', 2); return 'still allowed' } catch (e) { return [first, e.code] }
      }`,
      caps: [{ action: 'sleep', resource: 'sleep' }],
    });
    const granted = kernel.grant(handle.id, { action: 'echo', resource: 'echo' });
    setTimeout(() => kernel.revoke(granted.id), 100);
    expect(await handle.result).toMatchObject({ ok: true, value: [1, 'E_CAP_REVOKED'] });
  });

  it('delegation debits the parent: 3 uses delegated 3 each to two agents are 3 in total', async () => {
    kernel = testKernel({ policy: { capabilities: [] } });
    const parent = kernel.grant(kernel.hostPublicKey, { action: 'echo', resource: 'echo', maxUses: 3 });
    const calls = (n: number) =>
      `export default async () => { const out = []; for (let i = 0; i < ${n}; i++) { try { await sys.tool('echo', i); out.push('ok') } catch (e) { out.push(e.code) } } return out; }`;
    const first = kernel.spawn({ code: calls(2) });
    kernel.delegate(parent.id, first.id, { maxUses: 3 });
    expect(await first.result).toMatchObject({ ok: true, value: ['ok', 'ok'] });
    const second = kernel.spawn({ code: calls(3) });
    kernel.delegate(parent.id, second.id, { maxUses: 3 });
    expect(await second.result).toMatchObject({ ok: true, value: ['ok', 'E_CAP_EXHAUSTED', 'E_CAP_EXHAUSTED'] });
    expect(kernel.capabilities(kernel.hostPublicKey)).toMatchObject([{ id: parent.id, remainingUses: 0 }]);
  });

  it('a delegated child cannot morph its action: the chain allows only what every link allows', async () => {
    kernel = testKernel({ policy: { capabilities: [] } });
    const parent = kernel.grant(kernel.hostPublicKey, { action: 'echo', resource: 'echo' });
    const agent = kernel.spawn({ code: call('noop', null) });
    expect(() => kernel.delegate(parent.id, agent.id, { action: 'noop', resource: 'noop' })).not.toThrow();
    const result = await agent.result;
    expect(result).toMatchObject({ ok: true, value: { code: 'E_CAP_DENIED' } });
  });

  it('a host cannot delegate what it does not hold, and a widened delegation allows only the parent’s scope', async () => {
    kernel = testKernel({ policy: { capabilities: [] }, tools });
    expect(() => kernel.delegate('0'.repeat(64), kernel.hostPublicKey)).toThrow();
    const parent = kernel.grant(kernel.hostPublicKey, { action: 'fs.read', resource: '/workspace/**' });
    const agent = kernel.spawn({
      code: `export default async () => {
        const out = [];
        for (const path of ['/workspace/a.txt', '/etc/passwd']) {
          try { out.push(await sys.tool('files.read', { path })) } catch (e) { out.push(e.code) }
        }
        return out;
      }`,
    });
    kernel.delegate(parent.id, agent.id, { resource: '/**' });
    expect(await agent.result).toMatchObject({ ok: true, value: ['alpha', 'E_CAP_DENIED'] });
  });

  it('submit runs a tool for the host under the policy with OK / DENIED / ERROR', async () => {
    kernel = testKernel({ policy: { capabilities: [{ action: 'fs.read', resource: '/workspace/**' }] }, tools });
    expect(await kernel.submit({ action: 'fs.read', target: '/workspace/a.txt' })).toEqual({
      status: 'OK',
      data: 'alpha',
      error: null,
      recordId: expect.any(Number),
      label: [],
    });
    expect(await kernel.submit({ action: 'fs.read', target: '/etc/passwd' })).toMatchObject({
      status: 'DENIED',
      error: { code: 'E_CAP_DENIED' },
    });
    expect(await kernel.submit({ action: 'shell.exec', target: 'rm' })).toMatchObject({
      status: 'ERROR',
      error: { code: 'E_NO_TOOL' },
    });
    expect(await kernel.submit({ action: 'fs.read', params: { nope: 1 } })).toMatchObject({
      status: 'ERROR',
      error: { code: 'E_BAD_ARG' },
    });
  });
});

describe('store directory', () => {
  it('persists the root key (0600) and revocations across kernels', async () => {
    const store = join(mkdtempSync(join(tmpdir(), 'isokernel-store-')), 'state');
    const first = Kernel.create({ store });
    const outsider = Kernel.create();
    const token = first.grant(outsider.hostPublicKey, { action: 'echo', resource: 'echo' });
    first.revoke(token.id);
    const root = first.authority.rootPublicKey;
    await first.close();
    await outsider.close();
    expect(statSync(store).mode & 0o777).toBe(0o700);

    kernel = Kernel.create({ store });
    expect(kernel.authority.rootPublicKey).toBe(root);
    // Verified and known again, and judged as it stands: the revocation outlived the kernel.
    expect(kernel.authority.verify(token.token)).toMatchObject({ ok: false, code: 'E_CAP_REVOKED' });
    const decision = kernelInternals(kernel).authority.authorize({
      holder: outsider.hostPublicKey,
      action: 'echo',
      resource: 'echo',
    });
    expect(decision).toMatchObject({ ok: false, code: 'E_CAP_REVOKED' });
  });
});

describe('authority.verify', () => {
  it('judges a token as isokernel/token does: an expired or not yet valid one is E_CAP_EXPIRED (red-team pass 95)', async () => {
    let clock = Date.now();
    const issuer = Kernel.create({ now: () => clock });
    kernel = Kernel.create({ now: () => clock });
    const anchors = [issuer.authority.rootPublicKey];
    kernel.authority.addTrustAnchor(issuer.authority.rootPublicKey);
    const rule = { action: 'echo', resource: 'echo' };
    const expiring = issuer.grant(kernel.hostPublicKey, { ...rule, expiresAt: clock + 1000 });
    const later = issuer.grant(kernel.hostPublicKey, { ...rule, notBefore: clock + 86_400_000 });
    const plain = issuer.grant(kernel.hostPublicKey, rule);
    clock += 2000;
    for (const token of [expiring.token, later.token]) {
      expect(kernel.authority.verify(token)).toMatchObject({ ok: false, code: 'E_CAP_EXPIRED' });
      expect(verifyToken(token, { anchors, now: clock })).toMatchObject({ ok: false, code: 'E_CAP_EXPIRED' });
    }
    expect(kernel.authority.verify(plain.token)).toMatchObject({ ok: true });
    expect(verifyToken(plain.token, { anchors, now: clock })).toMatchObject({ ok: true });
    // Not yet valid is refused now, and registered for later.
    expect(kernel.authority.get(later.id)).toBeDefined();
    await issuer.close();
  });
});

describe('lifetime', () => {
  it('an ended agent’s grants leave the authority, so a long-running host does not accumulate them', async () => {
    kernel = testKernel();
    const handle = kernel.spawn({ code: 'export default () => 1' });
    const ids = kernel.capabilities(handle.id).map((cap) => cap.id);
    expect(ids).toHaveLength(5);
    await handle.result;
    for (const id of ids) expect(kernel.authority.get(id)).toBeUndefined();
    expect(kernel.capabilities(kernel.hostPublicKey)).toHaveLength(5);
  });
});

describe('host-written rules are checked strictly', () => {
  it('a misspelt caveat is a TypeError, never an unbounded capability', async () => {
    const kernel = testKernel();
    try {
      const bad = { action: 'echo', resource: 'echo', max_uses: 1 } as never;
      expect(() => kernel.grant(kernel.hostPublicKey, bad)).toThrow(/max_uses.*did you mean maxUses/);
      expect(() => kernel.spawn({ code: 'export default () => 1', caps: [bad] })).toThrow(
        /request\.caps\[0\]\.max_uses/,
      );
      await expect(kernel.restore('0'.repeat(64), { caps: [bad] })).rejects.toThrow(TypeError);
      expect(kernel.capabilities(kernel.hostPublicKey).filter((c) => c.action === 'echo')).toHaveLength(1);
    } finally {
      await kernel.close();
    }
  });
});
