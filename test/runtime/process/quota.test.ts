import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel, type KernelEvent } from '../../../index.js';
import { KernelError } from '../../../runtime/core/errors.js';
import { EMPTY_LABEL, type Label, makeLabel } from '../../../runtime/labels/label.js';
import { DEFAULT_LIMITS, type Limits, resolveLimits } from '../../../runtime/process/limits.js';
import { type CountedField, ownFields, Quota } from '../../../runtime/process/quota.js';
import { testKernel, testToolsPolicy } from '../../helpers/kernel.js';

function hooks(log: string[]) {
  return {
    warn: (field: string) => log.push(`warn:${field}`),
    exceeded: (field: string) => log.push(`exceeded:${field}`),
  };
}

function quota(limits: Partial<Limits>, log: string[] = []): Quota {
  return new Quota(resolveLimits(limits, DEFAULT_LIMITS, 'limits'), undefined, hooks(log));
}

function child(parent: Quota, request: Partial<Limits>, log: string[] = []): Quota {
  return new Quota(parent.carve(request), parent, hooks(log));
}

describe('Quota labels', () => {
  it('a warning carries the label of what decided the charge and of the descendants that moved the counter', () => {
    const warned: Label[] = [];
    const top = new Quota(
      resolveLimits({ tokens_out: 100, tool_calls: 10, warn_at: 0.5 }, DEFAULT_LIMITS, 'limits'),
      undefined,
      {
        warn: (_field, _used, _max, observed) => warned.push(observed),
        exceeded: () => {},
      },
    );
    // A model's answer labelled `web` decided 60 tokens: when the warning comes depends on it.
    top.charge('tokens_out', 60, makeLabel(['web'], 'label'));
    const below = new Quota(top.carve({}), top, hooks([]), () => makeLabel(['mail'], 'label'));
    for (let i = 0; i < 5; i++) below.charge('tool_calls', 1);
    expect(warned).toEqual([['web'], ['mail', 'web']]);
  });

  it("an ancestor's counters carry the labels of the descendants that charged them", () => {
    let childLabel: readonly string[] = [];
    const top = quota({ tool_calls: 10 });
    const mid = new Quota(top.carve({}), top, hooks([]), () => ['web']);
    const kid = new Quota(mid.carve({}), mid, hooks([]), () => childLabel);
    kid.charge('tool_calls', 1);
    expect(top.observed()).toEqual([]);
    childLabel = ['email'];
    kid.charge('tool_calls', 1);
    expect(top.observed()).toEqual(['email']);
    expect(mid.observed()).toEqual(['email']);
    // Its own charges do not label a quota for itself; spawns label the ancestors as charges do.
    expect(kid.observed()).toEqual(['email']);
    mid.chargeSpawn();
    expect(top.observed()).toEqual(['email', 'web']);
    expect(mid.observed()).toEqual(['email', 'web']);
  });

  it('every counter a charge moves carries the label of what decided its amount, the charging agent’s own too', () => {
    const top = quota({ tokens_out: 1000 });
    const kid = child(top, {});
    kid.charge('tokens_out', 3, makeLabel(['web']));
    expect(kid.observed()).toEqual(['web']);
    expect(top.observed()).toEqual(['web']);
    // A zero that a labelled value decided labels too (red-team pass 59: a raise only for non-zero amounts
    // spelled the zeros); a zero nothing decided does nothing.
    top.charge('tokens_out', 0, makeLabel(['inbox']));
    expect(top.observed()).toEqual(['inbox', 'web']);
    top.charge('tokens_out', 0);
    expect(top.used.tokens_out).toBe(3);
  });
});

