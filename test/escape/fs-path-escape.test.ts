import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, open, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools } from '../../tools/fs.js';
import { locate, verifyOpened } from '../../tools/fs-path.js';
import { codeOf, type FsSandbox, fsSandbox, outcome } from '../helpers/fs-sandbox.js';
import { testToolContext, testUndoContext } from '../helpers/tool-context.js';

/**
 * Path escapes: an agent holding a grant for a directory must not reach a file outside it through `..`, an
 * absolute path, or a symlink (in any component, pointing anywhere, even inside the root), nor by swapping a
 * symlink in between the tool's check and its use.
 */

let box: FsSandbox;
let flipper: ChildProcess | undefined;

// The flipper: each of the eight steps, then 1 ms in the state it made, until killed.
const FLIPPER = `const fs = require('node:fs');
const path = require('node:path');
const [root, outside] = process.argv.slice(1);
const d = path.join(root, 'd'), real = path.join(root, 'd-real'), file = path.join(d, 'secret.txt');
const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
const step = (action) => { try { action(); } catch {} pause(); };
for (;;) {
  step(() => fs.renameSync(d, real));
  step(() => fs.symlinkSync(outside, d));
  step(() => fs.rmSync(d));
  step(() => fs.renameSync(real, d));
  step(() => fs.renameSync(file, path.join(d, 'held')));
  step(() => fs.symlinkSync(path.join(outside, 'secret.txt'), file));
  step(() => fs.rmSync(file));
  step(() => fs.renameSync(path.join(d, 'held'), file));
}`;

beforeEach(async () => {
  box = await fsSandbox();
  await writeFile(join(box.outside, 'secret.txt'), 'TOP-SECRET');
});

afterEach(async () => {
  flipper?.kill('SIGKILL');
  flipper = undefined;
  await box.cleanup();
});

/** Every way the five tools can touch `path`; all must be refused with `code`. */
async function expectAllRefused(path: string, code: string): Promise<void> {
  const calls: [string, unknown][] = [
    ['fs.read', { path }],
    ['fs.write', { path, content: 'pwned' }],
    ['fs.write', { path: `${path}/child`, content: 'pwned', mkdirs: true }],
    ['fs.delete', { path }],
    ['fs.list', { path }],
  ];
  for (const [name, args] of calls) {
    const result = await outcome(box.call(name, args));
    expect(result, `${name} ${JSON.stringify(args)}`).toMatchObject({ code });
    // The message names the agent's own path, never the resolved host path outside the root, never a stack.
    if ('message' in result) {
      if (!path.includes(box.outside)) expect(result.message).not.toContain(box.outside);
      expect(result.message).not.toMatch(/\n\s+at /);
    }
  }
}

async function expectOutsideUntouched(): Promise<void> {
  expect(await readdir(box.outside)).toEqual(['secret.txt']);
  expect(await readFile(join(box.outside, 'secret.txt'), 'utf8')).toBe('TOP-SECRET');
}

describe('`..` traversal', () => {
  it.each(['../outside/secret.txt', 'a/../../outside/secret.txt', '../../../../../../etc/passwd', '..'])(
    'refuses the relative path %s',
    async (path) => {
      await expectAllRefused(path, 'E_CAP_DENIED');
      await expectOutsideUntouched();
    },
  );

  it('refuses an absolute path that climbs out of the root', async () => {
    await expectAllRefused(`${box.root}/../outside/secret.txt`, 'E_CAP_DENIED');
    await expectOutsideUntouched();
  });

  it('resolves `..` that stays inside the root to the path it names', async () => {
    await mkdir(join(box.root, 'a'));
    await writeFile(join(box.root, 'b.txt'), 'inside');
    expect(await box.call('fs.read', { path: 'a/../b.txt' })).toEqual({ content: 'inside' });
  });
});

describe('absolute path outside the root', () => {
  it.each(['/etc/passwd', '/', '/proc/self/environ', '/proc/self/fd/0'])('refuses %s', async (path) => {
    await expectAllRefused(path, 'E_CAP_DENIED');
  });

  it('refuses the sibling directory and a prefix look-alike', async () => {
    await expectAllRefused(join(box.outside, 'secret.txt'), 'E_CAP_DENIED');
    await mkdir(`${box.root}-evil`);
    await writeFile(`${box.root}-evil/x`, 'evil');
    await expectAllRefused(`${box.root}-evil/x`, 'E_CAP_DENIED');
    await expectOutsideUntouched();
  });

  it('refuses the root spelled through a symlink (roots are real-pathed)', async () => {
    await symlink(box.root, join(box.base, 'alias'));
    const tools = createFsTools({ roots: [join(box.base, 'alias')] });
    const ctx = testToolContext();
    const read = tools.find((t) => t.name === 'fs.read');
    await writeFile(join(box.root, 'f'), 'x');
    expect(await codeOf(read?.run({ path: join(box.base, 'alias', 'f') }, ctx))).toBe('E_CAP_DENIED');
    expect(await read?.run({ path: 'f' }, ctx)).toEqual({ content: 'x' });
  });
});

