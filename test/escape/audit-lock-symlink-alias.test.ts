// Attack (red-team pass 132): corrupt the audit log by opening it twice. The writer lock was `${path}.lock` by path
// string, so a second kernel given the log through a symlinked alias (links to the records file and to its
// checkpoints file) took a lock of its own, and the two kernels interleaved their records: each numbered and chained
// its own, and the log no longer verified (nor reopened). The lock is now taken beside the records file's real path,
// so every alias takes the same lock and the second open is refused. (An alias of the directory above the log took
// the same lock file before too: the lock lived in the same real directory. It is kept as a regression check.)
// Red-team pass 135: the lock's path still dropped `..` by string before following links (path.resolve, JS realpath),
// where the system follows the link first: with a/link -> other/sub, `a/link/../audit.jsonl` opens other/audit.jsonl
// and took the lock a/audit.jsonl.lock, so two kernels wrote one log again. It is resolved as the system opens it.
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Kernel } from '../../index.js';
import { verifyAuditFile } from '../../runtime/audit/verify-file.js';

let dir = '';
const open: Kernel[] = [];
afterEach(async () => {
  for (const kernel of open.splice(0)) await kernel.close();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

const AGENT = "export default async () => { await sys.mem.put('k', 1); return 1; }";

function kernel(store: string, file: string): Kernel {
  const created = Kernel.create({ store, isolation: 'inline', audit: { file, fsync: 'always' } });
  open.push(created);
  return created;
}

it.each([
  ['symlinks to the log files', 'file'],
  ['a symlink to its directory', 'directory'],
] as const)('a second kernel opening the audit log through %s is refused', async (_name, kind) => {
  dir = mkdtempSync(join(tmpdir(), 'isokernel-lock-alias-'));
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const file = join(logs, 'audit.jsonl');
  let alias: string;
  if (kind === 'file') {
    alias = join(dir, 'alias.jsonl');
    symlinkSync(file, alias);
    symlinkSync(`${file}.checkpoints`, `${alias}.checkpoints`);
  } else {
    symlinkSync(logs, join(dir, 'logs-alias'));
    alias = join(dir, 'logs-alias', 'audit.jsonl');
  }
  const first = kernel(join(dir, 'store'), file);
  await first.run({ code: AGENT });
  // Before: this opened, and the two kernels' records interleaved in one file.
  let second: Kernel | undefined;
  let refusal: unknown;
  try {
    second = kernel(join(dir, 'store'), alias);
  } catch (error) {
    refusal = error;
  }
  if (second !== undefined) {
    await Promise.all([first.run({ code: AGENT }), second.run({ code: AGENT })]);
    await second.close();
  }
  expect(refusal).toMatchObject({ reason: 'locked' });
  await first.run({ code: AGENT });
  await first.close();
  open.splice(0);
  const report = verifyAuditFile(file, { requireAnchored: true });
  expect(report).toMatchObject({ ok: true });
});

it.each([
  ['exists', 'the real path first'],
  ['does not exist yet', 'the `..` alias first'],
] as const)(
  'a `..` after a symlink names the log the system opens: a second kernel is refused when the log %s',
  async (_name, order) => {
    dir = mkdtempSync(join(tmpdir(), 'isokernel-lock-dotdot-'));
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'other', 'sub'), { recursive: true });
    symlinkSync(join(dir, 'other', 'sub'), join(dir, 'a', 'link'));
    const file = join(dir, 'other', 'audit.jsonl');
    const alias = `${dir}/a/link/../audit.jsonl`;
    const [firstPath, secondPath] = order === 'the real path first' ? [file, alias] : [alias, file];
    // One store, as above: the second kernel resumes the first's log when the lock lets it.
    const first = kernel(join(dir, 'store'), firstPath);
    await first.run({ code: AGENT });
    let second: Kernel | undefined;
    let refusal: unknown;
    try {
      second = kernel(join(dir, 'store'), secondPath);
    } catch (error) {
      refusal = error;
    }
    // Before: both opened one file, and their interleaved records no longer verified.
    if (second !== undefined) {
      await Promise.all([first.run({ code: AGENT }), second.run({ code: AGENT })]);
      await second.close();
    }
    expect(refusal).toMatchObject({ name: 'AuditStoreError', reason: 'locked' });
    await first.run({ code: AGENT });
    await first.close();
    open.splice(0);
    expect(existsSync(join(dir, 'a', 'audit.jsonl'))).toBe(false);
    expect(verifyAuditFile(file, { requireAnchored: true })).toMatchObject({ ok: true });
  },
);
