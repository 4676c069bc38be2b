import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, type Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack: read a labelled agent's choice from `kernel.rollback`'s status (red-team pass 102). A clean agent writes
 * `f`; a `secret` agent rewrites it or not by a secret bit; the host rolls the clean write back. "Changed since the
 * call" (ERROR) against OK gave the bit with label []. The undo now joins the labels kept for the path, its
 * directories and untracked writes, into the result and the outcome record, as fs.read of the file would.
 */
describe('kernel.rollback of a file a labelled agent may have changed', () => {
  let base = '';
  let kernel: Kernel | undefined;
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-rollback-oracle-')));
    await mkdir(join(base, 'root'));
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  it.each([
    ['rewrote', true, 'ERROR'],
    ['left it', false, 'OK'],
  ])('the secret agent %s: the status comes with what decided it', async (_what, rewrite, status) => {
    const root = join(base, 'root');
    kernel = testKernel({
      tools: createFsTools({ roots: [root] }),
      policy: {
        capabilities: [
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'fs.delete', resource: `${root}/**` },
        ],
      },
    });
    const written = await kernel.run({
      input: root,
      code: `export default async (root) => (await sys.tool('fs.write', { path: root + '/f', content: 'clean' })).recordId`,
    });
    expect(written.ok).toBe(true);
    const secret = await kernel.run({
      label: ['secret'],
      input: { root, rewrite },
      code: `export default async ({ root, rewrite }) => {
        if (rewrite) await sys.tool('fs.write', { path: root + '/f', content: 'clean!' });
      }`,
    });
    expect(secret.ok).toBe(true);
    const rolled = await kernel.rollback((written as { value: string }).value);
    expect(rolled.status).toBe(status);
    const outcome = kernel.audit
      .records()
      .filter((r) => r.action !== 'rollback' && r.phase === 'outcome')
      .at(-1);
    if (rewrite) {
      // Before: label [] on both sides of the bit.
      expect(rolled.label).toContain('secret');
      expect(outcome?.label).toContain('secret');
    } else {
      // Nothing labelled touched the file: clean, as fs.read of it would be.
      expect(rolled.label).toEqual([]);
    }
  });
});
