import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Attempt } from '../../../runtime/audit/attempt.js';
import { AuditLog, type AuditSink } from '../../../runtime/audit/audit-log.js';
import { AuditFileStore } from '../../../runtime/audit/file-store.js';
import { KernelError } from '../../../runtime/core/errors.js';
import { cleanup, KERNEL_KEY, tempDir } from '../../helpers/audit-log.js';

const subject = { id: 'agent-1', namespace: 'ns', parent: null };
const dirs: string[] = [];
const logs: AuditLog[] = [];
afterEach(() => {
  for (const log of logs.splice(0)) log.close();
  for (const dir of dirs.splice(0)) cleanup(dir);
});

// A file log with the CLI's policy: records wait in the process until the store writes them.
function fileLog(): { log: AuditLog; bytes: () => number } {
  const dir = tempDir();
  dirs.push(dir);
  const path = join(dir, 'audit.jsonl');
  const log = new AuditLog({
    key: KERNEL_KEY,
    sink: AuditFileStore.open(path, { fsync: 'interval', intervalMs: 60_000 }),
  });
  logs.push(log);
  return { log, bytes: () => statSync(path).size };
}

describe('Attempt', () => {
  it('hands its intent to the OS before the effect: begin writes what the store buffered', () => {
    const { log, bytes } = fileLog();
    const before = bytes();
    const attempt = new Attempt(log, subject, 'tool', { path: '/a' });
    attempt.describe('fs.write', '/a', { path: '/a' });
    attempt.begin();
    const written = bytes();
    expect(written).toBeGreaterThan(before);
    // The outcome is not an intent: it waits for the store's next write, as every record did before.
    attempt.end(null, { tool_calls: 1 });
    expect(bytes()).toBe(written);
    expect(log.size).toBe(2);
  });

  it('does not write ahead of time for a call refused before its effect', () => {
    const { log, bytes } = fileLog();
    const before = bytes();
    const attempt = new Attempt(log, subject, 'tool', 'payload');
    expect(attempt.end('E_CAP_DENIED')).toBe(1);
    expect(bytes()).toBe(before);
  });

  it('refuses the effect with E_INTERNAL when the intent cannot reach the OS, and the log is failed from then on', () => {
    const sink: AuditSink = {
      appendRecord() {},
      appendCheckpoint() {},
      flush() {
        throw new Error('disk full');
      },
      close() {},
    };
    const log = new AuditLog({ key: KERNEL_KEY, sink });
    const attempt = new Attempt(log, subject, 'tool', null);
    let thrown: unknown;
    try {
      attempt.begin();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(KernelError);
    expect(thrown).toMatchObject({ code: 'E_INTERNAL', message: 'the audit log is unavailable' });
    expect(() => log.beforeEffect()).toThrow(/failed earlier/);
    expect(attempt.end('E_INTERNAL')).toBeNull();
    log.close();
  });
});
