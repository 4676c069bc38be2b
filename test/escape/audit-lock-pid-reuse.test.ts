// Attack: make the audit log unopenable for good by crashing the kernel (red-team pass 86). `<audit>.lock` held only
// the writer's pid, and a lock whose pid was running (this process included) refused the open. A kernel killed mid-run
// (SIGKILL, the OOM killer, or an agent that aborts V8 in the inline tier) as pid 1 of a container left a lock naming
// pid 1, and every restart, pid 1 again, found "its" pid alive and threw AuditStoreError('locked'): the store could
// not be used until a human removed the lock. Any process whose pid the dead writer's reused (pid 1 is init outside
// a container) refused it the same way. The lock now also names the writer's process instance (its start time and
// the boot id, and a nonce), and a lock whose live pid is another instance, or names this process without being
// held by it, is stale. Two live writers on one log are still refused. Each crash runs in a child process.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../index.js';
import { runNode } from '../helpers/node-process.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const ENTRY = fileURLToPath(new URL('../../index.ts', import.meta.url));
const CWD = fileURLToPath(new URL('../../', import.meta.url));
const NODE_ARGS = ['--no-node-snapshot', '--import', 'tsx', '--input-type=module', '-e'];

function freshStore(): { store: string; audit: string } {
  const dir = mkdtempSync(join(tmpdir(), 'isokernel-lock-reuse-'));
  dirs.push(dir);
  const store = join(dir, 'store');
  mkdirSync(store, { mode: 0o700 });
  return { store, audit: join(store, 'audit.jsonl') };
}

// A kernel on `store` whose process opens the log, runs an agent writing memory, and is SIGKILLed mid-run.
function crashingKernel(store: string, audit: string): string {
  return `
    const { Kernel } = await import(${JSON.stringify(ENTRY)});
    const kernel = Kernel.create({ store: ${JSON.stringify(store)}, isolation: 'inline', audit: { file: ${JSON.stringify(audit)} } });
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300);
    await kernel.run({ code: 'export default async () => { for (;;) await sys.mem.put("k", 1); }' });`;
}

// Opens the store in a fresh kernel; what it says, or why it could not.
async function reopen(store: string, audit: string): Promise<{ opened: boolean; reason?: string; recover?: string }> {
  let kernel: Kernel;
  try {
    kernel = Kernel.create({ store, isolation: 'inline', audit: { file: audit } });
  } catch (error) {
    return { opened: false, reason: (error as { reason?: string }).reason ?? String(error) };
  }
  try {
    const recover = kernel.audit.records({ limit: 10_000 }).find((record) => record.action === 'audit.recover');
    return { opened: true, recover: recover?.resource ?? '' };
  } finally {
    await kernel.close();
  }
}

async function crash(store: string, audit: string): Promise<string> {
  const run = await runNode([...NODE_ARGS, crashingKernel(store, audit)], { cwd: CWD, timeoutMs: 60_000 });
  expect(run.signal, run.stderr).toBe('SIGKILL');
  return readFileSync(`${audit}.lock`, 'utf8');
}

// What the lock would be had the dead writer's pid been `pid` (as after a restart in a container, or any reuse).
function withPid(lock: string, pid: number): string {
  return lock.replace(/^[0-9]+/, String(pid));
}

const UNSHARE =
  process.platform === 'linux' &&
  spawnSync('unshare', ['-pf', '--mount-proc', 'true'], { stdio: 'ignore', timeout: 10_000 }).status === 0;

