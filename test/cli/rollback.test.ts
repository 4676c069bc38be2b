import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CliRun, json, type Workspace, workspace } from '../helpers/cli-process.js';

// `isokernel rollback <recordId>` in real processes: an agent run overwrites a file through fs.write (its
// result carries the undo record id), then the host undoes it under its policy, audited in the same log.

const WRITE = 'export default (args) => sys.tool("fs.write", args);';

interface RollbackOutput {
  status: 'OK' | 'DENIED' | 'ERROR';
  error: { code: string; message: string } | null;
  auditSeq: number | null;
  label: string[];
}

let ws: Workspace;
let target: string;
let policy: string;
beforeEach(() => {
  ws = workspace();
  target = join(ws.root, 'notes.txt');
  writeFileSync(target, 'version 1\n');
  policy = ws.policy({
    capabilities: [
      { action: 'fs.read', resource: `${ws.root}/**` },
      { action: 'fs.write', resource: `${ws.root}/**` },
    ],
  });
});
afterEach(() => ws.cleanup());

/** Runs an agent that writes `content` to `path` (default the target) and returns the undo record id. */
async function agentWrites(content: string, path = target): Promise<string> {
  const agent = ws.file('writer.js', WRITE);
  const run = await ws.run([
    'run',
    agent,
    '--policy',
    policy,
    '--root',
    ws.root,
    '--store',
    ws.store,
    '--input',
    JSON.stringify({ path, content }),
  ]);
  expect(run.status, run.stderr).toBe(0);
  const result = json<{ path: string; recordId: string }>(run);
  expect(result.path).toBe(path);
  expect(result.recordId).toMatch(/^u_[0-9a-f]{32}$/);
  expect(readFileSync(path, 'utf8')).toBe(content);
  return result.recordId;
}

function rollback(recordId: string, ...extra: string[]): Promise<CliRun> {
  return ws.run(['rollback', recordId, '--policy', policy, '--root', ws.root, '--store', ws.store, ...extra]);
}

