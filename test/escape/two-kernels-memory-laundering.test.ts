// Attack: two kernels in one process over one store directory launder namespace-memory deletes (red-team pass 86).
// Two kernels on one store are a supported setup (they share the LevelDB handle and the capability counters), but
// each kept its own count of a namespace's use, the label of who deleted from it included, and wrote the stored
// deleters' label (`memdel:<ns>`) from that count:
// - a clean agent of kernel A wrote one key per bit of a page; kernel B counted the namespace; a web-labelled agent
//   of A deleted the keys of the page's 1-bits; a clean agent of B listed the keys and read the page with label [];
// - an `other`-labelled agent of B then deleted a key, and B wrote `memdel` from its stale count: [other] replaced
//   [web] in the store, and a clean listing after a restart read the page labelled ["other"] (web lost for good).
// The defense: one count per namespace per store for every kernel opened on it (NamespaceMemory's state is keyed
// by the shared handle), and the deleters' label is joined with what is stored before it is written. Kept file
// labels (KvLabelStore) likewise change one at a time per shared handle, not per kernel's wrapper of it.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFsTools, Kernel, type RunResult } from '../../index.js';
import { KvLabelStore } from '../../runtime/labels/kv-label-store.js';
import { LevelKvStore } from '../../runtime/store/kv-store.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const PAGE = 'PIN=4711';
const BITS = PAGE.length * 8;
const key = (i: number) => `b${String(i).padStart(3, '0')}`;

const PUT_ALL = `export default async (n) => { for (let i = 0; i < n; i++) await sys.mem.put('b' + String(i).padStart(3, '0'), 0); return sys.label(); }`;
const DELETE_BITS = `export default async (page) => {
  for (let i = 0; i < page.length * 8; i++) if ((page.charCodeAt(i >> 3) >> (i & 7)) & 1) await sys.mem.delete('b' + String(i).padStart(3, '0'));
  return sys.label();
}`;
const LIST = `export default async () => ({ keys: await sys.mem.list('b'), label: await sys.label() })`;
const TOUCH = `export default async () => { await sys.mem.put('touch', 1); await sys.mem.delete('touch'); return sys.label(); }`;
const DELETE_ONE = `export default async () => { await sys.mem.put('zz', 1); await sys.mem.delete('zz'); }`;

function answer(run: RunResult): unknown {
  if (!run.ok) throw new Error(`run failed: ${run.error.code} ${run.error.message}`);
  return run.value;
}

function decode(present: readonly string[]): string {
  const set = new Set(present);
  let out = '';
  for (let c = 0; c < BITS / 8; c++) {
    let v = 0;
    for (let b = 0; b < 8; b++) if (!set.has(key(c * 8 + b))) v |= 1 << b;
    out += String.fromCharCode(v);
  }
  return out;
}

describe('two kernels in one process over one store', () => {
  it("a clean agent of one kernel reads keys another kernel's web agent deleted only with web, after a restart too", async () => {
    const store = mkdtempSync(join(tmpdir(), 'isokernel-two-kernels-'));
    dirs.push(store);
    const a = Kernel.create({ store, isolation: 'inline' });
    const b = Kernel.create({ store, isolation: 'inline' });
    try {
      expect(answer(await a.run({ code: PUT_ALL, input: BITS }))).toEqual([]);
      // B counts the namespace now, before any labelled delete.
      expect(answer(await b.run({ code: TOUCH }))).toEqual([]);
      expect((await a.run({ code: DELETE_BITS, input: PAGE, label: ['web'] })).ok).toBe(true);
      const inB = answer(await b.run({ code: LIST })) as { keys: string[]; label: string[] };
      expect(decode(inB.keys)).toBe(PAGE);
      // Before: label [] (B answered from its own count, which no delete of A had raised).
      expect(inB.label).toContain('web');
      // B's `other`-labelled deleter: before, it wrote the stored deleters' label from B's stale count.
      expect((await b.run({ code: DELETE_ONE, label: ['other'] })).ok).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
    const c = Kernel.create({ store, isolation: 'inline' });
    try {
      const after = answer(await c.run({ code: LIST })) as { keys: string[]; label: string[] };
      expect(decode(after.keys)).toBe(PAGE);
      // Before: ["other"], web lost from the store for good.
      expect(after.label).toEqual(expect.arrayContaining(['web', 'other']));
    } finally {
      await c.close();
    }
  }, 60_000);

  it('labelled writers of both kernels at once never lose a tag from the kept-label union', async () => {
    const base = mkdtempSync(join(tmpdir(), 'isokernel-two-kernels-union-'));
    dirs.push(base);
    const root = join(base, 'root');
    mkdirSync(root);
    const store = join(base, 'store');
    const WRITER = `export default async ({ root, tag }) => { await sys.tool('fs.write', { path: root + '/' + tag, content: tag }); }`;
    const make = () =>
      Kernel.create({
        store,
        isolation: 'inline',
        tools: createFsTools({ roots: [root] }),
        policy: { capabilities: [{ action: 'fs.write', resource: `${root}/**` }] },
      });
    const a = make();
    const b = make();
    const tags = Array.from({ length: 10 }, (_, i) => [`a${i}`, `b${i}`] as const);
    try {
      const runs = await Promise.all(
        tags.flatMap(([x, y]) => [
          a.run({ code: WRITER, input: { root, tag: x }, label: [x] }),
          b.run({ code: WRITER, input: { root, tag: y }, label: [y] }),
        ]),
      );
      expect(runs.every((run) => run.ok)).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
    const kv = new LevelKvStore(join(store, 'kv'));
    try {
      expect(await new KvLabelStore(kv).all()).toEqual(expect.arrayContaining(tags.flat()));
    } finally {
      await kv.close();
    }
  }, 60_000);

  // The same race without the kernels' timing: each kernel wraps the shared handle in a KvStore of its own, and
  // kept-label changes were serialized per wrapper, so two read-then-writes of the union interleaved.
  it('kept-label changes through two wrappers of one store directory run one at a time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-two-kernels-labels-'));
    dirs.push(dir);
    const first = new LevelKvStore(join(dir, 'kv'));
    const second = new LevelKvStore(join(dir, 'kv'));
    try {
      const views = [new KvLabelStore(first), new KvLabelStore(second)];
      const tags = Array.from({ length: 40 }, (_, i) => `t${i}`);
      await Promise.all(tags.map((tag, i) => views[i % 2]?.raise(`/f/${tag}`, [tag])));
      // Before: about half the tags were missing (each wrapper's writes replaced the other's union).
      expect(await views[0]?.all()).toEqual(expect.arrayContaining(tags));
    } finally {
      await first.close();
      await second.close();
    }
  });
});
