// Attack (red-team pass 59): learn labelled data from whether a refund of a child's own budget labels a clean
// ancestor. T runs one tree R_v per candidate v. R (clean) gives P a budget of its own for cpu_ms and syscalls
// only, so P's tokens_out is shared with R's; P gives C its own `tokens_out: v`. C, clean, holds a page as a handle
// and calls a tool that charges the code of the page's character to C's own counter, then spins to its cpu_ms
// limit. P joins C by value (taking its label) and gets back what C left of v: R's counter moves by it and R is
// raised, but only when C left something. R joins P as a handle and mails v: every v up to the character went out
// clean, the largest was the character. The refund now raises the shared chain whether anything was left or not.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { recordingSink, webSource } from '../helpers/web-and-mail.js';

const count = defineTool({
  name: 'count',
  description: 'charges as many tokens as the code of one character of a text',
  input: z.strictObject({ text: z.string(), at: z.number() }),
  run: ({ text, at }, ctx) => {
    ctx.charge({ tokens_out: text.charCodeAt(at) });
    return 'ok';
  },
});

const C = `export default async () => {
  const page = await sys.tool('fetch', {}, { handle: true });
  await sys.tool('count', { text: page, at: 0 }, { handle: true });
  for (;;) {}
}`;
const P = `export default async ({ v }) => {
  const caps = (await sys.caps()).map((c) => ({ from: c.id }));
  const id = await sys.spawn({ code: ${JSON.stringify(C)}, caps, budget: { tokens_out: v, cpu_ms: 300 } });
  try { await sys.join(id); } catch {}
}`;
const R = `export default async ({ v }) => {
  const caps = (await sys.caps()).map((c) => ({ from: c.id }));
  await sys.join(await sys.spawn({ code: ${JSON.stringify(P)}, input: { v }, caps, budget: { cpu_ms: 3000, syscalls: 100 } }), { handle: true });
  try { await sys.tool('mail', { body: String.fromCharCode(v) }); return 'sent'; } catch (e) { return e.code; }
}`;
const T = (candidates: string) => `export default async () => {
  const caps = (await sys.caps()).map((c) => ({ from: c.id }));
  const ids = [];
  for (const ch of ${JSON.stringify(candidates)}) {
    ids.push(await sys.spawn({ code: ${JSON.stringify(R)}, input: { v: ch.charCodeAt(0) }, caps,
      budget: { tokens_out: 1000, cpu_ms: 5000, syscalls: 200 } }));
  }
  for (const id of ids) await sys.join(id, { handle: true });
  return await sys.label();
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('no tree tells whether its child left some of its own budget: no candidate goes out clean', async () => {
    const sent: unknown[] = [];
    kernel = testKernel({
      isolation,
      limits: { cpu_ms: 1_000_000, wall_ms: 120_000, syscalls: 100_000 },
      tools: [webSource('P'), recordingSink('mail', ['web'], sent), count],
      policy: {
        capabilities: [
          { action: 'fetch', resource: 'fetch' },
          { action: 'mail', resource: 'mail' },
          { action: 'count', resource: 'count' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    const result = await kernel.run({ code: T('NOPQ') });
    expect(result).toMatchObject({ ok: true, value: [] });
    expect(sent).toEqual([]);
    // Every tree got as far as its send, and the sink refused each one for its label (not a tree that failed
    // early, which would send nothing too).
    const mails = kernel.audit
      .records({ limit: 10_000 })
      .filter((record) => record.action === 'mail' && record.phase === 'outcome');
    expect(mails.map((record) => record.code)).toEqual(['E_TAINT', 'E_TAINT', 'E_TAINT', 'E_TAINT']);
  }, 120_000);
});
