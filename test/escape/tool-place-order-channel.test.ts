// Attack (red-team pass 128): read a `secret` worker's data from the order of two of a clean planner's own replies.
// Bounded tools (Tool.maxInFlight) had one set of places per agent tree, so a child on a budget of its own that ran
// many calls of a bounded tool, or none, by one bit of a PIN made its parent's next call of that tool wait behind
// them, or not, and a call of another tool sent after it answered first, or not. No clock, no shared counter: the
// planner stayed clean and mailed the PIN through a sink that refuses `secret` (2 of 2 runs exact inline, 2 of 3 in
// the process tier). A child on a budget of its own now has places of its own; the tree bounds them all together.
// The bounded tool here only holds its place (`place`): with fs.read, whose calls share the kernel's four I/O
// threads, the same order still told a worker's reads on Node 24 in the process tier in 1 run of 3 to 6 (stop 47),
// a contention channel SECURITY.md lists with the timing ones, not a channel of places.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { TREE_PLACES_FACTOR } from '../../runtime/tool-use/tool-slots.js';
import { testKernel } from '../helpers/kernel.js';
import { PIN, pinVault, recordingSink } from '../helpers/web-and-mail.js';

// A bounded tool that holds its place for `ms` (answered at once for 0), and an unbounded one.
const place = defineTool({
  name: 'place',
  description: 'holds a place for ms',
  input: z.strictObject({ ms: z.number().int().min(0).max(10_000) }),
  maxInFlight: 4,
  run: ({ ms }, ctx) =>
    ms === 0
      ? null
      : new Promise((resolve) => {
          const done = () => {
            clearTimeout(timer);
            ctx.signal.removeEventListener('abort', done);
            resolve(null);
          };
          const timer = setTimeout(done, ms);
          ctx.signal.addEventListener('abort', done, { once: true });
        }),
});
const quick = defineTool({ name: 'quick', description: 'answers at once', input: z.unknown(), run: () => null });

// The worker: reads the PIN, and by one bit of it fills its tree's `place` places with long calls, or does nothing.
const WORKER = `export default async ({ digit, bit }) => {
  const { pin } = await sys.tool('vault.read', {});
  if ((Number(pin[digit]) >> bit) & 1) {
    await Promise.all(Array.from({ length: 60 }, () => sys.tool('place', { ms: 400 }).catch(() => 0)));
  }
}`;

// The planner: one worker per bit, each on a budget of its own (so no shared counter raises the planner), then a
// call of \`place\` and one of \`quick\`; the bit is 1 when \`quick\` answers first.
const PLANNER = `export default async () => {
  const caps = (await sys.caps()).map((c) => ({ from: c.id }));
  let pin = '';
  for (let digit = 0; digit < 4; digit++) {
    let value = 0;
    for (let bit = 0; bit < 4; bit++) {
      const id = await sys.spawn({ code: ${JSON.stringify(WORKER)}, input: { digit, bit }, caps,
        budget: { tool_calls: 100, syscalls: 200, cpu_ms: 2000, children: 0, memory_mb: 96 } });
      await new Promise((resolve) => setTimeout(resolve, 60));
      const order = [];
      const held = sys.tool('place', { ms: 0 }).then(() => order.push('place'), () => order.push('place'));
      const other = sys.tool('quick', {}).then(() => order.push('quick'), () => order.push('quick'));
      await Promise.race([held, other]);
      if (order[0] === 'quick') value |= 1 << bit;
      await Promise.all([held, other]);
      await sys.kill(id);
    }
    pin += value;
  }
  const label = await sys.label();
  try {
    await sys.tool('mail', { body: pin });
    return { pin, label, mailed: true };
  } catch (error) {
    return { pin, label, mailed: false, code: error.code };
  }
}`;

describe.each(['inline', 'process'] as const)('tool places, %s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it("a clean planner does not read a worker's PIN from the order of its own replies", async () => {
    const sent: unknown[] = [];
    kernel = testKernel({
      isolation,
      tools: [place, quick, pinVault, recordingSink('mail', ['secret'], sent)],
      policy: {
        capabilities: [
          { action: 'vault.read', resource: 'vault.read' },
          { action: 'place', resource: 'place' },
          { action: 'quick', resource: 'quick' },
          { action: 'mail', resource: 'mail' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    const result = await kernel.run({
      code: PLANNER,
      limits: { wall_ms: 120_000, cpu_ms: 120_000, memory_mb: 256 },
    });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    const value = (result.ok ? result.value : undefined) as { pin: string; label: string[]; mailed: boolean };
    // Whatever the planner decoded went out only if it is not the PIN, or was refused because it was labelled.
    if (value.mailed) expect(value.label).toEqual([]);
    expect(sent.map((message) => JSON.stringify(message)).join()).not.toContain(PIN);
    expect(value.pin, JSON.stringify(value)).not.toBe(PIN);
  }, 120_000);
});

describe('a full tree', () => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it("refuses with the labels of what its calls work on, not only their callers' (review 130)", async () => {
    // Clean children hold every place with calls on a `secret` handle they never read: how long such a call holds
    // its place is the secret's to decide, so the refusal that tells the planner the tree is full carries it.
    const hang = defineTool({
      name: 'hang',
      description: 'runs until its caller ends',
      input: z.strictObject({ on: z.unknown() }),
      maxInFlight: 1,
      run: (_args, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null))),
    });
    kernel = testKernel({
      tools: [hang, pinVault],
      policy: {
        capabilities: [
          { action: 'hang', resource: 'hang' },
          { action: 'vault.read', resource: 'vault.read' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    const holder = `export default async () => {
      const pin = await sys.tool('vault.read', {}, { handle: true });
      sys.tool('hang', { on: pin }).catch(() => 0);
      await new Promise((resolve) => setTimeout(resolve, 60_000));
    }`;
    const result = await kernel.run({
      code: `export default async () => {
        const caps = (await sys.caps()).map((c) => ({ from: c.id }));
        for (let i = 0; i < ${TREE_PLACES_FACTOR}; i++) {
          await sys.spawn({ code: ${JSON.stringify(holder)}, caps, budget: { cpu_ms: 1000 } });
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
        const before = await sys.label();
        let code;
        try { await sys.tool('hang', { on: 0 }); } catch (error) { code = error.code; }
        return { before, code, after: await sys.label() };
      }`,
      limits: { wall_ms: 20_000 },
    });
    expect(result).toMatchObject({ ok: true, value: { before: [], code: 'E_QUOTA', after: ['secret'] } });
  }, 30_000);
});
