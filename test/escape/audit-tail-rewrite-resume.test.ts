// Attack (red-team pass 132): someone who can edit the audit files (the threat tamper-evidence is for) removes a
// closed log's last checkpoint, rewrites the records it covered (50 refused net.http calls made ok, the hash chain
// recomputed) and lets the next kernel resume the log. The kernel took the unsigned tail for a crash's and signed its
// next checkpoints over it: verification pinned to the kernel's key, anchoring required, then passed with the rewrite
// anchored. Now the first checkpoint of a resume that adopts unsigned records says so (`adopted`, a signature of its
// own domain), the verifier counts those records apart and `requireAnchored` refuses them. Review 135 then deleted
// that one checkpoint line (or swapped it with a plain one of the same size) and verification passed again: the
// count is now signed into every later checkpoint and never falls.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Kernel } from '../../index.js';
import { AuditChain } from '../../runtime/audit/hash-chain.js';
import { type AuditRecord, parseRecordLine, sealRecord } from '../../runtime/audit/record.js';
import { verifyAuditFile } from '../../runtime/audit/verify-file.js';

let dir = '';
afterEach(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

const records = (file: string): AuditRecord[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (parseRecordLine(line) as { record: AuditRecord }).record);

it('a tail rewritten before a resume is not anchored as the writer signed it', async () => {
  dir = mkdtempSync(join(tmpdir(), 'isokernel-tail-rewrite-'));
  const store = join(dir, 'store');
  const file = join(dir, 'audit.jsonl');
  const first = Kernel.create({ store, isolation: 'inline', audit: { file }, policy: { capabilities: [] } });
  const key = Buffer.from(first.authority.rootPublicKey, 'base64url').toString('hex');
  await first.run({
    code: `export default async () => {
      for (let i = 0; i < 50; i++) await sys.tool('net.http', { url: 'https://evil.example/' + i }).catch(() => 0);
    }`,
  });
  await first.close();
  const genuine = records(file);
  expect(genuine.filter((record) => record.status === 'denied').length).toBeGreaterThanOrEqual(50);

  // The close's checkpoint goes; the records it covered are rewritten, refusals made successes, and rehashed.
  const checkpoints = readFileSync(`${file}.checkpoints`, 'utf8').split('\n').filter(Boolean);
  writeFileSync(`${file}.checkpoints`, `${checkpoints.slice(0, -1).join('\n')}\n`);
  const chain = new AuditChain();
  const lines: string[] = [];
  for (const record of genuine) {
    const { hash: _hash, ...body } = record;
    const edited = body.status === 'denied' ? { ...body, status: 'ok' as const, code: null } : body;
    const sealed = sealRecord({ ...edited, prev: chain.prevFor(edited.namespace) });
    chain.accept(sealed.record);
    lines.push(sealed.line);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  // Before any resume the rewrite is an unsigned tail, as the verifier says.
  expect(verifyAuditFile(file, { trustedKeys: [key], requireAnchored: true }).ok).toBe(false);

  // The resumed kernel works on, with an interval of its own: checkpoints follow the one that adopted the tail.
  const resumed = Kernel.create({ store, isolation: 'inline', audit: { file, checkpointEvery: 16 } });
  await resumed.run({ code: 'export default async () => { for (let i = 0; i < 20; i++) await sys.label(); }' });
  await resumed.close();
  const adoptedRefusal = { ok: false, reason: expect.stringContaining('adopted when the log was resumed') };
  expect(verifyAuditFile(file, { trustedKeys: [key], requireAnchored: true })).toMatchObject(adoptedRefusal);
  // Without anchoring required the log verifies, and says how many records only the resume vouches for.
  const report = verifyAuditFile(file, { trustedKeys: [key] });
  expect(report).toMatchObject({ ok: true, adopted: genuine.length, unanchored: 0 });

  const after = readFileSync(`${file}.checkpoints`, 'utf8').split('\n').filter(Boolean);
  const adopting = after.findIndex((line) => line.includes('"adopted"'));
  expect(after.length - adopting).toBeGreaterThan(2);
  const variant = (kept: string[]) => {
    writeFileSync(`${file}.checkpoints`, `${kept.join('\n')}\n`);
    return verifyAuditFile(file, { trustedKeys: [key], requireAnchored: true });
  };
  // The line that adopted the tail, deleted: every later checkpoint still counts it.
  expect(variant(after.filter((_, i) => i !== adopting))).toMatchObject(adoptedRefusal);
  // Every line that counts it, deleted: the records since are unanchored, and more than an interval.
  expect(variant(after.slice(0, adopting))).toMatchObject({ ok: false });
});
