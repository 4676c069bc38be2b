// Attack (red-team pass 39): hoard parsed memory in the kernel through concurrent snapshots. A snapshot parses the
// agent's namespace memory (up to 4 MiB of text, about 25 times that in heap for nested arrays) and kept it,
// uncounted, until it was saved; nothing bounded how many one agent had pending. 40 at once took the kernel
// process past its heap limit, and 24 stalled its event loop for 33 s. Each parsed value is now held against the
// caller's memory_mb until its snapshot is saved, and a snapshot stops at its next step once its agent has ended.
// (Its own file: the heap this churns through misleads the watchdog's estimate of the next test's agent.)
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { peakHeapGrowth } from '../helpers/heap.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { NESTED_VALUE as VALUE } from './nested-memory.js';

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it("concurrent snapshots hold their parsed memory against the caller's memory_mb", async () => {
    kernel = testKernel({ isolation, limits: { cpu_ms: 60_000, wall_ms: 60_000 } });
    const k = kernel;
    const concurrent = (count: number, memoryMb: number) =>
      peakHeapGrowth(
        k.run({
          limits: { memory_mb: memoryMb },
          code: `export default async function main() {
            const value = ${VALUE};
            for (let j = 0; j < 12; j++) await sys.mem.put('m' + j, value());
            const all = [];
            for (let i = 0; i < ${count}; i++) all.push(sys.snapshot({ i }).then(() => 'taken', (e) => e.code));
            return await Promise.all(all);
          }`,
        }),
      );
    // One snapshot fits in 256 MB (its parse, 1.3 million one-element arrays, is about 74 MB of heap, held at an
    // estimated 95 MB and then given back, beside a heap of up to 60 MB on Node 24); six at once do not fit in
    // 64 MB, which also ends them early.
    const one = await concurrent(1, 256);
    expect(one.value, JSON.stringify(one.value).slice(0, 300)).toMatchObject({ ok: true, value: ['taken'] });
    const six = await concurrent(6, 64);
    expect(six.value).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    // Before: six parses held at once, about 1 GB of kernel heap.
    expect(six.growth).toBeLessThan(600 * 1024 * 1024);
  }, 120_000);
});
