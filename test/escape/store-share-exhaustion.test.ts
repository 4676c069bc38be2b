// Attack (red-team pass on kernel-side exhaustion): fill the kernel's in-memory store so every other tenant is
// refused. Without a store directory, namespace memory, blobs, snapshots and undo records live in the kernel's
// heap until the process ends, all drawing on one bound (the store half of `maxHeldBytes`). One agent tree filled
// it four ways: snapshots of different states (each up to 4 MiB of memory, never freed), children each filling
// the 16 MiB of their own namespace, fs.write saving a megabyte of previous content for undo on every write, and a
// labelled fs.write keeping a label for each of hundreds of directories its mkdirs made (a second red-team pass,
// after the shares: those labels were charged to no tenant).
// Afterwards an innocent agent of another tenant was refused its `sys.mem.put`, its snapshot and its fs.write.
// Each tenant (a namespace's first segment) now holds at most its share of the store.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFsTools, type Kernel } from '../../index.js';
import { tempRootSuite } from '../helpers/fs-sandbox.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// 48 MiB: 24 MiB for the in-memory stores, of which one tenant may hold a quarter by default.
const MAX_HELD = 48 * 1024 * 1024;
// The attacks' values are garbage the heap estimate counts until a collection: room for them.
const LIMITS = { cpu_ms: 60_000, wall_ms: 60_000, children: 20, memory_mb: 512 };

// Each attack returns how many steps it took before the kernel refused one, and with what. Then it tops the store
// up with ever smaller values, so what is left is less than the innocent agent needs.
const TOP_UP = `async function topUp() {
  let n = 0;
  for (const size of [400000, 100000, 20000, 4000]) {
    for (;;) {
      try { await sys.mem.put('top' + n++, 't'.repeat(size)); } catch (e) { break; }
    }
  }
}`;

const SNAPSHOTS = `export default async function main() {
  ${TOP_UP}
  await sys.mem.put('big', 'x'.repeat(900000));
  for (let i = 0; i < 40; i++) {
    try { await sys.snapshot({ i }); } catch (e) { await topUp(); return { steps: i, code: e.code }; }
  }
  return { steps: 40 };
}`;

const CHILD_MEMORY = `export default async function main() {
  ${TOP_UP}
  for (let i = 0; i < 20; i++) {
    const id = await sys.spawn({ code: \`export default async () => {
      const value = 'y'.repeat(900000);
      for (let j = 0; j < 8; j++) {
        try { await sys.mem.put('v' + j, value); } catch (e) { return e.code; }
      }
      return 'stored';
    }\` });
    const result = await sys.join(id);
    if (result !== 'stored') { await topUp(); return { steps: i, code: result }; }
  }
  return { steps: 20 };
}`;

const UNDO = `export default async function main(path) {
  ${TOP_UP}
  for (let i = 0; i < 40; i++) {
    try { await sys.tool('fs.write', { path, content: String(i % 10).repeat(900000) + i }); }
    catch (e) { await topUp(); return { steps: i, code: e.code }; }
  }
  return { steps: 40 };
}`;

// A labelled agent's fs.write keeps a label for every directory its mkdirs makes, keyed by the directory's whole
// path: 400 levels keep about 400 KB of labels per call, once charged to no tenant.
const DIRECTORY_LABELS = `export default async function main() {
  ${TOP_UP}
  await sys.tool('fs.read', { path: 'secret.txt' });
  const deep = 'a/'.repeat(400);
  for (let i = 0; i < 100; i++) {
    try { await sys.tool('fs.write', { path: 'm' + i + '/' + deep + 'f', content: 'x', mkdirs: true }); }
    catch (e) { await topUp(); return { steps: i, code: e.code }; }
  }
  return { steps: 100 };
}`;

