import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import superjson from 'superjson';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../../index.js';
import { SigningKey } from '../../../runtime/capability/signing-key.js';
import { encodeBase64Url } from '../../../runtime/core/base64.js';
import { canonicalJson } from '../../../runtime/core/canonical-json.js';
import { KernelError } from '../../../runtime/core/errors.js';
import { encodeSnapshot, type SnapshotBody, SnapshotStore } from '../../../runtime/store/snapshot-store.js';
import { testKernel } from '../../helpers/kernel.js';

let kernel: Kernel | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'isokernel-snap-'));
  dirs.push(dir);
  return dir;
}

const body = (state: unknown): SnapshotBody => ({
  program: { name: 'p', id: 'a'.repeat(64) },
  capabilities: [],
  label: [],
  usage: { tokens_in: 0, tokens_out: 0, cost_usd: 0, tool_calls: 0, children: 0 },
  memory: [],
  state,
});

describe('SnapshotStore', () => {
  it('encodes rich types with superjson and decodes them back', async () => {
    const store = new SnapshotStore(tempDir(), SigningKey.generate());
    const state = {
      when: new Date(0),
      seen: new Map([['a', 1]]),
      tags: new Set(['x']),
      big: 2n ** 70n,
      nothing: undefined,
    };
    const id = await store.save(body(state));
    const loaded = await store.load(id);
    expect(loaded.state).toEqual(state);
    expect((loaded.state as { when: Date }).when).toBeInstanceOf(Date);
  });

  it('reads back repeated NaNs and bigints (equalities it skips) and keeps shared objects shared', async () => {
    const store = new SnapshotStore(undefined, SigningKey.generate());
    // Repeats under keys that exercise superjson's path syntax, inside Maps, Sets, arrays and objects.
    const repeated = fc.constantFrom(Number.NaN, 1n, 2n ** 70n, 'x', 0);
    const key = fc.constantFrom('a.b', 'a\\b', '\\.', '.', '', '0', '0.0', '1.5', 'k');
    const state = fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        repeated,
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(key, tie('value'), { maxKeys: 4 }),
        fc.array(tie('value'), { maxLength: 4 }).map((items) => new Set(items)),
        fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
      ),
    })).value;
    await fc.assert(
      fc.asyncProperty(state, async (value) => {
        const loaded = await store.load(await store.save(body(value)));
        expect(loaded.state).toEqual(value);
      }),
      { numRuns: 300 },
    );
    const shared = { n: 1 };
    const loaded = await store.load(await store.save(body({ a: shared, m: new Map([[1, shared]]), c: NaN, d: NaN })));
    const { a, m } = loaded.state as { a: object; m: Map<number, object> };
    expect(m.get(1)).toBe(a);
  });

  it('the same state gives the same id, whatever the key order or the signing key', async () => {
    const a = await encodeSnapshot(body({ x: 1, y: [1, 2], z: { b: 1, a: 2 } }));
    const b = await encodeSnapshot(body({ z: { a: 2, b: 1 }, y: [1, 2], x: 1 }));
    expect(a.id).toBe(b.id);
    expect((await encodeSnapshot(body({ x: 2 }))).id).not.toBe(a.id);
  });

  it('encodes exactly as canonical JSON of the whole body through superjson, with superjson on the state alone', async () => {
    const shared = { z: 1 };
    const states: unknown[] = [
      undefined,
      null,
      5,
      'text',
      new Date(0),
      new Map([[1, new Set([2n])]]),
      { a: new Date(1), b: [new Map([['k', { 'x.y': new Date(2) }]])], c: undefined, d: [undefined, Number.NaN] },
      { p: shared, q: shared },
      [1, [2, [3, new Date(3)]]],
    ];
    const memory: SnapshotBody['memory'] = [
      ['a', { b: [1, { c: 'd' }], e: null }, ['web']],
      ['b', 'x'.repeat(300_000), []],
      ['c', [[[[1]]]], []],
    ];
    for (const state of states) {
      const full = { ...body(state), memory };
      const { text, id } = await encodeSnapshot(full);
      expect(text).toBe(canonicalJson(superjson.serialize(full)));
      expect(await encodeSnapshot(full, { meter: (step) => step() })).toEqual({ text, id });
    }
  });

  it('stops encoding a large memory when its agent ends (E_KILLED), yielding between slices', async () => {
    const abort = new AbortController();
    const memory: SnapshotBody['memory'] = Array.from({ length: 40 }, (_, i) => [`k${i}`, 'x'.repeat(100_000), []]);
    let slices = 0;
    const encoding = encodeSnapshot(
      { ...body(1), memory },
      {
        meter: (step) => {
          slices++;
          return step();
        },
        signal: abort.signal,
      },
    );
    setImmediate(() => abort.abort());
    await expect(encoding).rejects.toMatchObject({ code: 'E_KILLED' });
    expect(slices).toBeLessThan(40);
  });

  it('stores nothing for an agent that ended while its snapshot was encoded (E_KILLED)', async () => {
    // The state's encoding is one step with no slice to stop at: an agent killed (or out of wall clock) during it
    // had its snapshot written anyway (red-team pass 92: a 60 MB file after the agent ended with E_QUOTA).
    const dir = tempDir();
    const store = new SnapshotStore(dir, SigningKey.generate());
    const abort = new AbortController();
    const saving = store.save(body({ big: 'x'.repeat(1000) }), {
      meter: (step) => {
        const result = step();
        abort.abort();
        return result;
      },
      signal: abort.signal,
    });
    await expect(saving).rejects.toMatchObject({ code: 'E_KILLED' });
    expect(await store.list()).toEqual([]);
  });

  it('refuses unknown, malformed and foreign-signed snapshots with E_BAD_SNAPSHOT', async () => {
    const dir = tempDir();
    const mine = new SnapshotStore(dir, SigningKey.generate());
    const id = await mine.save(body({ x: 1 }));
    const foreign = new SnapshotStore(dir, SigningKey.generate());
    for (const attempt of [
      () => foreign.load(id),
      () => mine.load('0'.repeat(64)),
      () => mine.load('../etc/passwd'),
      () => mine.load(42),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'E_BAD_SNAPSHOT' });
      await expect(attempt()).rejects.toBeInstanceOf(KernelError);
    }
    expect(await mine.list()).toEqual([id]);
    expect(readdirSync(dir)).toEqual([`${id}.json`]);
  });

  it('opens a snapshot with its memory parsed entry by entry, to the body load gives', async () => {
    const store = new SnapshotStore(tempDir(), SigningKey.generate());
    const memory: SnapshotBody['memory'] = [
      ['a', { deep: [[], [[]], '"],['] }, ['web']],
      ['b', 'x'.repeat(300_000), []],
      ['c', null, ['mail', 'web']],
    ];
    const id = await store.save({ ...body({ when: new Date(5), n: 1 }), label: ['web'], memory });
    const opened = await store.open(id);
    expect(opened.frame.memory).toEqual([]);
    expect(opened.size).toBe(3);
    const read: SnapshotBody['memory'][number][] = [];
    for await (const entry of opened.entries()) read.push(entry);
    expect(read).toEqual(memory);
    const loaded = await store.load(id);
    expect(loaded).toEqual({ ...opened.frame, memory });
    expect((loaded.state as { when: Date }).when).toBeInstanceOf(Date);
  });

  it('loads a signed body of a layout it cannot cut (an older writer) by parsing it whole', async () => {
    const dir = tempDir();
    const key = SigningKey.generate();
    const memory: SnapshotBody['memory'] = [['k', [1, 2], ['web']]];
    // Keys out of canonical order: the cut's layout does not match, the content id and signature do.
    const text = JSON.stringify({ json: { ...body({ s: 1 }), memory } });
    const id = createHash('sha256').update(text).digest('hex');
    const signature = encodeBase64Url(key.sign(new TextEncoder().encode(`isokernel-snapshot:v1:${id}`)));
    writeFileSync(join(dir, `${id}.json`), JSON.stringify({ id, body: text, signature }));
    const store = new SnapshotStore(dir, key);
    expect(await store.load(id)).toEqual({ ...body({ s: 1 }), memory });
  });

  it('refuses a malformed memory entry when it is reached, with E_BAD_SNAPSHOT', async () => {
    const dir = tempDir();
    const key = SigningKey.generate();
    const { text: good } = await encodeSnapshot({ ...body(1), memory: [['k', 1, []]] });
    const text = good.replace('["k",1,[]]', '["k",1,[7]]');
    const id = createHash('sha256').update(text).digest('hex');
    const signature = encodeBase64Url(key.sign(new TextEncoder().encode(`isokernel-snapshot:v1:${id}`)));
    writeFileSync(join(dir, `${id}.json`), JSON.stringify({ id, body: text, signature }));
    const store = new SnapshotStore(dir, key);
    const opened = await store.open(id);
    const reading = (async () => {
      for await (const _ of opened.entries());
    })();
    await expect(reading).rejects.toMatchObject({ code: 'E_BAD_SNAPSHOT' });
    await expect(store.load(id)).rejects.toMatchObject({ code: 'E_BAD_SNAPSHOT' });
  });
});

