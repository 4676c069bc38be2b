import { link, mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, type Kernel } from '../../index.js';
import { pinHole } from '../helpers/containment.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { recordingSink } from '../helpers/web-and-mail.js';

/**
 * Attack: read a labelled file under another spelling of its path (red-team pass 150). On a root that sits on a
 * case-insensitive file system (a FUSE or network mount of a macOS or Windows share, vfat, ext4 with casefold),
 * `inbox/1` and `INBOX/1` are one file, but policy sources and the labels kept for files were matched on the exact
 * string: through such a mount, a mail under a source tagged at `inbox/**` and a `web` agent's page read back clean
 * as `INBOX/1` and `OUT/PAGE.txt`, and went out past a sink refusing both. Sources are now matched on the path's
 * folded spelling too (case, NFC, trailing dots and spaces), which only ever adds tags. Kept labels are not: a
 * mirror under the folded spelling (review 153) let a clean write of another name that folds alike lower it, since
 * no one folding is every file system's; that hole is pinned below and SECURITY.md says roots belong on
 * case-sensitive file systems. CI has no such mount: a hard link made by the host stands for the second spelling,
 * which is what the kernel sees there (another name, the same file).
 */
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let base = '';
  let kernel: Kernel | undefined;
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-casefold-')));
    await mkdir(join(base, 'root', 'inbox'), { recursive: true });
    await mkdir(join(base, 'root', 'out'));
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  const world = (received: unknown[]) => {
    const root = join(base, 'root');
    return testKernel({
      isolation,
      tools: [...createFsTools({ roots: [root] }), recordingSink('forward', ['email', 'web'], received)],
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'forward', resource: 'forward' },
        ],
        labels: { sources: [{ tool: 'fs.read', resource: `${root}/inbox/**`, tags: ['email'] }] },
      },
    });
  };
  // Reads `path` and forwards it: the label it read, and whether the forward went out.
  const FORWARD = `export default async (path) => {
    const { content } = await sys.tool('fs.read', { path });
    const label = await sys.label();
    try { await sys.tool('forward', { body: content }); return { label, sent: true }; }
    catch (e) { return { label, sent: e.code }; }
  }`;

  it('a mail under a source, read under a second spelling, carries the source’s tag', async () => {
    const root = join(base, 'root');
    await writeFile(join(root, 'inbox', '1'), 'PIN 4711');
    await mkdir(join(root, 'INBOX'));
    await link(join(root, 'inbox', '1'), join(root, 'INBOX', '1'));
    const received: unknown[] = [];
    kernel = world(received);
    for (const spelling of ['inbox/1', 'INBOX/1']) {
      const result = await kernel.run({ input: `${root}/${spelling}`, code: FORWARD });
      expect(result, spelling).toMatchObject({ ok: true, value: { label: ['email'], sent: 'E_TAINT' } });
    }
    expect(received).toEqual([]);
  }, 30_000);

  it.fails('open: a web agent’s file, read under a second spelling, loses the writer’s label', async () => {
    const root = join(base, 'root');
    {
      const received: unknown[] = [];
      kernel = world(received);
      const writer = await kernel.run({
        label: ['web'],
        input: `${root}/out/page.txt`,
        code: `export default (path) => sys.tool('fs.write', { path, content: 'PIN 4711' })`,
      });
      expect(writer.ok).toBe(true);
      await mkdir(join(root, 'OUT'));
      await link(join(root, 'out', 'page.txt'), join(root, 'OUT', 'PAGE.txt'));
      const own = await kernel.run({ input: `${root}/out/page.txt`, code: FORWARD });
      const other = await kernel.run({ input: `${root}/OUT/PAGE.txt`, code: FORWARD });
      pinHole('kept labels follow one spelling', {
        'the writer’s spelling keeps its label':
          own.ok && JSON.stringify(own.value) === '{"label":["web"],"sent":"E_TAINT"}',
        'the second spelling reads it clean': other.ok && JSON.stringify(other.value) === '{"label":[],"sent":true}',
        'the page went out': received.length === 1,
      });
    }
  }, 30_000);
});