const INNOCENT = `export default async function main(path) {
  const outcomes = [];
  for (const step of [
    () => sys.mem.put('note', 'z'.repeat(200000)),
    () => sys.snapshot({ mine: true }),
    () => sys.tool('fs.write', { path, content: 'mine' }),
    () => sys.tool('fs.write', { path, content: 'mine again' }),
  ]) {
    try { await step(); outcomes.push('ok'); } catch (e) { outcomes.push(e.code); }
  }
  return outcomes;
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const suite = tempRootSuite('isokernel-share-');

  async function storeKernel(): Promise<Kernel> {
    await writeFile(join(suite.root, 'secret.txt'), 'labelled');
    suite.kernel = testKernel({
      isolation,
      maxHeldBytes: MAX_HELD,
      limits: LIMITS,
      tools: createFsTools({ roots: [suite.root] }),
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${suite.root}/**` },
          { action: 'fs.write', resource: `${suite.root}/**` },
          { action: 'agent.spawn', resource: 'inline' },
        ],
        labels: { sources: [{ tool: 'fs.read', resource: `${suite.root}/secret.txt`, tags: ['secret'] }] },
      },
    });
    return suite.kernel;
  }

  it.each([
    ['snapshots of different states', SNAPSHOTS],
    ["children filling their namespaces' memory", CHILD_MEMORY],
    ['writes saving their previous content for undo', UNDO],
    ['labelled writes keeping labels for the directories they make', DIRECTORY_LABELS],
  ])(
    'a tree taking %s is refused at its share, and another tenant still stores',
    async (_, attack) => {
      const k = await storeKernel();
      const hostile = await k.run({ code: attack, namespace: 'mallory', input: join(suite.root, 'mallory.txt') });
      expect(hostile, JSON.stringify(hostile).slice(0, 300)).toMatchObject({ ok: true, value: { code: 'E_QUOTA' } });
      const innocent = await k.run({ code: INNOCENT, namespace: 'alice', input: join(suite.root, 'alice.txt') });
      expect(innocent, JSON.stringify(innocent).slice(0, 300)).toMatchObject({
        ok: true,
        value: ['ok', 'ok', 'ok', 'ok'],
      });
    },
    120_000,
  );

  it('restores without a namespace are tenants of their own: a restored tree at its share never refuses another', async () => {
    // All restores once shared one `restored` tenant: one restored tree's memory refused every later restore.
    const k = await storeKernel();
    const saved = await k.run({
      namespace: 'mallory',
      code: `export default async function main() {
        ${TOP_UP}
        const state = await sys.restored();
        if (state === null || state === undefined) return [await sys.snapshot({ fill: true }), await sys.snapshot({ fill: false })];
        if (!state.fill) { await sys.mem.put('mine', 'z'.repeat(200000)); return 'stored'; }
        for (let i = 0; i < 20; i++) {
          try { await sys.mem.put('k' + i, 'y'.repeat(900000)); } catch (e) { await topUp(); return e.code; }
        }
        return 'never refused';
      }`,
    });
    expect(saved.ok, JSON.stringify(saved).slice(0, 300)).toBe(true);
    const [filler, other] = (saved as { value: [string, string] }).value;
    expect(await (await k.restore(filler)).result).toMatchObject({ ok: true, value: 'E_QUOTA' });
    expect(await (await k.restore(other)).result).toMatchObject({ ok: true, value: 'stored' });
  }, 120_000);

  // About half of its 6 MiB share: 600 KB of memory, three snapshots of it, three writes with undo.
  it('the benign twin: a tenant storing within its share is never refused', async () => {
    const k = await storeKernel();
    const result = await k.run({
      namespace: 'bob',
      input: join(suite.root, 'bob.txt'),
      code: `export default async function main(path) {
        for (let i = 0; i < 3; i++) await sys.mem.put('k' + i, 'w'.repeat(100000));
        for (let i = 0; i < 3; i++) await sys.snapshot({ i });
        for (let i = 0; i < 3; i++) await sys.tool('fs.write', { path, content: 'v'.repeat(100000) + i });
        return 'done';
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: 'done' });
  }, 120_000);
});
