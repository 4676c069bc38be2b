import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, recordingTool, testKernel } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  /**
   * Attack: spend more than the top agent was given by spreading the work over children and grandchildren,
   * by racing spawns, or by asking for budgets the kernel might misread (NaN, Infinity, strings, __proto__).
   */
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  function setup(limits: Record<string, number>) {
    const { tool, calls, capability } = recordingTool('ok');
    kernel = testKernel({
      isolation,
      tools: [tool],
      limits,
      policy: {
        capabilities: [
          capability,
          { action: 'sleep', resource: 'sleep' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    kernel.programs.add('spin', 'export default async () => { for (;;) {} }');
    kernel.programs.add('sleeper', 'export default async () => { await new Promise(() => {}); }');
    kernel.programs.add(
      'caller',
      `export default async (n) => { for (let i = 0; i < n; i++) await sys.tool('record', i); return n; }`,
    );
    kernel.programs.add(
      'relay',
      `export default async (n) => {
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push(await sys.spawn({ program: 'caller', input: n, caps: [{ action: 'record' }] }));
      await sys.tool('record', 'relay');
      return Promise.allSettled(ids.map((id) => sys.join(id)));
    }`,
    );
    return { kernel, calls };
  }

  describe('quota evasion', () => {
    it('200 concurrent spawns cannot exceed the children limit', async () => {
      const { kernel } = setup({ children: 5 });
      const result = await kernel.run({
        code: `export default async () => {
        const settled = await Promise.allSettled(Array.from({ length: 200 }, () => sys.spawn({ program: 'sleeper' })));
        const codes = settled.map((s) => s.status === 'fulfilled' ? 'ok' : s.reason.code);
        return [codes.filter((c) => c === 'ok').length, [...new Set(codes.filter((c) => c !== 'ok'))]];
      }`,
      });
      expect(result).toMatchObject({ ok: true, value: [5, ['E_QUOTA']] });
      expect(result.usage.children).toBe(5);
    });

    it('malformed budgets are refused before anything runs', async () => {
      const { kernel } = setup({ children: 50 });
      const result = await kernel.run({
        code: `export default async () => {
        const budgets = [
          { cpu_ms: NaN }, { cpu_ms: Infinity }, { cpu_ms: -1 }, { cpu_ms: 1e300 }, { cpu_ms: '100' },
          { tool_calls: -Infinity }, { children: 1.5e9 }, { depth: 65 }, { warn_at: 0 }, { warn_at: 2 },
          { bogus: 1 }, JSON.parse('{"__proto__": {"cpu_ms": 1}}'), { constructor: 1 }, { toString: 1 },
          [1, 2], 'cpu_ms', 7,
        ];
        const out = [];
        for (const budget of budgets) {
          try { await sys.spawn({ program: 'sleeper', budget }); out.push('spawned'); } catch (e) { out.push(e.code); }
        }
        return out;
      }`,
      });
      expect(result.ok).toBe(true);
      const codes = (result.ok ? result.value : []) as string[];
      expect(codes).not.toContain('spawned');
      expect(codes.every((code) => code === 'E_BAD_ARG' || code === 'E_QUOTA')).toBe(true);
      expect(result.usage.children).toBe(0);
    });

    it('tool calls spread over children and grandchildren never exceed the top budget', async () => {
      const { kernel, calls } = setup({ tool_calls: 10 });
      const result = await kernel.run({
        code: `export default async () => {
        const ids = [];
        for (let i = 0; i < 3; i++) ids.push(await sys.spawn({ program: 'relay', input: 5, caps: [{ action: 'record' }] }));
        return Promise.allSettled(ids.map((id) => sys.join(id)));
      }`,
      });
      // The crossing call is refused and ends whoever's limit it is (here the top, and its subtree).
      expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: tool_calls' } });
      expect(calls.length).toBeLessThanOrEqual(10);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(kernel.stats()).toEqual({ agents: 0, isolates: 0 });
    });

    it('a child spawned after the remainder is gone gets nothing: its first call ends it', async () => {
      const { kernel, calls } = setup({ tool_calls: 2 });
      const result = await kernel.run({
        code: `export default async () => {
        await sys.tool('record', 1); await sys.tool('record', 2);
        try { await sys.spawn({ program: 'caller', input: 1, budget: { tool_calls: 1 } }); } catch (e) { var asked = e.code; }
        const id = await sys.spawn({ program: 'caller', input: 3, caps: [{ action: 'record' }] });
        try { await sys.join(id); } catch (e) { return [asked, e.code]; }
      }`,
      });
      expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
      expect(calls).toEqual([1, 2]);
    });

    it('CPU of parallel children is charged to the top: eight spinners cannot get far past its cpu_ms', async () => {
      const { kernel } = setup({ cpu_ms: 400, wall_ms: 20_000 });
      const started = Date.now();
      const result = await kernel.run({
        code: `export default async () => {
        const ids = [];
        for (let i = 0; i < 8; i++) ids.push(await sys.spawn({ program: 'spin' }));
        await Promise.allSettled(ids.map((id) => sys.join(id)));
        return 'survived';
      }`,
      });
      expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: cpu_ms' } });
      expect(Date.now() - started).toBeLessThan(5000);
      expect(kernel.stats().isolates).toBe(0);
    }, 20_000);

    it('CPU a killed child burned stays charged to its parent', async () => {
      const { kernel } = setup({ cpu_ms: 10_000 });
      const top = kernel.spawn({
        code: `export default async () => {
        const id = await sys.spawn({ program: 'spin' });
        await sys.tool('sleep', { ms: 300 });
        await sys.kill(id);
        await sys.tool('sleep', { ms: 10_000 });
      }`,
      });
      const deadline = Date.now() + 5000;
      while (kernel.agents().length !== 1 || (kernel.agents()[0]?.usage.cpu_ms ?? 0) < 200) {
        if (Date.now() > deadline) throw new Error('the killed child was not charged');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // The parent itself slept: what it is charged is the child's.
      expect(kernel.agents()[0]?.id).toBe(top.id);
      top.kill();
      expect((await top.result).ok).toBe(false);
    });

    it('a low warn_at in a child only warns: it neither lifts nor moves the parent limits', async () => {
      const { kernel, calls } = setup({ tool_calls: 4, warn_at: 1 });
      const warnings: string[] = [];
      kernel.on('warn', (event) => warnings.push(`${event.limit}@${event.max}`));
      const result = await kernel.run({
        code: `export default async () => {
        const id = await sys.spawn({ program: 'caller', input: 9, budget: { warn_at: 0.01 }, caps: [{ action: 'record' }] });
        try { await sys.join(id); } catch (e) { return e.code; }
      }`,
      });
      expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
      expect(calls.length).toBe(4);
      expect(
        warnings.every(
          (w) =>
            w.startsWith('tool_calls@4') ||
            w.startsWith('cpu_ms') ||
            w.startsWith('children') ||
            w.startsWith('wall_ms'),
        ),
      ).toBe(true);
    });

    it('a tool call that outlives its child still charges the tree once the child was refunded', async () => {
      // Red-team pass 59: a child on a budget of its own started a slow call and returned; its parent joined it by
      // value (getting back all it had left) and the call's use, charged later to the child alone, reached nobody:
      // twenty such children spent 2000 tokens under a top agent's 100, and the top ended ok.
      const slow = defineTool({
        name: 'slow',
        description: 'charges its use after a delay, as a model call does',
        input: z.strictObject({}),
        run: async (_args, ctx) => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          ctx.charge({ tokens_out: 100 });
          return 'ok';
        },
      });
      kernel = testKernel({
        isolation,
        limits: { tokens_out: 100, wall_ms: 60_000 },
        tools: [slow],
        policy: {
          capabilities: [
            { action: 'slow', resource: 'slow' },
            { action: 'agent.spawn', resource: 'inline' },
          ],
        },
      });
      const child = `export default async () => { sys.tool('slow', {}).catch(() => {}); return 1; }`;
      const result = await kernel.run({
        code: `export default async () => {
          const caps = (await sys.caps()).map((c) => ({ from: c.id }));
          for (let i = 0; i < 20; i++) {
            let child;
            try {
              child = await sys.spawn({ code: ${JSON.stringify(child)}, caps, budget: { tokens_out: 100 } });
            } catch (error) {
              return 'refused: ' + error.code;
            }
            await sys.join(child);
          }
          await new Promise((resolve) => setTimeout(resolve, 2000));
          return 'survived';
        }`,
      });
      // A late charge that lands while a child holds its prepaid budget crosses the limit (E_QUOTA); one that lands
      // between a join and the next spawn leaves nothing to carve the next child's budget from (refused E_QUOTA).
      if (result.ok) expect(result.value).toBe('refused: E_QUOTA');
      else expect(result.error.code).toBe('E_QUOTA');
    });
  });
});
