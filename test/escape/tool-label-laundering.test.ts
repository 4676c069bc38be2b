// Attack: launder labelled data through the built-in tools' effects on the file system, so that a later
// read of the same data comes back unlabelled and reaches a sink the policy forbids. The fs tools keep the
// label of what was written to a file; the attacks write data where no label is kept:
// - into the name of a directory that `fs.write { mkdirs: true }` creates (a listing carries the labels of
//   the entries it lists, and a directory made on the way had none);
// - through proc.exec: a configured program (`cp`, `tee`) copies a labelled file or writes labelled stdin
//   to a new file, which the kernel never saw being written. The proc call's own result is labelled with
//   every tag the kernel keeps, so the attacker keeps its context clean by taking that result as a handle,
//   or simply reads the copy in a later run.
// Every run goes through the real kernel gate with a sink (`echo` refuses `web`).

import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, createProcTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  let base = '';

  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-launder-')));
    await mkdir(join(base, 'root'));
  });

  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  function launderKernel(withProc: boolean): Kernel {
    const root = join(base, 'root');
    const proc = createProcTool({
      roots: [root],
      programs: {
        cp: { path: '/bin/cp', args: ['*', '*'] },
        tee: { path: '/usr/bin/tee', args: ['*'] },
      },
    });
    kernel = testKernel({
      isolation,
      tools: [...createFsTools({ roots: [root] }), ...(withProc ? [proc] : [])],
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'fs.list', resource: root },
          { action: 'fs.list', resource: `${root}/**` },
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'proc.exec', resource: '*' },
          { action: 'echo', resource: 'echo' },
        ],
        labels: { sinks: [{ tool: 'echo', arg: 'text', deny: ['web'] }] },
      },
    });
    return kernel;
  }

  /** A clean agent that reads `expr` (an async expression) and tries to send it to the `web`-refusing sink. */
  const SEND = (expr: string) => `export default async () => {
  const value = await (${expr});
  try { await sys.tool('echo', { text: value }); return { sent: value, label: await sys.label() }; }
  catch (e) { return { refused: e.code, label: await sys.label() }; }
}`;

  describe('tool label laundering', () => {
    it('a directory name written by a labelled agent through mkdirs keeps the label in a listing', async () => {
      const k = launderKernel(false);
      const writer = await k.run({
        label: ['web'],
        code: `export default async () => {
        await sys.tool('fs.write', { path: 'SECRET-PAYLOAD/x.txt', content: 'x', mkdirs: true });
        return await sys.label();
      }`,
      });
      expect(writer).toMatchObject({ ok: true, value: ['web'] });
      const reader = await k.run({
        code: SEND(`sys.tool('fs.list', { path: '.' }).then((l) => l.entries.map((e) => e.name).join(','))`),
      });
      expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', label: ['web'] } });
    });

    it('mkdirs labels only the directories it made, not ones that already existed', async () => {
      const k = launderKernel(false);
      await mkdir(join(base, 'root', 'pre'));
      await k.run({
        label: ['web'],
        code: `export default async () => {
        await sys.tool('fs.write', { path: 'pre/NEW/x.txt', content: 'x', mkdirs: true });
      }`,
      });
      // Listing the root shows `pre` (made by the host): clean. Listing `pre` shows `NEW`: labelled.
      const top = await k.run({ code: SEND(`sys.tool('fs.list', { path: '.' }).then((l) => l.entries[0].name)`) });
      expect(top).toMatchObject({ ok: true, value: { sent: 'pre', label: [] } });
      const inner = await k.run({ code: SEND(`sys.tool('fs.list', { path: 'pre' }).then((l) => l.entries[0].name)`) });
      expect(inner).toMatchObject({ ok: true, value: { refused: 'E_TAINT', label: ['web'] } });
    });

    it('a labelled file copied by proc (result kept as a handle) does not read back clean', async () => {
      const k = launderKernel(true);
      await k.run({
        label: ['web'],
        code: `export default async () => { await sys.tool('fs.write', { path: 'a.txt', content: 'SECRET-PAYLOAD' }); }`,
      });
      const reader = await k.run({
        code: `export default async () => {
        await sys.tool('proc.exec', { program: 'cp', args: ['a.txt', 'b.txt'] }, { handle: true });
        const before = await sys.label();
        const copy = await sys.tool('fs.read', { path: 'b.txt' });
        try { await sys.tool('echo', { text: copy.content }); return { sent: copy.content, before }; }
        catch (e) { return { refused: e.code, before, label: await sys.label() }; }
      }`,
      });
      expect(await readFile(join(base, 'root', 'b.txt'), 'utf8')).toBe('SECRET-PAYLOAD');
      expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', before: [], label: ['web'] } });
    });

    it('a file proc wrote from labelled stdin is labelled for a later, clean agent', async () => {
      const k = launderKernel(true);
      const writer = await k.run({
        label: ['web'],
        code: `export default async () => {
        const r = await sys.tool('proc.exec', { program: 'tee', args: ['t.txt'], stdin: 'SECRET-PAYLOAD' });
        return r.exit_code;
      }`,
      });
      expect(writer).toMatchObject({ ok: true, value: 0 });
      expect(await readFile(join(base, 'root', 't.txt'), 'utf8')).toBe('SECRET-PAYLOAD');
      const reader = await k.run({ code: SEND(`sys.tool('fs.read', { path: 't.txt' }).then((r) => r.content)`) });
      expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', label: ['web'] } });
    });

    it('files nobody labelled stay clean while proc has only run with clean data', async () => {
      const k = launderKernel(true);
      await writeFile(join(base, 'root', 'plain.txt'), 'hello');
      await k.run({
        code: `export default async () => { await sys.tool('proc.exec', { program: 'cp', args: ['plain.txt', 'c.txt'] }); }`,
      });
      const reader = await k.run({ code: SEND(`sys.tool('fs.read', { path: 'c.txt' }).then((r) => r.content)`) });
      expect(reader).toMatchObject({ ok: true, value: { sent: 'hello', label: [] } });
    });
  });
});
