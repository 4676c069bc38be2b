// Attack (review 116): amplify a snapshot through superjson's referential equalities. superjson lists every repeat
// of a bigint (or NaN) by its absolute path. An agent forges the wire its guest copy of superjson sends (a toJSON on
// Object.prototype, as in forged-superjson-wire.test.ts): a map of 30 bigints `1n`, its annotations relative to the
// map, under a 500,000-character key, about 1 MB. Encoded, each repeat's path carried the key: a 31 MB snapshot,
// 0.4 s of the kernel's event loop to save and 4 s (8 s at 60 repeats) of superjson to restore, every restore. The
// annotation paths of a state may now take no more than the payload cap (an honest guest's wire carries the same
// paths, so its states fit); past it the snapshot is refused E_BAD_ARG.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// `bigint`: the forged map's values are 1n; otherwise the number 1 (a wire of the same size with nothing to repeat).
const forging = (bigint: boolean) => `export default async () => {
  const K = 'k'.repeat(500000);
  const entries = Array.from({ length: 30 }, (_, i) => [i, ${bigint ? "'1'" : '1'}]);
  const children = {};
  for (let i = 0; i < 30; i++) children[i + '.1'] = ['bigint'];
  const forged = { json: { [K]: entries }, meta: { v: 1, values: { [K]: ${bigint ? "['map', children]" : "['map']"} } } };
  await sys.snapshot({ warm: 1 });
  Object.defineProperty(Object.prototype, 'toJSON', {
    configurable: true,
    value() { return this !== null && typeof this === 'object' && 'json' in this && this !== forged ? forged : this; },
  });
  try {
    return { id: await sys.snapshot({ any: 1 }) };
  } catch (error) {
    return { code: error.code };
  } finally {
    delete Object.prototype.toJSON;
  }
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('refuses a state whose equality paths would take more than the payload cap; the same wire of numbers saves', async () => {
    kernel = testKernel({ isolation, limits: { memory_mb: 1024, cpu_ms: 60_000, wall_ms: 120_000 } });
    expect(await kernel.run({ code: forging(true) })).toMatchObject({ ok: true, value: { code: 'E_BAD_ARG' } });
    expect(await kernel.run({ code: forging(false) })).toMatchObject({ ok: true, value: { id: expect.any(String) } });
  });

  it('saves and restores an honest state of repeated bigints', async () => {
    kernel = testKernel({ isolation });
    const code = `export default async () => {
      const back = await sys.restored();
      if (back !== null && back !== undefined) return back.k.map((v) => typeof v + ':' + String(v));
      return { id: await sys.snapshot({ k: [1n, 1n, 2n, NaN, NaN] }) };
    }`;
    const saved = await kernel.run({ code });
    expect(saved).toMatchObject({ ok: true, value: { id: expect.any(String) } });
    const id = (saved as { value: { id: string } }).value.id;
    expect(await (await kernel.restore(id)).result).toMatchObject({
      ok: true,
      value: ['bigint:1', 'bigint:1', 'bigint:2', 'number:NaN', 'number:NaN'],
    });
  });
});
