// Attack: make the host's listing of undo records slow, memory-hungry and wrong by saving many of them (red-team pass
// 86). Undo records are never pruned, and `kernel.undoRecords(limit)` read and parsed up to 100,000 records in key
// order (random ids) and sorted them by time: with 20,000 records of ~4 KB paths, `undoRecords(10)` took 734 ms and
// 117 MB of heap, and past 100,000 records the newest were silently missing. The journal now keeps a time index and
// lists by reading it, newest first, up to the limit; records saved before the index are indexed once.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFsTools, Kernel } from '../../index.js';
import { LevelKvStore } from '../../runtime/store/kv-store.js';
import { UndoJournal } from '../../runtime/tool-use/undo-journal.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freshStore(): { dir: string; store: string; root: string } {
  const dir = mkdtempSync(join(tmpdir(), 'isokernel-undo-listing-'));
  dirs.push(dir);
  const store = join(dir, 'store');
  mkdirSync(store, { mode: 0o700 });
  const root = join(dir, 'root');
  mkdirSync(root);
  return { dir, store, root };
}

// What fs.write saves for a ~4,000-character path, as the probe planted it.
const PATH = `/r/${Array.from({ length: 16 }, (_, i) => String(i).padStart(240, 'd')).join('/')}/f`;
const CAPTURE = { action: 'fs.write', resource: PATH, data: { v: 1, op: 'overwrote', path: PATH, label: [] } };

async function plant(journal: UndoJournal, n: number): Promise<void> {
  const batch: Promise<string>[] = [];
  for (let i = 0; i < n; i++) {
    batch.push(journal.save('fs.write', 'agent-old', CAPTURE, 'default', []));
    if (batch.length >= 1000) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
}

// The fastest of a few listings of the newest 10 by a fresh kernel on `store` (its first listing included).
async function listingMs(store: string, root: string): Promise<{ ms: number; agents: string[] }> {
  const kernel = Kernel.create({ isolation: 'inline', store, tools: createFsTools({ roots: [root] }) });
  try {
    let best = Number.POSITIVE_INFINITY;
    let agents: string[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const listed = await kernel.undoRecords(10);
      best = Math.min(best, performance.now() - start);
      expect(listed).toHaveLength(10);
      agents = listed.map((record) => record.agent);
    }
    return { ms: best, agents };
  } finally {
    await kernel.close();
  }
}

describe('listing undo records when very many were saved', () => {
  it('undoRecords(10) costs as much with 20,000 records as with 1,000', async () => {
    const times: number[] = [];
    for (const n of [1_000, 20_000]) {
      const { store, root } = freshStore();
      const kv = new LevelKvStore(join(store, 'kv'));
      await plant(new UndoJournal(kv), n);
      await kv.close();
      times.push((await listingMs(store, root)).ms);
    }
    const [few = 0, many = 0] = times;
    // Before: about 57 ms and 560 ms (and +165 MB of heap) here.
    expect(many, JSON.stringify(times)).toBeLessThan(5 * few + 25);
  }, 60_000);

  it("the newest records are listed, the agent's own after a store's older records", async () => {
    const { store, root } = freshStore();
    const kv = new LevelKvStore(join(store, 'kv'));
    await plant(new UndoJournal(kv), 2_000);
    await kv.close();
    const kernel = Kernel.create({
      isolation: 'inline',
      store,
      tools: createFsTools({ roots: [root] }),
      policy: { capabilities: [{ action: 'fs.write', resource: `${root}/**` }] },
    });
    try {
      const run = await kernel.run({
        input: root,
        code: `export default async (root) => {
          const ids = [];
          for (let i = 0; i < 10; i++) ids.push((await sys.tool('fs.write', { path: root + '/n' + i, content: 'x' })).recordId);
          return ids;
        }`,
      });
      if (!run.ok) throw new Error(run.error.message);
      const ids = run.value as string[];
      // Newest first, in the order they were saved; before, ids past the first 100,000 in key order were missing.
      expect((await kernel.undoRecords(10)).map((record) => record.id)).toEqual([...ids].reverse());
    } finally {
      await kernel.close();
    }
  }, 60_000);
});
