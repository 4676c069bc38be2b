// Attack: reach the kernel's own state through the fs tools. `isokernel run` roots the fs tools at the current
// directory and keeps its store in `.isokernel` under the current directory by default, so an agent granted
// the project directory (`<cwd>/**`) could read `.isokernel/root.key` (the kernel's Ed25519 root key: sign
// capabilities, snapshots and audit checkpoints), rewrite the kv store (file labels, undo records, namespace
// memory), delete revocations and use counters, read saved undo blobs (earlier contents of labelled files,
// unlabelled) and rewrite the audit log. Real CLI processes; every path form is tried: relative, absolute,
// `//`, trailing slash, `..` detours, a store given as a symlink, and an audit log placed elsewhere in the root.

import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import { createFsTools } from '../../tools/fs.js';
import { json, type Workspace, workspace } from '../helpers/cli-process.js';
import { codeOf } from '../helpers/fs-sandbox.js';
import { testToolContext } from '../helpers/tool-context.js';

const PROBE = `
export default async function main(calls) {
  const out = [];
  for (const [tool, args] of calls) {
    try {
      const value = await sys.tool(tool, args);
      out.push({ ok: JSON.stringify(value).slice(0, 200) });
    } catch (error) {
      out.push({ code: error.code });
    }
  }
  return out;
}
`;

type Probe = ({ ok: string } | { code: string })[];

let ws: Workspace;
beforeEach(() => {
  ws = workspace();
});
afterEach(() => ws.cleanup());

function rootPolicy(): string {
  return ws.policy({
    capabilities: ['fs.read', 'fs.write', 'fs.delete', 'fs.list', 'fs.stat'].flatMap((action) => [
      { action, resource: `${ws.root}/**` },
      { action, resource: ws.root },
    ]),
  });
}

describe('kernel store exposure through the fs tools (real CLI)', { timeout: 90_000 }, () => {
  it('the default store inside the default root is out of reach in every spelling', async () => {
    const agent = ws.file('agent.js', PROBE);
    const store = join(ws.root, '.isokernel');
    const calls = [
      ['fs.write', { path: 'work.txt', content: 'ok' }],
      ['fs.read', { path: '.isokernel/root.key', encoding: 'base64' }],
      ['fs.read', { path: `${store}/root.key` }],
      ['fs.read', { path: `${ws.root}//.isokernel//root.key` }],
      ['fs.read', { path: `${ws.root}/x/../.isokernel/./root.key` }],
      ['fs.read', { path: './.isokernel/audit.jsonl' }],
      ['fs.read', { path: '.isokernel/audit.jsonl.checkpoints' }],
      ['fs.list', { path: '.isokernel/' }],
      ['fs.list', { path: '.isokernel/kv' }],
      ['fs.stat', { path: '.isokernel' }],
      ['fs.write', { path: '.isokernel/kv/000099.log', content: 'forged' }],
      ['fs.write', { path: '.isokernel/revoked/x', content: 'x' }],
      ['fs.write', { path: '.isokernel/audit.jsonl', content: '' }],
      ['fs.delete', { path: '.isokernel/root.key' }],
      ['fs.delete', { path: '.isokernel/uses' }],
      ['fs.list', { path: '.' }],
    ];
    const run = await ws.run(['run', agent, '--policy', rootPolicy(), '--input', JSON.stringify(calls)], ws.root);
    expect(run.status, run.stderr).toBe(0);
    const out = json<Probe>(run);
    expect(out[0]).toHaveProperty('ok');
    expect(out.slice(1, -1)).toEqual(Array.from({ length: calls.length - 2 }, () => ({ code: 'E_CAP_DENIED' })));
    // The root can still be listed (the store shows up as a name, nothing more).
    expect(out.at(-1)).toHaveProperty('ok');
    expect(existsSync(join(store, 'root.key'))).toBe(true);
    expect(existsSync(join(store, 'kv', '000099.log'))).toBe(false);
    const key = readFileSync(join(store, 'root.key'));
    expect(run.stdout.includes(key.toString('base64').slice(0, 16))).toBe(false);
    expect(run.stdout.includes(key.toString('utf8').trim().slice(0, 16))).toBe(false);
  });

  it('a root and store named through a symlink, and an audit log elsewhere in the root, are refused too', async () => {
    symlinkSync(ws.root, join(ws.dir, 'root-link'));
    mkdirSync(join(ws.root, 'logs'));
    const agent = ws.file('agent.js', PROBE);
    const calls = [
      ['fs.read', { path: 'state/root.key' }],
      ['fs.read', { path: join(ws.root, 'state', 'root.key') }],
      ['fs.list', { path: 'state' }],
      ['fs.read', { path: 'logs/audit.jsonl' }],
      ['fs.read', { path: 'logs/audit.jsonl.checkpoints' }],
      ['fs.write', { path: 'logs/audit.jsonl', content: '' }],
      ['fs.write', { path: 'logs/other.txt', content: 'fine' }],
    ];
    const run = await ws.run(
      [
        'run',
        agent,
        '--policy',
        rootPolicy(),
        '--root',
        'root-link',
        '--store',
        'root-link/state',
        '--audit',
        join(ws.root, 'logs', 'audit.jsonl'),
        '--input',
        JSON.stringify(calls),
      ],
      ws.dir,
    );
    expect(run.status, run.stderr).toBe(0);
    const out = json<Probe>(run);
    expect(out.slice(0, 6)).toEqual(Array.from({ length: 6 }, () => ({ code: 'E_CAP_DENIED' })));
    expect(out[6]).toHaveProperty('ok');
    expect(existsSync(join(ws.root, 'state', 'root.key'))).toBe(true);
    expect(readFileSync(join(ws.root, 'logs', 'audit.jsonl'), 'utf8')).not.toBe('');
  });
});

describe('createFsTools exclude', () => {
  let base = '';
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-exclude-')));
    mkdirSync(join(base, 'state'));
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it('refuses an excluded path (existing or not yet made) and everything below it, for every tool', async () => {
    const tools = new Map(
      createFsTools({ roots: [base], exclude: [join(base, 'state'), join(base, 'later', 'x')] }).map((t) => [
        t.name,
        t,
      ]),
    );
    const call = (name: string, args: unknown) => {
      const tool = tools.get(name);
      if (tool === undefined) throw new Error(name);
      return runToolUse(prepareToolUse(tool, args), testToolContext());
    };
    expect(await codeOf(call('fs.write', { path: 'state/a', content: 'x' }))).toBe('E_CAP_DENIED');
    expect(await codeOf(call('fs.stat', { path: 'state' }))).toBe('E_CAP_DENIED');
    expect(await codeOf(call('fs.list', { path: 'state/' }))).toBe('E_CAP_DENIED');
    expect(await codeOf(call('fs.write', { path: 'later/x/y', content: 'x', mkdirs: true }))).toBe('E_CAP_DENIED');
    expect(await codeOf(call('fs.write', { path: 'later/ok', content: 'x', mkdirs: true }))).toBe('ok');
    expect(await codeOf(call('fs.write', { path: 'statex', content: 'x' }))).toBe('ok');
    expect(() => createFsTools({ roots: [base], exclude: ['relative'] })).toThrow(TypeError);
  });
});
