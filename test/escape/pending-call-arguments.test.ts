// Attack (red-team passes 37 and 38): park arguments in the kernel. A pending tool call keeps its decoded
// arguments in the kernel until it settles, whether it waits for a place of a bounded tool (`maxInFlight`) or runs
// a tool that awaits something, and a pending call was charged a flat 8 KiB whatever they were. One agent of
// memory_mb 128 queued 30 calls of 1 MiB of nested arrays and held about 700 MB of kernel heap (outside
// memory_mb and the kernel's maxHeldBytes); 40 running calls of an unbounded tool held 492 MB. A pending call now
// holds the estimated size of its arguments against the caller's memory_mb until it settles.

import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { peakHeapGrowth } from '../helpers/heap.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { slowLookupTool } from '../helpers/slow-tool.js';

const MiB = 1024 * 1024;

/** Makes `calls` calls of `tool` at once, each with the same million-character argument. */
const QUEUE = (calls: number, tool = 'post') => `export default async () => {
  const body = 'x'.repeat(1000 * 1000);
  const all = [];
  for (let i = 0; i < ${calls}; i++) all.push(sys.tool('${tool}', body).then(() => 'ok', (e) => e.code));
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
    // A large document kept as a handle, and a tool that reads what it is given.
    const doc = defineTool({
      name: 'doc',
      description: 'fetches a large document',
      input: z.unknown(),
      run: () => 'd'.repeat(10_000_000),
    });
    const count = defineTool({
      name: 'count',
      description: 'counts the characters of a document',
      input: z.strictObject({ text: z.string() }),
      run: ({ text }) => text.length,
    });
    kernel = testKernel({
      isolation,
      tools: [post, slowLookupTool(), doc, count],
      policy: {
        capabilities: [
          { action: 'post', resource: 'post' },
          { action: 'lookup', resource: 'lookup' },
          { action: 'doc', resource: 'doc' },
          { action: 'count', resource: 'count' },
          { action: 'agent.spawn', resource: '*' },
        ],
      },
    });
    // Receives a task and keeps its handoff pending for a while.
    kernel.programs.add(
      'slow',
      'export default async () => { await new Promise((r) => setTimeout(r, 1500)); return 1; }',
    );
    return kernel;
  }

  it('a handoff holds its task until the receiver ends: 16 handoffs of 2 MB each end an agent of memory_mb 32', async () => {
    // Twelve held 24 MB, which ended the agent only with its heap and what the watchdog over-charged an idle isolate
    // (review 141 stopped charging an isolate that had not run); on Node 24, whose heap is smaller, it survived.
    // Sixteen cross the limit by their holds alone.
    const result = await postKernel().run({
      limits: { memory_mb: 32, cpu_ms: 20_000 },
      code: `export default async () => {
        const task = 'x'.repeat(1000 * 1000);
        const all = [];
        for (let i = 0; i < 16; i++) all.push(sys.handoff({ to: 'slow', task }).then(() => 'ok', (e) => e.code));
        return await Promise.all(all);
      }`,
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
  }, 60_000);

  it('benign twin: a handle passed to a tool is held once, by the handle table, not again as an argument', async () => {
    // 20 MB held for the handle, which does not fit twice in memory_mb 32.
    const result = await postKernel().run({
      limits: { memory_mb: 32 },
      code: `export default async () => {
        const text = await sys.tool('doc', null, { handle: true });
        return await sys.tool('count', { text });
      }`,
    });
    expect(result, JSON.stringify(result).slice(0, 300)).toMatchObject({ ok: true, value: 10_000_000 });
  }, 60_000);

  it('calls waiting for a place hold their arguments: 40 of 2 MB each end an agent of memory_mb 32', async () => {
    const { value, growth } = await peakHeapGrowth(
      postKernel().run({ code: QUEUE(40), limits: { memory_mb: 32, cpu_ms: 20_000 } }),
    );
    expect(value).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    // Before: all 40 waited, about 80 MB of arguments and payloads in the kernel for a 32 MB agent. (In the process
    // tier the host sends every call's frame before the first is answered, so the kernel's heap sees them all.)
    if (isolation === 'inline') expect(growth).toBeLessThan(48 * MiB);
  }, 60_000);

  it('running calls hold their arguments too: 40 awaiting calls of an unbounded tool end an agent of memory_mb 32', async () => {
    const { value, growth } = await peakHeapGrowth(
      postKernel().run({ code: QUEUE(40, 'lookup'), limits: { memory_mb: 32, cpu_ms: 20_000 } }),
    );
    expect(value).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    if (isolation === 'inline') expect(growth).toBeLessThan(48 * MiB);
  }, 60_000);

  it('benign twin: a few calls waiting for a place fit', async () => {
    const result = await postKernel().run({ code: QUEUE(4), limits: { memory_mb: 32 } });
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: ['ok', 'ok', 'ok', 'ok'] });
  }, 60_000);
});
