/**
 * An independent monitor checks a real kernel's audit log with nothing but the package entry's exports
 * (parseRecordLine, recordLeafHash, MerkleTree, parseCheckpointLine, verifyCheckpointSignature,
 * verifyCheckpointConsistency): no AuditLog, no verifyAuditFile, no kernel internals. It pins the kernel's
 * checkpoint key, rebuilds the Merkle tree from the records, checks every signed root, and keeps the last
 * checkpoint it saw so that a later session's log must extend it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AuditCheckpoint,
  MerkleTree,
  parseCheckpointLine,
  parseRecordLine,
  recordLeafHash,
  verifyCheckpointConsistency,
  verifyCheckpointSignature,
} from '../../../index.js';
import { sealRecord } from '../../../runtime/audit/record.js';
import { testKernel } from '../../helpers/kernel.js';

const dir = mkdtempSync(join(tmpdir(), 'isokernel-monitor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface MonitorView {
  readonly ok: boolean;
  readonly problem?: string;
  readonly tree: MerkleTree;
  readonly checkpoints: readonly AuditCheckpoint[];
}

/** The monitor: only exported functions, and a key it was given out of band. */
function monitor(file: string, pinnedKey: string): MonitorView {
  const tree = new MerkleTree();
  const fail = (problem: string): MonitorView => ({ ok: false, problem, tree, checkpoints: [] });
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '');
  for (const [seq, line] of lines.entries()) {
    const parsed = parseRecordLine(line);
    if (!parsed.ok) return fail(`record ${seq}: ${parsed.reason}`);
    if (parsed.record.seq !== seq) return fail(`record ${seq}: out of order`);
    tree.append(recordLeafHash(parsed.record));
  }
  const checkpoints: AuditCheckpoint[] = [];
  for (const line of readFileSync(`${file}.checkpoints`, 'utf8')
    .split('\n')
    .filter((l) => l !== '')) {
    const parsed = parseCheckpointLine(line);
    if (!parsed.ok) return fail(`checkpoint: ${parsed.reason}`);
    const checkpoint = parsed.checkpoint;
    if (!verifyCheckpointSignature(checkpoint) || checkpoint.key !== pinnedKey)
      return fail('checkpoint: not signed by the kernel');
    if (checkpoint.size > tree.size || tree.root(checkpoint.size) !== checkpoint.root)
      return fail(`checkpoint ${checkpoint.size}: root differs`);
    checkpoints.push(checkpoint);
  }
  return { ok: true, tree, checkpoints };
}

describe('an independent monitor, using only the package exports', () => {
  const store = join(dir, 'store');
  const file = join(dir, 'audit.jsonl');
  let pinned = '';
  let kept: AuditCheckpoint | undefined;

  async function session(code: string): Promise<void> {
    const kernel = testKernel({ store, audit: { file } });
    // Out of band: the monitor learns the kernel's checkpoint key once (hex of the raw root public key).
    pinned = Buffer.from(kernel.authority.rootPublicKey, 'base64url').toString('hex');
    await kernel.run({ code });
    await kernel.close();
  }

  it('verifies a real log: every record hashed into the tree, every signed root matches', async () => {
    await session(`export default async () => { await sys.tool('echo', { n: 1 }); await sys.log('one'); }`);
    const view = monitor(file, pinned);
    expect(view).toMatchObject({ ok: true });
    expect(view.tree.size).toBe(4); // echo and log: an intent and an outcome each
    expect(view.checkpoints.at(-1)!.size).toBe(view.tree.size);
    kept = view.checkpoints.at(-1);
  });

  it('a later session must extend the checkpoint it kept (consistency with its own proof)', async () => {
    await session(`export default async () => { await sys.tool('noop'); }`);
    const view = monitor(file, pinned);
    expect(view.ok).toBe(true);
    const latest = view.checkpoints.at(-1)!;
    expect(latest.size).toBeGreaterThan(kept!.size);
    const path = view.tree.consistencyProof(kept!.size, latest.size);
    expect(verifyCheckpointConsistency(kept!, latest, path, { trustedKeys: [pinned] })).toBe(true);
    // A proof for another old size, or a key the monitor does not trust, does not pass.
    expect(verifyCheckpointConsistency(kept!, latest, view.tree.consistencyProof(1, latest.size))).toBe(false);
    expect(verifyCheckpointConsistency(kept!, latest, path, { trustedKeys: ['ab'.repeat(32)] })).toBe(false);
  });

  it('detects an edited record', () => {
    const lines = readFileSync(file, 'utf8').split('\n');
    const edited = lines.map((line, i) => (i === 2 ? line.replace('"agent":"', '"agent":"x') : line));
    const copy = join(dir, 'edited.jsonl');
    writeFileSync(copy, edited.join('\n'));
    writeFileSync(`${copy}.checkpoints`, readFileSync(`${file}.checkpoints`));
    expect(monitor(copy, pinned)).toMatchObject({ ok: false, problem: expect.stringMatching(/^record 2:/) });
  });

  it('detects a truncated log (records a signed checkpoint covers are gone)', () => {
    const all = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const copy = join(dir, 'truncated.jsonl');
    writeFileSync(copy, `${all.slice(0, kept!.size).join('\n')}\n`);
    writeFileSync(`${copy}.checkpoints`, readFileSync(`${file}.checkpoints`));
    expect(monitor(copy, pinned)).toMatchObject({ ok: false, problem: expect.stringMatching(/root differs/) });
  });

  it('detects a history rewritten and rehashed by someone without the key', () => {
    // The attacker's side may use anything; the monitor above still uses only the package exports.
    const prev = new Map<string, string>();
    const rewritten = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((line) => {
        const { hash: _hash, ...body } = JSON.parse(line);
        const sealed = sealRecord({ ...body, agent: 'someone-else', prev: prev.get(body.namespace) ?? '0'.repeat(64) });
        prev.set(body.namespace, sealed.record.hash);
        return sealed.line;
      });
    const copy = join(dir, 'rewritten.jsonl');
    writeFileSync(copy, `${rewritten.join('\n')}\n`);
    writeFileSync(`${copy}.checkpoints`, readFileSync(`${file}.checkpoints`));
    expect(monitor(copy, pinned)).toMatchObject({ ok: false, problem: expect.stringMatching(/root differs/) });
  });
});
