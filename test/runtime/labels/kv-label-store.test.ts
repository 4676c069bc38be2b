import { describe, expect, it } from 'vitest';
import { KvLabelStore } from '../../../runtime/labels/kv-label-store.js';
import { MemoryKvStore } from '../../../runtime/store/kv-store.js';

describe('KvLabelStore.raise', () => {
  it('joins into the kept label, returns the result, and grows the union', async () => {
    const labels = new KvLabelStore(new MemoryKvStore());
    expect(await labels.raise('k', ['web'])).toEqual(['web']);
    expect(await labels.raise('k', ['secret', 'web'])).toEqual(['secret', 'web']);
    expect(await labels.get('k')).toEqual(['secret', 'web']);
    expect(await labels.all()).toEqual(['secret', 'web']);
    // Nothing to add: the kept label, unchanged.
    expect(await labels.raise('k', [])).toEqual(['secret', 'web']);
    expect(await labels.raise('other', [])).toEqual([]);
  });

  it('concurrent raises and sets lose no tag, in the key or the union', async () => {
    const kv = new MemoryKvStore();
    const labels = new KvLabelStore(kv);
    const tags = Array.from({ length: 20 }, (_, i) => `t${i}`);
    await Promise.all(tags.map((tag) => labels.raise('k', [tag])));
    expect([...(await labels.get('k'))].sort()).toEqual([...tags].sort());
    // Two stores over one KvStore share the order.
    const other = new KvLabelStore(kv);
    await Promise.all([labels.set('/a', ['x']), other.set('/b', ['y']), other.raise('/c', ['z'])]);
    expect(await labels.all()).toEqual(expect.arrayContaining([...tags, 'x', 'y', 'z']));
  });

  it('runs in call order: a set after a raise replaces it', async () => {
    const labels = new KvLabelStore(new MemoryKvStore());
    await Promise.all([labels.raise('k', ['secret']), labels.set('k', ['web'])]);
    expect(await labels.get('k')).toEqual(['web']);
    // The union only grows.
    expect(await labels.all()).toEqual(['secret', 'web']);
  });

  it('a failed change does not block the next', async () => {
    const labels = new KvLabelStore(new MemoryKvStore());
    await expect(labels.raise('k', ['not a tag!'])).rejects.toThrow();
    expect(await labels.raise('k', ['web'])).toEqual(['web']);
  });
});

describe('KvLabelStore past MAX_LABEL_TAGS', () => {
  const tags = (prefix: string) => Array.from({ length: 40 }, (_, i) => `${prefix}${i}`);

  it('a key or a union raised past the limit is the top label, kept and read back as such', async () => {
    const kv = new MemoryKvStore();
    const labels = new KvLabelStore(kv);
    await labels.raise('a', tags('x'));
    expect(await labels.raise('a', tags('y'))).toEqual(['*']);
    expect(await labels.get('a')).toEqual(['*']);
    await labels.set('b', ['web']);
    expect(await labels.all()).toEqual(['*']);
    expect(await kv.get('labels-union')).toEqual(['*']);
  });

  it('the top raised onto a key of one tag replaces it (a join of the same length that adds tags)', async () => {
    const labels = new KvLabelStore(new MemoryKvStore());
    await labels.raise('k', ['web']);
    expect(await labels.raise('k', ['*'])).toEqual(['*']);
    expect(await labels.get('k')).toEqual(['*']);
    expect(await labels.all()).toEqual(['*']);
  });

  it('a stored label that does not parse (past the limit, malformed) reads as the top, never as less', async () => {
    const kv = new MemoryKvStore();
    const labels = new KvLabelStore(kv);
    await kv.put('label:a', [...tags('x'), ...tags('y')]);
    await kv.put('label:b', ['Web']);
    await kv.put('label:c', 'web');
    await kv.put('labels-union', [...tags('x'), ...tags('y')]);
    for (const key of ['a', 'b', 'c']) expect(await labels.get(key)).toEqual(['*']);
    expect(await labels.all()).toEqual(['*']);
  });
});
