// Attack (red-team passes 109 and 110): stall the kernel's event loop through the vault's scrub. While the vault
// holds a secret, every string of a tool call's result is decoded into its views and searched for every spelling of
// every secret. An agent has a tool return 0.9 MB of distinct short strings of escapes, each at least as long as an
// ordinary 8-character secret: the search held the loop, every tenant's calls with it, for 150-300 ms per megabyte
// (against 30-90 ms for the whole call with an empty vault). A result is now searched in metered slices of a few
// milliseconds with the event loop free between them: the longest stall with a secret in the vault is a small
// multiple of what the same call costs with none. (A call's arguments are still searched at once: SECURITY.md.)
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';
import { longestGap } from '../helpers/stall.js';

// 50,000 distinct strings such as `%21\u0046&#123;`: 0.9 MB as JSON, under the default 1 MiB payload cap.
const ITEMS = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `%2${i % 10}\\u004${i % 7}&#${i};`.padEnd(12, 'x'));
const echo = defineTool({
  name: 'echo',
  description: 'returns as many strings of escapes as asked for',
  input: z.strictObject({ n: z.number().int().max(50_000) }),
  run: ({ n }) => ITEMS(n),
});

const ECHO = `export default async () => {
  const back = await sys.tool('echo', { n: 50000 });
  return { same: back.length === 50000 && back[4242] === ${JSON.stringify(ITEMS(4243)[4242])}, label: await sys.label() };
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('a result of a megabyte of short strings of escapes stalls the loop no longer with a secret in the vault than without', async () => {
    kernel = Kernel.create({
      isolation,
      tools: [echo],
      policy: { capabilities: [{ action: 'echo', resource: 'echo' }] },
      limits: { cpu_ms: 30_000, wall_ms: 60_000 },
    });
    const k = kernel;
    const stall = async (): Promise<number> => {
      const { value, gapMs } = await longestGap(() => k.run({ code: ECHO }));
      expect(value).toMatchObject({ ok: true, value: { same: true } });
      return gapMs;
    };
    // The best of three runs each way, alternating: the same call's own stalls (decoding, encoding) are the floor.
    const empty: number[] = [];
    const full: number[] = [];
    for (let round = 0; round < 3; round++) {
      k.vault.delete('pw');
      empty.push(await stall());
      k.vault.set('pw', 'hunter2!', { bind: { action: 'echo', resource: 'echo' }, inject: { bearer: true } });
      full.push(await stall());
    }
    // Before: 300 ms against 20-30 ms with an empty vault. What is left is a walk of the value's strings and its
    // rebuild from the scrubbed ones, each in one go (about 20-30 ms here).
    expect(Math.min(...full)).toBeLessThan(2 * Math.min(...empty) + 60);
  }, 120_000);
});
