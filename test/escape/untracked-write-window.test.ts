import { existsSync } from 'node:fs';
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, createProcTool, type Kernel } from '../../index.js';
import { sandboxSupport } from '../../tools/proc-sandbox.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { recordingSink } from '../helpers/web-and-mail.js';

/**
 * Red-team pass 87: the tags a program may have copied into files it writes unseen were marked when it started
 * and again when it ended. A file labelled `web` after a clean agent's program started, and copied by it, read
 * clean until the program ended: the agent kept git busy for seconds and read a `web` file's git object clean.
 * While a program runs, fs observations now carry every tag the kernel keeps.
 */

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let base = '';
  let kernel: Kernel | undefined;
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-untracked-')));
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  it('a copy made by a running program of a file labelled after it started is read labelled', async () => {
    const received: unknown[] = [];
    const exfil = recordingSink('exfil', ['web'], received);
    kernel = testKernel({
      isolation,
      tools: [
        ...createFsTools({ roots: [base] }),
        createProcTool({ roots: [base], programs: { sh: { path: '/bin/sh', args: ['-c', '*'] } } }),
        exfil,
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
    // A clean agent's program waits, copies a.txt to b.txt, and keeps running.
    const copier = kernel.run({
      code: `export default async () => sys.tool('proc.exec', {
        program: 'sh', args: ['-c', 'sleep 0.6; cp a.txt b.txt; sleep 2'] })`,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const writer = await kernel.run({
      label: ['web'],
      code: `export default async () => sys.tool('fs.write', { path: 'a.txt', content: 'WEB-PAYLOAD' })`,
    });
    expect(writer.ok).toBe(true);
    const reader = await kernel.run({
      code: `export default async () => {
        const deadline = Date.now() + 1500;
        let content;
        while (content === undefined && Date.now() < deadline) {
          try { content = (await sys.tool('fs.read', { path: 'b.txt' })).content; }
          catch { await new Promise((resolve) => setTimeout(resolve, 50)); }
        }
        const label = await sys.label();
        try { await sys.tool('exfil', { body: String(content) }); return { sent: content, label }; }
        catch (e) { return { refused: e.code, content, label }; }
      }`,
    });
    expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', content: 'WEB-PAYLOAD' } });
    expect(received).toEqual([]);
    expect((await copier).ok).toBe(true);
  });

  it.skipIf(!sandboxSupport().available)('a program cannot leave the process group its call kills', async () => {
    // Red-team pass 100: `setsid sh -c 'sleep 1; cp a.txt b.txt' &` outlived the call (the kill reaches the call's
    // process group only), copied a file labelled `web` after the call had returned clean, and a clean agent read
    // the copy with label [] and sent it. The sandbox refuses setsid and setpgid.
    kernel = testKernel({
      isolation,
      tools: [
        ...createFsTools({ roots: [base] }),
        createProcTool({ roots: [base], programs: { sh: { path: '/bin/sh', args: ['-c', '*'] } } }),
      ],
      policy: {
        capabilities: [
          { action: 'fs.write', resource: `${base}/**` },
          { action: 'proc.exec', resource: 'sh' },
        ],
      },
    });
    await writeFile(join(base, 'a.txt'), 'clean');
    const detach = (how: string) =>
      kernel?.run({
        code: `export default async () => sys.tool('proc.exec', { program: 'sh', args: ['-c', ${JSON.stringify(
          `${how} sh -c 'sleep 0.5; cp a.txt b.txt' </dev/null >/dev/null 2>&1 & sleep 0.2`,
        )}] })`,
      });
    expect(await detach('setsid')).toMatchObject({ ok: true });
    expect(
      await detach('python3 -c "import os, sys; os.setpgid(0, 0); os.execvp(sys.argv[1], sys.argv[1:])"'),
    ).toMatchObject({
      ok: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(existsSync(join(base, 'b.txt'))).toBe(false);
  });
});
