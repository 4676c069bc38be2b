// Attack (red-team passes 109 and 110): stall the kernel's event loop through the vault's scrub. While the vault
// holds a secret, every string of a tool call's arguments and of its result is decoded into its views and searched
// for every spelling of every secret. An agent echoes 0.9 MB of distinct 12-character strings of escapes, each at
// least as long as an ordinary 8-character secret: the search of the arguments and then of the result each held the
// loop, every tenant's calls with it, for 150-300 ms per megabyte (0.33-0.65 s for the call, against 60-90 ms with an
// empty vault). Both now run in metered slices of a few milliseconds with the event loop free between them: the
// longest stall with a secret in the vault is about what the same call costs with none.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';
import { longestGap } from '../helpers/stall.js';

const echo = defineTool({
  name: 'echo',
  description: 'returns its items',
  input: z.strictObject({ items: z.array(z.string()) }),
  run: ({ items }) => items,
});

// 50,000 distinct strings such as `%21\u0046&#123;`: 0.9 MB as JSON, under the default 1 MiB payload cap.
const ECHO = `export default async () => {
  const items = Array.from({ length: 50000 }, (_, i) => ('%2' + (i % 10) + '\\\\u004' + (i % 7) + '&#' + i + ';').padEnd(12, 'x'));
  const back = await sys.tool('echo', { items });
  return { same: back.length === items.length && back[4242] === items[4242], label: await sys.label() };
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('an echo of a megabyte of short strings of escapes stalls the loop no longer with a secret in the vault than without', async () => {
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
    // Before: 5-7 times the empty vault's longest stall.
    expect(Math.min(...full)).toBeLessThan(1.5 * Math.min(...empty) + 20);
  }, 120_000);
});
