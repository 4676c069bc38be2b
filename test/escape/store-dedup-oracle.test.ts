// Attack (red-team pass on the tenant shares of the in-memory store): learn another tenant's labelled content
// from what storing a guess costs. Blobs are stored once per content, and the first version of the shares charged
// a blob only to whoever stored it first, so keeping a guess cost a tenant 78 bytes less when another tenant had
// stored exactly those bytes. An unlabelled agent measured its own share (filled, then a binary search over
// `sys.mem.put` sizes) around saving each guess as an undo copy, and found a labelled agent's PIN. Every put is
// now charged to its tenant, and to the store's bound, whether or not the content was stored before.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFsTools } from '../../index.js';
import { tempRootSuite } from '../helpers/fs-sandbox.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const MiB = 1024 * 1024;

const ORACLE = `export default async function main() {
  let n = 0;
  const fill = 'f'.repeat(900000);
  for (;;) {
    try { await sys.mem.put('fill' + n++, fill); } catch (e) { if (e.code !== 'E_QUOTA') throw e; break; }
  }
  // The largest value that still fits, in characters (2 bytes each in the share).
  async function free() {
    let lo = -1, hi = 1000000;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      try { await sys.mem.put('probe', 'p'.repeat(mid)); await sys.mem.delete('probe'); lo = mid; } catch (e) { hi = mid; }
    }
    return lo;
  }
  async function costOfKeeping(name, content) {
    await sys.tool('fs.write', { path: name, content });
    const before = await free();
    await sys.tool('fs.write', { path: name, content: 'y' });
    return 2 * (before - (await free()));
  }
  // Once: the first write of a label pays for its kept entry (the refusals above may have labelled this agent).
  await costOfKeeping('warm-up.txt', 'alice PIN ----');
  const cost = {};
  for (const guess of ['0000', '1234', '4711', '9999']) cost[guess] = await costOfKeeping('g' + guess + '.txt', 'alice PIN ' + guess);
  return { cost, label: await sys.label() };
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const suite = tempRootSuite('isokernel-dedup-');

  // With a tenant's share smaller than the store, the share binds; with a share of the whole store, the store's
  // own bound does (as it does once enough tenants have filled it). A second pass found the second still open.
  it.each([
    ['its share binds', undefined],
    ['the whole store binds', 24 * MiB],
  ])(
    'what keeping a guess costs a tenant is the same whether or not another tenant stored it (%s)',
    async (_, share) => {
      const root = suite.root;
      await writeFile(join(root, 'pin.txt'), '4711');
      suite.kernel = testKernel({
        isolation,
        maxHeldBytes: 48 * MiB,
        ...(share === undefined ? {} : { maxStoredBytesPerTenant: share }),
        // The probe's values are garbage the heap estimate counts until a collection: room for them.
        limits: { cpu_ms: 60_000, wall_ms: 60_000, syscalls: 5000, memory_mb: 512 },
        tools: createFsTools({ roots: [root] }),
        policy: {
          capabilities: [
            { action: 'fs.read', resource: `${root}/**` },
            { action: 'fs.write', resource: `${root}/**` },
          ],
          labels: { sources: [{ tool: 'fs.read', resource: `${root}/pin.txt`, tags: ['secret'] }] },
        },
      });
      // A labelled agent writes the PIN into a note and overwrites it: the old content is kept as an undo copy.
      const alice = await suite.kernel.run({
        namespace: 'alice',
        code: `export default async () => {
        const pin = (await sys.tool('fs.read', { path: 'pin.txt' })).content;
        await sys.tool('fs.write', { path: 'alice-notes.txt', content: 'alice PIN ' + pin });
        await sys.tool('fs.write', { path: 'alice-notes.txt', content: 'redacted' });
      }`,
      });
      expect(alice).toMatchObject({ ok: true });
      const mallory = await suite.kernel.run({ namespace: 'mallory', code: ORACLE });
      expect(mallory.ok, JSON.stringify(mallory).slice(0, 300)).toBe(true);
      const { cost, label } = (mallory as { value: { cost: Record<string, number>; label: string[] } }).value;
      // Refusals by the tenant's own share carry what the tenant keeps (nothing labelled); refusals by the store's
      // pool carry what every tenant keeps, alice's labelled notes included (StoreShares, red-team pass 50).
      expect(label).toEqual(share === undefined ? [] : ['secret']);
      // Before: { '0000': 1130, '1234': 1130, '4711': 1052, '9999': 1130 }.
      expect(new Set(Object.values(cost)).size, JSON.stringify(cost)).toBe(1);
    },
    120_000,
  );
});
