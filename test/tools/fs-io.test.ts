import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KvLabelStore } from '../../runtime/labels/kv-label-store.js';
import { MemoryKvStore } from '../../runtime/store/kv-store.js';
import type { LabelStore } from '../../runtime/tool-use/tool-contract.js';
import { writeAtomic } from '../../tools/fs-io.js';
import { closeFd, locate, type OpenDir, openDir } from '../../tools/fs-path.js';

let base = '';
let root = '';
let dir: OpenDir | undefined;

beforeEach(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-fs-io-')));
  root = join(base, 'root');
  await mkdir(join(root, 'd'), { recursive: true });
  dir = await openDir('test', locate('test', [root], 'd'), 1);
});

afterEach(async () => {
  if (dir !== undefined) closeFd(dir.fd);
  dir = undefined;
  await rm(base, { recursive: true, force: true });
});

/**
 * A label store that records, at each raise and set of a temporary file's key, whether that file existed then:
 * the law is that a labelled writer's temporary file never exists without its label kept.
 */
function watchedStore(): { store: LabelStore; seen: { op: string; existed: boolean; tags: readonly string[] }[] } {
  const inner = new KvLabelStore(new MemoryKvStore());
  const seen: { op: string; existed: boolean; tags: readonly string[] }[] = [];
  const exists = (path: string) =>
    lstat(path).then(
      () => true,
      () => false,
    );
  const store: LabelStore = {
    get: (key) => inner.get(key),
    all: () => inner.all(),
    keepUntracked: (id, work) => inner.keepUntracked(id, work),
    listUntracked: () => inner.listUntracked(),
    async raise(key, tags) {
      seen.push({ op: 'raise', existed: await exists(key), tags });
      return inner.raise(key, tags);
    },
    async set(key, tags) {
      await inner.set(key, tags);
      seen.push({ op: 'set', existed: await exists(key), tags });
    },
  };
  return { store, seen };
}

describe('writeAtomic', () => {
  it('replaces the file whole and leaves no temporary file', async () => {
    if (dir === undefined) throw new Error('no dir');
    await writeAtomic('test', 'd/f', dir, 'f', Buffer.from('one'), undefined);
    await writeAtomic('test', 'd/f', dir, 'f', Buffer.from('two'), 0o640);
    expect(await readFile(join(root, 'd', 'f'), 'utf8')).toBe('two');
    expect((await lstat(join(root, 'd', 'f'))).mode & 0o777).toBe(0o640);
    expect(await readdir(join(root, 'd'))).toEqual(['f']);
  });

  it("a labelled writer's temporary file is labelled before it exists and forgotten once it is gone", async () => {
    if (dir === undefined) throw new Error('no dir');
    const { store, seen } = watchedStore();
    await writeAtomic('test', 'd/f', dir, 'f', Buffer.from('secret'), undefined, { store, label: ['web'] });
    expect(seen).toEqual([
      { op: 'raise', existed: false, tags: ['web'] },
      { op: 'set', existed: false, tags: [] },
    ]);
    expect(await store.all()).toEqual(['web']);
    expect(await readFile(join(root, 'd', 'f'), 'utf8')).toBe('secret');
  });

  it('a failed write unlinks its temporary file, then forgets its label', async () => {
    if (dir === undefined) throw new Error('no dir');
    // A non-empty directory where the file goes: the rename fails after the temporary file was written.
    await mkdir(join(root, 'd', 'f', 'inside'), { recursive: true });
    const { store, seen } = watchedStore();
    await expect(
      writeAtomic('test', 'd/f', dir, 'f', Buffer.from('secret'), undefined, { store, label: ['web'] }),
    ).rejects.toThrow();
    expect(seen.map((s) => [s.op, s.existed])).toEqual([
      ['raise', false],
      ['set', false],
    ]);
    expect(await readdir(join(root, 'd'))).toEqual(['f']);
  });

  it('an unlabelled writer keeps nothing', async () => {
    if (dir === undefined) throw new Error('no dir');
    const { store, seen } = watchedStore();
    await writeAtomic('test', 'd/f', dir, 'f', Buffer.from('clean'), undefined, { store, label: [] });
    expect(seen).toEqual([]);
  });
});
