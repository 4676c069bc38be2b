// Attack: lose a tag in a read-then-write of a kept label (review 6, labels-race.ts). Every change to a kept
// label was a get, a join and a set with awaits between, and nothing serialized them: two mcp.call at once
// (one labelled `secret`, one `web`) left the server keeping only `web`, so a later reply quoting the secret
// came back without it; two sets at once lost a tag from the store-wide union that proc.exec joins; and two
// fs.write to one path could leave the first writer's secret bytes under the second writer's clean label
// (the second renamed first and set its own label last).
// The interleavings are forced, not raced for: the real tools run over the kernel's KvLabelStore, wrapped so
// that each call waits at its label operations until the other side has reached the point under attack.

import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, type Tool } from '../../index.js';
import { KvLabelStore } from '../../runtime/labels/kv-label-store.js';
import { MemoryKvStore } from '../../runtime/store/kv-store.js';
import type { LabelStore } from '../../runtime/tool-use/tool-contract.js';
import { createMcpTool, mcpLabelKey } from '../../tools/mcp.js';
import { waitFor } from '../helpers/kernel.js';
import { fixtureServer } from '../helpers/mcp-fixture.js';
import { testToolContext } from '../helpers/tool-context.js';

/** `store` with `before(op, key)` awaited before each operation. */
function hooked(store: LabelStore, before: (op: string, key: string) => Promise<void>): LabelStore {
  const wrapped = {
    get: async (key: string) => {
      await before('get', key);
      return store.get(key);
    },
    set: async (key: string, tags: readonly string[]) => {
      await before('set', key);
      return store.set(key, tags);
    },
    all: () => store.all(),
    keepUntracked: (id: string, work: Parameters<LabelStore['keepUntracked']>[1]) => store.keepUntracked(id, work),
    listUntracked: () => store.listUntracked(),
  } as LabelStore & { raise?: unknown };
  // Passed through when the store has it (the fix adds `raise`); before the fix mcp and fs never call it.
  const raise = (store as { raise?: (key: string, tags: readonly string[]) => Promise<readonly string[]> }).raise;
  if (raise !== undefined) {
    wrapped.raise = async (key: string, tags: readonly string[]) => {
      await before('raise', key);
      return raise.call(store, key, tags);
    };
  }
  return wrapped;
}

/** A promise that resolves once `count` callers have arrived. */
function barrier(count: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return () => {
    if (++arrived >= count) open();
    return opened;
  };
}

describe('label store races', () => {
  it('two concurrent sets keep both tags in the store-wide union', async () => {
    const labels = new KvLabelStore(new MemoryKvStore());
    await Promise.all([labels.set('/a', ['secret']), labels.set('/b', ['web'])]);
    expect([...(await labels.all())].sort()).toEqual(['secret', 'web']);
  });

  it('two mcp.call at once (one secret, one web) leave the server keeping both tags', async () => {
    const tool = createMcpTool({ servers: { fixture: fixtureServer() as { command: string } } });
    try {
      const labels = new KvLabelStore(new MemoryKvStore());
      const key = mcpLabelKey('fixture');
      // Each call's first operation on the server's kept label waits until the other call has reached its own.
      const both = barrier(2);
      const call = async (label: string[]) => {
        let first = true;
        const ctx = testToolContext({
          label,
          labels: hooked(labels, async (_op, k) => {
            if (k !== key || !first) return;
            first = false;
            await both();
          }),
        });
        await tool.run({ server: 'fixture', tool: 'echo', arguments: { text: 'hi' } }, ctx);
        return ctx.taints;
      };
      await Promise.all([call(['secret']), call(['web'])]);
      expect([...(await labels.get(key))].sort()).toEqual(['secret', 'web']);
    } finally {
      await tool.close?.();
    }
  });

  describe('fs.write', () => {
    let base = '';
    let root = '';
    beforeEach(async () => {
      base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-labelrace-')));
      root = join(base, 'root');
      await mkdir(root);
    });
    afterEach(async () => {
      await rm(base, { recursive: true, force: true });
    });

    it('two writers of one path never leave the first writer’s secret bytes under the second’s clean label', async () => {
      const path = join(root, 'f');
      await writeFile(path, 'old');
      const labels = new KvLabelStore(new MemoryKvStore());
      const write = createFsTools({ roots: [root] }).find((t) => t.name === 'fs.write') as Tool;
      let firstDone!: () => void;
      const firstFinished = new Promise<void>((resolve) => {
        firstDone = resolve;
      });
      // W1 (secret): its label change before the rename waits until W2's clean bytes are in place, so W1's
      // secret bytes replace them. W2 (clean): its label set after the rename waits until W1 finished.
      let raised = false;
      const w1 = testToolContext({
        label: ['secret'],
        labels: hooked(labels, async (op, k) => {
          if (k !== path || op === 'get' || raised) return;
          raised = true;
          await waitFor(() => readFileSync(path, 'utf8') === 'clean', 'W2 renamed', 10_000);
        }),
      });
      const w2 = testToolContext({
        label: [],
        labels: hooked(labels, async (op, k) => {
          if (k === path && op === 'set') await firstFinished;
        }),
      });
      await Promise.all([
        (write.run({ path: 'f', content: 'SECRET' }, w1) as Promise<unknown>).finally(firstDone),
        write.run({ path: 'f', content: 'clean' }, w2),
      ]);
      expect(await readFile(path, 'utf8')).toBe('SECRET');
      expect(await labels.get(path)).toContain('secret');
    });
  });
});
