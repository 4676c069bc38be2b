// Attack (pass 132 F6, review 135): someone who can write the audit files pads the checkpoints file with copies of
// one genuine line. Each copy was parsed and its signature checked again (20,000 copies: 2.1 s a verify, and a
// kernel's start), then, once copies were skipped, still kept in an array before the check: a million copies
// (319 MB) cost a start 400 MB of heap and 13 million aborted it. Lines are now checked as they are read and a copy
// at the current size is neither checked again nor kept, so a start and a verify take the memory of the distinct
// checkpoints. Here in a child whose heap is capped below what the copies would take.
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { AuditLog } from '../../runtime/audit/audit-log.js';
import { AuditFileStore } from '../../runtime/audit/file-store.js';
import { SigningKey } from '../../runtime/capability/signing-key.js';
import { runNode, TSX_MODULE_ARGS } from '../helpers/node-process.js';

const CWD = fileURLToPath(new URL('../../', import.meta.url));
const source = (path: string): string => JSON.stringify(fileURLToPath(new URL(`../../${path}`, import.meta.url)));

let dir = '';
afterEach(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

it('a checkpoints file padded with 400,000 copies of one line opens and verifies in a 96 MB heap', async () => {
  dir = mkdtempSync(join(tmpdir(), 'isokernel-checkpoint-padding-'));
  const file = join(dir, 'audit.jsonl');
  const key = SigningKey.generate();
  const log = new AuditLog({ key, sink: AuditFileStore.open(file, { fsync: 'always' }), checkpointEvery: 2 });
  for (let i = 0; i < 5; i++) log.append({ namespace: 'n', agent: 'a', syscall: 's', action: 'x', phase: 'intent' });
  log.close();
  const lines = readFileSync(`${file}.checkpoints`, 'utf8').split('\n').filter(Boolean);
  const copy = `${lines.at(-1)}\n`;
  // About 130 MB in all: kept as strings, more than the child's heap.
  for (let i = 0; i < 8; i++) appendFileSync(`${file}.checkpoints`, copy.repeat(50_000));
  const hex = Buffer.from(key.publicKey).toString('hex');
  const script = `
    const { AuditFileStore } = await import(${source('runtime/audit/file-store.ts')});
    const { verifyAuditFile } = await import(${source('runtime/audit/verify-file.ts')});
    const report = verifyAuditFile(${JSON.stringify(file)}, { trustedKeys: [${JSON.stringify(hex)}] });
    const store = AuditFileStore.open(${JSON.stringify(file)}, { trustedKeys: [${JSON.stringify(hex)}] });
    const kept = store.recovered.checkpoints.length;
    store.close();
    console.log(JSON.stringify({ ok: report.ok, checkpoints: report.checkpoints, kept }));`;
  const run = await runNode(['--max-old-space-size=96', ...TSX_MODULE_ARGS, script], { cwd: CWD, timeoutMs: 60_000 });
  expect({ status: run.status, signal: run.signal, timedOut: run.timedOut }, run.stderr.slice(-2000)).toEqual({
    status: 0,
    signal: null,
    timedOut: false,
  });
  expect(JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '')).toEqual({
    ok: true,
    checkpoints: lines.length,
    kept: lines.length,
  });
}, 90_000);
