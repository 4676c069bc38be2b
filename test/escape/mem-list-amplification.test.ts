// Attack (red-team pass 34): make the kernel parse an agent's whole namespace for a call that answers only key
// names. `sys.mem.list` returns keys, but it read every listed value (parsed) to learn its label; nested arrays
// grow about 25 times when parsed, so one list over 13 MB of them took the kernel 3-5 s of blocked event loop and
// hundreds of MB of heap, and with a store directory that parse ran after the call's first await, uncharged
// (8 concurrent lists: 42 s of kernel CPU, 14 ms charged, 1.3 GB of heap). Entries are now stored label first,
// and a listing reads the label from the head of the stored text without parsing the value.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { peakHeapGrowth } from '../helpers/heap.js';
import { testKernel } from '../helpers/kernel.js';

const MiB = 1024 * 1024;

/** 20 values of about 240 KB of JSON each: 2000 keys of arrays nested 55 deep (or flat strings as long). */
const FILL = (nested: boolean) => `export default async () => {
  const o = {};
  for (let i = 0; i < 2000; i++) {
    let v = 0;
    for (let d = 0; d < 55; d++) v = ${nested ? '[v]' : "'x'"};
    o['k' + i] = ${nested ? 'v' : "'x'.repeat(110)"};
  }
  for (let j = 0; j < 20; j++) await sys.mem.put('m' + j, o);
  return JSON.stringify(o).length * 20;
}`;

const LIST = `export default async () => {
  const counts = [];
  for (let i = 0; i < 3; i++) counts.push((await sys.mem.list('')).length);
  return counts;
}`;

describe.each([
  ['in memory', false],
  ['store directory', true],
] as const)('mem.list %s', (_name, withStore) => {
  let kernel: Kernel | undefined;
  let store: string | undefined;

  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    if (store !== undefined) await rm(store, { recursive: true, force: true });
    store = undefined;
  });

  async function filledKernel(nested: boolean): Promise<Kernel> {
    store = withStore ? await mkdtemp(join(tmpdir(), 'isokernel-mem-list-')) : undefined;
    kernel = testKernel({ ...(store === undefined ? {} : { store }), limits: { cpu_ms: 30_000, wall_ms: 60_000 } });
    const filled = await kernel.run({ code: FILL(nested), namespace: 'victim' });
    expect(filled, JSON.stringify(filled)).toMatchObject({ ok: true });
    expect((filled as { value: number }).value).toBeGreaterThan(4 * MiB);
    return kernel;
  }

  // The flat strings are the benign twin: the same listing over the same amount of JSON.
  it.each([
    ['nested arrays', true],
    ['flat strings', false],
  ] as const)(
    'listing 5 MB of %s does not parse them: the kernel heap stays flat',
    async (_kind, nested) => {
      const k = await filledKernel(nested);
      const { value, growth } = await peakHeapGrowth(k.run({ code: LIST, namespace: 'victim' }));
      expect(value, JSON.stringify(value)).toMatchObject({ ok: true, value: [20, 20, 20] });
      // Parsed, each list of the nested arrays built about 125 MB (before: hundreds of MB at the peak).
      expect(growth).toBeLessThan(48 * MiB);
    },
    120_000,
  );
});
