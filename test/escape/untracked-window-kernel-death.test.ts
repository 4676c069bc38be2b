// Attack: launder through the death of the kernel's process while a program runs (review 101). A clean agent's
// program copies a file a `web` agent wrote after it started, and the kernel's process dies before the program ends:
// its end mark is never made, and the next kernel on the store read the copy clean (the program's group also lived
// on, and could go on copying). The store now keeps the open work, a later process closes it with the end mark the
// dead one owed, and the sandbox helper kills the program's group when the kernel's process dies. The death runs in
// a child process.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createFsTools, Kernel } from '../../index.js';
import { KvLabelStore } from '../../runtime/labels/kv-label-store.js';
import { LevelKvStore } from '../../runtime/store/kv-store.js';
import { UNTRACKED_WRITES_KEY } from '../../runtime/tool-use/tool-contract.js';
import { sandboxSupport } from '../../tools/proc-sandbox.js';
import { runNode } from '../helpers/node-process.js';

const dirs: string[] = [];
const groups: number[] = [];
afterAll(() => {
  // Whatever a failed run left running.
  for (const group of groups) {
    try {
      // Never 0 or 1: kill(0) is this process's own group.
      if (Number.isSafeInteger(group) && group > 1) process.kill(-group, 'SIGKILL');
    } catch {}
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const ENTRY = fileURLToPath(new URL('../../index.ts', import.meta.url));

async function until(done: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function groupAlive(group: number): boolean {
  if (!Number.isSafeInteger(group) || group <= 1) throw new Error(`not a process group: ${group}`);
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!sandboxSupport().available)('the kernel process dies while a program runs', () => {
  it('the group dies with it, and the next kernel on the store reads its copy with the tags it may hold', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-untracked-death-'));
    dirs.push(dir);
    const store = join(dir, 'store');
    const root = join(dir, 'root');
    mkdirSync(root);
    // The program records its process group, waits for `go`, copies a.txt, then waits (for ever, unless killed).
    const program = [
      // Its own /proc entry is the one it may read, and with the shell's own read (field 5 is the group).
      'read stat < /proc/$$/stat; set -- $stat; echo $5 > pgid',
      'while [ ! -e go ]; do sleep 0.05; done',
      'cp a.txt b.txt; touch copied',
      'while [ ! -e stop ]; do sleep 0.05; done',
    ].join('; ');
    const script = `
      const { existsSync, writeFileSync } = await import('node:fs');
      const { createFsTools, createProcTool, Kernel } = await import(${JSON.stringify(ENTRY)});
      const root = ${JSON.stringify(root)};
      const kernel = Kernel.create({
        store: ${JSON.stringify(store)},
        isolation: 'inline',
        tools: [
          ...createFsTools({ roots: [root] }),
          createProcTool({ roots: [root], programs: { sh: { path: '/bin/sh', args: ['-c', '*'] } } }),
        ],
        policy: { capabilities: [
          { action: 'fs.write', resource: root + '/**' },
          { action: 'proc.exec', resource: 'sh' },
        ] },
        limits: { wall_ms: 60_000 },
      });
      void kernel.run({
        code: \`export default async () => sys.tool('proc.exec', { program: 'sh', args: ['-c', ${JSON.stringify(program)}],
          timeout_ms: 30000 })\`,
      });
      const wait = async (name) => { while (!existsSync(root + '/' + name)) await new Promise((r) => setTimeout(r, 20)); };
      await wait('pgid');
      const written = await kernel.run({
        label: ['web'],
        code: "export default async () => sys.tool('fs.write', { path: 'a.txt', content: 'WEB-PAYLOAD' })",
      });
      if (!written.ok) throw new Error('the web write failed');
      writeFileSync(root + '/go', '');
      await wait('copied');
      process.kill(process.pid, 'SIGKILL');`;
    const died = await runNode(['--no-node-snapshot', '--import', 'tsx', '--input-type=module', '-e', script], {
      timeoutMs: 60_000,
    });
    const group = Number(readFileSync(join(root, 'pgid'), 'utf8'));
    groups.push(group);
    expect(died.signal, died.stderr).toBe('SIGKILL');
    // Before: the group ran on until it chose to stop.
    await until(() => !groupAlive(group), 'the group to die with the kernel', 5_000);
    expect(existsSync(join(root, 'stop'))).toBe(false);

    const kernel = Kernel.create({
      store,
      isolation: 'inline',
      tools: createFsTools({ roots: [root] }),
      policy: { capabilities: [{ action: 'fs.read', resource: `${root}/**` }] },
    });
    try {
      // The end mark the dead process owed holds `web` (before: [], and the copy could be sent anywhere).
      const read = await kernel.submit({ action: 'fs.read', params: { path: join(root, 'b.txt') } });
      expect(read).toMatchObject({ status: 'OK', data: { content: 'WEB-PAYLOAD' } });
      expect(read.label).toContain('web');
    } finally {
      await kernel.close();
    }
    const kv = new LevelKvStore(join(store, 'kv'));
    try {
      const labels = new KvLabelStore(kv);
      expect(await labels.listUntracked()).toEqual([]);
      expect(await labels.get(UNTRACKED_WRITES_KEY)).toContain('web');
    } finally {
      await kv.close();
    }
  }, 90_000);

  it('a confined MCP server dies with it too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-mcp-death-'));
    dirs.push(dir);
    const server = fileURLToPath(new URL('../fixtures/mcp/reach-server.mjs', import.meta.url));
    const repo = fileURLToPath(new URL('../../', import.meta.url));
    const reads = [join(repo, 'test'), join(repo, 'node_modules'), join(repo, 'package.json')];
    const script = `
      const { createMcpTool, Kernel } = await import(${JSON.stringify(ENTRY)});
      const kernel = Kernel.create({
        isolation: 'inline',
        tools: [createMcpTool({ servers: { reach: {
          command: process.execPath, args: [${JSON.stringify(server)}], cwd: ${JSON.stringify(dir)}, timeout_ms: 10000,
          sandbox: { read: ${JSON.stringify(reads)} },
        } } })],
        policy: { capabilities: [{ action: 'mcp.call', resource: 'reach/*' }] },
      });
      const result = await kernel.run({
        code: "export default async () => (await sys.tool('mcp.call', { server: 'reach', tool: 'reach', arguments: { what: 'group' } })).content[0]",
      });
      process.stdout.write(JSON.stringify(result) + '\\n', () => process.kill(process.pid, 'SIGKILL'));`;
    const died = await runNode(['--no-node-snapshot', '--import', 'tsx', '--input-type=module', '-e', script], {
      timeoutMs: 60_000,
    });
    expect(died.signal, died.stderr).toBe('SIGKILL');
    const result = JSON.parse(died.stdout.trim()) as { ok: boolean; value: string };
    expect(result).toMatchObject({ ok: true });
    const group = Number(result.value);
    groups.push(group);
    expect(group).toBeGreaterThan(1);
    await until(() => !groupAlive(group), 'the server to die with the kernel', 5_000);
  }, 90_000);
});
