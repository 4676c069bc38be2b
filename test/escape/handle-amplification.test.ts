import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, recordingTool, testKernel } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  /**
   * Attack: a handle crosses the boundary as a few dozen bytes but stands for a value of up to the payload
   * cap. Repeating one handle many times inside a spawn input, a memory value or a snapshot state would make
   * the host build (and keep, and hand to a child isolate) something far larger than any payload the agent
   * could send. Each must be refused with E_BAD_ARG once the substituted value exceeds the payload cap.
   */
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  const MAX = 64 * 1024;

  function setup(): Kernel {
    kernel = testKernel({
      isolation,
      maxPayloadBytes: MAX,
      policy: {
        capabilities: [
          { action: 'echo', resource: 'echo' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    kernel.programs.add('size', 'export default async (input) => JSON.stringify(input).length');
    return kernel;
  }

  // Makes a handle to a ~40 KB value and repeats it 40 times: ~1.6 MB once substituted.
  const AMPLIFY = `
  const h = await sys.tool('echo', 'x'.repeat(40 * 1024), { handle: true });
  const big = Array.from({ length: 40 }, () => h);
`;

  describe('handle amplification', () => {
    it('a spawn input that substitutes to more than the payload cap is refused', async () => {
      const k = setup();
      const result = await k.run({
        code: `export default async () => {
        ${AMPLIFY}
        try { const id = await sys.spawn({ program: 'size', input: big }); return await sys.join(id); }
        catch (e) { return e.code; }
      }`,
      });
      expect(result).toMatchObject({ ok: true, value: 'E_BAD_ARG' });
      expect(result.usage.children).toBe(0);
    });

    it('a memory value that substitutes to more than the payload cap is refused', async () => {
      const k = setup();
      const result = await k.run({
        code: `export default async () => {
        ${AMPLIFY}
        try { await sys.mem.put('k', big); } catch (e) { return [e.code, await sys.mem.get('k')]; }
        return 'stored';
      }`,
      });
      expect(result).toMatchObject({ ok: true, value: ['E_BAD_ARG', null] });
    });

    it('a snapshot state that substitutes to more than the payload cap is refused', async () => {
      const k = setup();
      const result = await k.run({
        code: `export default async () => {
        ${AMPLIFY}
        try { await sys.snapshot({ big }); return 'saved'; } catch (e) { return e.code; }
      }`,
      });
      expect(result).toMatchObject({ ok: true, value: 'E_BAD_ARG' });
      expect(await k.snapshots.list()).toEqual([]);
    });

    // Red-team pass 52: one model.chat with 450 copies of a 1 MB handle grew the kernel by 10 GB (the SDK
    // serialized the substituted request) and stalled its event loop for 19 s (the audit digest and the vault
    // check walked every copy), since sys.tool never measured what its arguments substitute to.
    it('tool arguments that substitute to more than the payload cap are refused before the tool runs', async () => {
      const { tool, calls, capability } = recordingTool();
      const page = defineTool({
        name: 'page',
        description: 'a page from the web',
        input: z.unknown(),
        labels: { source: ['web'] },
        run: () => 'x'.repeat(40 * 1024),
      });
      kernel = testKernel({
        isolation,
        maxPayloadBytes: MAX,
        tools: [tool, page],
        policy: { capabilities: [capability, { action: 'page', resource: 'page' }] },
      });
      const result = await kernel.run({
        code: `export default async () => {
        const h = await sys.tool('page', null, { handle: true });
        await sys.tool('record', [h, 'x'], { handle: true });
        const clean = await sys.label();
        try { await sys.tool('record', { messages: Array.from({ length: 40 }, () => ({ content: h })) }); return 'ran'; }
        catch (e) { return [e.code, e.message, clean, await sys.label()]; }
      }`,
      });
      // Whether it fits depends on the handle's size: the refusal carries its label, as the result would.
      expect(result).toMatchObject({
        ok: true,
        value: [
          'E_BAD_ARG',
          'sys.tool: arguments exceed the payload cap plus their handles, each counted once, once substituted',
          [],
          ['web'],
        ],
      });
      expect(calls).toHaveLength(1);
    });

    // Red-team pass 54: measured as a lower bound (a number counted 1 where its text is 24 characters), a handle of
    // 100 long numbers named 320 times in a 12.5 KB request reached the tool as 800 KB, 12 times the cap.
    it('a handle of long numbers named many times is measured as the text it is', async () => {
      const { tool, calls, capability } = recordingTool();
      kernel = testKernel({
        isolation,
        maxPayloadBytes: MAX,
        tools: [tool],
        policy: { capabilities: [capability, { action: 'echo', resource: 'echo' }] },
      });
      const result = await kernel.run({
        code: `export default async () => {
        const h = await sys.tool('echo', Array.from({ length: 100 }, (_, i) => -(i + Math.PI) * 1e-300), { handle: true });
        try { await sys.tool('record', Array.from({ length: 320 }, () => h)); return 'ran'; } catch (e) { return e.code; }
      }`,
      });
      expect(result).toMatchObject({ ok: true, value: 'E_BAD_ARG' });
      expect(calls).toEqual([]);
    });

    it('benign twin: a tool takes a handle larger than the payload cap, and the same handle twice', async () => {
      const { tool, calls, capability } = recordingTool('done');
      kernel = testKernel({
        isolation,
        maxPayloadBytes: MAX,
        tools: [tool],
        policy: { capabilities: [capability, { action: 'echo', resource: 'echo' }] },
      });
      // What handles are for: a large result passed on without the agent reading it.
      const result = await kernel.run({
        code: `export default async () => {
        const h = await sys.tool('echo', 'x'.repeat(50 * 1024), { handle: true });
        const big = await sys.tool('echo', { a: h, b: h }, { handle: true });
        return [await sys.tool('record', { doc: big }), await sys.tool('record', [h, h])];
      }`,
      });
      expect(result).toMatchObject({ ok: true, value: ['done', 'done'] });
      expect(calls).toHaveLength(2);
    });

    it('one handle under the cap still works in all three', async () => {
      const k = setup();
      const result = await k.run({
        code: `export default async () => {
        const h = await sys.tool('echo', 'x'.repeat(1000), { handle: true });
        await sys.mem.put('k', [h, h]);
        const snap = await sys.snapshot([h]);
        return [await sys.join(await sys.spawn({ program: 'size', input: [h, h] })), typeof snap];
      }`,
      });
      expect(result).toMatchObject({ ok: true, value: [2007, 'string'] });
    });
  });
});
