import { execFileSync } from 'node:child_process';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Tool } from '../../runtime/tool-use/tool-contract.js';
import { createFsTools } from '../../tools/fs.js';
import { closeFd, locate, lstatEntry, openDir, openRegular } from '../../tools/fs-path.js';
import { codeOf, type FsSandbox, fsSandbox } from '../helpers/fs-sandbox.js';
import { testToolContext } from '../helpers/tool-context.js';

/**
 * Special files: a FIFO must not hang a tool, and devices and sockets are never opened, read or replaced,
 * whether named directly, reached through a link, or swapped in after the tool looked.
 */

let box: FsSandbox;

beforeEach(async () => {
  box = await fsSandbox();
});

afterEach(async () => {
  await box.cleanup();
});

describe('FIFO', () => {
  it('is refused without blocking by read, write and delete, and described by stat and list', async () => {
    execFileSync('mkfifo', [join(box.root, 'pipe')]);
    const started = Date.now();
    expect(await codeOf(box.call('fs.read', { path: 'pipe' }))).toBe('E_CAP_DENIED');
    expect(await codeOf(box.call('fs.write', { path: 'pipe', content: 'x' }))).toBe('E_CAP_DENIED');
    expect(await codeOf(box.call('fs.delete', { path: 'pipe' }))).toBe('E_CAP_DENIED');
    expect(await codeOf(box.call('fs.list', { path: 'pipe' }))).toBe('E_CAP_DENIED');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await box.call('fs.stat', { path: 'pipe' })).toMatchObject({ type: 'other' });
    expect(await box.call('fs.list', { path: '.' })).toMatchObject({ entries: [{ name: 'pipe', type: 'other' }] });
    expect((await stat(join(box.root, 'pipe'))).isFIFO()).toBe(true);
  });

  it('swapped in after the lstat is opened without blocking and refused', async () => {
    await writeFile(join(box.root, 'f'), 'regular');
    const target = locate('fs.read', [box.root], 'f');
    const dir = await openDir('fs.read', target, 0);
    try {
      const seen = lstatEntry(dir, 'f');
      if (seen === undefined) throw new Error('missing');
      await rename(join(box.root, 'f'), join(box.root, 'g'));
      execFileSync('mkfifo', [join(box.root, 'f')]);
      expect(await codeOf(Promise.resolve().then(() => openRegular('fs.read', 'f', dir, 'f', seen)))).toBe(
        'E_CAP_DENIED',
      );
      // A regular file swapped in (another inode) is refused too.
      await rm(join(box.root, 'f'));
      await writeFile(join(box.root, 'f'), 'other');
      expect(await codeOf(Promise.resolve().then(() => openRegular('fs.read', 'f', dir, 'f', seen)))).toBe(
        'E_CAP_DENIED',
      );
    } finally {
      closeFd(dir.fd);
    }
  });
});

describe('devices', () => {
  it('refuses /dev/zero and /dev/null named directly or through a link', async () => {
    for (const path of ['/dev/zero', '/dev/null', '/dev/urandom']) {
      expect(await codeOf(box.call('fs.read', { path }))).toBe('E_CAP_DENIED');
      expect(await codeOf(box.call('fs.write', { path, content: 'x' }))).toBe('E_CAP_DENIED');
    }
    const { symlink } = await import('node:fs/promises');
    await symlink('/dev/zero', join(box.root, 'zero'));
    expect(await codeOf(box.call('fs.read', { path: 'zero' }))).toBe('E_CAP_DENIED');
    expect(await codeOf(box.call('fs.write', { path: 'zero', content: 'x' }))).toBe('E_CAP_DENIED');
  });

  it('refuses devices even when the host made /dev a root', async () => {
    const tools = new Map<string, Tool>(createFsTools({ roots: ['/dev'] }).map((t) => [t.name, t]));
    const ctx = testToolContext();
    const started = Date.now();
    expect(await codeOf(tools.get('fs.read')?.run({ path: 'zero' }, ctx))).toBe('E_CAP_DENIED');
    expect(await codeOf(tools.get('fs.read')?.run({ path: '/dev/urandom' }, ctx))).toBe('E_CAP_DENIED');
    expect(await codeOf(tools.get('fs.write')?.run({ path: 'null', content: 'x' }, ctx))).toBe('E_CAP_DENIED');
    expect(await codeOf(tools.get('fs.delete')?.run({ path: 'null' }, ctx))).toBe('E_CAP_DENIED');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(ctx.undos).toEqual([]);
    expect((await stat('/dev/null')).isCharacterDevice()).toBe(true);
  });
});

describe('sockets', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    server = undefined;
  });

  it('refuses a Unix socket', async () => {
    const path = join(box.root, 'sock');
    server = createServer();
    await new Promise<void>((resolve) => server?.listen(path, resolve));
    expect(await codeOf(box.call('fs.read', { path: 'sock' }))).toBe('E_CAP_DENIED');
    expect(await codeOf(box.call('fs.write', { path: 'sock', content: 'x' }))).toBe('E_CAP_DENIED');
    expect(await box.call('fs.stat', { path: 'sock' })).toMatchObject({ type: 'other' });
  });
});
