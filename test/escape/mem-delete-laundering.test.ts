// Attack: deleting namespace-memory keys to launder labelled data (red-team pass 52). `sys.mem.delete` left no
// trace of its caller's label, so which keys were missing was data nobody's label carried:
// - a clean parent wrote one clean key per bit, a web-labelled child (a rw mount of the parent's namespace)
//   deleted the keys of the page's 1-bits, and the parent, joining the child as a handle, read the page back
//   with one `sys.mem.list` (or a `sys.mem.get` per key) and mailed it with an empty label: 176 bits in one run;
// - with a store directory, a web-labelled run deleted keys of the shared `default` namespace and a clean run
//   after a kernel restart listed them.
// The defense: a delete raises the namespace's label by the deleter's (kept in the store), and every answer
// about which keys exist (a listing, an absent key, a snapshot of the memory) carries it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, type IsolationMode, testKernel } from '../helpers/kernel.js';
import { recordingSink, webAndMailKernel, webSource } from '../helpers/web-and-mail.js';

const PAGE = 'PIN=4711';
const BITS = PAGE.length * 8;
const KEY = `(i) => 'b' + String(i).padStart(3, '0')`;

// Reads the page back from which keys are missing (`present` holds the keys that remain).
const DECODE = `(present) => {
  const key = ${KEY};
  let out = '';
  for (let c = 0; c < ${BITS / 8}; c++) {
    let v = 0;
    for (let b = 0; b < 8; b++) if (!present.has(key(c * 8 + b))) v |= 1 << b;
    out += String.fromCharCode(v);
  }
  return out;
}`;

// The child deletes the keys of the page's 1-bits through its mount of the parent's namespace.
const CHILD = `export default async (input) => {
  const page = input.page;
  for (let i = 0; i < page.length * 8; i++) {
    if ((page.charCodeAt(i >> 3) >> (i & 7)) & 1) await sys.mem.delete('b' + String(i).padStart(3, '0'), { mount: 'p' });
  }
  return 'done';
}`;

const PARENT = (probe: 'list' | 'get') => `export default async () => {
  const key = ${KEY};
  const page = await sys.tool('fetch', {}, { handle: true });
  for (let i = 0; i < ${BITS}; i++) await sys.mem.put(key(i), 0);
  // A budget of its own: the labelled child's use of a shared one would label this parent (quota.ts).
  const id = await sys.spawn({ code: ${JSON.stringify(CHILD)}, input: { page }, mounts: [{ name: 'p', mode: 'rw' }], budget: { cpu_ms: 5000, syscalls: 5000, children: 0 } });
  await sys.join(id, { handle: true });
  const before = await sys.label();
  const present = new Set();
  if (${JSON.stringify(probe)} === 'list') {
    for (const k of await sys.mem.list('b')) present.add(k);
  } else {
    for (let i = 0; i < ${BITS}; i++) if ((await sys.mem.get(key(i))) !== undefined) present.add(key(i));
  }
  const out = (${DECODE})(present);
  const label = await sys.label();
  let mailed = true;
  try { await sys.tool('mail', { body: out }); } catch (e) { mailed = e.code; }
  return { before, label, mailed };
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  for (const probe of ['list', 'get'] as const) {
    it(`a labelled child's deletes do not reach its clean parent through ${probe}`, async () => {
      const made = webAndMailKernel(PAGE, isolation);
      kernel = made.kernel;
      const result = await made.kernel.run({ code: PARENT(probe), limits: { wall_ms: 60_000, cpu_ms: 30_000 } });
      // The parent is clean until it asks which keys exist; the answer carries the deleter's label.
      expect(result).toMatchObject({ ok: true, value: { before: [], label: ['web'], mailed: 'E_TAINT' } });
      expect(made.sent).toEqual([]);
    });
  }

  it("a labelled run's deletes reach a clean run after a restart only with its label", async () => {
    const store = mkdtempSync(join(tmpdir(), 'isokernel-memdel-'));
    const sent: unknown[] = [];
    const open = (mode: IsolationMode): Kernel =>
      testKernel({
        isolation: mode,
        store,
        tools: [webSource(PAGE), recordingSink('mail', ['web'], sent)],
        policy: {
          capabilities: [
            { action: 'fetch', resource: 'fetch' },
            { action: 'mail', resource: 'mail' },
          ],
        },
      });
    try {
      kernel = open(isolation);
      const layout = await kernel.run({
        code: `export default async () => { const key = ${KEY}; for (let i = 0; i < ${BITS}; i++) await sys.mem.put(key(i), 0); return sys.label(); }`,
      });
      expect(layout).toMatchObject({ ok: true, value: [] });
      const deleter = await kernel.run({
        code: `export default async () => { const page = await sys.tool('fetch', {});
          for (let i = 0; i < page.length * 8; i++) if ((page.charCodeAt(i >> 3) >> (i & 7)) & 1) await sys.mem.delete('b' + String(i).padStart(3, '0'));
          return sys.label(); }`,
      });
      expect(deleter).toMatchObject({ ok: true, value: ['web'] });
      await kernel.close();
      kernel = open(isolation);
      const READER = `export default async () => { const present = new Set(await sys.mem.list('b')); const out = (${DECODE})(present);
          const label = await sys.label(); let mailed = true; try { await sys.tool('mail', { body: out }); } catch (e) { mailed = e.code; }
          return { label, mailed }; }`;
      const reader = await kernel.run({ code: READER });
      expect(reader).toMatchObject({ ok: true, value: { label: ['web'], mailed: 'E_TAINT' } });
      // A snapshot's memory is the keys that remain: its id and body carry the deleter's label too.
      const snapshotter = await kernel.run({
        code: `export default async () => { const id = await sys.snapshot(null); return { id, label: await sys.label() }; }`,
      });
      expect(snapshotter).toMatchObject({ ok: true, value: { label: ['web'] } });
      const id = snapshotter.ok ? (snapshotter.value as { id: string }).id : '';
      // The restored agent (the same program, run again on a copy of that memory) starts from the body's label.
      const restored = await kernel.restore(id, { namespace: 'resumed' });
      expect(await restored.result).toMatchObject({ ok: true, value: { label: ['web'] } });
      // The copy it was restored into: a clean run listing it takes the same label (red-team pass 53).
      const resumed = await kernel.run({ code: READER, namespace: 'resumed' });
      expect(resumed).toMatchObject({ ok: true, value: { label: ['web'], mailed: 'E_TAINT' } });
      expect(sent).toEqual([]);
    } finally {
      await kernel?.close();
      kernel = undefined;
      rmSync(store, { recursive: true, force: true });
    }
  });
});