describe('Quota budgets of their own', () => {
  function tree(own: CountedField[]) {
    const raised: string[] = [];
    let kidLabel: Label = EMPTY_LABEL;
    const top = new Quota(resolveLimits({ tool_calls: 100 }, DEFAULT_LIMITS, 'limits'), undefined, {
      ...hooks([]),
      raise: (label: Label) => raised.push(`top:${label.join(',')}`),
    });
    const request = Object.fromEntries(own.map((field) => [field, 40]));
    const kid = new Quota(top.carve(request), top, hooks([]), () => kidLabel, ownFields(request));
    top.prepay(kid);
    return { top, kid, raised, label: (tags: string[]) => (kidLabel = makeLabel(tags)) };
  }

  it("a shared budget's labelled use raises the owner of every bounded counter it moves", () => {
    const { top, kid, raised, label } = tree([]);
    kid.charge('tool_calls', 1);
    expect(raised).toEqual([]);
    label(['web']);
    kid.charge('tool_calls', 1);
    kid.charge('tool_calls', 1);
    expect(raised).toEqual(['top:web']);
    expect(top.used.tool_calls).toBe(3);
    // An unbounded counter decides nothing: moving it raises nobody (it still labels its readers).
    kid.charge('tokens_in', 5);
    expect(raised).toEqual(['top:web']);
  });

  it('a budget of its own is paid at the start and moves nothing of the parent after', () => {
    const { top, kid, raised, label } = tree(['tool_calls']);
    expect(top.used.tool_calls).toBe(40);
    label(['web']);
    kid.charge('tool_calls', 7);
    expect(top.used.tool_calls).toBe(40);
    expect(top.spent.tool_calls).toBe(7);
    expect(raised).toEqual([]);
    expect(top.observed()).toEqual([]);
    expect(() => kid.charge('tool_calls', 40)).toThrow(/quota exceeded: tool_calls/);
    expect(top.used.tool_calls).toBe(40);
  });

  it('what the child left comes back once, to a parent that takes its label, raising it', () => {
    const { top, kid, raised, label } = tree(['tool_calls']);
    label(['web']);
    kid.charge('tool_calls', 7);
    top.refund(kid);
    expect(top.used.tool_calls).toBe(7);
    expect(raised).toEqual(['top:web']);
    expect(top.observed()).toEqual(['web']);
    top.refund(kid);
    expect(top.used.tool_calls).toBe(7);
  });

  it('a refund raises the shared chain whether the child left anything or not (red-team pass 59)', () => {
    for (const used of [40, 55]) {
      const { top, kid, raised, label } = tree(['tool_calls']);
      label(['web']);
      try {
        kid.charge('tool_calls', used);
      } catch {
        // 55 crosses the kid's own 40: it ends, and nothing is left
      }
      top.refund(kid);
      expect(raised).toEqual(['top:web']);
      expect(top.used.tool_calls).toBe(40);
    }
  });

  it('charges that reach a child after its refund go on to the parent (red-team pass 59)', () => {
    const { top, kid, label } = tree(['tool_calls']);
    label(['web']);
    kid.charge('tool_calls', 5);
    top.refund(kid);
    expect(top.used.tool_calls).toBe(5);
    kid.charge('tool_calls', 30); // a tool call that outlived the kid reports its use
    expect(top.used.tool_calls).toBe(35);
  });

  it("law: a clean parent's counters never depend on what a child on its own budget does", () => {
    const step = fc.tuple(fc.constantFrom('top', 'kid', 'label'), fc.integer({ min: 0, max: 20 }));
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 50 }),
        fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 50 }),
        (steps, secret) => {
          const observe = (kidAmounts: readonly number[]) => {
            const { top, kid, raised, label } = tree(['tool_calls', 'syscalls']);
            const log: string[] = [];
            let labelled = false;
            let k = 0;
            for (const [who, amount] of steps) {
              if (who === 'label') {
                label(['web']);
                labelled = true;
                continue;
              }
              const target = who === 'top' ? top : kid;
              const charged = who === 'kid' && labelled ? (kidAmounts[k++] ?? 0) : amount;
              try {
                target.charge(who === 'top' ? 'tool_calls' : k % 2 === 0 ? 'tool_calls' : 'syscalls', charged);
                if (who === 'top') log.push('top:ok');
              } catch {
                if (who === 'top') log.push('top:refused');
              }
            }
            return { log, top: top.used.tool_calls, observed: top.observed(), raised };
          };
          expect(observe(secret)).toEqual(observe(secret.map((n) => 20 - n)));
        },
      ),
    );
  });
});

