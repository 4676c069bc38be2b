// Attack: launder through the death of the kernel's process while a program runs (review 101). A clean agent's
// program waits, then copies a file a `web` agent wrote after it started. The kernel's process dies before the
// program ends, so its end mark is never made; the program's group lives on, copies the file, and the next kernel
// on the store read the copy clean. The store now keeps the open work; a later process over-taints while the work's
// group may run and, once it is gone, makes the end mark the dead process owed. The death runs in a child process.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createFsTools, Kernel } from '../../index.js';
import { KvLabelStore } from '../../runtime/labels/kv-label-store.js';
import { LevelKvStore } from '../../runtime/store/kv-store.js';
import { UNTRACKED_WRITES_KEY } from '../../runtime/tool-use/tool-contract.js';
import { runNode } from '../helpers/node-process.js';

const dirs: string[] = [];
afterAll(() => {
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

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the kernel process dies while a program runs', () => {
  it('the next kernel on the store reads what the orphaned program copied with the tags it may hold', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-untracked-death-'));
    dirs.push(dir);
    const store = join(dir, 'store');
    const root = join(dir, 'root');
    mkdirSync(root);
    // The program records its group (it leads it), waits for `go`, copies a.txt, then waits for `stop`.
    const program = [
      'echo $$ > pid',
      'while [ ! -e go ]; do sleep 0.05; done',
      'cp a.txt b.txt; touch copied',
      'while [ ! -e stop ]; do sleep 0.05; done',
    ].join('; ');
    const script = `
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
      const { existsSync } = await import('node:fs');
      while (!existsSync(root + '/pid')) await new Promise((resolve) => setTimeout(resolve, 20));
      const written = await kernel.run({
        label: ['web'],
        code: "export default async () => sys.tool('fs.write', { path: 'a.txt', content: 'WEB-PAYLOAD' })",
      });
      if (!written.ok) throw new Error('the web write failed');
      process.kill(process.pid, 'SIGKILL');`;
    const died = await runNode(['--no-node-snapshot', '--import', 'tsx', '--input-type=module', '-e', script], {
      timeoutMs: 60_000,
    });
    expect(died.signal, died.stderr).toBe('SIGKILL');
    const group = Number(readFileSync(join(root, 'pid'), 'utf8'));
    expect(groupAlive(group)).toBe(true);

    writeFileSync(join(root, 'go'), '');
    await until(() => existsSync(join(root, 'copied')), 'the copy');
    const kernel = Kernel.create({
      store,
      isolation: 'inline',
      tools: createFsTools({ roots: [root] }),
      policy: { capabilities: [{ action: 'fs.read', resource: `${root}/**` }] },
    });
    try {
      const read = () => kernel.submit({ action: 'fs.read', params: { path: join(root, 'b.txt') } });
      // The orphaned group still runs: every tag the store keeps (before the fix: [], and the copy was sent).
      const whileRunning = await read();
      expect(whileRunning).toMatchObject({ status: 'OK', data: { content: 'WEB-PAYLOAD' } });
      expect(whileRunning.label).toContain('web');

      writeFileSync(join(root, 'stop'), '');
      await until(() => !groupAlive(group), 'the group to exit');
      // Gone: the entry is closed with the end mark the dead process owed, which holds `web`.
      const after = await read();
      expect(after.label).toContain('web');
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
});
