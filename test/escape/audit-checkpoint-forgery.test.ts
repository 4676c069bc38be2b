/**
 * Attack: rewrite an audit log and sign its checkpoints without any private key. OpenSSL verifies Ed25519
 * without the checks capability tokens get: for a small-order public key (the identity point, say), a
 * signature whose R is that point and whose S is 0 satisfies the cofactorless equation for every message.
 * Reported: such a checkpoint verified when no key was pinned, so a rewritten log "re-signed" by nobody
 * passed `audit verify` and the monitor-facing proof checks. Checkpoints now go through the same key and
 * signature rule as tokens (runtime/core/ed25519-rule.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AuditCheckpoint,
  checkpointMessage,
  encodeCheckpointLine,
  verifyCheckpointSignature,
} from '../../runtime/audit/checkpoint.js';
import { MerkleTree } from '../../runtime/audit/merkle.js';
import { verifyCheckpointConsistency } from '../../runtime/audit/proof.js';
import { recordLeaf, sealRecord } from '../../runtime/audit/record.js';
import { verifyAuditFile } from '../../runtime/audit/verify-file.js';
import { verifySignature } from '../../runtime/capability/signing-key.js';
import { testKernel } from '../helpers/kernel.js';
import { OPENSSL_3_0 } from '../helpers/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'isokernel-ckpt-forgery-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The identity point as a public key, and the "signature" OpenSSL accepts for it on every message: R = the
// identity, S = 0 ([0]B = R + [k]·identity whatever k is).
const IDENTITY = `01${'00'.repeat(31)}`;
const forgeries: [string, string][] = [['identity key', IDENTITY]];

function forge(statement: { size: number; root: string; time: number; every: number }, key: string): AuditCheckpoint {
  return { ...statement, key, signature: `${IDENTITY}${'00'.repeat(32)}` };
}

describe('checkpoints signed by nobody', () => {
  // OpenSSL 3.5 (Node 22, 24) refuses this forgery itself; the kernel's rule must hold on either line.
  it.each(forgeries)('control: OpenSSL 3.0 alone accepts the forgery for the %s (3.5 refuses it)', (_name, key) => {
    const message = checkpointMessage({ size: 1, root: 'ab'.repeat(32), time: 0, every: 1 });
    expect(verifySignature(Buffer.from(key, 'hex'), message, Buffer.from(`${IDENTITY}${'00'.repeat(32)}`, 'hex'))).toBe(
      OPENSSL_3_0,
    );
  });

  it.each(forgeries)('a checkpoint "signed" by the %s never verifies', (_name, key) => {
    const checkpoint = forge({ size: 1, root: 'ab'.repeat(32), time: 0, every: 1 }, key);
    expect(verifyCheckpointSignature(checkpoint)).toBe(false);
    expect(verifyCheckpointConsistency(checkpoint, checkpoint, [])).toBe(false);
  });

  it('a real kernel log rewritten and re-signed by a small-order key fails audit verify without a pinned key', async () => {
    const file = join(dir, 'audit.jsonl');
    const kernel = testKernel({ audit: { file } });
    await kernel.run({ code: `export default async () => { await sys.tool('echo', { a: 1 }); await sys.log('x'); }` });
    await kernel.close();
    expect(verifyAuditFile(file)).toMatchObject({ ok: true });

    // Rewrite: change every record's agent id, rehash the chain, rebuild the tree, forge one checkpoint.
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const previous = new Map<string, string>();
    const tree = new MerkleTree();
    const rewritten = lines.map((line): string => {
      const { hash: _hash, ...body } = JSON.parse(line);
      const prev = previous.get(body.namespace) ?? '0'.repeat(64);
      const { record, line: sealed } = sealRecord({ ...body, agent: 'rewritten', prev });
      previous.set(record.namespace, record.hash);
      tree.append(recordLeaf(record));
      return sealed;
    });
    const statement = { size: tree.size, root: tree.root(), time: Date.now(), every: 1024 };
    writeFileSync(file, `${rewritten.join('\n')}\n`);
    writeFileSync(`${file}.checkpoints`, `${encodeCheckpointLine(forge(statement, IDENTITY))}\n`);

    const report = verifyAuditFile(file);
    expect(report.ok).toBe(false);
    expect(JSON.stringify(report)).toMatch(/signature/);
  });
});