describe('symlink escape', () => {
  it('refuses a file symlink to a file outside the root', async () => {
    await symlink(join(box.outside, 'secret.txt'), join(box.root, 'link.txt'));
    await expectAllRefused('link.txt', 'E_CAP_DENIED');
    await expectOutsideUntouched();
    // stat describes the link itself, never its target.
    expect(await box.call('fs.stat', { path: 'link.txt' })).toMatchObject({ type: 'symlink' });
  });

  it('refuses a directory symlink as any component', async () => {
    await symlink(box.outside, join(box.root, 'out'));
    await mkdir(join(box.root, 'deep'));
    await symlink(box.outside, join(box.root, 'deep', 'out'));
    for (const path of ['out', 'out/secret.txt', 'deep/out/secret.txt', 'out/new.txt', `${box.root}/out/secret.txt`]) {
      await expectAllRefused(path, 'E_CAP_DENIED');
    }
    expect(await codeOf(box.call('fs.stat', { path: 'out/secret.txt' }))).toBe('E_CAP_DENIED');
    expect(await codeOf(box.call('fs.write', { path: 'out/x/y.txt', content: 'p', mkdirs: true }))).toBe(
      'E_CAP_DENIED',
    );
    await expectOutsideUntouched();
  });

  it('refuses a symlink that stays inside the root (a public grant must not reach a private sibling)', async () => {
    await mkdir(join(box.root, 'public'));
    await mkdir(join(box.root, 'private'));
    await writeFile(join(box.root, 'private', 'key'), 'PRIVATE');
    await symlink('../private', join(box.root, 'public', 'p'));
    await symlink('../private/key', join(box.root, 'public', 'k'));
    await expectAllRefused('public/p/key', 'E_CAP_DENIED');
    await expectAllRefused('public/k', 'E_CAP_DENIED');
    expect(await readFile(join(box.root, 'private', 'key'), 'utf8')).toBe('PRIVATE');
  });

  it('refuses a dangling symlink instead of creating its target', async () => {
    await symlink(join(box.outside, 'created.txt'), join(box.root, 'dangling'));
    expect(await codeOf(box.call('fs.write', { path: 'dangling', content: 'pwned' }))).toBe('E_CAP_DENIED');
    await expectOutsideUntouched();
  });

  it('refuses undo data whose path goes through a symlink', async () => {
    await symlink(box.outside, join(box.root, 'out'));
    const ctx = testToolContext();
    const blob = await ctx.blobs.put(Buffer.from('pwned'));
    const data = { v: 1, op: 'deleted-file', path: `${box.root}/out/secret.txt`, blob, mode: 0o644, label: [] };
    const undo = box.tools.get('fs.write')?.undo;
    expect(await outcome(undo?.(data, testUndoContext(ctx, true)))).toMatchObject({ code: 'E_CAP_DENIED' });
    await expectOutsideUntouched();
  });
});

describe('symlink swapped in after the check', () => {
  it('verifyOpened refuses a directory that was replaced by a symlink after it was opened', async () => {
    const dir = join(box.root, 'work');
    await mkdir(dir);
    const handle = await open(dir, 'r');
    try {
      verifyOpened('fs.read', handle.fd, dir, 'work');
      await rename(dir, join(box.outside, 'moved'));
      await symlink(join(box.outside, 'moved'), dir);
      const result = await outcome(Promise.resolve().then(() => verifyOpened('fs.read', handle.fd, dir, 'work')));
      expect(result).toMatchObject({ code: 'E_CAP_DENIED' });
      expect(JSON.stringify(result)).not.toContain(box.outside);
    } finally {
      await handle.close();
    }
  });

  it('verifyOpened refuses a file reached through a symlinked component', async () => {
    await symlink(box.outside, join(box.root, 'out'));
    const handle = await open(join(box.root, 'out', 'secret.txt'), 'r');
    try {
      expect(
        await codeOf(
          Promise.resolve().then(() => verifyOpened('fs.read', handle.fd, join(box.root, 'out', 'secret.txt'), 'x')),
        ),
      ).toBe('E_CAP_DENIED');
    } finally {
      await handle.close();
    }
  });

  it('never reads or writes outside while a component and the file flip between real and symlink', async () => {
    await mkdir(join(box.root, 'd'));
    await writeFile(join(box.root, 'd', 'secret.txt'), 'inside');
    const target = locate('fs.read', [box.root], 'd/secret.txt');
    expect(target.path).toBe(join(box.root, 'd', 'secret.txt'));
    // Flip `d` between a real directory and a symlink to the outside directory, and the file between a regular
    // file and a symlink to the outside secret, from another process: a flipper on the test's own event loop fell
    // into lock-step with the calls and every call found `d` gone (review 129), so no symlink was ever met.
    // Writes race the flipper too, so a step may find the name taken or gone; it just moves on.
    flipper = spawn(process.execPath, ['-e', FLIPPER, box.root, box.outside], { stdio: 'ignore' });
    const seen = new Map<string, number>();
    const started = Date.now();
    try {
      for (let i = 0; i < 300 || (seen.size < 2 && Date.now() - started < 60_000); i++) {
        const read = await outcome(box.call('fs.read', { path: 'd/secret.txt' }));
        const write = await outcome(box.call('fs.write', { path: 'd/secret.txt', content: 'inside' }));
        for (const result of [read, write]) {
          const key = 'code' in result ? result.code : 'ok';
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
        expect(JSON.stringify(read)).not.toContain('TOP-SECRET');
      }
    } finally {
      flipper.kill('SIGKILL');
      await new Promise((resolve) => flipper?.once('exit', resolve));
    }
    const counts = JSON.stringify([...seen]);
    // Only success or a clean refusal, never a plain failure or a leak; and the race ran both ways.
    for (const code of seen.keys()) expect(['ok', 'E_CAP_DENIED', 'E_NOT_FOUND'], counts).toContain(code);
    expect(seen.get('ok') ?? 0, counts).toBeGreaterThan(0);
    expect((seen.get('E_CAP_DENIED') ?? 0) + (seen.get('E_NOT_FOUND') ?? 0), counts).toBeGreaterThan(0);
    await expectOutsideUntouched();
  }, 120_000);
});
