// One contract, run against every KvStore implementation: what namespace memory, file labels and undo
// records rely on must hold in memory and on disk alike (LevelDB in a real temp directory).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type KvStore, LevelKvStore, MemoryKvStore, storeIdentity } from '../../../runtime/store/kv-store.js';

const base = mkdtempSync(join(tmpdir(), 'isokernel-kv-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let dirs = 0;

interface Implementation {
  readonly name: string;
  open(): { store: KvStore; reopen?: () => KvStore };
}

const IMPLEMENTATIONS: Implementation[] = [
  { name: 'MemoryKvStore', open: () => ({ store: new MemoryKvStore() }) },
  {
    name: 'LevelKvStore',
    open: () => {
      const dir = join(base, `db-${dirs++}`);
      return { store: new LevelKvStore(dir), reopen: () => new LevelKvStore(dir) };
    },
  },
];

const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

describe.each(IMPLEMENTATIONS)('KvStore contract: $name', (implementation) => {
  let store: KvStore;
  let reopen: (() => KvStore) | undefined;
  beforeEach(() => {
    ({ store, reopen } = implementation.open());
  });
  afterEach(async () => {
    await store.close();
  });

  it('get of a key never written is undefined', async () => {
    expect(await store.get('absent')).toBeUndefined();
  });

  it('get returns what put stored, for every JSON value', async () => {
    const values = [true, 0, -1.5, 'text', 'é€😀', [], [1, [2, { a: 'b' }]], { nested: { deep: [null] } }];
    for (const [i, value] of values.entries()) await store.put(`k${i}`, value);
    for (const [i, value] of values.entries()) expect(await store.get(`k${i}`)).toEqual(value);
  });

  it.each([null, undefined])('put refuses %s with a TypeError', async (value) => {
    await expect(store.put('k', value)).rejects.toThrow(new TypeError('value must be a JSON value other than null'));
    expect(await store.get('k')).toBeUndefined();
  });

  it('put replaces the value of an existing key', async () => {
    await store.put('k', 1);
    await store.put('k', { two: 2 });
    expect(await store.get('k')).toEqual({ two: 2 });
  });

  it('a value read back is a copy: mutating it does not change the store', async () => {
    await store.put('k', { list: [1] });
    const read = (await store.get('k')) as { list: number[] };
    read.list.push(2);
    expect(await store.get('k')).toEqual({ list: [1] });
  });

  it('a value written is copied: mutating it after put does not change the store', async () => {
    const value = { list: [1] };
    await store.put('k', value);
    value.list.push(2);
    expect(await store.get('k')).toEqual({ list: [1] });
  });

  it('delete removes a key; deleting an absent key is not an error', async () => {
    await store.put('k', 1);
    await store.delete('k');
    expect(await store.get('k')).toBeUndefined();
    await expect(store.delete('never-written')).resolves.toBeUndefined();
  });

  it('list returns only keys with the prefix', async () => {
    for (const key of ['a/1', 'a/2', 'ab', 'b/1']) await store.put(key, key);
    expect((await store.list('a/', 100)).map(([key]) => key)).toEqual(['a/1', 'a/2']);
  });

  it('list returns entries with their values, at most limit of them', async () => {
    for (const key of ['p/1', 'p/2', 'p/3']) await store.put(key, { key });
    expect(await store.list('p/', 2)).toEqual([
      ['p/1', { key: 'p/1' }],
      ['p/2', { key: 'p/2' }],
    ]);
  });

  it('scan lists the same keys as list, each with what its reader made of the value as JSON text', async () => {
    const values: Record<string, unknown> = { 'p/1': { a: [1, 2, { b: 'é\u2028"' }] }, 'p/2': -0, 'p/3': 'x', q: 1e21 };
    for (const [key, value] of Object.entries(values)) await store.put(key, value);
    const listed = await store.list('p/', 100);
    const length = (text: string) => text.length;
    expect(await store.scan('p/', 100, length)).toEqual(
      listed.map(([key, value]) => [key, JSON.stringify(value).length]),
    );
    expect(await store.scan('p/', 100, (text) => JSON.parse(text) as unknown)).toEqual(listed);
    expect(await store.scan('p/', 1, length)).toHaveLength(1);
    expect(await store.scan('', 0, length)).toEqual([]);
  });

  it('property: a prefix with a NUL (one namespace of memory) lists what a full scan would', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), fc.constantFrom('a', 'b'), fc.string({ unit: 'binary-ascii', maxLength: 3 })), {
          maxLength: 20,
        }),
        fc.string({ unit: 'binary-ascii', maxLength: 1 }),
        async (operations, within) => {
          const root = `nul${run++}:`;
          const model = new Set<string>();
          for (const [isPut, group, key] of operations) {
            const full = `${root}${group}\u0000${key}`;
            if (isPut) {
              await store.put(full, 1);
              model.add(full);
            } else {
              await store.delete(full);
              model.delete(full);
            }
          }
          for (const prefix of [`${root}a\u0000`, `${root}a\u0000${within}`, root]) {
            const expected = [...model].filter((key) => key.startsWith(prefix)).sort(utf8Order);
            expect((await store.list(prefix, 1000)).map(([key]) => key)).toEqual(expected);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('list with limit 0 is empty', async () => {
    await store.put('k', 1);
    expect(await store.list('', 0)).toEqual([]);
  });

  it('list orders keys by their UTF-8 bytes (not UTF-16 units)', async () => {
    // UTF-16 puts the surrogate pair of 😀 (0xD83D) before U+FFFF; UTF-8 puts it after (F0 > EF).
    const keys = ['😀', '\uffff', 'é', 'z', 'A'];
    for (const key of keys) await store.put(key, 1);
    expect((await store.list('', 100)).map(([key]) => key)).toEqual([...keys].sort(utf8Order));
    expect([...keys].sort(utf8Order)).not.toEqual([...keys].sort());
  });

  it('property: after any sequence of puts and deletes, list equals a sorted map of the same operations', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), fc.string({ unit: 'binary-ascii', maxLength: 3 }), fc.integer()), {
          maxLength: 20,
        }),
        async (operations) => {
          const prefix = `run${run++}/`;
          const model = new Map<string, number>();
          for (const [isPut, key, value] of operations) {
            if (isPut) {
              await store.put(prefix + key, value);
              model.set(prefix + key, value);
            } else {
              await store.delete(prefix + key);
              model.delete(prefix + key);
            }
          }
          const expected = [...model.entries()].sort(([a], [b]) => utf8Order(a, b));
          expect(await store.list(prefix, 1000)).toEqual(expected);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('close can be called twice', async () => {
    await store.close();
    await expect(store.close()).resolves.toBeUndefined();
  });

  it.runIf(implementation.name === 'LevelKvStore')('what was written survives close and reopen', async () => {
    await store.put('kept', { v: 1 });
    await store.close();
    store = reopen!();
    expect(await store.get('kept')).toEqual({ v: 1 });
  });
});

describe('LevelKvStore', () => {
  it('two stores opened on one directory in one process share it', async () => {
    const dir = join(base, 'shared');
    const first = new LevelKvStore(dir);
    const second = new LevelKvStore(dir);
    await first.put('k', 'from first');
    expect(await second.get('k')).toBe('from first');
    await first.close();
    expect(await second.get('k')).toBe('from first');
    await second.close();
  });

  it('two spellings of one directory share one handle and one identity; a reopened handle is a new one', async () => {
    const dir = join(base, 'identity');
    const first = new LevelKvStore(dir);
    const second = new LevelKvStore(relative(process.cwd(), dir));
    const third = new LevelKvStore(`${dir}/`);
    const other = new LevelKvStore(join(base, 'identity-other'));
    try {
      expect(storeIdentity(second)).toBe(storeIdentity(first));
      expect(storeIdentity(third)).toBe(storeIdentity(first));
      expect(storeIdentity(other)).not.toBe(storeIdentity(first));
      await first.put('k', 'v');
      expect(await second.get('k')).toBe('v');
      const memory = new MemoryKvStore();
      expect(storeIdentity(memory)).toBe(memory);
    } finally {
      await other.close();
    }
    const before = storeIdentity(first);
    await first.close();
    await second.close();
    await third.close();
    const reopened = new LevelKvStore(dir);
    try {
      expect(storeIdentity(reopened)).not.toBe(before);
      expect(await reopened.get('k')).toBe('v');
    } finally {
      await reopened.close();
    }
  });

  it('throws TypeError for an empty directory path', () => {
    expect(() => new LevelKvStore('')).toThrow(TypeError);
  });
});
