// Attack (red-team pass 111): read the size of a `secret` handle, and then its content, from the order in which a
// clean agent's own calls come back. While the vault held a secret, a call's arguments and result were searched at
// once below 64 K characters of distinct strings and in slices (after a turn of the event loop) above. An agent
// that echoed a labelled handle beside padding of its choosing, kept the echo as a handle and made a clean call
// right after it saw which came back first: whether the handle's strings and the padding passed 64 K. A guess equal
// to one of the handle's strings counted once, so the same test told equality, and a clean agent posted a PIN
// ("the pin is 4821") after 122 guesses, its label `[]`. The search now always takes a turn of the event loop while
// the vault holds a secret: the order does not depend on the handle.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';

const posted: unknown[] = [];
let hidden = 0;
const tools = [
  defineTool({
    name: 'inbox',
    description: 'labelled data of a size the agent must not learn',
    input: z.strictObject({}),
    run: () => Array.from({ length: hidden }, (_, i) => `s${i}`.padEnd(12, 'z')),
  }),
  defineTool({ name: 'echo', description: 'returns its arguments', input: z.unknown(), run: (args) => args }),
  defineTool({
    name: 'post',
    description: 'a sink that refuses secret data',
    input: z.unknown(),
    run: (args) => {
      posted.push(args);
      return 'ok';
    },
  }),
];

// For padding just under and just over what crossed 64 K beside the handle, whether the handle's echo came back
// after the clean call made right after it (eight tries each).
const AGENT = `export default async () => {
  const h = await sys.tool('inbox', {}, { handle: true });
  const late = async (n) => {
    let done = false;
    const echo = sys.tool('echo', { v: h, pad: 'y'.repeat(n) }, { handle: true }).then(() => { done = true; });
    await sys.tool('echo', { x: 1 });
    const seen = !done;
    await echo;
    return seen;
  };
  const seen = [];
  for (const n of [1000, 30000, 50000, 64000]) for (let i = 0; i < 8; i++) seen.push(await late(n));
  await sys.tool('post', { seen });
  return { seen, label: await sys.label() };
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  posted.length = 0;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('which of a clean agent’s calls comes back first does not depend on the size of a labelled handle it echoes', async () => {
    kernel = Kernel.create({
      isolation,
      tools,
      policy: {
        capabilities: ['inbox', 'echo', 'post'].map((name) => ({ action: name, resource: name })),
        labels: {
          sources: [{ tool: 'inbox', resource: 'inbox', tags: ['secret'] }],
          sinks: [{ tool: 'post', arg: '*', deny: ['secret'] }],
        },
      },
      limits: { cpu_ms: 30_000, wall_ms: 60_000 },
    });
    kernel.vault.set('pw', 'hunter2!', { bind: { action: 'post', resource: 'post' }, inject: { bearer: true } });
    const observed: unknown[] = [];
    // 100 strings (1.2 K characters) or 600 (7.2 K): beside 64,000 characters of padding, before, the echo of the
    // first came back first (65.2 K, under 64 KiB in all) and that of the second last (71.2 K).
    for (const size of [100, 600]) {
      hidden = size;
      const result = await kernel.run({ code: AGENT });
      expect(result).toMatchObject({ ok: true, value: { label: [] } });
      observed.push(result.ok ? (result.value as { seen: boolean[] }).seen : undefined);
    }
    expect(observed[0]).toEqual(observed[1]);
    expect(posted).toEqual([{ seen: observed[0] }, { seen: observed[1] }]);
  }, 120_000);
});

it('with a secret in the vault, calls still start in the order they were made, and one made as the agent returns runs (review 112)', async () => {
  kernel = Kernel.create({
    tools,
    policy: { capabilities: ['post'].map((name) => ({ action: name, resource: name })) },
  });
  kernel.vault.set('pw', 'hunter2!', { bind: { action: 'inbox', resource: 'inbox' }, inject: { bearer: true } });
  const run = async (code: string) => {
    expect(await kernel?.run({ code })).toMatchObject({ ok: true });
    return posted.splice(0);
  };
  expect(await run(`export default async () => { sys.tool('post', 'fired').catch(() => {}); return 1; }`)).toEqual([
    'fired',
  ]);
  const big = `Array.from({ length: 40000 }, (_, i) => 'x' + i + '%41\\\\u0041')`;
  const both = await run(
    `export default async () => { await Promise.all([sys.tool('post', ${big}), sys.tool('post', 'small')]); }`,
  );
  expect(both.map((args) => (Array.isArray(args) ? 'big' : args))).toEqual(['big', 'small']);
});
