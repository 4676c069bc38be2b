// Attack (red-team pass 118): stall the kernel at every opening of a snapshot. superjson lists each repeat of a NaN
// or bigint as a referential equality, and its deserializer applied each listed path with a walk from the start of
// every Map or Set on it: `sys.snapshot(new Set(Array.from({ length: 18000 }, () => [NaN])))`, one call of about 0.7
// MB, made every `kernel.restore` and `kernel.inspectSnapshot` of it hold the event loop 1.2–1.3 s (O(n²), charged
// to nobody). Equalities of primitives change nothing and are no longer applied. At 24,000: 740–1,460 ms before,
// 140–160 ms now (superjson's value annotations), against 30–55 ms for as many zeros in the same run.
import { afterEach, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { longestGap } from '../helpers/stall.js';

const N = 24_000;

// Saved once; restored (input 'restored'), it says what its state holds.
const agent = (item: string) => `export default async (input) => {
  if (input === 'restored') {
    const state = await sys.restored();
    let nans = 0;
    for (const [value] of state) if (Number.isNaN(value)) nans++;
    return { size: state.size, nans };
  }
  return await sys.snapshot(new Set(Array.from({ length: ${N} }, () => [${item}])));
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

it('opening a snapshot of many repeated NaNs in a Set stalls no longer than one of as many zeros', async () => {
  kernel = testKernel({ limits: { cpu_ms: 60_000, wall_ms: 60_000, memory_mb: 512 } });
  const k = kernel;
  const open = async (item: string) => {
    const saved = await k.run({ code: agent(item) });
    expect(saved.ok, JSON.stringify(saved).slice(0, 300)).toBe(true);
    const id = saved.ok ? (saved.value as string) : '';
    const inspected = await longestGap(() => k.inspectSnapshot(id));
    const restored = await longestGap(async () => (await k.restore(id, { input: 'restored' })).result);
    return { inspect: inspected.gapMs, restore: restored.gapMs, result: restored.value };
  };
  const zeros = await open('0');
  const nans = await open('NaN');
  expect(zeros.result).toMatchObject({ ok: true, value: { size: N, nans: 0 } });
  expect(nans.result).toMatchObject({ ok: true, value: { size: N, nans: N } });
  const floor = Math.max(zeros.inspect, zeros.restore);
  expect(nans.inspect, `inspect ${nans.inspect.toFixed(0)} ms, zeros ${floor.toFixed(0)} ms`).toBeLessThan(
    3 * floor + 100,
  );
  expect(nans.restore, `restore ${nans.restore.toFixed(0)} ms, zeros ${floor.toFixed(0)} ms`).toBeLessThan(
    3 * floor + 100,
  );
}, 120_000);
