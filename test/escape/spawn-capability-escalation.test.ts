import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  /**
   * Attack: get a child more authority than the parent has through the `caps` of spawn: another agent's
   * capability id, remaining uses, revoked or exhausted chains, resource pattern tricks, wider constraints.
   */
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  function setup() {
    const sent: unknown[] = [];
    const send = defineTool({
      name: 'send',
      description: 'sends mail to a team',
      input: z.strictObject({ to: z.string().min(1).max(64), method: z.string().optional() }),
      resource: ({ to }) => `mail:${to}`,
      run: (args) => {
        sent.push(args);
        return null;
      },
    });
    kernel = testKernel({ isolation, tools: [send], policy: { capabilities: [] } });
    kernel.programs.add(
      'user',
      `export default async (tos) => {
      const out = [];
      for (const to of tos) { try { await sys.tool('send', { to }); out.push('sent'); } catch (e) { out.push(e.code); } }
      return out;
    }`,
    );
    kernel.programs.add('sleeper', 'export default async () => { await new Promise(() => {}); }');
    return { kernel, sent };
  }

  const SPAWN_EACH = `export default async ({ requests, tos }) => {
  const out = [];
  for (const caps of requests) {
    try { out.push(await sys.join(await sys.spawn({ program: 'user', input: tos, caps }))); }
    catch (e) { out.push(e.code); }
  }
  return out;
}`;

  describe('spawn capability escalation', () => {
    it("naming another agent's capability id in `from` gets nothing", async () => {
      const { kernel, sent } = setup();
      const victim = kernel.spawn({ program: 'sleeper', caps: [{ action: 'send', resource: 'mail:*' }] });
      const [stolen] = kernel.capabilities(victim.id);
      expect(stolen).toBeDefined();
      const result = await kernel.run({
        code: SPAWN_EACH,
        input: {
          requests: [[{ from: stolen?.id }], [{ from: stolen?.id, action: 'send', resource: 'mail:ceo' }]],
          tos: ['ceo'],
        },
        caps: [{ action: 'send', resource: 'mail:team-*' }],
      });
      expect(result).toMatchObject({ ok: true, value: ['E_ESCALATION', 'E_ESCALATION'] });
      expect(sent).toEqual([]);
      victim.kill();
    });

    it('resource pattern tricks never cover more than the parent pattern', async () => {
      const { kernel, sent } = setup();
      const tricks = [
        'mail:*',
        'mail:team-**',
        'mail:*team-*',
        'mail:team-*/../ceo',
        'mail:team-*,mail:ceo',
        'mail:team-[a-z]',
        'mail:team-?',
        '*',
        'mail:team-*\u0000ceo',
        'MAIL:ceo',
        'mail:team-/../../ceo',
      ];
      const result = await kernel.run({
        code: SPAWN_EACH,
        input: {
          requests: tricks.map((resource) => [{ action: 'send', resource }]),
          tos: ['ceo', 'team-/../../ceo', 'x'],
        },
        caps: [{ action: 'send', resource: 'mail:team-*' }],
      });
      expect(result.ok).toBe(true);
      for (const outcome of (result.ok ? result.value : []) as unknown[]) {
        if (Array.isArray(outcome)) expect(outcome.slice(0, 1)).not.toContain('sent');
      }
      expect(sent.filter((s) => !String((s as { to: string }).to).startsWith('team-'))).toEqual([]);
    });

    it('max_uses above what is left of the chain, and an exhausted or revoked parent, give the child nothing', async () => {
      const { kernel, sent } = setup();
      const top = kernel.spawn({
        code: `export default async () => {
        for (let i = 0; i < 3; i++) await sys.tool('send', { to: 'team-a' });
        const out = [];
        try { await sys.spawn({ program: 'user', input: [], caps: [{ action: 'send', max_uses: 3 }] }); out.push('spawned'); } catch (e) { out.push(e.code); }
        out.push(await sys.join(await sys.spawn({ program: 'user', input: ['team-a', 'team-a', 'team-a'], caps: [{ action: 'send', max_uses: 2 }] })));
        // Exhausted now: a child asking for it gets nothing usable.
        try { out.push(await sys.join(await sys.spawn({ program: 'user', input: ['team-a'], caps: [{ action: 'send' }] }))); } catch (e) { out.push(e.code); }
        return out;
      }`,
        caps: [{ action: 'send', resource: 'mail:team-*', maxUses: 5 }],
      });
      const result = await top.result;
      expect(result.ok).toBe(true);
      const [tooMany, used, exhausted] = (result.ok ? result.value : []) as unknown[];
      expect(tooMany).toBe('E_ESCALATION');
      expect(used).toEqual(['sent', 'sent', expect.stringMatching(/^E_CAP/)]);
      expect(exhausted === 'E_ESCALATION' || JSON.stringify(exhausted).includes('E_CAP')).toBe(true);
      expect(sent.length).toBe(5);
    });

    it('a revoked capability cannot be delegated any more, by its holder or through its id', async () => {
      const { kernel, sent } = setup();
      const top = kernel.spawn({
        code: `export default async () => {
        const id = await sys.spawn({ program: 'user', input: ['team-a'], caps: [{ action: 'send' }] });
        await sys.join(id);
        await new Promise(() => {});
      }`,
        caps: [{ action: 'send', resource: 'mail:team-*' }],
      });
      const deadline = Date.now() + 5000;
      while (sent.length < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      const [cap] = kernel.capabilities(top.id);
      kernel.revoke(cap?.id ?? '');
      expect(kernel.capabilities(top.id)).toEqual([]);
      const child = await kernel.run({
        code: SPAWN_EACH,
        input: { requests: [[{ from: cap?.id }]], tos: ['team-a'] },
      });
      expect(child).toMatchObject({ ok: true, value: ['E_ESCALATION'] });
      top.kill();
    });

    it('a constraint the parent has cannot be dropped or widened', async () => {
      const { kernel, sent } = setup();
      const result = await kernel.run({
        code: SPAWN_EACH,
        input: {
          requests: [
            [{ action: 'send', constraint: {} }],
            [{ action: 'send', constraint: { method: ['GET', 'POST'] } }],
            [{ action: 'send', constraint: { method: 'POST' } }],
          ],
          tos: [],
        },
        caps: [{ action: 'send', resource: 'mail:team-*', constraints: { method: 'GET' } }],
      });
      expect(result.ok).toBe(true);
      const codes = (result.ok ? result.value : []) as unknown[];
      expect(codes.every((c) => c === 'E_ESCALATION' || c === 'E_BAD_ARG')).toBe(true);
      expect(sent).toEqual([]);
    });
  });
});