const PROGRAM = `export default async (input) => {
  const prev = await sys.restored();
  if (prev === undefined) {
    await sys.mem.put('notes/a', { n: 1 });
    await sys.mem.put('notes/b', 'two');
    await sys.tool('echo', input);
    return await sys.snapshot({ step: 1, input });
  }
  return await sys.snapshot(prev);
}`;

describe('snapshots in the kernel', () => {
  it('snapshot ids are identical across two runs and across a restore-then-snapshot with no change', async () => {
    const store = tempDir();
    kernel = testKernel({ store });
    const first = await kernel.run({ code: PROGRAM, input: 'hello' });
    const second = await kernel.run({ code: PROGRAM, input: 'hello', namespace: 'other' });
    expect(first).toMatchObject({ ok: true, value: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(second).toMatchObject({ ok: true, value: first.ok ? first.value : 'first run failed' });
    await kernel.close();

    // A new process (same store, same root key) restores it; the restored agent snapshots again unchanged.
    kernel = testKernel({ store });
    const id = String(first.ok ? first.value : '');
    const restored = await kernel.restore(id);
    const again = await restored.result;
    expect(again).toMatchObject({ ok: true, value: id });
    expect(again.usage.tool_calls).toBe(1);

    // Forking is restoring twice: two independent agents, two namespaces, same state.
    const forks = await Promise.all([kernel.restore(id), kernel.restore(id)]);
    const results = await Promise.all(forks.map((fork) => fork.result));
    expect(results).toMatchObject([
      { ok: true, value: id },
      { ok: true, value: id },
    ]);
    const decoded = await kernel.inspectSnapshot(id);
    expect(decoded.state).toEqual({ step: 1, input: 'hello' });
    expect(decoded.memory.map(([key]) => key)).toEqual(['notes/a', 'notes/b']);
  });

  it('a different state gives a different id', async () => {
    kernel = testKernel();
    const a = await kernel.run({ code: PROGRAM, input: 'a' });
    const b = await kernel.run({ code: PROGRAM, input: 'b', namespace: 'b' });
    expect(a).toMatchObject({ ok: true, value: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(b).toMatchObject({ ok: true, value: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(b.ok && b.value).not.toBe(a.ok && a.value);
  });

  it('restore of an unknown or malformed id rejects with E_BAD_SNAPSHOT and runs nothing', async () => {
    kernel = testKernel();
    await expect(kernel.restore('f'.repeat(64))).rejects.toMatchObject({ code: 'E_BAD_SNAPSHOT' });
    await expect(kernel.restore('../../x')).rejects.toMatchObject({ code: 'E_BAD_SNAPSHOT' });
    expect(kernel.live()).toEqual([]);
  });

  it('restoring carries the quota use: a restored agent cannot reset its tool_calls', async () => {
    kernel = testKernel({ limits: { tool_calls: 2 } });
    const snap = await kernel.run({
      code: `export default async () => { await sys.tool('echo', 1); await sys.tool('echo', 2); return sys.snapshot(null); }`,
    });
    const restored = await kernel.restore(String(snap.ok ? snap.value : ''));
    // The restored program is the same code: its first tool call is the third of the budget.
    const result = await restored.result;
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: tool_calls' } });
  });
});

describe('rich state through the guest', () => {
  const RICH = `export default async () => {
    const prev = await sys.restored();
    if (prev === undefined) {
      return await sys.snapshot({ d: new Date(0), m: new Map([['a', new Set([1, 2])]]), b: 2n ** 70n, u: undefined, n: NaN, r: /x/g });
    }
    return {
      date: prev.d instanceof Date && prev.d.getTime() === 0,
      map: prev.m instanceof Map && prev.m.get('a') instanceof Set && prev.m.get('a').has(2),
      big: typeof prev.b === 'bigint' && prev.b === 2n ** 70n,
      undef: 'u' in prev && prev.u === undefined,
      nan: Number.isNaN(prev.n),
      regexp: prev.r instanceof RegExp && prev.r.flags === 'g',
    };
  }`;

  it('Dates, Maps, Sets, BigInts, undefined, NaN and RegExps survive a snapshot and restore', async () => {
    kernel = testKernel();
    const snap = await kernel.run({ code: RICH });
    expect(snap.ok).toBe(true);
    const id = String(snap.ok ? snap.value : '');
    const decoded = await kernel.inspectSnapshot(id);
    expect((decoded.state as { d: unknown }).d).toBeInstanceOf(Date);
    const restored = await (await kernel.restore(id)).result;
    expect(restored).toMatchObject({
      ok: true,
      value: { date: true, map: true, big: true, undef: true, nan: true, regexp: true },
    });
  });

  it('a function cannot be snapshotted, and a garbled encoding from a poisoned guest is E_BAD_ARG', async () => {
    kernel = testKernel();
    const result = await kernel.run({
      code: `export default async () => {
        const codes = [];
        try { await sys.snapshot({ f() {} }); } catch (e) { codes.push(e.code); }
        // The agent rewrites what crosses: a toJSON planted on Object.prototype swaps the superjson wire for one
        // whose annotation names a type superjson does not know.
        const garbled = { json: { a: 1 }, meta: { values: { a: ['no-such-type'] } } };
        Object.defineProperty(Object.prototype, 'toJSON', {
          configurable: true,
          value() { return this !== null && typeof this === 'object' && 'json' in this && this !== garbled ? garbled : this; },
        });
        try { await sys.snapshot({ a: 1 }); codes.push('saved'); } catch (e) { codes.push(e.code); }
        return codes;
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['E_BAD_ARG', 'E_BAD_ARG'] });
  });

  it('a state with a key named prototype or constructor, at any depth, is E_BAD_ARG (superjson refuses it); a value named so is fine', async () => {
    kernel = testKernel();
    const result = await kernel.run({
      code: `export default async () => {
        const codes = [];
        for (const state of [{ prototype: 0 }, { constructor: 'x' }, { a: [{ b: { prototype: {} } }] }]) {
          try { await sys.snapshot(state); codes.push('saved'); } catch (e) { codes.push(e.code); }
        }
        codes.push(typeof (await sys.snapshot({ name: 'constructor', list: ['prototype'] })));
        return codes;
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['E_BAD_ARG', 'E_BAD_ARG', 'E_BAD_ARG', 'string'] });
  });
});