describe('an audit lock left by a killed kernel whose pid is in use again', () => {
  it("a restart with the dead writer's pid (pid 1 of a container again) opens the log and records the unclean end", async () => {
    const { store, audit } = freshStore();
    const lock = await crash(store, audit);
    // The restarted kernel is the process the lock names: before, "locked by running process" for ever.
    writeFileSync(`${audit}.lock`, withPid(lock, process.pid));
    const reopened = await reopen(store, audit);
    expect(reopened).toMatchObject({ opened: true });
    expect(reopened.recover).toMatch(new RegExp(`^the writer \\(pid ${process.pid}\\) ended without closing the log`));
  }, 60_000);

  it('a lock naming a live process that is not its writer (the pid reused by another program) is stale', async () => {
    const { store, audit } = freshStore();
    const lock = await crash(store, audit);
    // Our parent (the test runner) is running and never wrote the lock; before, it kept the log locked.
    writeFileSync(`${audit}.lock`, withPid(lock, process.ppid));
    expect(await reopen(store, audit)).toMatchObject({ opened: true });
  }, 60_000);

  it('a lock in the old format naming this process, which does not hold it, is stale', async () => {
    const { store, audit } = freshStore();
    await crash(store, audit);
    writeFileSync(`${audit}.lock`, `${process.pid}\n`);
    expect(await reopen(store, audit)).toMatchObject({ opened: true });
  }, 60_000);

  it('two live writers on one log are still refused, in one process and across processes', async () => {
    const { store, audit } = freshStore();
    const first = Kernel.create({ store, isolation: 'inline', audit: { file: audit } });
    try {
      expect(() => Kernel.create({ store, isolation: 'inline', audit: { file: audit } })).toThrow(
        expect.objectContaining({ reason: 'locked' }),
      );
    } finally {
      await first.close();
    }
    const { store: other, audit: otherAudit } = freshStore();
    const child = spawn(
      process.execPath,
      [
        ...NODE_ARGS,
        `const { Kernel } = await import(${JSON.stringify(ENTRY)});
         Kernel.create({ store: ${JSON.stringify(other)}, isolation: 'inline', audit: { file: ${JSON.stringify(otherAudit)} } });
         console.log('opened'); setTimeout(() => {}, 60_000);`,
      ],
      { cwd: CWD, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          if (chunk.includes('opened')) resolve();
        });
        child.once('exit', () => reject(new Error('the writer exited')));
      });
      expect(await reopen(other, otherAudit)).toEqual({ opened: false, reason: 'locked' });
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  // Each kernel below is pid 1 of a fresh pid namespace, as a container's entrypoint is; `body` runs once it opened.
  const inNamespace = (store: string, audit: string, body: string, onOpen?: () => void) =>
    new Promise<{ out: string; signal: NodeJS.Signals | null }>((resolve) => {
      const script = `const { Kernel } = await import(${JSON.stringify(ENTRY)});
       const ns = (await import('node:fs')).readlinkSync('/proc/self/ns/pid');
       let kernel;
       try {
         kernel = Kernel.create({ store: ${JSON.stringify(store)}, isolation: 'inline', audit: { file: ${JSON.stringify(audit)} } });
       } catch (error) {
         console.log(JSON.stringify({ opened: false, pid: process.pid, reason: error.reason, ns }));
         process.exit(0);
       }
       console.log(JSON.stringify({ opened: true, pid: process.pid, ns }));
       ${body}`;
      const child = spawn('unshare', ['-pf', '--kill-child', '--mount-proc', process.execPath, ...NODE_ARGS, script], {
        cwd: CWD,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) onOpen?.();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (_code, signal) => {
        clearTimeout(timer);
        resolve({ out, signal });
      });
      stop.push(() => child.kill('SIGKILL'));
    });
  const stop: (() => void)[] = [];
  afterAll(() => {
    for (const kill of stop) kill();
  });
  const parsed = (out: string): Record<string, unknown> => JSON.parse(out.trim().split('\n')[0] ?? '{}');
  /** What the kernel in the namespace printed first, without the namespace's name (`nsOf`). */
  const firstLine = (out: string): unknown => {
    const { ns: _ns, ...rest } = parsed(out);
    return rest;
  };
  const nsOf = (out: string): unknown => parsed(out)['ns'];

  // The attack as it happens: the kernel of a container is killed as pid 1, and the container restarts (a new pid
  // namespace, pid 1 again). Pids of two namespaces cannot be compared, so the dead writer's lock holds for its lease
  // (15 s since it was last renewed) and is stale after it.
  it.runIf(UNSHARE)(
    'a kernel killed as pid 1 of a pid namespace, restarted as pid 1 of a new one, opens its log once the lease ran out',
    async () => {
      const { store, audit } = freshStore();
      // Pid 1 of a namespace cannot SIGKILL itself: the kernel aborts instead (what an agent's V8 abort does).
      const first = await inNamespace(
        store,
        audit,
        `setTimeout(() => process.abort(), 300);
        await kernel.run({ code: 'export default async () => { for (;;) await sys.mem.put("k", 1); }' });`,
      );
      expect(firstLine(first.out)).toEqual({ opened: true, pid: 1 });
      expect(readFileSync(`${audit}.lock`, 'utf8')).toMatch(/^1\b/);
      // Restarted at once: the lock's lease (renewed by a live writer every few seconds) has not run out. (Its mtime
      // is set to now: on a loaded machine the abort's core dump alone can outlast the lease.)
      const now = new Date();
      utimesSync(`${audit}.lock`, now, now);
      const deadLock = readFileSync(`${audit}.lock`, 'utf8');
      const early = await inNamespace(store, audit, 'await kernel.close();');
      // A new namespace may get the dead one's number (nsfs reuses it once a namespace is freed; a CI run met it twice
      // in a row on Node 24): the kernel then judges the lock as its own namespace's, by pid, and rightly finds the
      // writer gone, since every process of the old namespace died with it.
      const reused = nsOf(early.out) === nsOf(first.out);
      expect(firstLine(early.out)).toEqual(
        reused ? { opened: true, pid: 1 } : { opened: false, pid: 1, reason: 'locked' },
      );
      // Restarted later: the dead writer renewed nothing for longer than the lease. Before the pid namespace was
      // recorded, and before the lock named its writer at all, { opened: false, pid: 1, reason: 'locked' } for ever.
      // A kernel that opened the log above closed it, taking its lock away: the dead writer's is put back.
      if (reused) writeFileSync(`${audit}.lock`, deadLock);
      const past = new Date(Date.now() - 60_000);
      utimesSync(`${audit}.lock`, past, past);
      const second = await inNamespace(store, audit, 'await kernel.close();');
      expect(firstLine(second.out)).toEqual({ opened: true, pid: 1 });
    },
    120_000,
  );

  // Two containers sharing the store's directory, each running its kernel as pid 1: the second must not take the
  // first's lock because its pid is its own. (Right after the lock named its writer instance, the second judged the
  // lock "this process's, not held" and took it over: two writers on one log.)
  it.runIf(UNSHARE)(
    'two live kernels, each pid 1 of its own pid namespace, on one log: the second is refused',
    async () => {
      const { store, audit } = freshStore();
      let opened!: () => void;
      const ready = new Promise<void>((resolve) => {
        opened = resolve;
      });
      const first = inNamespace(store, audit, 'setTimeout(() => {}, 60_000);', () => opened());
      await ready;
      const second = await inNamespace(store, audit, 'await kernel.close();');
      expect(firstLine(second.out)).toEqual({ opened: false, pid: 1, reason: 'locked' });
      expect(readFileSync(`${audit}.lock`, 'utf8')).toMatch(/^1\b/);
      for (const kill of stop.splice(0)) kill();
      expect(firstLine((await first).out)).toEqual({ opened: true, pid: 1 });
    },
    120_000,
  );
});