describe('isokernel rollback', { timeout: 90_000 }, () => {
  it('restores the content an agent overwrote, once', async () => {
    const recordId = await agentWrites('version 2\n');
    const undo = await rollback(recordId);
    expect(undo.status, undo.stderr).toBe(0);
    expect(json<RollbackOutput>(undo)).toEqual({ status: 'OK', error: null, auditSeq: expect.any(Number), label: [] });
    expect(readFileSync(target, 'utf8')).toBe('version 1\n');

    const twice = await rollback(recordId);
    expect(twice.status).toBe(1);
    expect(json<RollbackOutput>(twice)).toMatchObject({
      status: 'ERROR',
      error: { code: 'E_NOT_FOUND', message: `rollback: ${recordId} was already rolled back` },
    });
    expect(readFileSync(target, 'utf8')).toBe('version 1\n');
  });

  it('removes a file the agent created, authorized as an fs.delete', async () => {
    const created = join(ws.root, 'new.txt');
    const recordId = await agentWrites('fresh', created);
    const writeOnly = await rollback(recordId);
    expect(writeOnly.status).toBe(1);
    expect(json<RollbackOutput>(writeOnly)).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_DENIED' } });
    expect(readFileSync(created, 'utf8')).toBe('fresh');

    const withDelete = ws.policy({ capabilities: [{ action: 'fs.delete', resource: `${ws.root}/**` }] }, 'delete.yaml');
    const undo = await ws.run(['rollback', recordId, '--policy', withDelete, '--root', ws.root, '--store', ws.store]);
    expect(undo.status, undo.stdout + undo.stderr).toBe(0);
    expect(existsSync(created)).toBe(false);
  });

  it('refuses when the file changed since the write, unless --force', async () => {
    const recordId = await agentWrites('version 2\n');
    writeFileSync(target, 'edited by a person\n');
    const refused = await rollback(recordId);
    expect(refused.status).toBe(1);
    expect(json<RollbackOutput>(refused)).toMatchObject({
      status: 'ERROR',
      error: { code: 'E_TOOL_FAILED', message: `fs.write undo: "${target}" changed since the call` },
    });
    expect(readFileSync(target, 'utf8')).toBe('edited by a person\n');

    const forced = await rollback(recordId, '--force');
    expect(forced.status, forced.stdout + forced.stderr).toBe(0);
    expect(json<RollbackOutput>(forced)).toMatchObject({ status: 'OK', error: null });
    expect(readFileSync(target, 'utf8')).toBe('version 1\n');
  });

  it('refuses a malformed record id with E_BAD_ARG, and an unknown one with E_NOT_FOUND', async () => {
    await agentWrites('version 2\n');
    for (const id of ['../evil', '../../etc/passwd', 'u_zz', `u_${'0'.repeat(31)}/`]) {
      const run = await rollback(id);
      expect(run.status, id).toBe(1);
      expect(json<RollbackOutput>(run), id).toMatchObject({ status: 'ERROR', error: { code: 'E_BAD_ARG' } });
    }
    const unknown = await rollback(`u_${'0'.repeat(32)}`);
    expect(unknown.status).toBe(1);
    expect(json<RollbackOutput>(unknown)).toMatchObject({ status: 'ERROR', error: { code: 'E_NOT_FOUND' } });
    expect(readFileSync(target, 'utf8')).toBe('version 2\n');
  });

  it('is DENIED without the capability the undo acts under, leaving the file as it is', async () => {
    const recordId = await agentWrites('version 2\n');
    const readOnly = ws.policy({ capabilities: [{ action: 'fs.read', resource: `${ws.root}/**` }] }, 'read-only.yaml');
    const denied = await ws.run(['rollback', recordId, '--policy', readOnly, '--root', ws.root, '--store', ws.store]);
    expect(denied.status).toBe(1);
    expect(json<RollbackOutput>(denied)).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_DENIED' } });
    const noPolicy = await ws.run(['rollback', recordId, '--root', ws.root, '--store', ws.store]);
    expect(noPolicy.status).toBe(1);
    expect(json<RollbackOutput>(noPolicy)).toMatchObject({ status: 'DENIED' });
    expect(readFileSync(target, 'utf8')).toBe('version 2\n');

    // The refusals did not use the record up: with the capability, the undo still works.
    const allowed = await rollback(recordId);
    expect(allowed.status, allowed.stdout + allowed.stderr).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('version 1\n');
  });

  it('refuses to act outside the fs roots the rollback is given', async () => {
    const recordId = await agentWrites('version 2\n');
    const run = await ws.run(['rollback', recordId, '--policy', policy, '--root', ws.outside, '--store', ws.store]);
    expect(run.status).toBe(1);
    expect(json<RollbackOutput>(run)).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_DENIED' } });
    expect(readFileSync(target, 'utf8')).toBe('version 2\n');
  });

  it('audits the rollback in the store log, which still verifies under the store key', async () => {
    const recordId = await agentWrites('version 2\n');
    const undo = await rollback(recordId);
    expect(undo.status, undo.stderr).toBe(0);
    const { auditSeq } = json<RollbackOutput>(undo);
    const log = join(ws.store, 'audit.jsonl');

    const show = await ws.run(['audit', 'show', log]);
    expect(show.status, show.stderr).toBe(0);
    const row = show.stdout.split('\n').find((line) => new RegExp(`^\\s*${auditSeq}\\s`).test(line));
    expect(row).toMatch(/\shost\s+rollback\s+fs\.write\s+\S+\s+ok\s/);
    const hostRows = await ws.run(['audit', 'show', log, '--agent', 'host']);
    expect(hostRows.stdout).toMatch(/rollback\s+fs\.write\s+\S+\s+intent/);
    const exported = await ws.run(['audit', 'export', log, '--format', 'agent-kernel']);
    const rows = exported.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows.at(-1)).toMatchObject({ action: 'fs.write', target, status: 'OK', error: null });

    const verify = await ws.run(['audit', 'verify', log, '--store', ws.store]);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^OK \d+ records/);
    expect(verify.stderr).not.toMatch(/not pinned/);
  });
});
