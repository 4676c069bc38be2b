// Attack (red-team pass on the tenant shares of the in-memory store): launder labelled data through a label the
// kernel cannot keep. Without a store directory, the labels the kernel keeps for files live in the in-memory store;
// once it is full (one tenant at its share, or enough tenants together), keeping one more is refused with E_QUOTA.
// Two fs paths kept a label only after the effect it covers, so a refusal left the effect unlabelled:
// - fs.write with `mkdirs` made the directories first: a labelled agent's directory names (a PIN) listed clean;
// - a host rollback restored a labelled file's bytes first: the PIN read clean.
// Each label is now kept before its effect, so a refusal leaves no effect. A second pass found a rollback that
// recreated a deleted file's parent directories (names a labelled writer chose) with no label at all.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFsTools, type Kernel } from '../../index.js';
import { tempRootSuite } from '../helpers/fs-sandbox.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const MiB = 1024 * 1024;

// Tops the store up with ever smaller values until not even the smallest fits.
const TOP_UP = `async function topUp() {
  let n = 0;
  for (const size of [400000, 100000, 20000, 4000, 500, 50, 1]) {
    for (;;) {
      try { await sys.mem.put('top' + n++, 't'.repeat(size)); } catch (e) { break; }
    }
  }
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const suite = tempRootSuite('isokernel-fullstore-');

  async function labelKernel(): Promise<Kernel> {
    await mkdir(join(suite.root, 'secret'));
    await writeFile(join(suite.root, 'secret', 'pin.txt'), '4711');
    const root = suite.root;
    suite.kernel = testKernel({
      isolation,
      // A 4 MiB store one tenant may fill: as full as several tenants at their shares would leave it.
      maxHeldBytes: 8 * MiB,
      maxStoredBytesPerTenant: 4 * MiB,
      // The top-ups' values are garbage the heap estimate counts until a collection: room for them.
      limits: { memory_mb: 512 },
      tools: createFsTools({ roots: [root] }),
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'fs.list', resource: `${root}/**` },
          { action: 'fs.delete', resource: `${root}/**` },
        ],
        labels: { sources: [{ tool: 'fs.read', resource: `${root}/secret/**`, tags: ['secret'] }] },
      },
    });
    return suite.kernel;
  }

  it('a directory named by a labelled agent is never listed clean when its label cannot be kept', async () => {
    const k = await labelKernel();
    const writer = await k.run({
      namespace: 'mallory',
      code: `export default async function main() {
        ${TOP_UP}
        const pin = (await sys.tool('fs.read', { path: 'secret/pin.txt' })).content;
        await topUp();
        try { await sys.tool('fs.write', { path: 'drop/pin-' + pin + '/f', content: 'x', mkdirs: true }); return 'written'; }
        catch (e) { return e.code; }
      }`,
    });
    expect(writer).toMatchObject({ ok: true, value: 'E_QUOTA' });
    const reader = await k.run({
      namespace: 'mallory',
      code: `export default async function main() {
        let names;
        try { names = (await sys.tool('fs.list', { path: 'drop' })).entries.map((e) => e.name); } catch (e) { names = [e.code]; }
        return { names, label: await sys.label() };
      }`,
    });
    expect(reader.ok, JSON.stringify(reader)).toBe(true);
    const { names, label } = (reader as { value: { names: string[]; label: string[] } }).value;
    // Before: ['pin-4711'] under a clean label.
    if (!label.includes('secret')) expect(names.join(' ')).not.toContain('4711');
  }, 60_000);

  it('a host rollback never restores labelled bytes under a clean label when the label cannot be kept', async () => {
    const k = await labelKernel();
    const alice = await k.run({
      namespace: 'alice',
      code: `export default async () => {
        const pin = (await sys.tool('fs.read', { path: 'secret/pin.txt' })).content;
        await sys.tool('fs.write', { path: 'report.txt', content: 'PIN is ' + pin });
      }`,
    });
    expect(alice).toMatchObject({ ok: true });
    const mallory = await k.run({
      namespace: 'mallory',
      code: `export default async () => {
        ${TOP_UP}
        const { recordId } = await sys.tool('fs.write', { path: 'report.txt', content: 'nothing to see' });
        await topUp();
        return recordId;
      }`,
    });
    expect(mallory.ok, JSON.stringify(mallory)).toBe(true);
    const recordId = (mallory as { value: string }).value;
    // The host undoes the hostile overwrite; the store has no room for the report's label.
    await k.rollback(recordId).catch(() => undefined);
    const reader = await k.run({
      namespace: 'bob',
      code: `export default async () => {
        const r = await sys.tool('fs.read', { path: 'report.txt' });
        return { content: r.content, label: await sys.label() };
      }`,
    });
    expect(reader.ok, JSON.stringify(reader)).toBe(true);
    const { content, label } = (reader as { value: { content: string; label: string[] } }).value;
    // Before: 'PIN is 4711' under a clean label.
    if (content.includes('4711')) expect(label).toContain('secret');
  }, 60_000);

  it("a host rollback recreates a labelled writer's directories with the writer's label", async () => {
    const k = await labelKernel();
    const writer = await k.run({
      namespace: 'sam',
      code: `export default async () => {
        const pin = (await sys.tool('fs.read', { path: 'secret/pin.txt' })).content;
        await sys.tool('fs.write', { path: 'box/p-' + pin + '/f.txt', content: 'x', mkdirs: true });
        const file = await sys.tool('fs.delete', { path: 'box/p-' + pin + '/f.txt' });
        await sys.tool('fs.delete', { path: 'box/p-' + pin });
        return file.recordId;
      }`,
    });
    expect(writer.ok, JSON.stringify(writer)).toBe(true);
    expect(await k.rollback((writer as { value: string }).value)).toMatchObject({ status: 'OK' });
    const reader = await k.run({
      namespace: 'mallory',
      code: `export default async () => {
        const names = (await sys.tool('fs.list', { path: 'box' })).entries.map((e) => e.name);
        return { names, label: await sys.label() };
      }`,
    });
    // Before: { names: ['p-4711'], label: [] }.
    expect(reader).toMatchObject({ ok: true, value: { names: ['p-4711'], label: ['secret'] } });
  }, 60_000);
});
