import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createFsTools, createProcTool, defineTool, type Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack (red-team issue 12, item 9): a policy source tags `fs.read` of `inbox/**` with `email`, but listing
 * `inbox` or stat-ing a file in it returned names, sizes and times unlabelled (also with a `tool: 'fs.*'`
 * source, since the directory itself does not match `inbox/**`), and a mail tool refusing `email` sent them.
 * A policy source on a path must label every fs observation of that path and of the directories that list it:
 * the sends are refused with E_TAINT and the agent's label carries `email`. Siblings: a failed call (E_NOT_FOUND
 * for a guessed file name) is an observation of the path too; a program run by proc.exec (`cat`, `cp`) reads
 * tagged paths the policy never named for proc, and a file it copies them to must not read back clean.
 */
let base: string;
let root: string;
let kernel: Kernel | undefined;
const sent: unknown[] = [];

const mail = defineTool({
  name: 'mail',
  description: 'sends mail',
  input: z.strictObject({ body: z.unknown() }),
  labels: { sinks: { '*': ['email'] } },
  run: (args) => {
    sent.push(args);
    return 'sent';
  },
});

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-fsmeta-')));
  root = join(base, 'root');
  await mkdir(join(root, 'inbox', 'archive'), { recursive: true });
  await mkdir(join(root, 'out'));
  await writeFile(join(root, 'inbox', 'from-ceo-merger-with-acme.eml'), 'Subject: confidential\n\nthe deal is on');
  await writeFile(join(root, 'inbox', 'archive', 'old.eml'), 'old mail');
  await writeFile(join(root, 'out', 'report.txt'), 'public report');
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  sent.length = 0;
});

function fsKernel(sourceTool: string): Kernel {
  kernel = testKernel({
    tools: [...createFsTools({ roots: [root] }), mail],
    policy: {
      capabilities: [
        ...['fs.read', 'fs.list', 'fs.stat'].flatMap((action) => [
          { action, resource: root },
          { action, resource: `${root}/**` },
        ]),
        { action: 'mail', resource: 'mail' },
      ],
      labels: { sources: [{ tool: sourceTool, resource: `${root}/inbox/**`, tags: ['email'] }] },
    },
  });
  return kernel;
}

// Observes `path` with `call`, then tries to mail what it saw: [label after, mail outcome].
const OBSERVE = `
  const observe = async (call, path) => {
    let seen;
    try { seen = await sys.tool(call, { path }); } catch (e) { seen = e.code; }
    const label = await sys.label();
    try { await sys.tool('mail', { body: JSON.stringify(seen) }); return [label, 'sent']; }
    catch (e) { return [label, e.code]; }
  };
`;

async function observe(k: Kernel, call: string, path: string): Promise<unknown> {
  const result = await k.run({
    code: `export default async ({ call, path }) => { ${OBSERVE} return observe(call, path); }`,
    input: { call, path },
  });
  return result.ok ? result.value : result.error;
}

describe.each(['fs.read', 'fs.*'])('fs metadata under a policy source on %s of inbox/**', (sourceTool) => {
  it.each([
    ['fs.list', 'inbox'],
    ['fs.list', 'inbox/archive'],
    ['fs.stat', 'inbox/from-ceo-merger-with-acme.eml'],
    ['fs.stat', 'inbox'],
    // The root's listing shows the inbox directory's size, which grows with what is in it.
    ['fs.list', '.'],
  ])('%s of %s is labelled email and the mail is refused with E_TAINT', async (call, path) => {
    const k = fsKernel(sourceTool);
    expect(await observe(k, call, path)).toEqual([['email'], 'E_TAINT']);
    expect(sent).toEqual([]);
  });

  it('a failed read of a guessed inbox name (an existence oracle) is labelled too', async () => {
    const k = fsKernel(sourceTool);
    expect(await observe(k, 'fs.read', 'inbox/from-ceo-guess.eml')).toEqual([['email'], 'E_TAINT']);
    expect(sent).toEqual([]);
  });

  it('benign twin: listing and stat-ing out/, which no source names, stay unlabelled and mail goes out', async () => {
    const k = fsKernel(sourceTool);
    expect(await observe(k, 'fs.list', 'out')).toEqual([[], 'sent']);
    expect(await observe(k, 'fs.stat', 'out/report.txt')).toEqual([[], 'sent']);
    expect(sent).toHaveLength(2);
  });
});

describe('tagged paths observed through proc.exec', () => {
  function procKernel(): Kernel {
    kernel = testKernel({
      tools: [
        ...createFsTools({ roots: [root] }),
        createProcTool({ roots: [root], programs: { cat: { path: '/bin/cat' }, cp: { path: '/bin/cp' } } }),
        mail,
      ],
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'proc.exec', resource: '*' },
          { action: 'mail', resource: 'mail' },
        ],
        labels: { sources: [{ tool: 'fs.read', resource: `${root}/inbox/**`, tags: ['email'] }] },
      },
    });
    return kernel;
  }

  it('cat of an inbox file is labelled email and its output cannot be mailed', async () => {
    const k = procKernel();
    const result = await k.run({
      code: `export default async () => {
        const out = await sys.tool('proc.exec', { program: 'cat', args: ['inbox/from-ceo-merger-with-acme.eml'] });
        try { await sys.tool('mail', { body: out.stdout }); return [await sys.label(), 'sent']; }
        catch (e) { return [await sys.label(), e.code]; }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: [['email'], 'E_TAINT'] });
    expect(sent).toEqual([]);
  });

  it('a copy made by cp reads back labelled in a later run: the copy does not launder the source tag', async () => {
    const k = procKernel();
    const copy = await k.run({
      code: `export default async () => {
        await sys.tool('proc.exec', { program: 'cp', args: ['inbox/from-ceo-merger-with-acme.eml', 'out/copy.txt'] });
        return 'copied';
      }`,
    });
    expect(copy).toMatchObject({ ok: true, value: 'copied' });
    const read = await k.run({
      code: `export default async () => {
        const { content } = await sys.tool('fs.read', { path: 'out/copy.txt' });
        try { await sys.tool('mail', { body: content }); return [await sys.label(), 'sent']; }
        catch (e) { return [await sys.label(), e.code]; }
      }`,
    });
    expect(read).toMatchObject({ ok: true, value: [['email'], 'E_TAINT'] });
    expect(sent).toEqual([]);
    await rm(join(root, 'out', 'copy.txt'), { force: true });
  });
});
