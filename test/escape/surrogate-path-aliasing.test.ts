import { mkdir, mkdtemp, readdir, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { recordingSink } from '../helpers/web-and-mail.js';

/**
 * Attack: name one file with two strings (red-team pass 102). A `web` agent wrote `pin\uD800`; the file system
 * stores the lone surrogate as U+FFFD, but the kernel kept the label under the string it was given. A clean agent
 * listed the directory (which names the file `pin\uFFFD`), read it by that name with label [], and sent the PIN
 * past a sink that refuses `web` (on a kernel without a store directory; LevelDB's UTF-8 keys happened to meet).
 * A path with a lone surrogate is now refused, as namespace-memory keys are.
 */
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let base = '';
  let kernel: Kernel | undefined;
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-surrogate-')));
    await mkdir(join(base, 'root'));
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  it('a path with a lone surrogate is refused, so no second spelling reads the file clean', async () => {
    const root = join(base, 'root');
    const received: unknown[] = [];
    kernel = testKernel({
      isolation,
      tools: [...createFsTools({ roots: [root] }), recordingSink('exfil', ['web'], received)],
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'fs.stat', resource: `${root}/**` },
          { action: 'fs.list', resource: root },
          { action: 'exfil', resource: 'exfil' },
        ],
      },
    });
    const writer = await kernel.run({
      label: ['web'],
      input: root,
      code: `export default async (root) => {
        const out = [];
        for (const name of ['pin\\uD800', '\\uDC00pin', 'dir\\uD800/pin'])
          out.push(await sys.tool('fs.write', { path: root + '/' + name, content: 'PIN 4711' }).then(() => 'written', (e) => e.code));
        return out;
      }`,
    });
    expect(writer).toMatchObject({ ok: true, value: ['E_BAD_ARG', 'E_BAD_ARG', 'E_BAD_ARG'] });
    expect(await readdir(root)).toEqual([]);
    const reader = await kernel.run({
      input: root,
      code: `export default async (root) => {
        const out = [];
        for (const name of ['pin\\uD800', 'pin\\uFFFD'])
          out.push(await sys.tool('fs.read', { path: root + '/' + name }).then((r) => r.content, (e) => e.code));
        out.push(await sys.tool('fs.stat', { path: root + '/pin\\uD800' }).then(() => 'stat', (e) => e.code));
        return out;
      }`,
    });
    expect(reader).toMatchObject({ ok: true, value: ['E_BAD_ARG', 'E_NOT_FOUND', 'E_BAD_ARG'] });
    expect(received).toEqual([]);
  });
});
