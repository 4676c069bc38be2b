// Attack (kernel-side exhaustion, left open by the snapshot-amplification fix): make the kernel parse a whole
// namespace at once. The kernel counts a namespace's size (for its 16 MiB bound) the first time the namespace is
// written in a process, and it counted by listing every entry, parsed, and encoding each again. In a store
// directory left by an earlier run, 16 MiB of deeply nested arrays made that first count take about a second of
// the event loop and about 450 MB of the kernel's heap (parsing multiplies nested arrays about 25 times), for
// one small `sys.mem.put`. The count now reads each entry's stored text length without parsing it.
// Kernel-side only (the count runs in the kernel whatever the tier), so inline.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { peakHeapGrowth } from '../helpers/heap.js';
import { testKernel } from '../helpers/kernel.js';

const MiB = 1024 * 1024;
const LIMITS = { cpu_ms: 120_000, wall_ms: 120_000, syscalls: 1000 };

// About 14 MiB of JSON: 56 values of 2,000 arrays nested 55 deep (~0.25 MB each).
const FILL = `export default async function main() {
  const o = {};
  for (let i = 0; i < 2000; i++) {
    let v = 0;
    for (let d = 0; d < 55; d++) v = [v];
    o['k' + i] = v;
  }
  for (let j = 0; j < 56; j++) await sys.mem.put('m' + j, o);
  return 'filled';
}`;

describe('the first count of a namespace stored by an earlier run', () => {
  let kernel: Kernel | undefined;
  let store = '';
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(store, { recursive: true, force: true });
  });

  it('does not parse the namespace: one small sys.mem.put grows the heap by far less than the parsed memory', async () => {
    store = await mkdtemp(join(tmpdir(), 'isokernel-count-'));
    kernel = testKernel({ store, limits: LIMITS });
    const filled = await kernel.run({ code: FILL, namespace: 'victim' });
    expect(filled).toMatchObject({ ok: true, value: 'filled' });
    await kernel.close();
    // A new kernel process would start here: the count is per process, so a new kernel on the same store.
    kernel = testKernel({ store, limits: LIMITS });
    const warm = await kernel.run({ code: 'export default async () => 1' });
    expect(warm).toMatchObject({ ok: true });
    const { value, growth } = await peakHeapGrowth(
      kernel.run({
        namespace: 'victim',
        code: `export default async function main() {
          const started = Date.now();
          await sys.mem.put('small', 1);
          return Date.now() - started;
        }`,
      }),
      2,
    );
    expect(value).toMatchObject({ ok: true });
    // Before: 347 MB (every entry parsed at once); 14 MB after, about what the stored text is as UTF-16.
    expect(growth).toBeLessThan(128 * MiB);
  }, 180_000);
});
