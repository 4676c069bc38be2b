import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { runBatchInChild, runInChild } from '../helpers/fork.js';
import { HOST_SECRETS, ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

/**
 * Attack: hand the snapshot and memory paths values the host's recursive encoders choke on (deep nesting,
 * giant strings), smuggle authority through a snapshot, or restore over another agent's namespace. The host
 * must answer with a code (never crash, never leak a host path), and a snapshot never mints authority.
 */
let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

const deep = (depth: number) => `(() => { let v = 0; for (let i = 0; i < ${depth}; i++) v = [v]; return v; })()`;

describe.each(ISOLATION_MODES)('snapshot abuse, %s tier', (isolation) => {
  it('deeply nested states and memory values get E_BAD_ARG, the host survives and keeps serving', async () => {
    const probe = (depth: number, body: string) => `export default async () => {
      const v = ${deep(depth)};
      try { ${body} return 'accepted'; } catch (e) { return e.code; }
    }`;
    const outcome = await runBatchInChild(
      [
        probe(100, 'await sys.snapshot(v);'),
        probe(50_000, 'await sys.snapshot(v);'),
        probe(50_000, 'await sys.mem.put("deep", v);'),
        probe(50_000, 'await sys.spawn({ program: "x", input: v });'),
        probe(50_000, 'await sys.snapshot({ s: "x".repeat(2 ** 20) });'),
        'export default async () => "alive"',
      ],
      {},
      60_000,
      isolation,
    );
    expect(outcome.timedOut).toBe(false);
    expect(outcome.exitCode).toBe(0);
    const values = outcome.results.map((result) => (result.ok ? result.value : result.error.code));
    // Building 50k levels can cost the guest its own memory first (E_QUOTA): either way the agent gets a code.
    const refused = expect.stringMatching(/^E_(BAD_ARG|QUOTA)$/);
    expect(values).toEqual(['E_BAD_ARG', refused, refused, refused, 'E_BAD_ARG', 'alive']);
    const text = JSON.stringify(outcome.results);
    for (const secret of HOST_SECRETS) expect(text).not.toContain(secret);
  }, 70_000);

  it('a snapshot of an agent holding capabilities restores with none of them', async () => {
    kernel = testKernel({ isolation, policy: { capabilities: [] } });
    const saved = await kernel.run({
      code: `export default async () => sys.snapshot({ caps: await sys.caps() })`,
      caps: [{ action: 'echo', resource: 'echo' }],
    });
    expect(saved.ok).toBe(true);
    const id = String(saved.ok ? saved.value : '');
    expect((await kernel.inspectSnapshot(id)).capabilities).toHaveLength(1);
    const restored = await kernel.restore(id);
    const result = await restored.result;
    expect(result).toMatchObject({ ok: true });
    const again = await kernel.restore(id);
    expect(kernel.capabilities(again.id)).toEqual([]);
    again.kill();
  });

  it('a restored agent cannot use or delegate from capability ids frozen in its state', async () => {
    kernel = testKernel({ isolation, policy: { capabilities: [] } });
    kernel.programs.add('user', 'export default async () => 1');
    const code = `export default async () => {
      const frozen = await sys.restored();
      if (frozen === undefined) return sys.snapshot((await sys.caps()).map((c) => c.id));
      const out = [];
      for (const from of frozen) {
        try { await sys.spawn({ program: 'user', caps: [{ from }] }); out.push('spawned'); } catch (e) { out.push(e.code); }
      }
      try { await sys.tool('echo', 1); out.push('used'); } catch (e) { out.push(e.code); }
      return out;
    }`;
    const saved = await kernel.run({ code, caps: [{ action: 'echo', resource: 'echo' }] });
    expect(saved.ok).toBe(true);
    const restored = await kernel.restore(String(saved.ok ? saved.value : ''), {
      caps: [{ action: 'agent.spawn', resource: 'inline' }],
    });
    expect(await restored.result).toMatchObject({ ok: true, value: ['E_ESCALATION', 'E_CAP_DENIED'] });
  });

  it('a referential-equality bomb (a few hundred bytes doubling per level) is refused, not expanded', async () => {
    // The agent rewrites what crosses: a toJSON planted on Object.prototype replaces the superjson wire
    // with one whose referentialEqualities make level i two references to level i-1 (2^24 copies).
    const outcome = await runInChild(
      `export default async () => {
        const json = { l0: ['x'.repeat(64)] };
        const equalities = {};
        for (let i = 1; i <= 24; i++) { json['l' + i] = [null, null]; equalities['l' + (i - 1)] = ['l' + i + '.0', 'l' + i + '.1']; }
        const crafted = { json, meta: { referentialEqualities: equalities } };
        Object.defineProperty(Object.prototype, 'toJSON', {
          configurable: true,
          value() { return this !== null && typeof this === 'object' && 'json' in this && this !== crafted && !('l0' in this) ? crafted : this; },
        });
        try { await sys.snapshot({ any: 1 }); return 'saved'; } catch (e) { return e.code; }
      }`,
      { timeoutMs: 60_000, isolation },
    );
    expect(outcome.timedOut).toBe(false);
    expect(outcome.exitCode).toBe(0);
    expect(outcome.result).toMatchObject({ ok: true, value: 'E_BAD_ARG' });
  }, 70_000);
});
