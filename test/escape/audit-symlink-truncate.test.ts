// Attack (review 136): someone who can create entries in the audit log's directory, without access to the store or
// the key, plants `audit.jsonl.checkpoints` (or, with no checkpoints, `audit.jsonl`) as a symlink to another file of
// the kernel's user that does not end in a newline: a key, a token, minified JSON. A kernel's start took the file for
// a log with a torn last line, emptied it and wrote the new log into it (a refused start emptied it too). A torn tail
// is now cut only when it begins as the store's own lines begin; anything else is refused as corrupt, untouched.
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Kernel } from '../../index.js';
import { AuditLog } from '../../runtime/audit/audit-log.js';
import { AuditFileStore } from '../../runtime/audit/file-store.js';
import { SigningKey } from '../../runtime/capability/signing-key.js';

let dir = '';
afterEach(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function layout() {
  dir = mkdtempSync(join(tmpdir(), 'isokernel-audit-symlink-'));
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'c2VjcmV0LWtleS1ubyBuZXdsaW5l'); // a key file: base64url, no newline
  return { victim, file: join(dir, 'audit.jsonl'), store: join(dir, 'store') };
}

it('a symlink planted as the checkpoints file: the start is refused and the file it names is left as it was', () => {
  const { victim, file, store } = layout();
  symlinkSync(victim, `${file}.checkpoints`);
  expect(() => Kernel.create({ store, isolation: 'inline', audit: { file } })).toThrow(/not the start of a line/);
  expect(readFileSync(victim, 'utf8')).toBe('c2VjcmV0LWtleS1ubyBuZXdsaW5l');
});

it('a symlink planted as the log with no checkpoints: the start is refused and the file is left as it was', () => {
  const { victim, file, store } = layout();
  symlinkSync(victim, file);
  expect(() => Kernel.create({ store, isolation: 'inline', audit: { file } })).toThrow(/not the start of a line/);
  expect(readFileSync(victim, 'utf8')).toBe('c2VjcmV0LWtleS1ubyBuZXdsaW5l');
});

it('a genuine torn last line of either file is still cut at the start', () => {
  const { file } = layout();
  const key = SigningKey.generate();
  const log = new AuditLog({ key, sink: AuditFileStore.open(file, { fsync: 'always' }), checkpointEvery: 2 });
  for (let i = 0; i < 3; i++) log.append({ namespace: 'n', agent: 'a', syscall: 's', action: 'x', phase: 'intent' });
  log.close();
  const records = readFileSync(file, 'utf8');
  const checkpoints = readFileSync(`${file}.checkpoints`, 'utf8');
  writeFileSync(file, `${records}{"action":"x","ag`);
  writeFileSync(`${file}.checkpoints`, `${checkpoints}{"ev`);
  const store = AuditFileStore.open(file);
  expect(store.recovery).toMatchObject({ tornRecordBytes: 17, tornCheckpointBytes: 4 });
  store.close();
  expect(readFileSync(file, 'utf8')).toBe(records);
  expect(readFileSync(`${file}.checkpoints`, 'utf8')).toBe(checkpoints);
  // After lines that verified, whatever a crash left is cut (review 138): zeros where a power loss grew the file but
  // lost its data, zeros then a later page, stale bytes.
  for (const tail of [Buffer.alloc(300), Buffer.from('\0'.repeat(200) + '"x","ag'), Buffer.from('stale bytes')]) {
    writeFileSync(file, Buffer.concat([Buffer.from(records), tail]));
    writeFileSync(`${file}.checkpoints`, Buffer.concat([Buffer.from(checkpoints), tail]));
    AuditFileStore.open(file).close();
    expect(readFileSync(file, 'utf8')).toBe(records);
    expect(readFileSync(`${file}.checkpoints`, 'utf8')).toBe(checkpoints);
  }
});

it('a new log whose only bytes are zeros, or zeros then the start of a line, is cut at the start', () => {
  const { file } = layout();
  writeFileSync(`${file}.checkpoints`, Buffer.concat([Buffer.alloc(100), Buffer.from('{"every":2,"k')]));
  AuditFileStore.open(file).close();
  expect(readFileSync(`${file}.checkpoints`, 'utf8')).toBe('');
});
