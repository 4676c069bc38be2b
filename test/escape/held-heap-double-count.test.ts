// Attack: hold twice memory_mb. The kernel keeps some of an agent's memory in its own heap (handles, children's
// results buffered for join, pending calls: `HeldMemory`) and the watchdog measures the isolate's heap; each was
// checked against memory_mb alone, so an agent could fill both (SECURITY.md listed it under "One memory
// figure"). The watchdog now counts the held bytes with the heap. Whether the sum crosses depends on what was
// held, so a memory kill carries the label of everything the agent held: a clean agent holding a labelled
// handle it never reads is ended because of that handle's size.

import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const MEMORY_MB = 32;

/**
 * Holds `handles` values of about 2 MB each (a million characters, estimated at two bytes each) from `tool`,
 * then keeps a 8 MB array on its own heap while the watchdog reads it.
 */
const holdsAndGrows = (tool: string, handles: number) => `export default async () => {
  const unit = "x".repeat(1000 * 1000);
  const kept = [];
  for (let i = 0; i < ${handles}; i++) kept.push(await sys.tool('${tool}', unit, { handle: true }));
  const heap = new Array(1_000_000).fill(1.5);
  for (let i = 0; i < 10; i++) await sys.tool('sleep', { ms: 30 });
  return [kept.length, heap.length, ...(await sys.label())];
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;

  function heldKernel(): Kernel {
    const page = defineTool({
      name: 'page',
      description: 'answers from the web',
      input: z.unknown(),
      labels: { source: ['web'] },
      run: (args) => args,
    });
    kernel = testKernel({
      isolation,
      tools: [page],
      policy: {
        capabilities: [
          { action: 'echo', resource: 'echo' },
          { action: 'page', resource: 'page' },
          { action: 'sleep', resource: 'sleep' },
        ],
      },
    });
    return kernel;
  }

  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  describe('held bytes and heap against one memory_mb', () => {
    it('24 MB held in the kernel and 8 MB on the heap end an agent of memory_mb 32', async () => {
      const result = await heldKernel().run({ code: holdsAndGrows('echo', 12), limits: { memory_mb: MEMORY_MB } });
      expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    }, 60_000);

    it('benign twin: the same heap with 4 MB held fits', async () => {
      const result = await heldKernel().run({ code: holdsAndGrows('echo', 2), limits: { memory_mb: MEMORY_MB } });
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: [2, 1_000_000] });
    }, 60_000);

    it("a kill decided by a labelled handle's size carries its label, though the agent never read it", async () => {
      const result = await heldKernel().run({ code: holdsAndGrows('page', 12), limits: { memory_mb: MEMORY_MB } });
      expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
      expect(result.label).toContain('web');
    }, 60_000);

    it('benign twin: a labelled handle held and never read leaves a run that fits clean', async () => {
      const result = await heldKernel().run({ code: holdsAndGrows('page', 2), limits: { memory_mb: MEMORY_MB } });
      // The agent stays clean (its own label ends the value); the report of its usage carries the handle's label,
      // since the kernel's time sizing the handle is in it (kernel-time-laundering.test.ts).
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: [2, 1_000_000] });
      expect(result.label).toContain('web');
    }, 60_000);
  });
});