describe('Quota', () => {
  it('charges the agent and every ancestor, and the crossing belongs to the quota whose limit it is', () => {
    const log: string[] = [];
    const top = quota({ tokens_out: 100 }, log);
    const kid = child(top, { tokens_out: 80 }, log);
    kid.charge('tokens_out', 50);
    expect(top.used.tokens_out).toBe(50);
    expect(() => kid.charge('tokens_out', 40)).toThrow(/quota exceeded: tokens_out/);
    // The child crosses its own 80; the parent, at 90 of 100, only passes its warning threshold.
    expect(log).toEqual(['exceeded:tokens_out', 'warn:tokens_out']);
  });

  it('refuses non-finite, negative and non-numeric charges before changing any counter', () => {
    const q = quota({ tokens_in: 10 });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1, '5', null, undefined, {}]) {
      expect(() => q.charge('tokens_in', bad)).toThrow(KernelError);
    }
    expect(q.used.tokens_in).toBe(0);
    // NaN must not disable later checks.
    expect(() => q.charge('tokens_in', 11)).toThrow(/quota exceeded/);
  });

  it('carves a child budget only out of the remainder', () => {
    const top = quota({ tool_calls: 10, cpu_ms: 1000 });
    top.charge('tool_calls', 4);
    expect(() => top.carve({ tool_calls: 7 })).toThrow(/budget.tool_calls exceeds/);
    expect(top.carve({ tool_calls: 6 }).tool_calls).toBe(6);
    expect(top.carve(undefined).tool_calls).toBe(6);
    expect(() => top.carve({ cpu_ms: 2000 })).toThrow(/E_QUOTA|exceeds/);
    expect(() => top.carve({ cpu_ms: Number.NaN })).toThrow(/between/);
    expect(() => top.carve({ memory_mb: DEFAULT_LIMITS.memory_mb + 1 })).toThrow(/memory_mb exceeds/);
  });

  it('law: a subtree never spends more than its root was given, shared budgets or their own', () => {
    const step = fc.tuple(fc.nat(3), fc.integer({ min: 0, max: 30 }));
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), fc.boolean(), fc.boolean(), (charges, kidOwn, grandOwn) => {
        const top = quota({ tokens_in: 100 });
        const kid = new Quota(top.carve({ tokens_in: 60 }), top, hooks([]), undefined, kidOwn ? ['tokens_in'] : []);
        top.prepay(kid);
        const grandchild = new Quota(
          kid.carve({ tokens_in: 50 }),
          kid,
          hooks([]),
          undefined,
          grandOwn ? ['tokens_in'] : [],
        );
        kid.prepay(grandchild);
        const nodes = [top, kid, grandchild, grandchild];
        let spent = 0;
        for (const [node, amount] of charges) {
          spent += amount; // a charge that crosses was spent too
          try {
            nodes[node]?.charge('tokens_in', amount);
          } catch {
            break; // the crossing ends the agent whose limit it is: no further charges from this tree
          }
        }
        // A refund after the tree stopped gives back only what was not used.
        kid.refund(grandchild);
        top.refund(kid);
        return spent <= 100 + 30 && top.spent.tokens_in === spent && top.used.tokens_in + 30 >= kid.spent.tokens_in;
      }),
    );
  });

  it('refuses a spawn past the children or depth limit without charging it', () => {
    const top = quota({ children: 1, depth: 1 });
    top.chargeSpawn();
    expect(() => top.chargeSpawn()).toThrow(/children/);
    expect(top.used.children).toBe(1);
    const leaf = child(top, { children: 0 });
    expect(leaf.limits.depth).toBe(0);
    expect(() => leaf.chargeSpawn()).toThrow(/depth/);
  });
});

const model = defineTool({
  name: 'model',
  description: 'reports token use like a model call',
  input: z.strictObject({ tokens: z.unknown() }),
  run: ({ tokens }, ctx) => {
    ctx.charge({ tokens_out: tokens as number });
    return 'ok';
  },
});

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

function quotaKernel(budget: Record<string, number>): { kernel: Kernel; events: KernelEvent[] } {
  const events: KernelEvent[] = [];
  kernel = testKernel({
    tools: [model],
    policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'model', resource: 'model' }], budget },
  });
  kernel.on('warn', (event) => events.push(event));
  return { kernel, events };
}

