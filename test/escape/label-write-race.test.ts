// Attack: read labelled data in the instant between a write and the label the kernel keeps for it. fs.write
// replaced a file's bytes (rename) and only then recorded the writer's label, so a read in that window got the
// new bytes with the old label; fs.read took the kept label only after reading the bytes, so a clean overwrite
// in between left labelled bytes with the new, clean label; proc.exec took every kept tag before the program
// ran, so a program that read a file a labelled agent wrote meanwhile returned it without that tag. A reader
// that keeps each result as a handle loses nothing when it loses the race, so it can retry until it wins
// (red-team scripts fs-label-race*.ts, proc-label-race.ts).
// The windows are made deterministic here instead of raced for: the fs tools run with the kernel's own label
// store wrapped so that the other side acts (through the real kernel) at each label operation of the call
// under attack, and the program under proc waits for a file the test creates once the labelled write is done.

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, createProcTool, type Kernel, type Tool } from '../../index.js';
import type { LabelStore, ToolContext } from '../../runtime/tool-use/tool-contract.js';
import { ISOLATION_MODES, testKernel, waitFor } from '../helpers/kernel.js';

const SECRET = 'SECRET-PAYLOAD-7f3a';

/** `tool` with its context's label store replaced by `wrap(store, args)`. */
function withLabels(tool: Tool, wrap: (store: LabelStore, args: { path: string }) => LabelStore): Tool {
  return {
    ...tool,
    run: (args: { path: string }, ctx: ToolContext) => tool.run(args, { ...ctx, labels: wrap(ctx.labels, args) }),
  } as Tool;
}

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  let base = '';
  let root = '';

  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-race-')));
    root = join(base, 'root');
    await mkdir(root);
  });

  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  function raceKernel(tools: Tool[]): Kernel {
    kernel = testKernel({
      isolation,
      tools,
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'proc.exec', resource: '*' },
          { action: 'echo', resource: 'echo' },
        ],
        labels: { sinks: [{ tool: 'echo', arg: 'text', deny: ['web'] }] },
      },
    });
    return kernel;
  }

  /** A clean agent that runs `call` (an async expression) and tries to send what it got to the `web`-refusing sink. */
  const SEND = (call: string) => `export default async () => {
    const value = await (${call});
    try { await sys.tool('echo', { text: value }); return { sent: value, label: await sys.label() }; }
    catch (e) { return { refused: e.code, label: await sys.label() }; }
  }`;

  describe('label write race', () => {
    it('a read at any label step of a labelled fs.write never gets the new bytes without the writer’s label', async () => {
      await writeFile(join(root, 'f'), 'public');
      const probes: { content: unknown; label: readonly string[] }[] = [];
      let k: Kernel | undefined;
      // Before each label operation of the write on its path, the host reads the file through the kernel.
      const probe = async () => {
        const read = await k?.submit({ action: 'fs.read', params: { path: join(root, 'f') } });
        probes.push({ content: (read?.data as { content?: unknown } | null)?.content, label: read?.label ?? [] });
      };
      const fs = createFsTools({ roots: [root] });
      const tools = fs.map((tool) =>
        tool.name !== 'fs.write'
          ? tool
          : withLabels(tool, (store, args) => ({
              keepUntracked: (id, work) => store.keepUntracked(id, work),
              listUntracked: () => store.listUntracked(),
              get: async (key) => {
                if (key === join(root, args.path)) await probe();
                return store.get(key);
              },
              set: async (key, tags) => {
                if (key === join(root, args.path)) await probe();
                await store.set(key, tags);
              },
              raise: async (key, tags) => {
                if (key === join(root, args.path)) await probe();
                return store.raise(key, tags);
              },
              all: () => store.all(),
            })),
      );
      k = raceKernel(tools);
      const writer = await k.run({
        label: ['web'],
        code: `export default async (text) => { await sys.tool('fs.write', { path: 'f', content: text }); return 'written'; }`,
        input: SECRET,
      });
      expect(writer).toMatchObject({ ok: true, value: 'written' });
      expect(await readFile(join(root, 'f'), 'utf8')).toBe(SECRET);
      // The probes ran inside the write: some saw the old bytes, at least one the new (after the rename).
      expect(probes.some((p) => p.content === 'public')).toBe(true);
      expect(probes.some((p) => p.content === SECRET)).toBe(true);
      for (const p of probes) {
        if (p.content === SECRET) expect(p.label).toContain('web');
      }
      // And afterwards the path keeps exactly the writer's label.
      const reader = await k.run({ code: SEND(`sys.tool('fs.read', { path: 'f' }).then((r) => r.content)`) });
      expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', label: ['web'] } });
    });

    it('a clean overwrite at any label read of an fs.read never leaves the labelled bytes it read unlabelled', async () => {
      let k: Kernel | undefined;
      let at = 0;
      let seen = 0;
      const fs = createFsTools({ roots: [root] });
      const tools = fs.map((tool) =>
        tool.name !== 'fs.read'
          ? tool
          : withLabels(tool, (store, args) => ({
              keepUntracked: (id, work) => store.keepUntracked(id, work),
              listUntracked: () => store.listUntracked(),
              get: async (key) => {
                // At the chosen read of the path's label, a clean writer replaces the file (and its label).
                if (key === join(root, args.path) && ++seen === at) {
                  const done = await k?.submit({
                    action: 'fs.write',
                    params: { path: join(root, 'f'), content: 'clean' },
                  });
                  expect(done).toMatchObject({ status: 'OK' });
                }
                return store.get(key);
              },
              set: (key, tags) => store.set(key, tags),
              raise: (key, tags) => store.raise(key, tags),
              all: () => store.all(),
            })),
      );
      k = raceKernel(tools);
      const outcomes: { at: number; overwritten: boolean; value: unknown }[] = [];
      for (at = 1; at <= 4; at++) {
        const writer = await k.run({
          label: ['web'],
          code: `export default async (text) => { await sys.tool('fs.write', { path: 'f', content: text }); }`,
          input: SECRET,
        });
        expect(writer).toMatchObject({ ok: true });
        seen = 0;
        const reader = await k.run({ code: SEND(`sys.tool('fs.read', { path: 'f' }).then((r) => r.content)`) });
        expect(reader.ok, JSON.stringify(reader)).toBe(true);
        outcomes.push({ at, overwritten: seen >= at, value: reader.ok ? reader.value : undefined });
      }
      // Whichever bytes each read got, the secret never reached the sink...
      for (const outcome of outcomes)
        expect(outcome.value, JSON.stringify(outcome)).not.toMatchObject({ sent: SECRET });
      // ...and one of the overwrites landed after the bytes were read (the window itself): the read got the secret.
      expect(outcomes.some((o) => o.overwritten && (o.value as { refused?: string }).refused === 'E_TAINT')).toBe(true);
    });

    it('a program that reads a file a labelled agent wrote while it ran returns it with the writer’s label', async () => {
      await writeFile(join(root, 'f'), 'public');
      const proc = createProcTool({
        roots: [root],
        programs: { sh: { path: '/bin/sh', args: ['-c', '*'] } },
      });
      const k = raceKernel([...createFsTools({ roots: [root] }), proc]);
      // The program says it started, waits for `go`, then prints `f`.
      const script = 'touch started; while [ ! -e go ]; do sleep 0.01; done; cat f';
      const reader = k.run({
        code: SEND(
          `sys.tool('proc.exec', { program: 'sh', args: ['-c', ${JSON.stringify(script)}] }).then((r) => r.stdout)`,
        ),
      });
      await waitFor(() => existsSync(join(root, 'started')), 'the program started', 10_000);
      const writer = await k.run({
        label: ['web'],
        code: `export default async (text) => { await sys.tool('fs.write', { path: 'f', content: text }); return 'written'; }`,
        input: SECRET,
      });
      expect(writer).toMatchObject({ ok: true, value: 'written' });
      await writeFile(join(root, 'go'), '');
      const result = await reader;
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: { refused: 'E_TAINT', label: ['web'] } });
      expect((await stat(join(root, 'go'))).isFile()).toBe(true);
    });
  });
});
