import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../runtime/audit/audit-log.js';
import {
  AuditFileStore,
  AuditStoreError,
  cutTornTail,
  type FsyncPolicy,
  LOCK_LEASE_MS,
  lockPathOf,
} from '../../../runtime/audit/file-store.js';
import { scanLines } from '../../../runtime/audit/lines.js';
import { verifyAuditFile } from '../../../runtime/audit/verify-file.js';
import {
  cleanup,
  fakeClock,
  fillLog,
  KERNEL_KEY,
  KERNEL_KEY_HEX,
  OTHER_KEY,
  tempDir,
  writeLog,
} from '../../helpers/audit-log.js';

const entry = { namespace: 'alpha', agent: 'agent-1', syscall: 'tool', action: 'fs.read', args: { n: 1 } } as const;

const OUR_LOCK = new RegExp(`^${process.pid} (?:[0-9]+|-) (?:[0-9a-f-]+|-) [0-9a-f]{32} (?:[0-9]+|-)\\n$`);
const NONCE = '0'.repeat(32);

// Sets the lock file's mtime `ms` ago (as a writer that last renewed its lease then).
function renewedAgo(lockPath: string, ms: number): void {
  const then = new Date(Date.now() - ms);
  utimesSync(lockPath, then, then);
}

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid!;
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '');
}

