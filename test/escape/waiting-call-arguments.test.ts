// Attack (red-team pass 37): park arguments in the kernel. A call of a bounded tool (`maxInFlight`) past its bound
// waits for a place, and while it waits the kernel keeps its decoded arguments; a pending call was charged a flat
// 8 KiB whatever they were. One agent of memory_mb 128 queued 30 calls of 1 MiB of nested arrays and held about
// 700 MB of kernel heap, outside memory_mb and outside the kernel's maxHeldBytes. A waiting call now holds the
// estimated size of its arguments against the caller's memory_mb until it starts.

import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { peakHeapGrowth } from '../helpers/heap.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const MiB = 1024 * 1024;

/** Queues `calls` calls of the one-at-a-time `post` tool, each with the same million-character argument. */
const QUEUE = (calls: number) => `export default async () => {
  const body = 'x'.repeat(1000 * 1000);
  const all = [];
  for (let i = 0; i < ${calls}; i++) all.push(sys.tool('post', body).then(() => 'ok', (e) => e.code));
  return await Promise.all(all);
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  function postKernel(): Kernel {
    const post = defineTool({
      name: 'post',
      description: 'sends its argument somewhere slow, one call at a time',
      input: z.unknown(),
      maxInFlight: 1,
      run: async () => {
        await sleep(40);
        return 'sent';
      },
    });
    kernel = testKernel({
      isolation,
      tools: [post],
      policy: { capabilities: [{ action: 'post', resource: 'post' }] },
    });
    return kernel;
  }

  it('calls waiting for a place hold their arguments: 40 of 2 MB each end an agent of memory_mb 32', async () => {
    const { value, growth } = await peakHeapGrowth(
      postKernel().run({ code: QUEUE(40), limits: { memory_mb: 32, cpu_ms: 20_000 } }),
    );
    expect(value).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    // Before: all 40 waited, about 40 MB of arguments in the kernel for a 32 MB agent.
    expect(growth).toBeLessThan(32 * MiB);
  }, 60_000);

  it('benign twin: a few calls waiting for a place fit', async () => {
    const result = await postKernel().run({ code: QUEUE(4), limits: { memory_mb: 32 } });
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: ['ok', 'ok', 'ok', 'ok'] });
  }, 60_000);
});
