// Attack (red-team pass 118): make the kernel decode an agent's result for free. An agent's result is decoded (and,
// for a child, sized for its parent's join) on the kernel's event loop after the agent has ended, and that time
// was charged to nobody: ten children returning 320,000 empty arrays each (about 960 KB, under the payload cap) held
// the kernel's loop 2-3 s per run with 10-100 ms of kernel_ms charged in all. The decoding is now the ended agent's
// kernel time (its ancestors' cpu_ms), the sizing too.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel, KernelEvent } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const ARRAYS = 320_000;

// The floor, in the same run: one JSON.parse of the result's text, less than the kernel's decoding (it copies too).
function parseFloor(): number {
  const text = `[${'[],'.repeat(ARRAYS - 1)}[]]`;
  let floor = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    JSON.parse(text);
    floor = Math.min(floor, performance.now() - started);
  }
  return floor;
}

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it("an agent's result of many empty arrays is charged as the kernel's time decoding it", async () => {
    kernel = testKernel({ isolation, limits: { cpu_ms: 60_000, wall_ms: 60_000, memory_mb: 512 } });
    const result = await kernel.run({
      code: `export default async () => Array.from({ length: ${ARRAYS} }, () => [])`,
    });
    expect(result.ok).toBe(true);
    const floor = parseFloor();
    const charged = result.usage.kernel_ms ?? 0;
    expect(charged, `kernel_ms ${charged.toFixed(1)}, one parse ${floor.toFixed(1)} ms`).toBeGreaterThan(floor / 2);
  });

  it("each child's result is charged to it, where its parent's budget counts it", async () => {
    kernel = testKernel({
      isolation,
      limits: { cpu_ms: 60_000, wall_ms: 60_000, memory_mb: 512 },
      policy: { capabilities: [{ action: 'agent.spawn', resource: 'inline' }] },
    });
    const exits: Extract<KernelEvent, { type: 'exit' }>[] = [];
    kernel.on('exit', (event) => exits.push(event));
    const parent = kernel.spawn({
      code: `export default async () => {
        const ids = [];
        for (let i = 0; i < 3; i++) ids.push(await sys.spawn({ code: 'export default async () => Array.from({ length: ${ARRAYS} }, () => [])' }));
        for (const id of ids) await sys.join(id);
      }`,
    });
    const result = await parent.result;
    expect(result.ok, JSON.stringify(result).slice(0, 300)).toBe(true);
    const children = exits.filter((event) => event.agent !== parent.id);
    expect(children).toHaveLength(3);
    const floor = parseFloor();
    for (const child of children) {
      const charged = child.result.usage.kernel_ms ?? 0;
      expect(charged, `kernel_ms ${charged.toFixed(1)}, one parse ${floor.toFixed(1)} ms`).toBeGreaterThan(floor / 2);
    }
  });
});
