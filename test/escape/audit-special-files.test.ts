// Attack (red-team pass 135): hang or crash the host by putting a special file where the audit files are. The log,
// its checkpoints and the writer's lock were opened with a blocking open and the lock was read whole with
// readFileSync, following symlinks:
// - a FIFO at the log, the checkpoints or the lock made AuditFileStore.open (a kernel's start) and verifyAuditFile
//   (`audit verify`, `audit export`) wait for a writer for ever, the process's event loop with them;
// - a FIFO swapped in for the lock of a running kernel blocked its lease renewal, and its event loop, for good;
// - the lock a symlink to /dev/zero was read until the process aborted (std::bad_alloc at 16.9 GB after 58 s).
// Now every audit file is opened without waiting (O_NONBLOCK) and read only when it is a regular file, the lock is
// never followed through a symlink and is read with a bounded read: each case is a clean error within moments.
// Each case runs in a child process, so a regression is a child killed at its timeout, not a wedged test runner.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Kernel } from '../../index.js';
import { AuditLog } from '../../runtime/audit/audit-log.js';
import { AuditFileStore, lockPathOf } from '../../runtime/audit/file-store.js';
import { SigningKey } from '../../runtime/capability/signing-key.js';
import { runNode, TSX_MODULE_ARGS } from '../helpers/node-process.js';

const CWD = fileURLToPath(new URL('../../', import.meta.url));
const source = (path: string): string => JSON.stringify(fileURLToPath(new URL(`../../${path}`, import.meta.url)));
// A regression reads /dev/zero into memory: bound the child's data so it fails in moments instead of taking the host's.
const BOUNDED = spawnSync('prlimit', ['--version'], { stdio: 'ignore' }).status === 0;
const UNDER = BOUNDED ? { under: ['prlimit', `--data=${3 * 1024 ** 3}`] } : {};
// A child's start (tsx) takes a second or two; a hang is killed at this.
const CHILD_TIMEOUT_MS = 20_000;
// What one of these calls may take once started: the probes measured 1-5 ms.
const CALL_MS = 2_000;

