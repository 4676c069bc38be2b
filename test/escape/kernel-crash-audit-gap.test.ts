// Attack: erase one's trail by the kernel's crash (red-team pass 80). Under `fsync: 'interval'` (the CLI's) the audit
// log buffers up to 100 ms of records in the kernel's process, while effects are durable at once: a kernel killed
// while an agent wrote files left writes with no intent, and a restart on the same store signed its next checkpoint
// over the shortened log, so `audit verify` passed and nothing showed the gap. The restarted kernel now records, as
// the host, that the last writer ended without closing the log and what it found; and an intent now reaches the OS
// before its effect runs, so no write that happened is missing its intent. The crash runs in a child process.
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createFsTools, Kernel } from '../../index.js';
import { readAuditRecords } from '../helpers/audit-file.js';
import { runNode } from '../helpers/node-process.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const ENTRY = fileURLToPath(new URL('../../index.ts', import.meta.url));

function kernelOn(store: string, root: string) {
  return `
    const { createFsTools, Kernel } = await import(${JSON.stringify(ENTRY)});
    const kernel = Kernel.create({
      store: ${JSON.stringify(store)},
      isolation: 'inline',
      audit: { file: ${JSON.stringify(join(store, 'audit.jsonl'))}, fsync: 'interval' },
      tools: createFsTools({ roots: [${JSON.stringify(root)}] }),
      policy: { capabilities: [{ action: 'fs.write', resource: ${JSON.stringify(`${root}/**`)} }] },
      limits: { wall_ms: 60_000, syscalls: 1_000_000 },
    });`;
}

describe('a kernel killed mid-run, restarted on its store', () => {
  it('the restart records that the last writer ended without closing the log, and what it found', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-crash-gap-'));
    dirs.push(dir);
    const store = join(dir, 'store');
    const root = join(dir, 'root');
    mkdirSync(root);
    // The agent writes files as fast as it can; after 300 ms the kernel's process kills itself mid-run.
    const script = `${kernelOn(store, root)}
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300);
      await kernel.run({
        code: \`export default async (root) => { for (let i = 0; ; i++) await sys.tool('fs.write', { path: root + '/f' + i, content: 'x' }); }\`,
        input: ${JSON.stringify(root)},
      });`;
    const crashed = await runNode(['--no-node-snapshot', '--import', 'tsx', '--input-type=module', '-e', script], {
      timeoutMs: 60_000,
    });
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');

    const kernel = Kernel.create({
      store,
      isolation: 'inline',
      audit: { file: join(store, 'audit.jsonl'), fsync: 'interval' },
      tools: createFsTools({ roots: [root] }),
    });
    // Every write that happened has its intent in the log: an intent reaches the OS before its effect runs, so the
    // process's death cannot take it (before: 20 of 1,010 files had none, their intents buffered in the process).
    const written = readdirSync(root).filter((name) => /^f\d+$/.test(name));
    expect(written.length).toBeGreaterThan(10);
    const intents = new Set(
      readAuditRecords(join(store, 'audit.jsonl'))
        .filter((record) => record.action === 'fs.write' && record.phase === 'intent')
        .map((record) => basename(record.resource ?? '')),
    );
    expect(written.filter((name) => !intents.has(name))).toEqual([]);
    try {
      const recover = kernel.audit.records({ limit: 10_000 }).filter((record) => record.action === 'audit.recover');
      expect(recover.map((record) => [record.agent, record.phase, record.status])).toEqual([
        ['host', 'intent', null],
        ['host', 'outcome', 'ok'],
      ]);
      expect(recover[0]?.resource).toMatch(
        /^the writer \(pid \d+\) ended without closing the log: \d+ records had no checkpoint, \d+ intents no outcome, \d+ torn bytes were dropped$/,
      );
    } finally {
      await kernel.close();
    }
    // A clean close leaves nothing to report: the next restart records nothing new.
    const again = Kernel.create({ store, isolation: 'inline', audit: { file: join(store, 'audit.jsonl') } });
    await again.close();
    const stored = readAuditRecords(join(store, 'audit.jsonl')).filter((record) => record.action === 'audit.recover');
    expect(stored).toHaveLength(2);
  }, 90_000);

  it('a program that kills the kernel leaves the record naming it: what a tool notes before its effect reaches the OS first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-crash-note-'));
    dirs.push(dir);
    const file = join(dir, 'audit.jsonl');
    // The program the agent runs is the effect that kills the kernel: its `proc.program` note, written after the
    // call's own intent and before the program starts, sat in the buffer and died with the process (review 84).
    // Unconfined: a confined program cannot signal the kernel at all (proc-host-reach.test.ts).
    const script = `
      const { createProcTool, Kernel } = await import(${JSON.stringify(ENTRY)});
      const kernel = Kernel.create({
        isolation: 'inline',
        audit: { file: ${JSON.stringify(file)}, fsync: 'interval' },
        tools: [createProcTool({ roots: [${JSON.stringify(dir)}], sandbox: 'off', programs: { kill: { path: '/bin/kill', rest: ['-*', '*'] } } })],
        policy: { capabilities: [{ action: 'proc.exec', resource: '**' }] },
      });
      await kernel.run({ input: String(process.pid), code: "export default async (pid) => { await sys.tool('proc.exec', { program: 'kill', args: ['-9', pid] }); }" });`;
    const crashed = await runNode(['--no-node-snapshot', '--import', 'tsx', '--input-type=module', '-e', script], {
      timeoutMs: 60_000,
    });
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    const records = readAuditRecords(file);
    expect(records.filter((record) => record.action === 'proc.exec' && record.phase === 'intent')).toHaveLength(1);
    const notes = records.filter((record) => record.action === 'proc.program' && record.phase === 'intent');
    expect(notes.map((record) => record.resource)).toEqual([expect.stringMatching(/\/kill$/)]);
  }, 90_000);
});
