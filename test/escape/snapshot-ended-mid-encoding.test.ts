// Attack: end an agent while its snapshot is being built, and see whether the kernel stores it anyway (SECURITY.md,
// item 5: a snapshot whose agent ended while it was encoded is not stored). The namespace holds one entry of 700,000
// arrays, which takes the snapshot a few hundred milliseconds of metered kernel time to parse and encode; the
// agent's cpu_ms runs out in the middle. A stored snapshot would be a checkpoint of an agent the kernel ended, and
// storage its quota never paid for. The kernel checks at every step (process-table.ts `alive`, the encoder's slices,
// the store's save); with all of them gone this test stores one (review 129 found the guarantee had no test).
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel, type RunResult } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('a snapshot whose agent ended while it was built is not stored', async () => {
    kernel = testKernel({
      isolation,
      maxPayloadBytes: 4 * 1024 * 1024,
      tools: [
        defineTool({
          name: 'page',
          description: 'a large page',
          input: z.strictObject({}),
          run: () => Array.from({ length: 700_000 }, () => []),
        }),
      ],
      policy: { capabilities: [{ action: 'page', resource: 'page' }] },
    });
    const writer = await kernel.run({
      code: `export default async () => { await sys.mem.put('a', await sys.tool('page', {})); }`,
      namespace: 'shared',
    });
    expect(writer.ok).toBe(true);
    // The limit must leave room for starting the agent (10-100 ms of CPU in the process tier under a loaded CI) and
    // end it within the snapshot's 250-1000 ms: it doubles until the agent got as far as the snapshot.
    let result: RunResult | undefined;
    for (let cpu_ms = 60; result === undefined || result.usage.syscalls === 0; cpu_ms *= 2) {
      expect(cpu_ms).toBeLessThan(1000);
      result = await kernel.run({
        code: `export default async () => { await sys.snapshot({}); return 'snapshot taken'; }`,
        namespace: 'shared',
        limits: { cpu_ms, memory_mb: 256 },
      });
    }
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: cpu_ms' } });
    expect(await kernel.snapshots.list()).toEqual([]);
  }, 60_000);
});
