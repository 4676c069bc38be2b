// Reversible actions end to end (docs/architecture.md §8): an agent writes and deletes real files through sys.tool, the
// fs tools save the previous content and mode before the effect, and the host undoes the call with
// kernel.rollback(recordId), which re-authorizes the undo under the policy, audits it, refuses a file that
// changed since (unless forced), refuses a second rollback, and never lets a record id near the file system.
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GrantRule, Kernel, type KernelOptions, type Tool } from '../../index.js';
import { createFsTools } from '../../tools/fs.js';
import { readAuditRecords } from '../helpers/audit-log.js';

let base = '';
let root = '';
const kernels: Kernel[] = [];
/** How many times a tool's undo ran (every kernel in a test shares the counter). */
let undoCalls = 0;

beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'isokernel-rollback-')));
  root = join(base, 'root');
  mkdirSync(root);
  undoCalls = 0;
});

afterEach(async () => {
  for (const kernel of kernels.splice(0)) await kernel.close();
  rmSync(base, { recursive: true, force: true });
});

/** The fs tools over `root`, with every undo counted. */
function fsTools(): Tool[] {
  return createFsTools({ roots: [root] }).map((tool) => {
    const undo = tool.undo;
    if (undo === undefined) return tool;
    return {
      ...tool,
      undo: (data: unknown, uctx: Parameters<typeof undo>[1]) => {
        undoCalls++;
        return undo(data, uctx);
      },
    };
  });
}

const rule = (action: string): { action: string; resource: string } => ({ action, resource: `${root}/**` });
/** A policy for the host and every agent: all of fs on the root. */
const fullPolicy = () => ({ capabilities: ['fs.read', 'fs.write', 'fs.delete', 'fs.list'].map(rule) });

/** A kernel with the fs tools on the test's root and a policy allowing all of fs there. */
function fsKernel(options: Omit<KernelOptions, 'tools'> = {}): Kernel {
  const kernel = Kernel.create({ policy: fullPolicy(), ...options, tools: fsTools() });
  kernels.push(kernel);
  return kernel;
}

/** Runs an agent that makes one fs call and returns its result (the call's code on failure). */
async function agentCall(
  kernel: Kernel,
  tool: 'fs.write' | 'fs.delete',
  args: Record<string, unknown>,
  extra: { caps?: GrantRule[]; label?: string[] } = {},
): Promise<{ path: string; recordId: string }> {
  const result = await kernel.run({
    code: `export default async (input) => await sys.tool(input.tool, input.args)`,
    input: { tool, args },
    ...(extra.caps === undefined ? {} : { caps: extra.caps }),
    ...(extra.label === undefined ? {} : { label: extra.label }),
  });
  if (!result.ok) throw new Error(`agent failed: ${result.error.code} ${result.error.message}`);
  const value = result.value as { path: string; recordId: string };
  expect(value.recordId).toMatch(/^u_[0-9a-f]{32}$/);
  return value;
}

const file = (name: string) => join(root, name);
const read = (name: string) => readFileSync(file(name), 'utf8');
const mode = (name: string) => statSync(file(name)).mode & 0o777;

