// Attack: learn labelled data from whether a clean child is ended for its quota. The child asks for something
// whose size a labelled source decides (a file a labelled agent wrote, a model's answer counted in tokens); the
// kernel charges it, the charge crosses the child's limit or not, and the clean parent reads which from `join`
// and sends the bit to a sink that refuses the source's tag. The child's end depends on the labelled data, so
// its outcome must carry the label: joined after the kill, it came too late for the parent's join (red-team
// pass 31 sent the bit unlabelled through fs.read's memory hold).

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createFsTools, defineTool, type Kernel } from '../../index.js';
import { tempRootSuite } from '../helpers/fs-sandbox.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { recordingSink, webSource } from '../helpers/web-and-mail.js';

/** Holds a clean file as a handle, which leaves less of its memory_mb than the second file's bytes need. */
const READS_TWO = `export default async () => {
  await sys.tool('fs.read', { path: 'clean' }, { handle: true });
  await sys.tool('fs.read', { path: 'sec' });
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const suite = tempRootSuite('isokernel-quota-kill-');

  /** `pageTokens` is what the `page` tool (a web source) charges: the size of a labelled answer. */
  function channelKernel(pageTokens: number): Kernel {
    const page = defineTool({
      name: 'page',
      description: 'answers from the web, charged by its length',
      input: z.strictObject({}),
      labels: { source: ['web'] },
      run: (_args, ctx) => {
        ctx.charge({ tokens_in: pageTokens });
        return 'ok';
      },
    });
    const root = suite.root;
    const kernel = testKernel({
      isolation,
      // The labelled file must be large enough that its read alone crosses memory_mb 8 (see cleanAndLabelledFiles).
      maxPayloadBytes: 4 * 1024 * 1024,
      tools: [...createFsTools({ roots: [root] }), page],
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'page', resource: 'page' },
          { action: 'echo', resource: 'echo' },
        ],
        labels: { sinks: [{ tool: 'echo', arg: 'text', deny: ['web'] }] },
      },
    });
    suite.kernel = kernel;
    return kernel;
  }

  /** The clean parent: spawns `child` with `budget` and all its capabilities, joins it, sends what it learned. */
  const PARENT = `export default async (budget) => {
    const caps = (await sys.caps()).map((c) => ({ from: c.id }));
    const id = await sys.spawn({ program: 'child', budget, caps });
    let bit;
    try { await sys.join(id); bit = 'ran'; } catch (e) { bit = e.code; }
    const label = await sys.label();
    try { await sys.tool('echo', { text: bit }); return { sent: bit, label }; }
    catch (e) { return { refused: e.code, bit, label }; }
  }`;

  /**
   * `clean`, 2 MB the host wrote, and `sec`, 3 MB a `web`-labelled agent wrote. Held as a handle, `clean` is about
   * 4 MB (two bytes a character), which with the child's heap fits memory_mb 8 (the watchdog counts both); reading
   * `sec` holds twice its 3 MB, which does not.
   */
  async function cleanAndLabelledFiles(k: Kernel): Promise<void> {
    await writeFile(join(suite.root, 'clean'), 'a'.repeat(2_000_000));
    const writer = await k.run({
      label: ['web'],
      code: `export default () => sys.tool('fs.write', { path: 'sec', content: 'x'.repeat(3000000) })`,
    });
    expect(writer.ok).toBe(true);
  }

  describe('quota kill channel', () => {
    it("a memory kill decided by a labelled file's size carries the file's label", async () => {
      const k = channelKernel(0);
      await cleanAndLabelledFiles(k);
      k.programs.add('child', READS_TWO);
      const parent = await k.run({ code: PARENT, input: { memory_mb: 8 } });
      expect(parent).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bit: 'E_QUOTA', label: ['web'] } });
    });

    it('benign twin: a memory kill over clean files stays clean', async () => {
      const k = channelKernel(0);
      await writeFile(join(suite.root, 'clean'), 'a'.repeat(2_000_000));
      await writeFile(join(suite.root, 'sec'), 'x'.repeat(3_000_000));
      k.programs.add('child', READS_TWO);
      const parent = await k.run({ code: PARENT, input: { memory_mb: 8 } });
      expect(parent).toMatchObject({ ok: true, value: { sent: 'E_QUOTA', label: [] } });
    });

    it('a clean hold that crosses memory_mb because of labelled bytes held before carries their label', async () => {
      const k = channelKernel(0);
      await cleanAndLabelledFiles(k);
      // Kept as a handle, the labelled file leaves the child clean; the clean read after it is what crosses.
      k.programs.add(
        'child',
        `export default async () => {
          await sys.tool('fs.read', { path: 'sec' }, { handle: true });
          await sys.tool('fs.read', { path: 'clean' }, { handle: true });
        }`,
      );
      const parent = await k.run({ code: PARENT, input: { memory_mb: 8 } });
      expect(parent).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bit: 'E_QUOTA', label: ['web'] } });
    });

    it("a labelled grandchild's syscalls that end its clean parent carry the grandchild's label", async () => {
      const k = channelKernel(0);
      k.programs.add(
        'child',
        `export default async () => {
          const caps = (await sys.caps()).map((c) => ({ from: c.id }));
          await sys.join(await sys.spawn({ program: 'leaf', caps }));
        }`,
      );
      k.programs.add(
        'leaf',
        `export default async () => {
          await sys.tool('page', {});
          for (let i = 0; i < 400; i++) await sys.label();
        }`,
      );
      const parent = await k.run({ code: PARENT, input: { syscalls: 100 } });
      expect(parent).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bit: 'E_QUOTA', label: ['web'] } });
    });

    it("a token kill decided by a labelled answer's length carries its label", async () => {
      const k = channelKernel(5000);
      k.programs.add('child', `export default async () => { await sys.tool('page', {}); }`);
      const parent = await k.run({ code: PARENT, input: { tokens_in: 1000 } });
      expect(parent).toMatchObject({ ok: true, value: { refused: 'E_TAINT', bit: 'E_QUOTA', label: ['web'] } });
    });
  });
});

// Red-team pass 53: the kill was labelled, the agent's clean effects before it were not, and how many there were
// said when a counter that a labelled descendant moved crossed its limit. A clean P runs a W that moves P's counter
// by a page's character #k (as a web-labelled agent making that many calls, or, clean, through a tool whose charge
// a handle of the page decides), joins it as a handle (P stays clean), then writes a clean progress count to its
// parent's namespace before each call of its own until the limit ends it: the last count spelled the character
// (log2 of the budget bits per child, 8 here). Now a bounded counter moved by labelled use raises its owner and the
// owner's descendants (W on a shared budget labels P, and T, whose syscalls it moves too), and a W on a budget of
// its own (paid by P when it starts) moves none of P's counters: P's count is the same whatever the page says.
describe('quota kill channel: clean progress before a labelled kill', () => {
  const PAGE = 'PIN';
  // How W moves P's counter by the page's character #k: as a web-labelled agent making that many calls, or, clean,
  // by a tool whose charge the page (held as a handle) decides (the counter P's own calls then spend).
  const SPENDERS = {
    'labelled calls': {
      field: 'tool_calls',
      // P's last count is its limit less W's calls, the fetch among them, and its own one.
      read: 299,
      spend: `const text = await sys.tool('fetch', {});
        for (let i = 0; i < text.charCodeAt(k); i++) await sys.tool('echo', 0);`,
      own: `await sys.tool('echo', 1);`,
    },
    'a charge a handle decides': {
      field: 'tokens_out',
      read: 300,
      spend: `const page = await sys.tool('fetch', {}, { handle: true });
        await sys.tool('count', { text: page, at: k });`,
      own: `await sys.tool('count', { text: '', at: 0 });`,
    },
  } as const;
  const count = defineTool({
    name: 'count',
    description: 'charges as many tokens as the code of one character of a text (at least one)',
    input: z.strictObject({ text: z.string(), at: z.number() }),
    run: ({ text, at }, ctx) => {
      ctx.charge({ tokens_out: text.charCodeAt(at) || 1 });
      return 'ok';
    },
  });

  /** `budget` is W's: none shares P's remainder; `own` gives W a budget of its own for every bounded field. */
  function tree(spender: (typeof SPENDERS)[keyof typeof SPENDERS], budget: 'shared' | 'own'): string {
    const own = `{ cpu_ms: 2000, syscalls: 2000, children: 0, ${spender.field}: 150 }`;
    const W = `export default async ({ k }) => {
      await new Promise((r) => setTimeout(r, 1000));
      ${spender.spend}
      return 'done';
    }`;
    const P = `export default async ({ k }) => {
      await new Promise((r) => setTimeout(r, 500));
      const caps = (await sys.caps()).map((c) => ({ from: c.id }));
      await sys.join(await sys.spawn({ code: ${JSON.stringify(W)}, input: { k }, caps${budget === 'own' ? `, budget: ${own}` : ''} }), { handle: true });
      for (let i = 0; ; i++) {
        await sys.mem.put('n' + k, i, { mount: 't' });
        ${spender.own}
      }
    }`;
    return `export default async () => {
      const caps = (await sys.caps()).map((c) => ({ from: c.id }));
      for (let k = 0; k < ${PAGE.length}; k++) {
        await sys.spawn({ code: ${JSON.stringify(P)}, input: { k }, caps, budget: { ${spender.field}: 300 }, mounts: [{ name: 't', mode: 'rw' }] });
      }
      let last = '';
      for (let round = 0; round < 200; round++) {
        await new Promise((r) => setTimeout(r, 200));
        const now = [];
        for (let k = 0; k < ${PAGE.length}; k++) now.push(await sys.mem.get('n' + k));
        const seen = JSON.stringify(now);
        if (seen === last && now.every((v) => v !== undefined)) break;
        last = seen;
      }
      let out = '';
      const counts = [];
      for (let k = 0; k < ${PAGE.length}; k++) counts.push(await sys.mem.get('n' + k));
      for (const n of counts) out += String.fromCharCode(${spender.read} - n);
      let mailed = true;
      try { await sys.tool('mail', { body: out }); } catch (e) { mailed = e.code; }
      return { out, counts, mailed, label: await sys.label() };
    }`;
  }

  async function runTree(page: string, spender: (typeof SPENDERS)[keyof typeof SPENDERS], budget: 'shared' | 'own') {
    const sent: unknown[] = [];
    const kernel = testKernel({
      limits: { tool_calls: 100_000, tokens_out: 100_000, wall_ms: 120_000, cpu_ms: 60_000 },
      tools: [webSource(page), recordingSink('mail', ['web'], sent), count],
      policy: {
        capabilities: [
          { action: 'fetch', resource: 'fetch' },
          { action: 'mail', resource: 'mail' },
          { action: 'echo', resource: 'echo' },
          { action: 'count', resource: 'count' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    try {
      const result = await kernel.run({ code: tree(spender, budget) });
      if (!result.ok) throw new Error(result.error.message);
      return { ...(result.value as { out: string; counts: unknown[]; mailed: unknown; label: string[] }), sent };
    } finally {
      await kernel.close();
    }
  }

  it.each(Object.keys(SPENDERS) as (keyof typeof SPENDERS)[])(
    'on a shared budget, the labelled use labels the agents whose counters it moved: the count cannot go out (%s)',
    async (name) => {
      const { mailed, label, sent } = await runTree(PAGE, SPENDERS[name], 'shared');
      expect(mailed).toBe('E_TAINT');
      expect(label).toContain('web');
      expect(sent).toEqual([]);
    },
    120_000,
  );

  it.each(Object.keys(SPENDERS) as (keyof typeof SPENDERS)[])(
    "on a budget of its own, the child's use moves nothing of its clean parent's: the counts tell nothing (%s)",
    async (name) => {
      const read = await runTree(PAGE, SPENDERS[name], 'own');
      expect(read).toMatchObject({ mailed: true, label: [] });
      // Every P made progress before its limit ended it (a tree that never ran would give equal counts too).
      expect(read.counts.every((n) => typeof n === 'number' && n > 100)).toBe(true);
      expect(read.out).not.toBe(PAGE);
      expect((await runTree('ZQX', SPENDERS[name], 'own')).out).toBe(read.out);
    },
    120_000,
  );

  it("a labelled child's use of a shared budget raises its clean sibling too: the parent's end would end it", async () => {
    // The broadcast half of the rule: a clean sibling's progress before the parent's kill would tell as much as
    // the parent's own, so whether it runs on depends on the labelled use as well.
    const kernel = testKernel({
      limits: { tool_calls: 1000 },
      tools: [webSource(PAGE)],
      policy: {
        capabilities: [
          { action: 'fetch', resource: 'fetch' },
          { action: 'echo', resource: 'echo' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    try {
      const sibling = `export default async () => {
        const before = await sys.label();
        await new Promise((r) => setTimeout(r, 600));
        return { before, after: await sys.label() };
      }`;
      const worker = `export default async () => {
        await new Promise((r) => setTimeout(r, 200));
        const text = await sys.tool('fetch', {});
        await sys.tool('echo', text.length);
      }`;
      const result = await kernel.run({
        code: `export default async () => {
          const caps = (await sys.caps()).map((c) => ({ from: c.id }));
          const sibling = await sys.spawn({ code: ${JSON.stringify(sibling)} });
          await sys.join(await sys.spawn({ code: ${JSON.stringify(worker)}, caps }), { handle: true });
          return await sys.join(sibling);
        }`,
      });
      expect(result).toMatchObject({ ok: true, value: { before: [], after: ['web'] }, label: ['web'] });
    } finally {
      await kernel.close();
    }
  });
});