describe('audit-store', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => cleanup(dir));

  it('creates a log, writes one canonical line per record, and the verifier accepts it', () => {
    const { path, records, log } = writeLog(dir, 30, { checkpointEvery: 10 });
    const stored = lines(path);
    expect(stored).toHaveLength(records.length);
    expect(stored.map((line) => JSON.parse(line).seq)).toEqual(records.map((r) => r.seq));
    expect(lines(`${path}.checkpoints`).map((line) => JSON.parse(line).size)).toEqual(
      log.checkpoints.map((c) => c.size),
    );
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const report = verifyAuditFile(path, { trustedKeys: [KERNEL_KEY_HEX], requireAnchored: true });
    expect(report).toMatchObject({ ok: true, records: records.length, unanchored: 0, root: log.root() });
  });

  it('resumes seq, namespace chains and the Merkle tree from an existing file', () => {
    const first = writeLog(dir, 20, { checkpointEvery: 8 });
    const store = AuditFileStore.open(first.path, { fsync: 'never' });
    expect(store.recovery).toMatchObject({ created: false, records: first.records.length, tornRecordBytes: 0 });
    const log = new AuditLog({ key: KERNEL_KEY, sink: store, checkpointEvery: 8, clock: fakeClock(2e12) });
    expect(log.size).toBe(first.records.length);
    expect(log.root()).toBe(first.log.root());
    expect(log.checkpoints).toEqual(first.log.checkpoints);
    const more = fillLog(log, 15);
    expect(more[0]!.seq).toBe(first.records.length);
    const lastAlpha = first.records.filter((r) => r.namespace === 'alpha').at(-1)!;
    expect(more.find((r) => r.namespace === 'alpha')!.prev).toBe(lastAlpha.hash);
    const proof = log.prove(3);
    log.close();
    expect(proof.root).toBe(log.root(proof.size));
    const report = verifyAuditFile(first.path, { trustedKeys: [KERNEL_KEY_HEX], requireAnchored: true });
    expect(report).toMatchObject({ ok: true, records: first.records.length + more.length });
  });

  it('signs a fresh checkpoint when reopened with a different interval', () => {
    const first = writeLog(dir, 10, { checkpointEvery: 50 });
    const log = new AuditLog({ key: KERNEL_KEY, sink: AuditFileStore.open(first.path), checkpointEvery: 5 });
    expect(log.latestCheckpoint).toMatchObject({ size: first.records.length, every: 5 });
    fillLog(log, 3);
    log.close();
    expect(verifyAuditFile(first.path, { trustedKeys: [KERNEL_KEY_HEX] }).ok).toBe(true);
  });

  it('recovers from a torn last line: truncates it, keeps everything before, and reports it', () => {
    // A crashed writer: records written one by one, no final checkpoint, lock left behind by a dead pid.
    const { path, records, log } = writeLog(dir, 12, {
      checkpointEvery: 100,
      store: { fsync: 'always' },
      close: false,
    });
    expect(log.latestCheckpoint.size).toBe(0);
    writeFileSync(`${path}.lock`, `${deadPid()}\n`);
    const intact = readFileSync(path);
    appendFileSync(path, '{"action":"fs.wri');
    const store = AuditFileStore.open(path);
    expect(store.recovery).toMatchObject({ tornRecordBytes: 17, records: records.length, created: false });
    expect(readFileSync(path)).toEqual(intact);
    const resumed = new AuditLog({ key: KERNEL_KEY, sink: store, checkpointEvery: 100 });
    expect(resumed.size).toBe(records.length);
    // The resume signs first that it adopted the crashed writer's unsigned records (red-team pass 132).
    expect(resumed.latestCheckpoint).toMatchObject({ size: records.length, adopted: records.length });
    fillLog(resumed, 2);
    resumed.close();
    expect(verifyAuditFile(path, { trustedKeys: [KERNEL_KEY_HEX] })).toMatchObject({
      ok: true,
      adopted: records.length,
      unanchored: 0,
    });
    expect(verifyAuditFile(path, { trustedKeys: [KERNEL_KEY_HEX], requireAnchored: true }).ok).toBe(false);
  });

  it('recovers a torn checkpoint line too', () => {
    const { path } = writeLog(dir, 5, { checkpointEvery: 4 });
    appendFileSync(`${path}.checkpoints`, '{"every":4,"key":"ab');
    const store = AuditFileStore.open(path);
    expect(store.recovery.tornCheckpointBytes).toBe(20);
    store.close();
    expect(verifyAuditFile(path).ok).toBe(true);
  });

  // The file a scan read, as cutTornTail is given it.
  const identity = (path: string) => {
    const { dev, ino } = statSync(path);
    return { dev, ino };
  };

  it('cuts a torn tail only while the file is the size its scan found: grown since, it is refused and left whole', () => {
    // A file that grows between the scan and the cut (a planted symlink to a file another process appends to) was
    // judged and cut by its size at cut time, reading it whole into one buffer however large it had grown.
    const path = join(dir, 'grown.jsonl');
    writeFileSync(path, '{"action":"x');
    appendFileSync(path, Buffer.alloc(8 << 20, 0x61));
    const scan = { file: identity(path), validBytes: 0, tornBytes: 12 };
    expect(() => cutTornTail(path, scan, ['{"action":"'])).toThrow(/changed while the store was opening it/);
    expect(statSync(path).size).toBe(12 + (8 << 20));
    const records = join(dir, 'records.jsonl');
    writeFileSync(records, '{"action":"a"}\n{"action":"b');
    const file = identity(records);
    expect(() => cutTornTail(records, { file, validBytes: 15, tornBytes: 5 }, ['{"action":"'])).toThrow(/changed/);
    expect(readFileSync(records, 'utf8')).toBe('{"action":"a"}\n{"action":"b');
    cutTornTail(records, { file, validBytes: 15, tornBytes: 12 }, ['{"action":"']);
    expect(readFileSync(records, 'utf8')).toBe('{"action":"a"}\n');
    writeFileSync(path, '{"action":"x');
    cutTornTail(path, scan, ['{"action":"']);
    expect(statSync(path).size).toBe(0);
  });

  it('cuts a torn tail only from the file its scan read: one renamed over it since, of the same size, is left whole', () => {
    // Checking the size alone let a file moved into the log's place between the scan and the cut lose its tail.
    const path = join(dir, 'audit.jsonl');
    writeFileSync(path, '{"action":"a"}\n{"action":"b');
    const scan = scanLines(path, 1024, () => true);
    expect(scan).toMatchObject({ lines: 1, validBytes: 15, tornBytes: 12 });
    const other = join(dir, 'other.jsonl');
    writeFileSync(other, '{"action":"c"}\n{"action":"d');
    renameSync(other, path);
    expect(() => cutTornTail(path, scan, ['{"action":"'])).toThrow(/changed while the store was opening it/);
    expect(readFileSync(path, 'utf8')).toBe('{"action":"c"}\n{"action":"d');
    cutTornTail(
      path,
      scanLines(path, 1024, () => true),
      ['{"action":"'],
    );
    expect(readFileSync(path, 'utf8')).toBe('{"action":"c"}\n');
  });

  it('refuses a second writer while the lock is held, in this process or another', async () => {
    const path = join(dir, 'audit.jsonl');
    const store = AuditFileStore.open(path);
    expect(readFileSync(`${path}.lock`, 'utf8')).toMatch(OUR_LOCK);
    expect(() => AuditFileStore.open(path)).toThrow(AuditStoreError);
    try {
      AuditFileStore.open(path);
    } catch (error) {
      expect(error).toMatchObject({ reason: 'locked' });
    }
    store.close();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      writeFileSync(`${path}.lock`, `${child.pid}\n`);
      expect(() => AuditFileStore.open(path)).toThrow(/locked by running process/);
    } finally {
      child.kill();
    }
    writeFileSync(`${path}.lock`, 'garbage');
    expect(() => AuditFileStore.open(path)).toThrow(/does not hold a pid/);
    unlinkSync(`${path}.lock`);
    AuditFileStore.open(path).close();
  });

  // Red-team pass 132: the lock was `${path}.lock` by path string, so a second writer opening the log through a
  // symlink took another lock and the two interleaved their writes.
  it('takes one lock for every symlinked alias of the log, whether the file exists yet or not', () => {
    const path = join(dir, 'audit.jsonl');
    const fileAlias = join(dir, 'alias.jsonl');
    const dirAlias = join(dir, 'alias-dir');
    // Dangling while the log does not exist yet.
    symlinkSync(path, fileAlias);
    symlinkSync(dir, dirAlias);
    const viaAlias = AuditFileStore.open(fileAlias);
    expect(viaAlias.lockPath).toBe(`${realpathSync(dir)}/audit.jsonl.lock`);
    expect(() => AuditFileStore.open(path)).toThrow(expect.objectContaining({ reason: 'locked' }));
    expect(() => AuditFileStore.open(join(dirAlias, 'audit.jsonl'))).toThrow(
      expect.objectContaining({ reason: 'locked' }),
    );
    expect(existsSync(`${fileAlias}.lock`)).toBe(false);
    new AuditLog({ key: KERNEL_KEY, sink: viaAlias, clock: fakeClock() }).close();
    expect(existsSync(`${path}.lock`)).toBe(false);
    // The log exists now; through the real path first, then each alias.
    const real = AuditFileStore.open(path);
    expect(() => AuditFileStore.open(fileAlias)).toThrow(expect.objectContaining({ reason: 'locked' }));
    expect(() => AuditFileStore.open(join(dirAlias, 'alias.jsonl'))).toThrow(
      expect.objectContaining({ reason: 'locked' }),
    );
    real.close();
    // A chain of links resolves too; a loop is an fs error, not a lock of its own.
    const second = join(dir, 'second.jsonl');
    symlinkSync(fileAlias, second);
    const chained = AuditFileStore.open(second);
    expect(chained.lockPath).toBe(`${realpathSync(path)}.lock`);
    chained.close();
    symlinkSync(join(dir, 'loop-b'), join(dir, 'loop-a'));
    symlinkSync(join(dir, 'loop-a'), join(dir, 'loop-b'));
    expect(() => AuditFileStore.open(join(dir, 'loop-a'))).toThrow(expect.objectContaining({ code: 'ELOOP' }));
  });

  // Red-team pass 135: `..` was removed by string before the links were followed (path.resolve, JS realpath), where
  // the system follows the link first: `a/link/../audit.jsonl` with link -> other/sub opens other/audit.jsonl, and
  // took the lock a/audit.jsonl.lock, so two writers appended to one log.
  it('takes the lock of the file the system opens when `..` follows a symlink, existing or not, relative or not', () => {
    const real = realpathSync(dir);
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'other', 'sub'), { recursive: true });
    symlinkSync(join(dir, 'other', 'sub'), join(dir, 'a', 'link'));
    const alias = `${dir}/a/link/../audit.jsonl`;
    const path = join(dir, 'other', 'audit.jsonl');
    expect(lockPathOf(alias)).toBe(`${real}/other/audit.jsonl.lock`);
    // Not there yet: opened through the alias, the log is other/audit.jsonl, and its lock refuses the real path.
    const viaAlias = AuditFileStore.open(alias);
    expect(viaAlias.lockPath).toBe(`${real}/other/audit.jsonl.lock`);
    expect(() => AuditFileStore.open(path)).toThrow(expect.objectContaining({ reason: 'locked' }));
    new AuditLog({ key: KERNEL_KEY, sink: viaAlias, clock: fakeClock() }).close();
    expect(existsSync(path)).toBe(true);
    expect(existsSync(join(dir, 'a', 'audit.jsonl'))).toBe(false);
    // There: the real path first, then the alias.
    const store = AuditFileStore.open(path);
    expect(() => AuditFileStore.open(alias)).toThrow(expect.objectContaining({ reason: 'locked' }));
    store.close();
    // Relative to the current directory, and through a dangling link whose relative target holds `..` after a link.
    const cwd = process.cwd();
    try {
      process.chdir(join(dir, 'a'));
      expect(lockPathOf('link/../audit.jsonl')).toBe(`${real}/other/audit.jsonl.lock`);
    } finally {
      process.chdir(cwd);
    }
    symlinkSync('link/../new.jsonl', join(dir, 'a', 'dangling.jsonl'));
    expect(lockPathOf(join(dir, 'a', 'dangling.jsonl'))).toBe(`${real}/other/new.jsonl.lock`);
  });

  // Red-team pass 135: the lock was read whole with readFileSync, following symlinks (a link to /dev/zero was read
  // until the process aborted). It is read only when a regular file of at most 256 bytes (a lock is at most 151).
  it('never reads a lock that is a symlink or longer than a lock can be: refused as unreadable', () => {
    const path = join(dir, 'audit.jsonl');
    const lock = `${realpathSync(dir)}/audit.jsonl.lock`;
    // Even a link to a lock that would read as stale: the kernel never makes one.
    writeFileSync(join(dir, 'elsewhere.lock'), `${deadPid()}\n`);
    symlinkSync(join(dir, 'elsewhere.lock'), lock);
    expect(() => AuditFileStore.open(path)).toThrow(/does not hold a pid/);
    unlinkSync(lock);
    writeFileSync(lock, `${deadPid()}\n${' '.repeat(300)}`);
    expect(() => AuditFileStore.open(path)).toThrow(/does not hold a pid/);
    unlinkSync(lock);
    // The longest lock this module writes still reads, and as stale when its writer is gone.
    writeFileSync(lock, `${deadPid()} ${'9'.repeat(20)} ${'f'.repeat(64)} ${NONCE} ${'9'.repeat(20)}\n`);
    // (Of another boot: a lease, run out.)
    renewedAgo(lock, LOCK_LEASE_MS + 1_000);
    const store = AuditFileStore.open(path);
    expect(store.recovery.staleLockPid).not.toBeNull();
    store.close();
  });

  it('takes over a stale lock left by a dead process', () => {
    const { path } = writeLog(dir, 3);
    const pid = deadPid();
    writeFileSync(`${path}.lock`, `${pid}\n`);
    const store = AuditFileStore.open(path);
    expect(store.recovery.staleLockPid).toBe(pid);
    expect(readFileSync(`${path}.lock`, 'utf8')).toMatch(OUR_LOCK);
    store.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it.runIf(process.platform === 'linux')(
    'names the writer by pid, start time, boot id, a nonce and pid namespace, and tells a reused pid from its writer',
    async () => {
      const { path } = writeLog(dir, 3);
      const store = AuditFileStore.open(path);
      const lock = readFileSync(`${path}.lock`, 'utf8');
      store.close();
      const [, start, boot, , ns] = lock.trim().split(' ');
      expect(ns).toBe(/^pid:\[([0-9]+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1]);
      // This process, another start time or another boot: not this process's lock (a crashed writer with our pid).
      writeFileSync(`${path}.lock`, lock);
      let reopened = AuditFileStore.open(path);
      expect(reopened.recovery.staleLockPid).toBe(process.pid);
      reopened.close();
      // A running process that is not the writer: its start time differs (its pid was reused).
      writeFileSync(`${path}.lock`, lock.replace(/^[0-9]+/, String(process.ppid)));
      reopened = AuditFileStore.open(path);
      expect(reopened.recovery.staleLockPid).toBe(process.ppid);
      reopened.close();
      // The writer itself, running: held, whatever its lock's nonce.
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        await new Promise((resolve) => child.once('spawn', resolve));
        const childStart = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19];
        writeFileSync(`${path}.lock`, `${child.pid} ${childStart} ${boot} ${NONCE} ${ns}\n`);
        expect(() => AuditFileStore.open(path)).toThrow(/locked by running process/);
        // The same pid and start time, another boot (the system rebooted since, or another host): the pid means
        // nothing here, the lease decides. Renewed just now: held; not renewed for the lease: stale.
        const otherBoot = `${child.pid} ${childStart} 00000000-0000-0000-0000-000000000000 ${NONCE} ${ns}\n`;
        writeFileSync(`${path}.lock`, otherBoot);
        expect(() => AuditFileStore.open(path)).toThrow(/locked by process [0-9]+ of another pid namespace or boot/);
        renewedAgo(`${path}.lock`, LOCK_LEASE_MS + 1000);
        AuditFileStore.open(path).close();
        // Without /proc's facts, on Linux (no namespace recorded: pids may be another namespace's): the lease too.
        writeFileSync(`${path}.lock`, `${child.pid} - - ${NONCE} -\n`);
        expect(() => AuditFileStore.open(path)).toThrow(/another pid namespace/);
        // A lock written before namespaces were recorded (four fields): the lease too.
        writeFileSync(`${path}.lock`, `${child.pid} ${childStart} ${boot} ${NONCE}\n`);
        expect(() => AuditFileStore.open(path)).toThrow(/another pid namespace/);
        renewedAgo(`${path}.lock`, LOCK_LEASE_MS + 1000);
        AuditFileStore.open(path).close();
      } finally {
        child.kill();
      }
      expect(start).toMatch(/^[0-9]+$/);
      expect(existsSync(`${path}.lock`)).toBe(false);
      // The lock this process holds refuses a second open here, and is released only by its own store.
      const held = AuditFileStore.open(path);
      expect(() => AuditFileStore.open(path)).toThrow(/locked by this process/);
      held.close();
      expect(existsSync(`${path}.lock`)).toBe(false);
    },
  );

  // Two containers sharing the log's directory, each running its kernel as pid 1: a lock naming this very pid in
  // another pid namespace is another process's. Judged by pid it was "this process's, not held", taken over, and two
  // writers appended to one log. It is a lease: held while renewed, stale once not renewed for LOCK_LEASE_MS (as
  // after a crash and a restart of the container, which makes a new pid namespace).
  it.runIf(process.platform === 'linux')(
    'judges a lock from another pid namespace by its lease, even one naming this pid',
    () => {
      const { path } = writeLog(dir, 3);
      const lockPath = `${path}.lock`;
      const store = AuditFileStore.open(path);
      const [, start, boot, , ns] = readFileSync(lockPath, 'utf8').trim().split(' ');
      store.close();
      const otherNs = String(Number(ns) + 1);
      for (const pid of [process.pid, deadPid()]) {
        writeFileSync(lockPath, `${pid} ${start} ${boot} ${NONCE} ${otherNs}\n`);
        renewedAgo(lockPath, 2_000);
        expect(() => AuditFileStore.open(path)).toThrow(
          expect.objectContaining({ reason: 'locked', message: expect.stringMatching(/another pid namespace/) }),
        );
        expect(readFileSync(lockPath, 'utf8')).toContain(NONCE);
        // A renewal further in the future than the lease was not made by this clock: it does not hold for ever.
        renewedAgo(lockPath, -(LOCK_LEASE_MS + 60_000));
        let reopened = AuditFileStore.open(path);
        reopened.close();
        writeFileSync(lockPath, `${pid} ${start} ${boot} ${NONCE} ${otherNs}\n`);
        renewedAgo(lockPath, LOCK_LEASE_MS + 1000);
        reopened = AuditFileStore.open(path);
        expect(reopened.recovery.staleLockPid).toBe(pid);
        expect(readFileSync(lockPath, 'utf8')).toMatch(OUR_LOCK);
        reopened.close();
      }
    },
  );

  it('renews its lock while open, and fails once the lock is no longer its own', async () => {
    const { path } = writeLog(dir, 3);
    const lockPath = `${path}.lock`;
    const store = AuditFileStore.open(path, { lockRefreshMs: 20 });
    try {
      renewedAgo(lockPath, 60_000);
      await sleep(150);
      expect(Date.now() - statSync(lockPath).mtimeMs).toBeLessThan(5_000);
      store.flush();
      // Taken over (its lease ran out while this process stalled) or removed: the store stops appending.
      const other = readFileSync(lockPath, 'utf8').replace(/[0-9a-f]{32}/, NONCE);
      writeFileSync(lockPath, other);
      await sleep(150);
      expect(() => store.flush()).toThrow(/failed earlier/);
      expect(store.failure).toMatchObject({ reason: 'locked' });
    } finally {
      store.close();
    }
    // Closing leaves the lock it does not hold.
    expect(readFileSync(lockPath, 'utf8')).toContain(NONCE);
    expect(() => AuditFileStore.open(path, { lockRefreshMs: 5 })).toThrow(RangeError);
  });

  it('refuses to resume a log that does not verify, and releases the lock', () => {
    const { path } = writeLog(dir, 10, { checkpointEvery: 4 });
    const original = readFileSync(path, 'utf8');
    writeFileSync(path, original.replace('"agent":"agent-1"', '"agent":"agent-9"'));
    expect(() => AuditFileStore.open(path)).toThrow(expect.objectContaining({ reason: 'corrupt', seq: 1 }));
    expect(existsSync(`${path}.lock`)).toBe(false);
    writeFileSync(path, original.split('\n').slice(0, 5).join('\n') + '\n');
    expect(() => AuditFileStore.open(path)).toThrow(/truncated/);
    writeFileSync(path, original);
    unlinkSync(`${path}.checkpoints`);
    expect(() => AuditFileStore.open(path)).toThrow(/no signed checkpoint/);
  });

  it('refuses checkpoints without a records file, and checkpoints from an untrusted key when pinned', () => {
    const { path } = writeLog(dir, 4);
    const records = readFileSync(path);
    unlinkSync(path);
    expect(() => AuditFileStore.open(path)).toThrow(/missing/);
    writeFileSync(path, records);
    expect(() => AuditFileStore.open(path, { trustedKeys: [OTHER_KEY.publicKey] })).toThrow(/untrusted key/);
    AuditFileStore.open(path, { trustedKeys: [KERNEL_KEY.publicKey] }).close();
  });

  it.each<FsyncPolicy>(['always', 'interval', 'never'])(
    'fsync policy %s writes every record and verifies',
    async (fsync) => {
      const path = join(dir, 'audit.jsonl');
      const store = AuditFileStore.open(path, { fsync, intervalMs: 20 });
      const log = new AuditLog({ key: KERNEL_KEY, sink: store, checkpointEvery: 16 });
      log.intent(entry);
      if (fsync === 'always') {
        expect(lines(path)).toHaveLength(1);
      } else {
        expect(existsSync(path) ? lines(path) : []).toHaveLength(0);
        expect(store.pendingBytes).toBeGreaterThan(0);
        // The store's own timer writes the buffer (and, for 'interval', syncs); poll so a loaded machine cannot flake.
        for (let waited = 0; store.pendingBytes > 0 && waited < 5000; waited += 20) await sleep(20);
        expect(lines(path)).toHaveLength(1);
        expect(store.pendingBytes).toBe(0);
      }
      fillLog(log, 20);
      log.close();
      expect(store.failure).toBeUndefined();
      expect(lines(path)).toHaveLength(log.size);
      expect(verifyAuditFile(path, { trustedKeys: [KERNEL_KEY_HEX], requireAnchored: true }).ok).toBe(true);
    },
  );

  it('interval: the timer syncs off the event loop; closing mid-sync leaves a log that reopens, verifies and leaks no descriptor', async () => {
    const path = join(dir, 'audit.jsonl');
    const openFds = (): number => readdirSync('/proc/self/fd').length;
    const before = openFds();
    for (let round = 0; round < 20; round += 1) {
      const store = AuditFileStore.open(path, { fsync: 'interval', intervalMs: 1 });
      const log = new AuditLog({ key: KERNEL_KEY, sink: store, checkpointEvery: 16 });
      // Appends between timer ticks, so some closes land while a background fdatasync is running.
      for (let i = 0; i < 5; i += 1) {
        fillLog(log, 3);
        await sleep(round % 3);
      }
      log.close();
      expect(store.failure).toBeUndefined();
    }
    expect(verifyAuditFile(path, { trustedKeys: [KERNEL_KEY_HEX], requireAnchored: true }).ok).toBe(true);
    for (let waited = 0; openFds() > before && waited < 5000; waited += 20) await sleep(20);
    expect(openFds()).toBe(before);
  });

  it('writes buffered records once bufferBytes are pending, and before any checkpoint', () => {
    const path = join(dir, 'audit.jsonl');
    const store = AuditFileStore.open(path, { fsync: 'interval', intervalMs: 60_000, bufferBytes: 2000 });
    const log = new AuditLog({ key: KERNEL_KEY, sink: store, checkpointEvery: 1000 });
    for (let i = 0; i < 3; i += 1) log.intent(entry);
    expect(lines(path)).toHaveLength(0);
    for (let i = 0; i < 5; i += 1) log.intent(entry);
    expect(lines(path).length).toBeGreaterThan(0);
    log.checkpoint();
    expect(lines(path)).toHaveLength(log.size);
    store.sync();
    log.close();
  });

  it('validates its arguments', () => {
    const path = join(dir, 'audit.jsonl');
    expect(() => AuditFileStore.open('')).toThrow(TypeError);
    expect(() => AuditFileStore.open(path, { fsync: 'sometimes' as never })).toThrow(/fsync/);
    expect(() => AuditFileStore.open(path, { intervalMs: 0 })).toThrow(RangeError);
    expect(() => AuditFileStore.open(path, { bufferBytes: 1.5 })).toThrow(/bufferBytes/);
    expect(() => AuditFileStore.open(path, { checkpointPath: path })).toThrow(/checkpointPath/);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('rejects use after close', () => {
    const path = join(dir, 'audit.jsonl');
    const store = AuditFileStore.open(path);
    store.close();
    store.close();
    expect(() => store.flush()).toThrow(/closed/);
    expect(() => store.appendRecord({} as never, '{}')).toThrow(/closed/);
  });
});
