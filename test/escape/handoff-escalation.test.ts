import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  /**
   * Attack: a caller hands a task (or spawns a child) asking for more authority than it holds, hoping the
   * receiver ends up wider than the caller. Every dimension must fail with E_ESCALATION and run nothing.
   */
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  const RECEIVER = `export default async (task) => { await sys.tool('send', { to: task.to }); return await sys.caps(); }`;

  function setup() {
    const sent: unknown[] = [];
    const send = defineTool({
      name: 'send',
      description: 'sends mail to a team',
      input: z.strictObject({ to: z.string().regex(/^[a-z-]+$/) }),
      resource: ({ to }) => `mail:${to}`,
      run: (args) => {
        sent.push(args);
        return null;
      },
    });
    kernel = testKernel({
      isolation,
      tools: [send],
      policy: {
        capabilities: [{ action: 'send', resource: 'mail:team-*', max_uses: 5, expires_in: '1h' }],
      },
    });
    kernel.programs.add('receiver', RECEIVER);
    return { kernel, sent };
  }

  describe('handoff escalation', () => {
    const cases: [string, string][] = [
      ['a wider resource', `{ action: 'send', resource: 'mail:*' }`],
      ['another action', `{ action: 'delete', resource: 'mail:team-a' }`],
      ['more uses', `{ action: 'send', resource: 'mail:team-a', max_uses: 6 }`],
      ['a later expiry', `{ action: 'send', resource: 'mail:team-a', expires_in_ms: 2 * 3600 * 1000 }`],
      ['a capability it does not hold', `{ from: 'not-a-capability-id' }`],
    ];
    for (const [what, cap] of cases) {
      it(`asking for ${what} fails with E_ESCALATION and runs nothing`, async () => {
        const { kernel, sent } = setup();
        const result = await kernel.run({
          code: `export default async () => {
          try { await sys.handoff({ to: 'receiver', task: { to: 'team-a' }, caps: [${cap}] }); return 'ran'; }
          catch (e) { return e.code; }
        }`,
        });
        expect(result).toMatchObject({ ok: true, value: 'E_ESCALATION' });
        expect(sent).toEqual([]);
        expect(result.usage.children).toBe(0);
      });
    }

    it('the same escalations through spawn fail the same way', async () => {
      const { kernel } = setup();
      const result = await kernel.run({
        code: `export default async () => {
        try { await sys.spawn({ program: 'receiver', caps: [{ action: 'send', resource: 'mail:*' }] }); return 'ran'; }
        catch (e) { return e.code; }
      }`,
      });
      expect(result).toMatchObject({ ok: true, value: 'E_ESCALATION' });
    });

    it('a downscoped handoff works, and the receiver holds only the narrowed capability', async () => {
      const { kernel, sent } = setup();
      const result = await kernel.run({
        code: `export default async () => {
        return await sys.handoff({ to: 'receiver', task: { to: 'team-a' }, caps: [{ resource: 'mail:team-a', max_uses: 1 }] });
      }`,
      });
      expect(result.ok).toBe(true);
      expect(sent).toHaveLength(1);
      const caps = result.ok ? (result.value as { resource: string; remainingUses: number }[]) : [];
      expect(caps).toHaveLength(1);
      expect(caps[0]).toMatchObject({ resource: 'mail:team-a', remainingUses: 0 });
    });

    it('a receiver without capabilities cannot act, whatever its task says', async () => {
      const { kernel, sent } = setup();
      const result = await kernel.run({
        code: `export default async () => {
        try { await sys.handoff({ to: 'receiver', task: { to: 'team-a' } }); } catch (e) { return [e.code, e.message]; }
      }`,
      });
      // The receiver's own tool call is refused, so the receiver fails; the caller sees that failure.
      expect(result).toMatchObject({ ok: true, value: ['E_AGENT_FAILED', expect.stringMatching(/denied/)] });
      expect(sent).toEqual([]);
    });

    it('uses by a child debit the parent chain: the parent cannot get more uses by delegating', async () => {
      const { kernel, sent } = setup();
      kernel.programs.add(
        'spammer',
        `export default async () => { let n = 0; try { for (;;) { await sys.tool('send', { to: 'team-a' }); n++; } } catch (e) { return [n, e.code]; } }`,
      );
      const result = await kernel.run({
        code: `export default async () => {
        await sys.tool('send', { to: 'team-b' });
        await sys.tool('send', { to: 'team-b' });
        const id = await sys.spawn({ program: 'spammer', caps: [{ resource: 'mail:team-a' }] });
        return await sys.join(id);
      }`,
      });
      expect(result).toMatchObject({ ok: true, value: [3, 'E_CAP_EXHAUSTED'] });
      expect(sent).toHaveLength(5);
    });

    it('inline code needs agent.spawn', async () => {
      const { kernel } = setup();
      const result = await kernel.run({
        code: `export default async () => { try { await sys.spawn({ code: 'export default async () => 1' }); } catch (e) { return e.code; } }`,
      });
      expect(result).toMatchObject({ ok: true, value: 'E_CAP_DENIED' });
    });

    it('unknown children cannot be joined or killed (E_NOT_FOUND), nor can those of another agent', async () => {
      const { kernel } = setup();
      kernel.programs.add('sleeper', 'export default async () => { await new Promise(() => {}); }');
      const other = kernel.spawn({ program: 'sleeper' });
      const result = await kernel.run({
        code: `export default async (other) => {
        const codes = [];
        for (const op of [() => sys.join('nope'), () => sys.kill('nope'), () => sys.join(other), () => sys.kill(other)]) {
          try { await op(); codes.push('ok'); } catch (e) { codes.push(e.code); }
        }
        return codes;
      }`,
        input: other.id,
      });
      expect(result).toMatchObject({ ok: true, value: ['E_NOT_FOUND', 'E_NOT_FOUND', 'E_NOT_FOUND', 'E_NOT_FOUND'] });
      expect(kernel.live()).toContain(other.id);
    });
  });
});
