// Attack (red-team pass 118): stall the kernel with the order of a namespace's keys. The in-memory store lists keys
// in UTF-8 order (as LevelDB does) with a comparator that encoded both keys at every comparison: 10,000 keys of 255
// CJK characters, written in shuffled order, made one `sys.mem.list('')` hold the event loop 180 ms and one
// `sys.snapshot` 225 ms (much of it outside any meter). Each key is now encoded once per listing.
import { afterEach, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { longestGap } from '../helpers/stall.js';

const KEYS = 10_000;
const PAD = '\u6f22'.repeat(249);

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

it('listing 10,000 long multibyte keys stalls about as long as sorting them as strings', async () => {
  kernel = testKernel({ limits: { cpu_ms: 120_000, wall_ms: 120_000, syscalls: 100_000, memory_mb: 512 } });
  const filled = await kernel.run({
    namespace: 'shaped',
    code: `export default async () => {
      for (let i = 0; i < ${KEYS}; i += 200) {
        const batch = [];
        for (let j = i; j < i + 200; j++) batch.push(sys.mem.put(String((j * 7919) % ${KEYS}).padStart(6, '0') + '${PAD}', 1));
        await Promise.all(batch);
      }
    }`,
  });
  expect(filled.ok, JSON.stringify(filled).slice(0, 200)).toBe(true);
  const k = kernel;
  // The shortest of three listings' stalls: other work on the machine only lengthens one (CI once read 76 ms
  // against a bound of 68 for a single listing under the full suite's load).
  let listed = { gapMs: Number.POSITIVE_INFINITY };
  for (let i = 0; i < 3; i++) {
    const each = await longestGap(() =>
      k.run({ namespace: 'shaped', code: `export default async () => (await sys.mem.list('')).length` }),
    );
    expect(each.value).toMatchObject({ ok: true, value: 1000 });
    if (each.gapMs < listed.gapMs) listed = each;
  }

  // The floor, in the same run: the same keys sorted as JS strings (UTF-16 order), the cheapest sort there is.
  const keys = Array.from(
    { length: KEYS },
    (_, j) => `mem:shaped\u0000${String((j * 7919) % KEYS).padStart(6, '0')}${PAD}`,
  );
  let floor = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    [...keys].sort();
    floor = Math.min(floor, performance.now() - started);
  }
  // Before: 180 ms against a floor of about 7-10 ms; now about 30 ms (120 ms once with three busy loops on two cores).
  expect(listed.gapMs, `list stalled ${listed.gapMs.toFixed(0)} ms, floor ${floor.toFixed(0)} ms`).toBeLessThan(
    5 * floor + 60,
  );
}, 120_000);
