// Attack (red-team pass 132): someone who can write the audit files rewrites a kernel's log (every refused call made
// ok), recomputes the hash chain and re-signs the checkpoints with a key of their own. `isokernel audit verify`
// pins the kernel's key (--key, --store) and warns when it is not pinned; `isokernel audit export` had neither, verified
// under whatever single key signed the log, and exported the forged records with exit 0 and no warning. Export now
// takes the same --key/--store and refuses the re-signed log under them, and without them says on stderr that the
// signer is not pinned, exactly as verify does.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { Kernel } from '../../index.js';
import { encodeCheckpointLine, signCheckpoint } from '../../runtime/audit/checkpoint.js';
import { AuditChain } from '../../runtime/audit/hash-chain.js';
import { type AuditRecord, parseRecordLine, sealRecord } from '../../runtime/audit/record.js';
import { SigningKey } from '../../runtime/capability/signing-key.js';

let dir = '';
afterEach(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (text: string) => out.push(text), err: (text: string) => err.push(text) }, out, err };
}

it('a log rewritten and re-signed with a fresh key is refused by export under the kernel key, and warned about without it', async () => {
  dir = mkdtempSync(join(tmpdir(), 'isokernel-export-resigned-'));
  const store = join(dir, 'store');
  const file = join(dir, 'audit.jsonl');
  const kernel = Kernel.create({ store, isolation: 'inline', audit: { file, fsync: 'always' } });
  await kernel.run({
    code: "export default async () => { try { await sys.tool('fs.write', { path: '/etc/passwd', content: 'x' }); } catch {} }",
  });
  await kernel.close();
  const exportArgs = ['audit', 'export', file, '--format', 'agent-kernel'];
  const genuine = capture();
  expect(await main([...exportArgs, '--store', store], genuine.io)).toBe(0);
  expect(genuine.err).toEqual([]);
  expect(genuine.out.map((line) => JSON.parse(line).status)).toContain('DENIED');

  // The rewrite: every refusal becomes a success, rechained, and signed by the attacker's key.
  const attacker = SigningKey.generate();
  const records = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (parseRecordLine(line) as { record: AuditRecord }).record);
  const chain = new AuditChain();
  const lines: string[] = [];
  const checkpoints: string[] = [];
  const sign = (): void => {
    const statement = { size: chain.size, root: chain.root(), time: Date.now(), every: 1024 };
    checkpoints.push(encodeCheckpointLine(signCheckpoint(attacker, statement)));
  };
  sign();
  for (const { hash: _hash, ...body } of records) {
    const edited =
      body.phase === 'outcome' && body.status === 'denied' ? { ...body, status: 'ok' as const, code: null } : body;
    const sealed = sealRecord({ ...edited, prev: chain.prevFor(edited.namespace) });
    chain.accept(sealed.record);
    lines.push(sealed.line);
  }
  sign();
  writeFileSync(file, `${lines.join('\n')}\n`);
  writeFileSync(`${file}.checkpoints`, `${checkpoints.join('\n')}\n`);

  // Pinned to the kernel's key (its store, or the key itself): refused, nothing exported.
  const kernelKey = Buffer.from(kernel.authority.rootPublicKey, 'base64url').toString('hex');
  for (const pin of [
    ['--store', store],
    ['--key', kernelKey],
  ]) {
    const pinned = capture();
    expect(await main([...exportArgs, ...pin], pinned.io)).toBe(1);
    expect(pinned.out).toEqual([]);
    expect(pinned.err.join('\n')).toMatch(/does not verify at seq 0: .*untrusted key/);
  }
  // Unpinned: exported (as verify passes), with verify's warning naming the signer that is not the kernel's.
  const unpinned = capture();
  expect(await main(exportArgs, unpinned.io)).toBe(0);
  expect(unpinned.out.map((line) => JSON.parse(line).status)).not.toContain('DENIED');
  const attackerHex = Buffer.from(attacker.publicKey).toString('hex');
  expect(unpinned.err).toEqual([
    `warning: checkpoint signer ${attackerHex} is not pinned; pass the kernel public key to trust it`,
  ]);
}, 60_000);
