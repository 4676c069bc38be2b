// Attack: learn labelled data from whether files exist, through the outcomes of fs.delete and fs.write. A
// labelled agent encodes a secret in which files it creates (one file per 1-bit); a clean agent then probes
// each path with fs.delete (success: 1, E_NOT_FOUND: 0) or fs.write (E_BAD_ARG where a directory stands), or
// deletes a directory (E_BAD_ARG while a labelled entry is in it), and sends what it learned to a sink that
// refuses the writer's tag. fs.read, fs.list and fs.stat carry the label kept for the path; delete and write
// must too, on success and on failure, or their outcome launders the writer's label.
// The writer runs first and ends, then the reader: no timing is involved.

import { mkdir, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
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

  function fsKernel(): Kernel {
    kernel = testKernel({
      isolation,
      tools: createFsTools({ roots: [root] }),
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'fs.delete', resource: `${root}/**` },
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
  });
});