describe('quotas in the kernel', () => {
  it('tokens charged by a tool warn at the threshold and kill the agent at the limit', async () => {
    const { kernel, events } = quotaKernel({ tokens_out: 100, warn_at: 0.5 });
    const logs: string[] = [];
    kernel.on('log', (event) => logs.push(event.text));
    const result = await kernel.run({
      code: `export default async () => {
        for (let i = 0; i < 5; i++) await sys.tool('model', { tokens: 10 });
        const records = await sys.audit({ limit: 1000 });
        await sys.log(records.filter((r) => r.action === 'quota.warn').map((r) => r.resource).join(','));
        for (let i = 0; i < 20; i++) await sys.tool('model', { tokens: 10 });
        return 'never';
      }`,
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: tokens_out' } });
    expect(result.usage.tokens_out).toBe(110);
    expect(events).toMatchObject([{ type: 'warn', limit: 'tokens_out', used: 50, max: 100 }]);
    expect(logs).toContainEqual(expect.stringContaining('tokens_out'));
  });

  it("a tool's work metered after its first await is charged to the caller's cpu_ms", async () => {
    // Busy for 60 ms of the kernel's thread after an await: out of the dispatcher's sight unless metered.
    const spin = (ctx: { metered<T>(call: () => T): T } | undefined) => {
      const work = () => {
        const end = performance.now() + 60;
        while (performance.now() < end) {}
      };
      if (ctx === undefined) work();
      else ctx.metered(work);
    };
    const busy = (name: string, metered: boolean) =>
      defineTool({
        name,
        description: 'works after an await',
        input: z.unknown(),
        run: async (_args, ctx) => {
          await new Promise((resolve) => setTimeout(resolve, 1));
          spin(metered ? ctx : undefined);
          return 'done';
        },
      });
    kernel = testKernel({
      tools: [busy('metered', true), busy('unmetered', false)],
      policy: {
        capabilities: [
          { action: 'metered', resource: 'metered' },
          { action: 'unmetered', resource: 'unmetered' },
        ],
      },
    });
    const run = (tool: string) =>
      kernel!.run({ code: `export default async () => { for (let i = 0; i < 5; i++) await sys.tool('${tool}'); }` });
    const [metered, unmetered] = [await run('metered'), await run('unmetered')];
    expect(metered.ok && unmetered.ok).toBe(true);
    expect(metered.usage.kernel_ms).toBeGreaterThanOrEqual(5 * 60);
    expect(unmetered.usage.kernel_ms).toBeLessThan(5 * 60);
  });

  it('refuses NaN and negative charges with E_BAD_ARG, and NaN does not disable the limit', async () => {
    const { kernel } = quotaKernel({ tokens_out: 25 });
    const result = await kernel.run({
      code: `export default async () => {
        const codes = [];
        for (const tokens of [NaN, -5, 'x', 1e400]) {
          try { await sys.tool('model', { tokens }); } catch (e) { codes.push(e.code); }
        }
        await sys.tool('model', { tokens: 20 });
        await sys.tool('model', { tokens: 20 });
        return codes;
      }`,
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
    expect(result.usage.tokens_out).toBe(40);
  });

  it('counts tool calls and kills past the limit', async () => {
    const { kernel } = quotaKernel({ tool_calls: 3 });
    const result = await kernel.run({
      code: `export default async () => { for (let i = 0; i < 5; i++) await sys.tool('echo', i); }`,
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: tool_calls' } });
  });

  it("a child's use counts against its parent, and a child cannot ask for more than remains", async () => {
    const { kernel } = quotaKernel({ tokens_out: 100 });
    kernel.programs.add(
      'spender',
      `export default async (n) => { for (let i = 0; i < n; i++) await sys.tool('model', { tokens: 10 }); return n; }`,
    );
    const result = await kernel.run({
      code: `export default async () => {
        const out = {};
        try { await sys.spawn({ program: 'spender', budget: { tokens_out: 101 } }); } catch (e) { out.tooMuch = e.code; }
        const child = await sys.spawn({ program: 'spender', input: 3, budget: { tokens_out: 50 }, caps: [{ action: 'model' }] });
        out.joined = await sys.join(child);
        const greedy = await sys.spawn({ program: 'spender', input: 9, budget: { tokens_out: 50 }, caps: [{ action: 'model' }] });
        try { await sys.join(greedy); } catch (e) { out.greedy = e.code; }
        return out;
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: { tooMuch: 'E_QUOTA', joined: 3, greedy: 'E_QUOTA' } });
    expect(result.usage.tokens_out).toBe(30 + 60);
  });

  it("a child's CPU counts against its parent's cpu_ms", async () => {
    const { kernel } = quotaKernel({ cpu_ms: 300 });
    kernel.programs.add('spin', 'export default async () => { for (;;) {} }');
    const result = await kernel.run({
      code: `export default async () => { const id = await sys.spawn({ program: 'spin' }); await sys.join(id); }`,
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: cpu_ms' } });
  });

  it('refuses spawns past the fan-out and depth limits', async () => {
    const { kernel } = quotaKernel({ children: 2, depth: 1 });
    kernel.programs.add(
      'nested',
      `export default async () => { try { await sys.spawn({ program: 'nested' }); } catch (e) { return e.code; } }`,
    );
    const result = await kernel.run({
      code: `export default async () => {
        const a = await sys.spawn({ program: 'nested' });
        const b = await sys.spawn({ program: 'nested' });
        let third;
        try { await sys.spawn({ program: 'nested' }); } catch (e) { third = e.code; }
        return [await sys.join(a), await sys.join(b), third];
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['E_QUOTA', 'E_QUOTA', 'E_QUOTA'] });
  });
});