/** Every file below `dir` with its size and mtime: proof that nothing was touched. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      const stats = statSync(path);
      return `${path} ${stats.size} ${stats.mtimeMs} ${stats.mode}`;
    })
    .sort();
}

describe('rollback undoes an agent’s fs.write and fs.delete', () => {
  it('restores the previous content and mode of an overwritten file', async () => {
    writeFileSync(file('notes.txt'), 'original');
    chmodSync(file('notes.txt'), 0o640);
    const kernel = fsKernel();
    const { recordId, path } = await agentCall(kernel, 'fs.write', { path: 'notes.txt', content: 'clobbered' });
    expect(path).toBe(file('notes.txt'));
    expect(read('notes.txt')).toBe('clobbered');

    expect(await kernel.rollback(recordId)).toMatchObject({ status: 'OK', error: null });
    expect(read('notes.txt')).toBe('original');
    expect(mode('notes.txt')).toBe(0o640);
    expect(undoCalls).toBe(1);
  });

  it('deletes a file the write created', async () => {
    const kernel = fsKernel();
    const { recordId } = await agentCall(kernel, 'fs.write', { path: 'new.txt', content: 'fresh' });
    expect(read('new.txt')).toBe('fresh');
    expect(await kernel.rollback(recordId)).toMatchObject({ status: 'OK' });
    expect(readdirSync(root)).toEqual([]);
  });

  it('brings back a deleted file with its content and mode, and a deleted empty directory', async () => {
    writeFileSync(file('keep.bin'), Buffer.from([0, 1, 2, 255]));
    chmodSync(file('keep.bin'), 0o600);
    mkdirSync(file('empty'), { mode: 0o750 });
    chmodSync(file('empty'), 0o750);
    const kernel = fsKernel();
    const deletedFile = await agentCall(kernel, 'fs.delete', { path: 'keep.bin' });
    const deletedDir = await agentCall(kernel, 'fs.delete', { path: 'empty' });
    expect(readdirSync(root)).toEqual([]);

    expect(await kernel.rollback(deletedFile.recordId)).toMatchObject({ status: 'OK' });
    expect(await kernel.rollback(deletedDir.recordId)).toMatchObject({ status: 'OK' });
    expect([...readFileSync(file('keep.bin'))]).toEqual([0, 1, 2, 255]);
    expect(mode('keep.bin')).toBe(0o600);
    expect(statSync(file('empty')).isDirectory()).toBe(true);
    expect(mode('empty')).toBe(0o750);
  });

  it('restores the label the file had, so a rollback cannot launder or strand a taint', async () => {
    writeFileSync(file('page.txt'), 'public');
    const kernel = fsKernel();
    const { recordId } = await agentCall(
      kernel,
      'fs.write',
      { path: 'page.txt', content: 'inbox text' },
      { label: ['email'] },
    );
    const labelOfRead = async () => {
      const result = await kernel.run({
        code: `export default async () => { await sys.tool('fs.read', { path: 'page.txt' }); return await sys.label() }`,
      });
      return result.ok ? result.value : result.error.code;
    };
    expect(await labelOfRead()).toEqual(['email']);
    expect(await kernel.rollback(recordId)).toMatchObject({ status: 'OK' });
    expect(await labelOfRead()).toEqual([]);
  });

  it('a rollback its record cannot be marked for changes nothing, and runs once there is room', async () => {
    // Marked after the effect, a record whose tenant had filled its own share of the in-memory store came back
    // ERROR with the file already restored, and stayed unmarked (appliable again).
    writeFileSync(file('notes.txt'), 'original');
    const kernel = fsKernel({ maxHeldBytes: 8 * 1024 * 1024 });
    const filled = await kernel.run({
      namespace: 'mallory',
      code: `export default async () => {
        const { recordId } = await sys.tool('fs.write', { path: 'notes.txt', content: 'clobbered' });
        let n = 0;
        for (const size of [100000, 10000, 1000, 100, 10, 1]) {
          for (;;) { try { await sys.mem.put('f' + n++, 'f'.repeat(size)); } catch (e) { break; } }
        }
        // To the last byte: grow one value a character at a time.
        let length = 100000;
        for (;;) { try { await sys.mem.put('f0', 'f'.repeat(length + 1)); length++; } catch (e) { break; } }
        return recordId;
      }`,
      limits: { syscalls: 100_000, memory_mb: 512 },
    });
    expect(filled.ok, JSON.stringify(filled)).toBe(true);
    const recordId = (filled as { value: string }).value;
    const refused = await kernel.rollback(recordId);
    expect(refused).toMatchObject({ status: 'ERROR', error: { code: 'E_QUOTA' } });
    expect(read('notes.txt')).toBe('clobbered');
    expect((await kernel.undoRecords()).find((record) => record.id === recordId)?.rolledBackAt).toBeUndefined();
    const freed = await kernel.run({ namespace: 'mallory', code: `export default async () => sys.mem.delete('f1')` });
    expect(freed.ok).toBe(true);
    expect(await kernel.rollback(recordId)).toMatchObject({ status: 'OK' });
    expect(read('notes.txt')).toBe('original');
  });

  it('lists the records and marks a rolled-back one', async () => {
    const kernel = fsKernel();
    const { recordId } = await agentCall(kernel, 'fs.write', { path: 'a.txt', content: 'a' });
    const [record] = await kernel.undoRecords();
    expect(record).toMatchObject({ id: recordId, tool: 'fs.write', action: 'fs.delete', resource: file('a.txt') });
    expect(record?.rolledBackAt).toBeUndefined();
    await kernel.rollback(recordId);
    expect((await kernel.undoRecords())[0]?.rolledBackAt).toEqual(expect.any(Number));
  });
});

describe('rollback is re-authorized under the policy', () => {
  // The agent gets its fs rights as its own caps; the host holds only what the policy grants it.
  const agentCaps = (): GrantRule[] => [rule('fs.write'), rule('fs.delete')];

  it('is DENIED when the host holds no fs.write, changes nothing, and works once granted', async () => {
    writeFileSync(file('doc.txt'), 'v1');
    const kernel = fsKernel({ policy: { capabilities: [rule('fs.read')] } });
    const { recordId } = await agentCall(kernel, 'fs.write', { path: 'doc.txt', content: 'v2' }, { caps: agentCaps() });

    const denied = await kernel.rollback(recordId);
    expect(denied).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_DENIED' } });
    expect(denied.error?.message).toContain('fs.write');
    expect(read('doc.txt')).toBe('v2');
    expect(undoCalls).toBe(0);
    // A refusal does not use the record up: it can still be rolled back once the host may.
    kernel.grant(kernel.hostPublicKey, rule('fs.write'));
    expect(await kernel.rollback(recordId)).toMatchObject({ status: 'OK' });
    expect(read('doc.txt')).toBe('v1');
  });

  it('authorizes undoing a creation as fs.delete: fs.write alone is not enough', async () => {
    const kernel = fsKernel({ policy: { capabilities: [rule('fs.write')] } });
    const { recordId } = await agentCall(kernel, 'fs.write', { path: 'made.txt', content: 'x' }, { caps: agentCaps() });
    expect(await kernel.rollback(recordId)).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_DENIED' } });
    expect(read('made.txt')).toBe('x');
  });

  it('is DENIED for a host whose rights cover another directory only', async () => {
    mkdirSync(file('public'));
    mkdirSync(file('private'));
    writeFileSync(file('private/key'), 'k1');
    const kernel = fsKernel({ policy: { capabilities: [{ action: 'fs.write', resource: `${root}/public/**` }] } });
    const { recordId } = await agentCall(kernel, 'fs.delete', { path: 'private/key' }, { caps: agentCaps() });
    expect(await kernel.rollback(recordId)).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_DENIED' } });
    expect(readdirSync(file('private'))).toEqual([]);
  });
});

describe('rollback refuses a file that changed since, unless forced', () => {
  it('refuses an overwrite that was changed again, then force restores it', async () => {
    writeFileSync(file('cfg.json'), '{"v":1}');
    const kernel = fsKernel();
    const { recordId } = await agentCall(kernel, 'fs.write', { path: 'cfg.json', content: '{"v":2}' });
    writeFileSync(file('cfg.json'), '{"v":3}');

    const refused = await kernel.rollback(recordId);
    expect(refused).toMatchObject({ status: 'ERROR', error: { code: 'E_TOOL_FAILED' } });
    expect(refused.error?.message).toMatch(/changed since/);
    expect(read('cfg.json')).toBe('{"v":3}');

    expect(await kernel.rollback(recordId, { force: true })).toMatchObject({ status: 'OK' });
    expect(read('cfg.json')).toBe('{"v":1}');
  });

  it('refuses to delete a created file that was changed, and to restore a deleted one over a new one', async () => {
    writeFileSync(file('gone.txt'), 'old');
    const kernel = fsKernel();
    const created = await agentCall(kernel, 'fs.write', { path: 'made.txt', content: 'mine' });
    const deleted = await agentCall(kernel, 'fs.delete', { path: 'gone.txt' });
    writeFileSync(file('made.txt'), 'someone else');
    writeFileSync(file('gone.txt'), 'replacement');

    for (const id of [created.recordId, deleted.recordId]) {
      expect(await kernel.rollback(id)).toMatchObject({ status: 'ERROR', error: { code: 'E_TOOL_FAILED' } });
    }
    expect(read('made.txt')).toBe('someone else');
    expect(read('gone.txt')).toBe('replacement');

    expect(await kernel.rollback(deleted.recordId, { force: true })).toMatchObject({ status: 'OK' });
    expect(read('gone.txt')).toBe('old');
    expect(await kernel.rollback(created.recordId, { force: true })).toMatchObject({ status: 'OK' });
    expect(readdirSync(root)).toEqual(['gone.txt']);
  });

  it('only `force: true` forces', async () => {
    writeFileSync(file('f.txt'), 'a');
    const kernel = fsKernel();
    const { recordId } = await agentCall(kernel, 'fs.write', { path: 'f.txt', content: 'b' });
    writeFileSync(file('f.txt'), 'c');
    const loose = { force: 'yes' } as unknown as { force: boolean };
    expect(await kernel.rollback(recordId, loose)).toMatchObject({ error: { code: 'E_TOOL_FAILED' } });
    expect(read('f.txt')).toBe('c');
  });
});

describe('a record is rolled back at most once', () => {
  it('refuses a second rollback, forced or not, and leaves the file alone', async () => {
    writeFileSync(file('once.txt'), 'first');
    const kernel = fsKernel();
    const { recordId } = await agentCall(kernel, 'fs.write', { path: 'once.txt', content: 'second' });
    expect(await kernel.rollback(recordId)).toMatchObject({ status: 'OK' });
    writeFileSync(file('once.txt'), 'third');
    for (const force of [false, true]) {
      const again = await kernel.rollback(recordId, { force });
      expect(again).toMatchObject({ status: 'ERROR', error: { code: 'E_NOT_FOUND' } });
      expect(again.error?.message).toMatch(/already rolled back/);
    }
    expect(read('once.txt')).toBe('third');
    expect(undoCalls).toBe(1);
  });

  it('lets exactly one of two concurrent forced rollbacks through', async () => {
    writeFileSync(file('race.txt'), 'first');
    const kernel = fsKernel();
    const { recordId } = await agentCall(kernel, 'fs.write', { path: 'race.txt', content: 'second' });
    const results = await Promise.all([
      kernel.rollback(recordId, { force: true }),
      kernel.rollback(recordId, { force: true }),
    ]);
    expect(results.map((result) => result.status).sort()).toEqual(['ERROR', 'OK']);
    expect(results.find((result) => result.status === 'ERROR')?.error).toMatchObject({
      code: 'E_TOOL_FAILED',
      message: expect.stringMatching(/already being rolled back/),
    });
    expect(undoCalls).toBe(1);
    expect(read('race.txt')).toBe('first');
  });
});

describe('record ids are validated before anything is looked up', () => {
  const hex = 'ab'.repeat(16);
  const malformed: [string, unknown][] = [
    ['a parent-directory path', '../evil'],
    ['a prefixed traversal', 'u_../../x'],
    ['a traversal after a valid id', `u_${hex}/../../x`],
    ['an absolute path', '/etc/passwd'],
    ['the empty string', ''],
    ['a very long id', `u_${'a'.repeat(1_000_000)}`],
    ['non-hex digits', `u_${'g'.repeat(32)}`],
    ['upper-case hex', `u_${hex.toUpperCase()}`],
    ['a short id', `u_${hex.slice(2)}`],
    ['a trailing newline', `u_${hex}\n`],
    ['a NUL', `u_${hex}\u0000`],
    ['the store key prefix', `undo:u_${hex}`],
    ['a number', 42],
    ['null', null],
    ['an object', { toString: () => `u_${hex}` }],
  ];

  it.each(malformed)('refuses %s with E_BAD_ARG and no file-system access', async (_what, id) => {
    const store = join(base, 'store');
    const audit = join(base, 'audit.jsonl');
    writeFileSync(file('x'), 'x');
    const kernel = fsKernel({ store, audit: { file: audit } });
    await agentCall(kernel, 'fs.write', { path: 'x', content: 'y' });
    const before = [...tree(base)].filter((line) => !line.startsWith(audit));

    const result = await kernel.rollback(id as string);
    expect(result).toMatchObject({ status: 'ERROR', error: { code: 'E_BAD_ARG' } });
    expect(result.error?.message).toBe('rollback: not an undo record id');
    expect([...tree(base)].filter((line) => !line.startsWith(audit))).toEqual(before);
    expect(undoCalls).toBe(0);
    await kernel.close();
    // Refused before it was understood, but still recorded: an intent and an outcome.
    const records = readAuditRecords(audit).filter((record) => record.syscall === 'rollback');
    expect(records.map((record) => [record.phase, record.agent, record.status, record.code])).toEqual([
      ['intent', 'host', null, null],
      ['outcome', 'host', 'denied', 'E_BAD_ARG'],
    ]);
  });

  it('answers an unknown well-formed id with E_NOT_FOUND', async () => {
    const kernel = fsKernel();
    const result = await kernel.rollback(`u_${hex}`);
    expect(result).toMatchObject({ status: 'ERROR', error: { code: 'E_NOT_FOUND' } });
    expect(undoCalls).toBe(0);
  });
});

describe('rollback is audited', () => {
  it('records the intent before the undo and the outcome after, as the host, for OK, DENIED and ERROR', async () => {
    const audit = join(base, 'audit.jsonl');
    writeFileSync(file('a.txt'), 'CONTENT-BEFORE');
    const kernel = fsKernel({ audit: { file: audit }, policy: { capabilities: [rule('fs.read')] } });
    const caps = [rule('fs.write'), rule('fs.delete')];
    const { recordId } = await agentCall(kernel, 'fs.write', { path: 'a.txt', content: 'CONTENT-AFTER' }, { caps });

    const denied = await kernel.rollback(recordId);
    kernel.grant(kernel.hostPublicKey, rule('fs.write'));
    const ok = await kernel.rollback(recordId);
    const again = await kernel.rollback(recordId);
    await kernel.close();

    const records = readAuditRecords(audit);
    const rollbacks = records.filter((record) => record.syscall === 'rollback');
    expect(rollbacks.map((r) => [r.phase, r.agent, r.namespace, r.action, r.resource, r.status, r.code])).toEqual([
      ['intent', 'host', 'host', 'fs.write', file('a.txt'), null, null],
      ['outcome', 'host', 'host', 'fs.write', file('a.txt'), 'denied', 'E_CAP_DENIED'],
      ['intent', 'host', 'host', 'fs.write', file('a.txt'), null, null],
      ['outcome', 'host', 'host', 'fs.write', file('a.txt'), 'ok', null],
      ['intent', 'host', 'host', 'fs.write', file('a.txt'), null, null],
      ['outcome', 'host', 'host', 'fs.write', file('a.txt'), 'denied', 'E_NOT_FOUND'],
    ]);
    // Each outcome points at its intent, and the results name the outcome records.
    const outcomes = rollbacks.filter((record) => record.phase === 'outcome');
    for (const outcome of outcomes) {
      expect(rollbacks.find((record) => record.seq === outcome.ref)?.phase).toBe('intent');
    }
    expect([denied.auditSeq, ok.auditSeq, again.auditSeq]).toEqual(outcomes.map((record) => record.seq));
    // The record id is in the audited arguments' digest, never the file's content.
    const text = readFileSync(audit, 'utf8');
    expect(text).not.toContain('CONTENT-');
  });
});

describe('undo records persist with the store', () => {
  it('a second kernel on the same store rolls back a record the first one made', async () => {
    const store = join(base, 'store');
    writeFileSync(file('persist.txt'), 'before');
    chmodSync(file('persist.txt'), 0o604);
    const first = fsKernel({ store });
    const { recordId } = await agentCall(first, 'fs.write', { path: 'persist.txt', content: 'after' });
    const deleted = await agentCall(first, 'fs.delete', { path: 'persist.txt' });
    await first.close();
    expect(readdirSync(root)).toEqual([]);

    const second = fsKernel({ store });
    expect((await second.undoRecords()).map((record) => record.id).sort()).toEqual([recordId, deleted.recordId].sort());
    expect(await second.rollback(deleted.recordId)).toMatchObject({ status: 'OK' });
    expect(read('persist.txt')).toBe('after');
    expect(await second.rollback(recordId)).toMatchObject({ status: 'OK' });
    expect(read('persist.txt')).toBe('before');
    expect(mode('persist.txt')).toBe(0o604);
    await second.close();

    // The rolled-back mark persists too.
    const third = fsKernel({ store });
    expect(await third.rollback(recordId, { force: true })).toMatchObject({ error: { code: 'E_NOT_FOUND' } });
    expect(read('persist.txt')).toBe('before');
  });
});
