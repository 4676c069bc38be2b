import { afterEach, describe, expect, it } from 'vitest';
import type { AuditRecord, Kernel } from '../../index.js';
import { SigningKey } from '../../runtime/capability/signing-key.js';
import { encodePublicKey } from '../../runtime/core/public-key.js';
import { testKernel } from '../helpers/kernel.js';

let kernels: Kernel[] = [];
afterEach(async () => {
  await Promise.all(kernels.map((k) => k.close()));
  kernels = [];
});

function kernel(options: Parameters<typeof testKernel>[0] = {}): Kernel {
  const k = testKernel(options);
  kernels.push(k);
  return k;
}

const hostKey = () => encodePublicKey(SigningKey.generate().publicKey);

// Methods of the full authority and log that change state without an audit record of their own.
const AUTHORITY_WRITES = ['grant', 'delegate', 'revoke', 'authorize', 'import', 'forget'];
const LOG_WRITES = ['append', 'intent', 'outcome', 'close'];

describe('kernel.authority (read-only view)', () => {
  it.each(AUTHORITY_WRITES)('has no %s', (method) => {
    expect(method in kernel().authority).toBe(false);
  });

  it('is frozen, so host code cannot attach the full authority to it', () => {
    expect(Object.isFrozen(kernel().authority)).toBe(true);
  });

  it('verify accepts a token the kernel granted', () => {
    const k = kernel();
    const granted = k.grant(hostKey(), { action: 'echo', resource: 'echo' });
    expect(k.authority.verify(granted.token)).toMatchObject({ ok: true, value: { id: granted.id } });
  });

  it('verify refuses a token signed by a key that is not a trust anchor with E_CAP_DENIED', () => {
    const stranger = kernel();
    const token = stranger.grant(hostKey(), { action: 'echo', resource: 'echo' }).token;
    expect(kernel().authority.verify(token)).toMatchObject({ ok: false, code: 'E_CAP_DENIED' });
  });

  it('addTrustAnchor makes another kernel’s tokens verify', () => {
    const issuer = kernel();
    const token = issuer.grant(hostKey(), { action: 'echo', resource: 'echo' }).token;
    const k = kernel();
    k.authority.addTrustAnchor(issuer.authority.rootPublicKey);
    expect(k.authority.verify(token).ok).toBe(true);
  });

  it('addTrustAnchor is audited as a host action (intent and outcome)', () => {
    const k = kernel();
    const anchor = hostKey();
    k.authority.addTrustAnchor(anchor);
    const records = k.audit.records({ namespace: 'host' }).filter((r) => r.syscall === 'trust');
    expect(records.map((r) => [r.phase, r.agent, r.resource, r.status])).toEqual([
      ['intent', 'host', anchor, null],
      ['outcome', 'host', anchor, 'ok'],
    ]);
  });

  it('list resolves a live agent id like kernel.capabilities', async () => {
    const k = kernel();
    const handle = k.spawn({ code: 'export default () => new Promise(() => {})' });
    expect(k.authority.list(handle.id).map((c) => c.action)).toEqual(k.capabilities(handle.id).map((c) => c.action));
    expect(k.authority.list(handle.id).length).toBeGreaterThan(0);
    handle.kill();
    await handle.result;
  });

  it('exportChain returns the chain verify accepts elsewhere', () => {
    const issuer = kernel();
    const granted = issuer.grant(hostKey(), { action: 'echo', resource: 'echo' });
    const chain = issuer.authority.exportChain(granted.id);
    expect(chain).toEqual([granted.token]);
    expect(issuer.authority.get(granted.id)?.id).toBe(granted.id);
  });
});

describe('kernel.audit (read-only view)', () => {
  it.each(LOG_WRITES)('has no %s', (method) => {
    expect(method in kernel().audit).toBe(false);
  });

  it('records() returns what agents did, oldest first', async () => {
    const k = kernel();
    await k.run({ code: 'export default async () => { await sys.tool("echo", 1); }', namespace: 'reader' });
    const records = k.audit.records({ namespace: 'reader' });
    expect(records.map((r) => [r.syscall, r.phase])).toEqual([
      ['tool', 'intent'],
      ['tool', 'outcome'],
    ]);
    expect(records.map((r) => r.seq)).toEqual([...records.map((r) => r.seq)].sort((a, b) => a - b));
  });

  it('records({ after, limit }) pages', async () => {
    const k = kernel();
    await k.run({ code: 'export default async () => { for (let i = 0; i < 3; i++) await sys.tool("echo", i); }' });
    const all = k.audit.records();
    const page = k.audit.records({ after: all[1]!.seq, limit: 2 });
    expect(page).toEqual(all.slice(2, 4));
  });

  it('verify accepts a record with its proof under a checkpoint the kernel signed', async () => {
    const k = kernel();
    await k.run({ code: 'export default async () => sys.tool("echo", 1)' });
    const record = k.audit.records().at(-1)!;
    k.audit.checkpoint();
    expect(k.audit.verify(record, k.audit.prove(record.seq))).toBe(true);
  });

  it('verify refuses an edited record', async () => {
    const k = kernel();
    await k.run({ code: 'export default async () => sys.tool("echo", 1)' });
    const record = k.audit.records().at(-1)!;
    k.audit.checkpoint();
    const edited = { ...record, status: 'denied' } as AuditRecord;
    expect(k.audit.verify(edited, k.audit.prove(record.seq))).toBe(false);
  });

  it('verify refuses a proof anchored by another kernel’s checkpoint', async () => {
    const k = kernel();
    const other = kernel();
    await k.run({ code: 'export default async () => sys.tool("echo", 1)' });
    await other.run({ code: 'export default async () => sys.tool("echo", 1)' });
    const record = other.audit.records().at(-1)!;
    other.audit.checkpoint();
    expect(k.audit.verify(record, other.audit.prove(record.seq))).toBe(false);
  });

  it('verify never throws on malformed input', () => {
    expect(kernel().audit.verify(null as never, {} as never)).toBe(false);
  });
});
