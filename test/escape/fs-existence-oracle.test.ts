// Attack: learn labelled data from whether files exist, through the outcomes of fs.delete and fs.write. A
// labelled agent encodes a secret in which files it creates (one file per 1-bit); a clean agent then probes
// each path with fs.delete (success: 1, E_NOT_FOUND: 0) or fs.write (E_BAD_ARG where a directory stands), or
// deletes a directory (E_BAD_ARG while a labelled entry is in it), and sends what it learned to a sink that
// refuses the writer's tag. Every fs call must carry the labels kept for the path and the directories above
// it, on success and on failure, or its outcome launders the writer's label: a read, stat or listing below a
// labelled file answered "not a directory" where a missing one answers "does not exist" (red-team pass 30).
// The same holds for what a labelled agent deleted: the absence it leaves is its decision.
// The writer runs first and ends, then the reader: no timing is involved.

import { mkdir, mkdtemp, opendir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  let base = '';
  let root = '';

  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-exists-')));
    root = join(base, 'root');
    await mkdir(root);
  });

  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  function fsKernel(fsOptions: { maxListEntries?: number } = {}): Kernel {
    kernel = testKernel({
      isolation,
      tools: createFsTools({ roots: [root], ...fsOptions }),
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'fs.delete', resource: `${root}/**` },
          { action: 'fs.list', resource: `${root}/**` },
          { action: 'fs.stat', resource: `${root}/**` },
          { action: 'echo', resource: 'echo' },
        ],
        labels: { sinks: [{ tool: 'echo', arg: 'text', deny: ['web'] }] },
      },
    });
    return kernel;
  }

  /** A `web`-labelled agent writes `paths` (with mkdirs) and ends. */
  async function labelledWrites(k: Kernel, paths: readonly string[]): Promise<void> {
    const writer = await k.run({
      label: ['web'],
      code: `export default async (paths) => {
        for (const path of paths) await sys.tool('fs.write', { path, content: 'x', mkdirs: true });
        return await sys.label();
      }`,
      input: paths,
    });
    expect(writer).toMatchObject({ ok: true, value: ['web'] });
  }

  /** A `web`-labelled agent deletes `paths` and ends. */
  async function labelledDeletes(k: Kernel, paths: readonly string[]): Promise<void> {
    const deleter = await k.run({
      label: ['web'],
      code: `export default async (paths) => { for (const path of paths) await sys.tool('fs.delete', { path }); }`,
      input: paths,
    });
    expect(deleter.ok).toBe(true);
  }

  /** A clean agent: runs `probe` (an async function of a path, true/false for the outcome) on each path, sends the bits. */
  const PROBE = (probe: string) => `export default async (paths) => {
    const probe = ${probe};
    let bits = '';
    for (const path of paths) {
      try { bits += (await probe(path)) ? '1' : '0'; } catch (e) { bits += e.code === 'E_NOT_FOUND' || e.code === 'E_BAD_ARG' ? '0' : '?'; }
    }
    try { await sys.tool('echo', { text: bits }); return { sent: bits, label: await sys.label() }; }
    catch (e) { return { refused: e.code, bits, label: await sys.label() }; }
  }`;

  describe('fs existence oracle', () => {
    it('fs.delete of a file a labelled agent wrote carries its label: the bits it reveals reach no sink', async () => {
      const k = fsKernel();
      await labelledWrites(k, ['b0', 'b2']);
      const reader = await k.run({
        code: PROBE(`async (path) => { await sys.tool('fs.delete', { path }); return true; }`),
        input: ['b0', 'b1', 'b2', 'b3'],
      });
      expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bits: '1010', label: ['web'] } });
    });

    it('a failed fs.delete carries the label too (a directory a labelled mkdirs made, not empty: E_BAD_ARG)', async () => {
      const k = fsKernel();
      await labelledWrites(k, ['d/x']);
      // `d` was made by the labelled write: deleting it fails (not empty), and that failure is labelled.
      const reader = await k.run({
        code: PROBE(`async (path) => { await sys.tool('fs.delete', { path }); return true; }`),
        input: ['d'],
      });
      expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bits: '0', label: ['web'] } });
    });

    it('deleting a clean directory that holds a labelled entry carries the entry’s label', async () => {
      const k = fsKernel();
      await mkdir(join(root, 'pre'));
      await labelledWrites(k, ['pre/x']);
      const reader = await k.run({
        code: PROBE(`async (path) => { await sys.tool('fs.delete', { path }); return true; }`),
        input: ['pre'],
      });
      expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bits: '0', label: ['web'] } });
      expect((await stat(join(root, 'pre'))).isDirectory()).toBe(true);
    });

    it('deleting a clean, empty directory stays clean', async () => {
      const k = fsKernel();
      await mkdir(join(root, 'empty'));
      const reader = await k.run({
        code: PROBE(`async (path) => { await sys.tool('fs.delete', { path }); return true; }`),
        input: ['empty', 'missing'],
      });
      expect(reader).toMatchObject({ ok: true, value: { sent: '10', label: [] } });
    });

    it('fs.write where a labelled agent made a directory fails with the directory’s label', async () => {
      const k = fsKernel();
      await labelledWrites(k, ['b0/x']);
      const reader = await k.run({
        code: PROBE(`async (path) => { await sys.tool('fs.write', { path, content: 'y' }); return false; }`),
        input: ['b0', 'b1'],
      });
      expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bits: '00', label: ['web'] } });
    });

    it('overwriting a file a labelled agent wrote carries its label (the outcome depends on the old file)', async () => {
      const k = fsKernel();
      await labelledWrites(k, ['f']);
      const reader = await k.run({
        code: PROBE(`async (path) => { await sys.tool('fs.write', { path, content: 'y' }); return true; }`),
        input: ['f'],
      });
      expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bits: '1', label: ['web'] } });
    });
    it.each([
      ['fs.read', `(path) => sys.tool('fs.read', { path: path + '/x' })`],
      ['fs.stat', `(path) => sys.tool('fs.stat', { path: path + '/x' })`],
      ['fs.list', `(path) => sys.tool('fs.list', { path })`],
    ])(
      '%s below a file a labelled agent wrote carries its label ("not a directory" against "does not exist")',
      async (_tool, call) => {
        const k = fsKernel();
        await labelledWrites(k, ['b0', 'b2']);
        const reader = await k.run({
          code: PROBE(`async (path) => {
          try { await (${call})(path); } catch (e) { return /not a directory/.test(e.message); }
          return false;
        }`),
          input: ['b0', 'b1', 'b2', 'b3'],
        });
        expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bits: '1010', label: ['web'] } });
      },
    );

    it('listing a directory a labelled mkdirs made carries its label, once emptied too', async () => {
      const k = fsKernel();
      await labelledWrites(k, ['d0/x', 'd2/x']);
      await labelledDeletes(k, ['d0/x', 'd2/x']);
      const reader = await k.run({
        code: PROBE(`async (path) => { await sys.tool('fs.list', { path }); return true; }`),
        input: ['d0', 'd1', 'd2', 'd3'],
      });
      expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bits: '1010', label: ['web'] } });
    });

    it('a clean file a labelled agent deleted is missing with its label, by name and in a listing', async () => {
      const k = fsKernel();
      await mkdir(join(root, 'out'));
      for (const name of ['b0', 'b1', 'b2', 'b3']) await writeFile(join(root, 'out', name), 'x');
      await labelledDeletes(k, ['out/b1', 'out/b3']);
      const byName = await k.run({
        code: PROBE(`async (path) => { await sys.tool('fs.stat', { path }); return true; }`),
        input: ['out/b0', 'out/b1', 'out/b2', 'out/b3'],
      });
      expect(byName).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bits: '1010', label: ['web'] } });
      const listed = await k.run({
        code: PROBE(
          `async (path) => (await sys.tool('fs.list', { path: 'out' })).entries.some((e) => e.name === path)`,
        ),
        input: ['b0', 'b1', 'b2', 'b3'],
      });
      expect(listed).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bits: '1010', label: ['web'] } });
      // Emptied by the labelled deleter, the directory can be deleted: that success is its decision too.
      await labelledDeletes(k, ['out/b0', 'out/b2']);
      const emptied = await k.run({
        code: PROBE(`async (path) => { await sys.tool('fs.delete', { path }); return true; }`),
        input: ['out'],
      });
      expect(emptied).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bits: '1', label: ['web'] } });
    });

    it('benign twin: what a clean agent deleted stays clean to read about', async () => {
      const k = fsKernel();
      await mkdir(join(root, 'out'));
      for (const name of ['b0', 'b1']) await writeFile(join(root, 'out', name), 'x');
      const deleter = await k.run({ code: `export default () => sys.tool('fs.delete', { path: 'out/b1' })` });
      expect(deleter.ok).toBe(true);
      const reader = await k.run({
        code: PROBE(
          `async (path) => (await sys.tool('fs.list', { path: 'out' })).entries.some((e) => e.name === path)`,
        ),
        input: ['b0', 'b1'],
      });
      expect(reader).toMatchObject({ ok: true, value: { sent: '10', label: [] } });
    });

    it('a labelled delete that is refused leaves the tree as clean as it was', async () => {
      const k = fsKernel();
      await mkdir(join(root, 'top', 'src'), { recursive: true });
      await writeFile(join(root, 'top', 'src', 'main.ts'), 'x');
      const deleter = await k.run({
        label: ['web'],
        code: `export default async () => {
          const codes = [];
          for (const path of ['top/src', 'top/missing']) {
            try { await sys.tool('fs.delete', { path }); codes.push('ok'); } catch (e) { codes.push(e.code); }
          }
          return codes;
        }`,
      });
      expect(deleter).toMatchObject({ ok: true, value: ['E_BAD_ARG', 'E_NOT_FOUND'] });
      const reader = await k.run({
        code: `export default async () => {
          const { content } = await sys.tool('fs.read', { path: 'top/src/main.ts' });
          const { entries } = await sys.tool('fs.list', { path: 'top' });
          return { content, names: entries.map((e) => e.name), label: await sys.label() };
        }`,
      });
      expect(reader).toMatchObject({ ok: true, value: { content: 'x', names: ['src'], label: [] } });
    });

    it('rolling back a labelled delete gives the file back its own label', async () => {
      const k = fsKernel();
      await writeFile(join(root, 'f'), 'clean');
      const deleter = await k.run({
        label: ['web'],
        code: `export default async () => (await sys.tool('fs.delete', { path: 'f' })).recordId`,
      });
      if (!deleter.ok || typeof deleter.value !== 'string') throw new Error('the delete failed');
      expect(await k.rollback(deleter.value)).toMatchObject({ status: 'OK' });
      const reader = await k.run({
        code: `export default async () => ({ ...(await sys.tool('fs.read', { path: 'f' })), label: await sys.label() })`,
      });
      expect(reader).toMatchObject({ ok: true, value: { content: 'clean', label: [] } });
    });

    it('a listing cut at maxListEntries carries the labels of what it left out', async () => {
      const k = fsKernel({ maxListEntries: 3 });
      const clean = ['a', 'b', 'e'];
      // Listed or not, the labelled entry decides the listing: in it, or what makes it one entry too long. The
      // attack needs it left out, so its name is one this filesystem lists after the clean ones (ext4 lists in
      // hash order, tmpfs the newest first).
      const name = await nameListedAfter(clean);
      await mkdir(join(root, 'd'));
      await labelledWrites(k, [`d/${name}`]);
      for (const other of clean) await writeFile(join(root, 'd', other), 'x');
      const reader = await k.run({
        code: `export default async () => {
          const { entries, truncated } = await sys.tool('fs.list', { path: 'd' });
          return { names: entries.map((e) => e.name), truncated, label: await sys.label() };
        }`,
      });
      expect(reader).toMatchObject({ ok: true, value: { names: clean, truncated: true, label: ['web'] } });
    });

    /** A name that a directory holding `others`, made after it, lists after all of them. */
    async function nameListedAfter(others: readonly string[]): Promise<string> {
      const probe = join(base, 'probe');
      await mkdir(probe);
      const candidates = Array.from({ length: 40 }, (_, i) => `labelled-${i}`);
      for (const name of [...candidates, ...others]) await writeFile(join(probe, name), '');
      // opendir, as fs.list does: readdir sorts.
      const order: string[] = [];
      for await (const entry of await opendir(probe)) order.push(entry.name);
      await rm(probe, { recursive: true });
      const last = Math.max(...others.map((other) => order.indexOf(other)));
      const found = candidates.find((name) => order.indexOf(name) > last);
      if (found === undefined) throw new Error('no name lists after the others here');
      return found;
    }

    it("a directory's size and time, which its entries move, are not reported", async () => {
      const k = fsKernel();
      await mkdir(join(root, 'top', 'out'), { recursive: true });
      // The labelled writer's entries grow the directory (ext4: 4096 to 20480 bytes) and leave it grown.
      await labelledWrites(
        k,
        Array.from({ length: 60 }, (_, i) => `top/out/entry-with-a-long-name-${i}`),
      );
      await labelledDeletes(
        k,
        Array.from({ length: 60 }, (_, i) => `top/out/entry-with-a-long-name-${i}`),
      );
      const reader = await k.run({
        code: `export default async () => {
          const { size, mtimeMs } = await sys.tool('fs.stat', { path: 'top/out' });
          const { entries } = await sys.tool('fs.list', { path: 'top' });
          return { size, mtimeMs, listed: entries.find((e) => e.name === 'out').size, label: await sys.label() };
        }`,
      });
      expect(reader).toMatchObject({ ok: true, value: { size: 0, mtimeMs: 0, listed: 0, label: [] } });
    });
  });
});
