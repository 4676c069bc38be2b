import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, createProcTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { recordingSink } from '../helpers/web-and-mail.js';

/**
 * Attack: lose the end mark of a program's unseen writes. When a program ends, the kernel marks again every tag it
 * keeps (a file labelled while the program ran may have been copied), and that mark was a store write charged to the
 * caller's tenant. A clean agent filled its tenant's share to the byte, ran a program that copied a file a `web`
 * agent wrote meanwhile, the end mark was refused (E_QUOTA), and once the call was over a clean agent of another
 * tenant read the copy with label [] and sent it past a sink that refuses `web` (red-team pass 100). A refused mark
 * then left every later observation in the process carrying every kept tag, which let any tenant switch the whole
 * process to over-tainting (review 101). The mark is now the kernel's own, as the union of kept tags is: a tenant's
 * full share cannot refuse it.
 *
 * Its own file: a refused mark over-taints for the life of the process.
 */
const FILL = `export default async () => {
  let size = 40000, n = 0;
  while (size >= 0) {
    try { await sys.mem.put('k' + n++, 'x'.repeat(size)); }
    catch { if (size === 0) break; size = Math.floor(size / 2); }
  }
  return sys.label();
}`;
const COPY = `export default async () => {
  try { await sys.tool('proc.exec', { program: 'sh', args: ['-c', 'sleep 1; cp a.txt b.txt'] }); return 'ran'; }
  catch (e) { return e.code; }
}`;
const READ_AND_SEND = `export default async () => {
  const { content } = await sys.tool('fs.read', { path: 'b.txt' });
  try { await sys.tool('exfil', { body: content }); return { sent: content }; }
  catch (e) { return { refused: e.code, content, label: await sys.label() }; }
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let base = '';
  let kernel: Kernel | undefined;
  let received: unknown[] = [];
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-untracked-mark-')));
    received = [];
    kernel = testKernel({
      isolation,
      maxStoredBytesPerTenant: 100_000,
      tools: [
        ...createFsTools({ roots: [base] }),
        createProcTool({ roots: [base], programs: { sh: { path: '/bin/sh', args: ['-c', '*'] } } }),
        recordingSink('exfil', ['web'], received),
      ],
      policy: {
        capabilities: [
          { action: 'fs.write', resource: `${base}/**` },
          { action: 'fs.read', resource: `${base}/**` },
          { action: 'proc.exec', resource: 'sh' },
          { action: 'exfil', resource: 'exfil' },
        ],
      },
    });
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  it("a tenant that filled its share cannot refuse its program's end mark", async () => {
    expect(await kernel?.run({ namespace: 'copier', code: FILL })).toMatchObject({ ok: true, value: [] });
    const copying = kernel?.run({ namespace: 'copier', code: COPY });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const writer = await kernel?.run({
      namespace: 'writer',
      label: ['web'],
      code: `export default async () => sys.tool('fs.write', { path: 'a.txt', content: 'WEB-PAYLOAD' })`,
    });
    expect(writer?.ok).toBe(true);
    // Before: E_QUOTA, the store refused the program's end mark.
    expect(await copying).toMatchObject({ ok: true, value: 'ran' });
    const reader = await kernel?.run({ namespace: 'reader', code: READ_AND_SEND });
    expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', content: 'WEB-PAYLOAD', label: ['web'] } });
    expect(received).toEqual([]);
    // Nothing is over-tainted after: a tag kept later is not on another tenant's own clean file (it was, with the
    // process switched to every kept tag).
    const secret = await kernel?.run({
      namespace: 'keeper',
      label: ['secret'],
      code: `export default async () => sys.tool('fs.write', { path: 's.txt', content: 'S' })`,
    });
    expect(secret?.ok).toBe(true);
    const own = await kernel?.run({
      namespace: 'reader',
      code: `export default async () => {
        await sys.tool('fs.write', { path: 'c.txt', content: 'mine' });
        await sys.tool('fs.read', { path: 'c.txt' });
        return sys.label();
      }`,
    });
    expect(own).toMatchObject({ ok: true, value: ['web'] });
  });
});
