import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel } from '../../../index.js';
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

describe('records a tool writes about its effect', () => {
  it('a vault injection is with the OS before the tool that carries it runs', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, 'audit.jsonl');
    // What the file holds when the tool starts: the call's intent and the record of the secret it carries.
    let onDisk: string[] = [];
    const api = defineTool({
      name: 'api.call',
      description: 'calls an API with the key the vault injects',
      input: z.strictObject({ url: z.string() }),
      target: 'url',
      resource: ({ url }) => url,
      run: (_args, ctx) => {
        onDisk = readFileSync(file, 'utf8')
          .split('\n')
          .filter((line) => line !== '')
          .map((line) => `${JSON.parse(line).action}/${JSON.parse(line).phase}`);
        return Object.keys(ctx.inject.headers);
      },
    });
    const bind = { action: 'api.call', resource: 'https://api.example.com/**' };
    const kernel = Kernel.create({
      audit: { file, fsync: 'interval' },
      tools: [api],
      policy: { capabilities: [bind] },
    });
    try {
      kernel.vault.set('key', 'S3CRET-4711', { bind, inject: { header: 'X-Api-Key' } });
      const result = await kernel.run({
        code: `export default async () => sys.tool('api.call', { url: 'https://api.example.com/v1' })`,
      });
      expect(result.ok ? result.value : result.error).toEqual(['x-api-key']);
      // Before review 84 the vault.inject record waited in the process while the secret went out.
      expect(onDisk).toEqual(expect.arrayContaining(['api.call/intent', 'vault.inject/intent']));
    } finally {
      await kernel.close();
    }
  });
});
