// Attack (red-team pass 29, kernel-side exhaustion): a burst of concurrent fs.read calls of a file far larger than a
// reply may be. Each call was read whole (10 MiB), hashed, decoded and JSON-encoded before the dispatcher refused
// the reply as too large: the agent got E_TOOL_FAILED every time and could loop. One agent with memory_mb 64 took
// the kernel process to 1.1-2.1 GB of RSS, 9-24 s of CPU against 0.9-2 s charged, and a 1.6-3 s event-loop stall;
// inline, the growth was charged to whichever isolates were busy, and another tenant's agent ended E_QUOTA.
// Defense: fs.read refuses a file larger than the reply cap from its size, before reading; a read for a handle
// holds its bytes against the caller's memory_mb; and each fs tool has a bound on calls in flight per tree.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFsTools, type Kernel } from '../../index.js';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { testToolContext } from '../helpers/tool-context.js';

const MB = 1024 * 1024;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  let root: string | undefined;

  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  function bigFileKernel(): Kernel {
    root = mkdtempSync(join(tmpdir(), 'isokernel-fs-burst-'));
    writeFileSync(join(root, 'big.txt'), 'a'.repeat(10 * MB));
    writeFileSync(join(root, 'small.txt'), 'hello');
    kernel = testKernel({
      isolation,
      tools: createFsTools({ roots: [root] }),
      policy: { capabilities: [{ action: 'fs.read', resource: `${root}/**` }] },
    });
    return kernel;
  }

  /** Runs `code` while sampling the growth of this (the kernel's) process's resident memory. */
  async function withPeakRss(run: () => Promise<unknown>): Promise<{ value: unknown; peak: number }> {
    let peak = 0;
    const base = process.memoryUsage().rss;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss - base);
    }, 10);
    try {
      return { value: await run(), peak };
    } finally {
      clearInterval(timer);
    }
  }

  const BURST = `export default async ({ n, handle }) => Promise.all(Array.from({ length: n }, () =>
    sys.tool('fs.read', { path: 'big.txt' }, { handle }).then(() => 'ok', (e) => e.code + ': ' + e.message)))`;

  it('a burst of reads of a file larger than a reply is refused from its size, before any is read', async () => {
    const k = bigFileKernel();
    const { value, peak } = await withPeakRss(() =>
      k.run({ code: BURST, input: { n: 50, handle: false }, limits: { memory_mb: 64, cpu_ms: 2000 } }),
    );
    expect(value).toMatchObject({ ok: true });
    const answers = (value as { value: string[] }).value;
    expect(new Set(answers)).toEqual(
      new Set([
        'E_TOOL_FAILED: fs.read: "big.txt" is larger than a result may be (1048576 bytes); read it with { handle: true }',
      ]),
    );
    // Before: 385-578 MB of growth in this test (1 GB and more with more calls).
    expect(peak).toBeLessThan(128 * MB);
  }, 60_000);

  it('a burst of reads for handles holds their bytes against memory_mb, so the reader ends before the kernel grows', async () => {
    const k = bigFileKernel();
    const { value, peak } = await withPeakRss(() =>
      k.run({ code: BURST, input: { n: 50, handle: true }, limits: { memory_mb: 64, cpu_ms: 4000 } }),
    );
    // Handles of 10 MiB each are the agent's memory: it cannot keep more than a few.
    expect(value).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
    // Before: 520-535 MB when this test ran alone (the reads ran, and held their bytes, before any handle counted).
    expect(peak).toBeLessThan(128 * MB);
  }, 60_000);

  it('benign twin: a small file reads whole, and one large file reads into a handle within memory_mb', async () => {
    const k = bigFileKernel();
    const result = await k.run({
      code: `export default async () => {
        const small = await sys.tool('fs.read', { path: 'small.txt' });
        const big = await sys.tool('fs.read', { path: 'big.txt' }, { handle: true });
        return [small.content, typeof big];
      }`,
      limits: { memory_mb: 128 },
    });
    expect(result).toMatchObject({ ok: true, value: ['hello', 'object'] });
  }, 60_000);
});

// Review 126: fs.write and fs.delete read the file they replace or remove (for undo) with no hold at all: four
// writes at once over 10 MiB files took an agent under memory_mb 8 30-80 MB past it before it was ended. Those
// bytes are now the caller's memory while they are saved, as fs.read's are.
describe('the old bytes fs.write and fs.delete save for undo', () => {
  it('are held against the caller while they are read and saved', async () => {
    const root = mkdtempSync(join(tmpdir(), 'isokernel-fs-undo-hold-'));
    try {
      writeFileSync(join(root, 'a.txt'), 'a'.repeat(4 * MB));
      writeFileSync(join(root, 'b.txt'), 'b'.repeat(4 * MB));
      const tools = new Map(createFsTools({ roots: [root] }).map((tool) => [tool.name, tool]));
      const use = async (name: string, args: Record<string, unknown>) => {
        const tool = tools.get(name);
        if (tool === undefined) throw new Error(`no ${name}`);
        const ctx = testToolContext();
        await runToolUse(prepareToolUse(tool, args), ctx);
        return ctx.holding;
      };
      const wrote = await use('fs.write', { path: 'a.txt', content: 'x' });
      const deleted = await use('fs.delete', { path: 'b.txt' });
      expect(wrote.peak).toBeGreaterThanOrEqual(8 * MB);
      expect(deleted.peak).toBeGreaterThanOrEqual(8 * MB);
      expect([wrote.now, deleted.now]).toEqual([0, 0]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
