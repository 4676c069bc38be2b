// Attack (red-team pass 68): shape the namespace memory a snapshot covers so that loading it stalls the kernel.
// A snapshot covers up to 4 MiB of memory, and a restore (or an inspection) parsed the whole body in one
// `JSON.parse`: 4 MiB written as 1.4 million empty arrays held the event loop 0.5–0.7 s and grew the heap by
// 200–250 MB per load, every other agent's syscalls, timers and kill deadlines frozen meanwhile. The body is now
// cut around its memory and each entry parsed when it is reached, so no step is longer than the parse of one
// `sys.mem.put`'s value, which the agent paid for when it put it, and a restore holds one entry at a time.
import { afterEach, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { longestGap } from '../helpers/stall.js';

const ENTRIES = 8;
const ARRAYS = 165_000; // three characters each: eight entries just under the snapshot's 4 MiB of memory

const SHAPE = `export default async function main() {
  const restored = await sys.restored();
  if (restored !== undefined) return 'restored';
  const value = Array.from({ length: ${ARRAYS} }, () => []);
  for (let j = 0; j < ${ENTRIES}; j++) await sys.mem.put('m' + j, value);
  return await sys.snapshot({ step: 1 });
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

it('restoring or inspecting a snapshot of shaped memory never stalls the kernel for the parse of its whole memory', async () => {
  kernel = testKernel({ limits: { cpu_ms: 60_000, wall_ms: 60_000, memory_mb: 512 } });
  const made = await kernel.run({ code: SHAPE, namespace: 'mallory' });
  expect(made.ok, JSON.stringify(made).slice(0, 300)).toBe(true);
  const id = made.ok ? (made.value as string) : '';
  const k = kernel;

  const restored = await longestGap(async () => (await k.restore(id, { namespace: 'copy' })).result);
  expect(restored.value).toMatchObject({ ok: true, value: 'restored' });
  const inspected = await longestGap(() => k.inspectSnapshot(id));
  expect(inspected.value.memory).toHaveLength(ENTRIES);
  const [restore, inspect] = [restored.gapMs, inspected.gapMs];

  // The floor, in the same run: one parse of the same memory's text, the step a load took before.
  const entry = `[${'[],'.repeat(ARRAYS - 1)}[]]`;
  const memoryText = `[${Array.from({ length: ENTRIES }, (_, j) => `["m${j}",${entry},[]]`).join(',')}]`;
  let floor = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    if (!Array.isArray(JSON.parse(memoryText))) throw new Error('unreachable');
    floor = Math.min(floor, performance.now() - started);
  }
  // Before: the restore stalled 6–9 times the floor (superjson and the body's schema walked the parsed memory in
  // the same step); now about half of it, the envelope's parse, the content hash and a collection included.
  expect(restore, `restore stalled ${restore.toFixed(0)} ms, floor ${floor.toFixed(0)} ms`).toBeLessThan(2 * floor);
  expect(inspect, `inspect stalled ${inspect.toFixed(0)} ms, floor ${floor.toFixed(0)} ms`).toBeLessThan(2 * floor);
}, 120_000);
