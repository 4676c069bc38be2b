// Attack (red-team pass 113): stall the kernel's event loop through a snapshot's state. superjson's walker copies
// the path and the objects on it at every node, O(nodes × depth), and it ran in one synchronous step on every
// `sys.snapshot` (encoding the state) and every `sys.restored()` (encoding it again, uncached). An agent nests
// ~100k nodes of short chains under a spine ~200 levels deep (through handles, past the wire's depth of 64), or
// 4000 chains 26 deep, and held the loop, every tenant's calls with it, 1.3-2.7 s per call on both tiers, several
// times what a wide state of as many nodes costs. The state is now encoded by an iterative walk that
// builds paths only for annotated nodes (snapshot-state-encoding.ts), and a restored state's form is made once.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { longestGap } from '../helpers/stall.js';

// Saves its state on a first run; restored, reads it back with sys.restored() four times.
const agent = (build: string) => `export default async () => {
  const restored = await sys.restored();
  if (restored !== null && restored !== undefined) {
    for (let i = 0; i < 3; i++) await sys.restored();
    return { restored: true };
  }
  ${build}
  return { id: await sys.snapshot({ s: state }) };
}`;

// The baseline: as many nodes, 100k empty arrays in one, two levels deep (superjson's walk is fast on it).
const WIDE = agent(`const state = Array.from({ length: 100000 }, () => []);`);
// 4000 chains 25 deep: about 100k nodes.
const CHAINS = `const bulk = [];
  for (let c = 0; c < 4000; c++) { let v = 0; for (let d = 0; d < 25; d++) v = [v]; bulk.push(v); }`;
const FLAT = agent(`${CHAINS}
  const state = bulk;`);
// The same chains under a spine 194 deep: each handle's value nests 58 more levels around the previous handle.
const DEEP = agent(`${CHAINS}
  let h = await sys.tool('echo', bulk, { handle: true });
  for (let s = 1; s < 4; s++) { let v = h; for (let d = 0; d < 58; d++) v = [v]; h = await sys.tool('echo', v, { handle: true }); }
  let state = h;
  for (let d = 0; d < 20; d++) state = [state];`);

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('a deep snapshot state stalls the loop, saved or read back restored, no longer than a wide one as large', async () => {
    kernel = testKernel({ isolation, limits: { memory_mb: 1024, cpu_ms: 60_000, wall_ms: 120_000 } });
    const k = kernel;
    // The longest stall of saving the state, and of restoring it and calling sys.restored() four times.
    const stalls = async (code: string): Promise<{ save: number; restore: number }> => {
      const saved = await longestGap(() => k.run({ code }));
      expect(saved.value).toMatchObject({ ok: true, value: { id: expect.any(String) } });
      const id = (saved.value as { value: { id: string } }).value.id;
      const restored = await longestGap(async () => (await k.restore(id)).result);
      expect(restored.value).toMatchObject({ ok: true, value: { restored: true } });
      return { save: saved.gapMs, restore: restored.gapMs };
    };
    // The best of two runs each: the floor is what linear work on 100k nodes costs (decoding, encoding, JSON).
    const best = async (code: string) => {
      const [a, b] = [await stalls(code), await stalls(code)];
      return { save: Math.min(a.save, b.save), restore: Math.min(a.restore, b.restore) };
    };
    const wide = await best(WIDE);
    const flat = await best(FLAT);
    const deep = await best(DEEP);
    // Before (wide: 290-430 ms per save, 300-330 per restore): deep 1280-1530 ms per save, 1580-1650 per restore.
    // After: wide 115-125 / 70-95, flat 160-205 / 80-110, deep 75-195 / 80-120: depth no longer costs.
    const measured = JSON.stringify({ wide, flat, deep });
    for (const attack of [flat, deep]) {
      expect(attack.save, measured).toBeLessThan(2 * wide.save + 100);
      expect(attack.restore, measured).toBeLessThan(2 * wide.restore + 100);
    }
  }, 240_000);
});
