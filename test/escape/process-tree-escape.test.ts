import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel, waitFor } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  /**
   * Attack: act on agents outside the caller's subtree (ids are not secrets: sys.audit shows them), outlive a
   * parent, leave isolates behind, or bomb the kernel with spawns so that it stops answering or cannot close.
   */
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  function kernelWith(programs: Record<string, string>, limits: Record<string, number> = {}): Kernel {
    kernel = testKernel({
      isolation,
      limits,
      policy: {
        capabilities: [
          { action: 'echo', resource: 'echo' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    for (const [name, code] of Object.entries(programs)) kernel.programs.add(name, code);
    return kernel;
  }

  const SLEEPER = 'export default async () => { await new Promise(() => {}); }';

  // A child that reads its parent's audit records through a mount, collects every agent id it can see and
  // tries to kill and join each one that is not itself.
  const ASSASSIN = `export default async () => {
  const self = (await sys.audit({ limit: 1000 })).map((r) => r.agent);
  const seen = new Set();
  for (const r of await sys.audit({ limit: 1000 })) { seen.add(r.agent); if (r.parent) seen.add(r.parent); }
  for (const r of await (async () => { try { return await sys.mem.list('', { mount: 'up' }); } catch { return []; } })()) seen.add(r);
  const out = {};
  for (const id of seen) {
    if (self.includes(id) && id === self[self.length - 1]) continue;
    let kill, join;
    try { await sys.kill(id); kill = 'killed'; } catch (e) { kill = e.code; }
    try { await sys.join(id); join = 'joined'; } catch (e) { join = e.code; }
    out[id] = [kill, join];
  }
  return out;
}`;

  describe('process-tree escape', () => {
    it('a child cannot kill or join its parent or its sibling, even with their ids from sys.audit', async () => {
      const k = kernelWith({ sleeper: SLEEPER, assassin: ASSASSIN });
      const top = k.spawn({
        code: `export default async () => {
        const sibling = await sys.spawn({ program: 'sleeper', namespace: 'sib' });
        await sys.mem.put('sibling-id', sibling);
        const a = await sys.spawn({ program: 'assassin', mounts: [{ name: 'up', mode: 'ro' }] });
        const tried = await sys.join(a);
        // The parent and the sibling are alive to tell.
        await sys.tool('echo', 'still here');
        await sys.kill(sibling);
        return { tried, sibling };
      }`,
      });
      const result = await top.result;
      expect(result.ok).toBe(true);
      const { tried, sibling } = (result.ok ? result.value : {}) as {
        tried: Record<string, string[]>;
        sibling: string;
      };
      expect(Object.keys(tried)).toContain(top.id);
      for (const [, outcome] of Object.entries(tried)) expect(outcome).toEqual(['E_NOT_FOUND', 'E_NOT_FOUND']);
      expect(sibling).toMatch(/^[0-9a-f-]{36}$/);
      await waitFor(() => k.stats().isolates === 0);
    });

    it('a grandchild cannot kill its grandparent; an agent cannot kill itself through sys.kill', async () => {
      const k = kernelWith({
        grandchild: `export default async (ids) => {
        const out = [];
        for (const id of ids) { try { await sys.kill(id); out.push('killed'); } catch (e) { out.push(e.code); } }
        return out;
      }`,
        child: `export default async (top) => {
        const me = (await sys.audit()).at(-1).agent;
        return await sys.join(await sys.spawn({ program: 'grandchild', input: [top, me] }));
      }`,
        self: `export default async () => { const me = (await sys.audit()).at(-1).agent; try { await sys.kill(me); } catch (e) { return e.code; } }`,
      });
      const top = k.spawn({
        code: `export default async () => {
        const me = (await sys.audit()).at(-1).agent;
        const a = await sys.join(await sys.spawn({ program: 'child', input: me }));
        const b = await sys.join(await sys.spawn({ program: 'self' }));
        return [a, b];
      }`,
      });
      expect(await top.result).toMatchObject({ ok: true, value: [['E_NOT_FOUND', 'E_NOT_FOUND'], 'E_NOT_FOUND'] });
    });

    it('no child outlives its parent: a parent that returns at once leaves no agent and no isolate', async () => {
      const k = kernelWith({
        sleeper: SLEEPER,
        spawner: `export default async () => { for (let i = 0; i < 5; i++) await sys.spawn({ program: 'sleeper' }); await new Promise(() => {}); }`,
      });
      const result = await k.run({
        code: `export default async () => {
        const ids = [];
        for (let i = 0; i < 5; i++) ids.push(await sys.spawn({ program: 'spawner' }));
        // Fire-and-forget: more spawns still in flight when main returns.
        for (let i = 0; i < 5; i++) sys.spawn({ program: 'spawner' }).catch(() => {});
        return ids.length;
      }`,
      });
      expect(result).toMatchObject({ ok: true, value: 5 });
      await waitFor(() => k.stats().isolates === 0 && k.agents().length === 0);
    });

    // Every bomb spawns three more and then parks (waiting, not spinning: 60 spinning isolates on two cores
    // would only measure the scheduler). The tree fills the children budget exactly, every spawn past it is
    // refused with E_QUOTA, and the kernel keeps answering and closes the whole tree fast.
    it('a spawn bomb stays within the children budget, the kernel stays responsive, and close() ends it fast', async () => {
      const k = kernelWith(
        {
          bomb: `export default async () => {
          const spawn = () => sys.spawn({ program: 'bomb' }).catch((e) => e.code);
          await Promise.all([spawn(), spawn(), spawn()]);
          await new Promise(() => {});
        }`,
        },
        { children: 60, depth: 64, cpu_ms: 60_000, wall_ms: 60_000 },
      );
      let refused = 0;
      k.on('syscall', (event) => {
        if (event.syscall === 'spawn' && event.code === 'E_QUOTA') refused++;
      });
      const top = k.spawn({ program: 'bomb' });
      // 1 + 60 agents, and each of the 61 asked for 3 children: 183 asks, 60 granted, 123 refused.
      await waitFor(() => refused === 123, 'every spawn refused', 25_000);
      expect(k.agents().length).toBe(61);
      // The host still answers.
      const probe = await k.submit({ action: 'echo', target: 'echo', params: {} });
      expect(probe.status).toBe('OK');
      const started = Date.now();
      await k.close();
      expect(Date.now() - started).toBeLessThan(5000);
      expect(k.stats()).toEqual({ agents: 0, isolates: 0 });
      expect(await top.result).toMatchObject({ ok: false, error: { code: 'E_KILLED' } });
      kernel = undefined;
    }, 40_000);

    it('kernel.close() while a restore is loading: the restore does not start an agent after close', async () => {
      const k = kernelWith({});
      const saved = await k.run({
        code: `export default async () => { await sys.mem.put('a', 1); return await sys.snapshot({ n: 1 }); }`,
      });
      expect(saved.ok).toBe(true);
      const pending = k.restore(String(saved.ok ? saved.value : ''), {});
      const closing = k.close();
      const outcome = await pending.then(
        async (handle) => ({ started: true, result: await handle.result }),
        (error: unknown) => ({ started: false, error: String(error) }),
      );
      await closing;
      expect(outcome).toMatchObject({ started: false });
      expect(k.stats()).toEqual({ agents: 0, isolates: 0 });
      kernel = undefined;
    });
  });
});