let dir = '';
afterEach(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

/** A genuine, closed log (records and checkpoints) in a fresh directory: its path. */
function genuineLog(): string {
  dir = mkdtempSync(join(tmpdir(), 'isokernel-audit-special-'));
  const file = join(dir, 'audit.jsonl');
  const log = new AuditLog({ key: SigningKey.generate(), sink: AuditFileStore.open(file, { fsync: 'always' }) });
  log.append({ namespace: 'n', agent: 'a', syscall: 's', action: 'x', phase: 'intent' });
  log.close();
  return file;
}

function fifoAt(path: string): void {
  rmSync(path, { force: true });
  execFileSync('mkfifo', [path]);
}

interface Outcome {
  readonly ms: number;
  readonly threw?: { readonly name: string; readonly reason?: string; readonly message: string };
  readonly returned?: unknown;
}

/** Runs `body` (module text with `file` bound, returning a value or throwing) in a child; what it did. */
async function inChild(file: string, body: string): Promise<Outcome> {
  const script = `
    const file = ${JSON.stringify(file)};
    const started = performance.now();
    let out;
    try {
      out = { returned: await (async () => { ${body} })() };
    } catch (error) {
      out = { threw: { name: error?.name, reason: error?.reason, message: String(error?.message) } };
    }
    console.log(JSON.stringify({ ms: performance.now() - started, ...out }));
    process.exit(0);`;
  const run = await runNode([...TSX_MODULE_ARGS, script], { cwd: CWD, timeoutMs: CHILD_TIMEOUT_MS, ...UNDER });
  // Before: a FIFO held the child until it was killed here; /dev/zero ended it by its memory.
  expect(run.timedOut, 'the child hung').toBe(false);
  expect({ status: run.status, signal: run.signal }, run.stderr).toEqual({ status: 0, signal: null });
  return JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as Outcome;
}

const OPEN = `const { AuditFileStore } = await import(${source('runtime/audit/file-store.ts')});
  AuditFileStore.open(file, { fsync: 'always' }).close();
  return 'opened';`;
const VERIFY = `const { verifyAuditFile } = await import(${source('runtime/audit/verify-file.ts')});
  return verifyAuditFile(file);`;
/** A kernel's start on `store` with the audit log `file`. */
const kernelStart = (store: string): string => `const { Kernel } = await import(${source('index.ts')});
  const kernel = Kernel.create({ store: ${JSON.stringify(store)}, isolation: 'inline', audit: { file } });
  await kernel.close();
  return 'created';`;

// A hang is a child killed at CHILD_TIMEOUT_MS; a case starts up to three children.
describe('audit files that are not regular files', { timeout: 90_000 }, () => {
  it.each([
    ['the log', (file: string) => file],
    ['the checkpoints', (file: string) => `${file}.checkpoints`],
  ])(
    'a FIFO at %s: opening the store is a corrupt-store error, verifying a failure, both at once',
    async (_what, at) => {
      const file = genuineLog();
      fifoAt(at(file));
      const opened = await inChild(file, OPEN);
      expect(opened.threw).toMatchObject({ name: 'AuditStoreError', reason: 'corrupt', message: /not a regular file/ });
      expect(opened.ms).toBeLessThan(CALL_MS);
      const verified = await inChild(file, VERIFY);
      expect(verified.returned).toMatchObject({ ok: false, seq: null });
      expect(verified.ms).toBeLessThan(CALL_MS);
    },
  );

  it.each([
    ['the log', (file: string) => file],
    ['the checkpoints', (file: string) => `${file}.checkpoints`],
  ])("a FIFO at %s: a kernel's start refuses it (AuditStoreError), it does not wait", async (_what, at) => {
    dir = mkdtempSync(join(tmpdir(), 'isokernel-audit-special-'));
    const store = join(dir, 'store');
    const file = join(dir, 'audit.jsonl');
    // A log the kernel's own key signed, so its start reads past the checkpoints to the records.
    const kernel = Kernel.create({ store, isolation: 'inline', audit: { file, fsync: 'always' } });
    await kernel.run({ code: 'export default () => 1' });
    await kernel.close();
    fifoAt(at(file));
    const created = await inChild(file, kernelStart(store));
    expect(created.threw).toMatchObject({ name: 'AuditStoreError', reason: 'corrupt', message: /not a regular file/ });
    expect(created.ms).toBeLessThan(CALL_MS);
  });

  it.each([
    ['a FIFO', (lock: string) => fifoAt(lock)],
    ['a symlink to /dev/zero', (lock: string) => symlinkSync('/dev/zero', lock)],
  ])('the lock %s: the open is refused as locked at once, never read', async (_what, plant) => {
    const file = genuineLog();
    plant(lockPathOf(file));
    const opened = await inChild(file, OPEN);
    expect(opened.threw).toMatchObject({ name: 'AuditStoreError', reason: 'locked' });
    expect(opened.ms).toBeLessThan(CALL_MS);
    // The lock is no part of what verify reads.
    expect((await inChild(file, VERIFY)).returned).toMatchObject({ ok: true });
    // Left for the operator, as any lock the kernel cannot read.
    unlinkSync(lockPathOf(file));
    expect((await inChild(file, OPEN)).returned).toBe('opened');
  });

  it.each([
    ['a FIFO', 'fifo'],
    ['a symlink to /dev/zero', 'zero'],
  ])(
    'the lock of a running store replaced by %s: the lease renewal fails the store, the event loop runs on',
    async (_what, kind) => {
      const file = genuineLog();
      rmSync(file);
      rmSync(`${file}.checkpoints`);
      const live = await inChild(
        file,
        `const { AuditFileStore } = await import(${source('runtime/audit/file-store.ts')});
      const { AuditLog } = await import(${source('runtime/audit/audit-log.ts')});
      const { SigningKey } = await import(${source('runtime/capability/signing-key.ts')});
      const { execFileSync } = await import('node:child_process');
      const { symlinkSync, unlinkSync } = await import('node:fs');
      const store = AuditFileStore.open(file, { fsync: 'always', lockRefreshMs: 10 });
      const log = new AuditLog({ key: SigningKey.generate(), sink: store });
      unlinkSync(store.lockPath);
      if (${JSON.stringify(kind)} === 'fifo') execFileSync('mkfifo', [store.lockPath]);
      else symlinkSync('/dev/zero', store.lockPath);
      // The renewal runs every 10 ms; ticks of a 5 ms timer count how long the event loop was free meanwhile.
      let ticks = 0;
      const since = Date.now();
      await new Promise((done) => {
        const timer = setInterval(() => {
          ticks += 1;
          if (store.failure !== undefined || Date.now() - since > 3000) {
            clearInterval(timer);
            done();
          }
        }, 5);
      });
      let append;
      try {
        log.append({ namespace: 'n', agent: 'a', syscall: 's', action: 'x', phase: 'intent' });
        append = 'appended';
      } catch (error) {
        append = { message: error.message, cause: { name: error.cause?.name, reason: error.cause?.reason } };
      }
      try { log.close(); } catch {}
      return { failure: { name: store.failure?.name, reason: store.failure?.reason }, ticks, append };`,
      );
      expect(live.returned).toMatchObject({
        failure: { name: 'AuditStoreError', reason: 'locked' },
        // The kernel stops appending: the next append throws the store's failure.
        append: { message: /failed/, cause: { name: 'AuditStoreError', reason: 'locked' } },
      });
      expect((live.returned as { ticks: number }).ticks).toBeGreaterThan(0);
    },
  );
});
