import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, createProcTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { recordingSink } from '../helpers/web-and-mail.js';

/**
 * Red-team pass 87: proc.exec opened its `cwd` before it joined the tags kept for files, so whether a labelled
 * writer had made a file there (E_BAD_ARG: not a directory) or not (E_NOT_FOUND) reached a clean agent clean,
 * a bit per call: a byte, sent through a sink that refuses `web`. fs.stat of the same path was labelled.
 */

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let base = '';
  let kernel: Kernel | undefined;
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-cwd-')));
    await mkdir(join(base, 'out'));
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  it('the answer about a cwd carries the kept tags: the byte a web writer spelt is refused at the sink', async () => {
    const received: unknown[] = [];
    const exfil = recordingSink('exfil', ['web'], received);
    kernel = testKernel({
      isolation,
      tools: [
        ...createFsTools({ roots: [base] }),
        createProcTool({ roots: [base], programs: { true: { path: '/bin/true', args: [] } } }),
        exfil,
      ],
      policy: {
        capabilities: [
          { action: 'fs.write', resource: `${base}/**` },
          { action: 'proc.exec', resource: 'true' },
          { action: 'exfil', resource: 'exfil' },
        ],
      },
    });
    // 0xA7: a file out/b<i> for each 1 bit.
    const writer = await kernel.run({
      label: ['web'],
      code: `export default async () => {
        for (let i = 0; i < 8; i++) if ((0xA7 >> i) & 1) await sys.tool('fs.write', { path: 'out/b' + i, content: '' });
      }`,
    });
    expect(writer.ok).toBe(true);
    const reader = await kernel.run({
      code: `export default async () => {
        let value = 0;
        for (let i = 0; i < 8; i++) {
          try { await sys.tool('proc.exec', { program: 'true', cwd: 'out/b' + i }); }
          catch (e) { if (e.code === 'E_BAD_ARG') value |= 1 << i; }
        }
        const label = await sys.label();
        try { await sys.tool('exfil', { body: String(value) }); return { sent: value, label }; }
        catch (e) { return { refused: e.code, value, label }; }
      }`,
    });
    expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', value: 0xa7 } });
    expect((reader as { value: { label: string[] } }).value.label).toContain('web');
    expect(received).toEqual([]);
  });
});
