import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { waitFor } from '../helpers/wait.js';

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

function kernelWith(programs: Record<string, string>, options: Parameters<typeof testKernel>[0] = {}): Kernel {
  kernel = testKernel(options);
  for (const [name, code] of Object.entries(programs)) kernel.programs.add(name, code);
  return kernel;
}

describe('spawn and join', () => {
  it('runs a registered program as a child and joins its result', async () => {
    const k = kernelWith({ double: 'export default async (n) => n * 2' });
    const result = await k.run({
      code: `export default async () => {
        const id = await sys.spawn({ program: 'double', input: 21 });
        return { id: typeof id, value: await sys.join(id) };
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: { id: 'string', value: 42 } });
  });

  it('refuses an unknown program with E_NOT_FOUND', async () => {
    const k = kernelWith({});
    const result = await k.run({
      code: `export default async () => {
        try { await sys.spawn({ program: 'nope' }); } catch (e) { return e.code; }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: 'E_NOT_FOUND' });
  });
});

describe('the tree', () => {
  it('lists the live tree with parents and programs, and kill ends a child with its descendants', async () => {
    const k = kernelWith({
      sleeper: 'export default async () => { await new Promise(() => {}); }',
      middle: `export default async () => {
        await sys.spawn({ program: 'sleeper' });
        await sys.spawn({ program: 'sleeper' });
        await new Promise(() => {});
      }`,
    });
    const top = k.spawn({
      code: `export default async () => {
        await sys.spawn({ program: 'middle' });
        await new Promise(() => {});
      }`,
    });
    await waitFor(() => k.agents().length === 4);
    const agents = k.agents();
    const root = agents.find((a) => a.parent === null);
    const mid = agents.find((a) => a.program === 'middle');
    expect(root?.id).toBe(top.id);
    expect(mid?.parent).toBe(top.id);
    expect(agents.filter((a) => a.parent === mid?.id).map((a) => a.program)).toEqual(['sleeper', 'sleeper']);
    expect(k.kill(mid?.id ?? '')).toBe(true);
    expect(k.agents().map((a) => a.id)).toEqual([top.id]);
    top.kill();
    await top.result;
    expect(k.agents()).toEqual([]);
  });

  it('kills the children when their parent ends', async () => {
    const k = kernelWith({ sleeper: 'export default async () => { await new Promise(() => {}); }' });
    const result = await k.run({
      code: `export default async () => { await sys.spawn({ program: 'sleeper' }); return 'done'; }`,
    });
    expect(result.ok).toBe(true);
    await waitFor(() => k.agents().length === 0);
  });

  it('a tree of 50 agents with a killed middle node leaves no live descendants and no live isolates', async () => {
    // Each node spawns `fan` children down to depth 3: 1 + 3 + 3*3 + 3*3*4 = 49, plus the top = 50.
    const k = kernelWith({
      node: `export default async ({ level }) => {
        const fan = level === 2 ? 4 : 3;
        if (level < 3) for (let i = 0; i < fan; i++) await sys.spawn({ program: 'node', input: { level: level + 1 } });
        await new Promise(() => {});
      }`,
    });
    const top = k.spawn({
      code: `export default async () => { await sys.spawn({ program: 'node', input: { level: 0 } }); await new Promise(() => {}); }`,
    });
    await waitFor(() => k.agents().length === 50, 20_000);
    const agents = k.agents();
    const byParent = (id: string) => agents.filter((a) => a.parent === id);
    const first = byParent(top.id)[0];
    const middle = byParent(first?.id ?? '')[1];
    expect(middle).toBeDefined();
    const descendants = (id: string): string[] => byParent(id).flatMap((a) => [a.id, ...descendants(a.id)]);
    const doomed = [middle?.id ?? '', ...descendants(middle?.id ?? '')];
    expect(doomed.length).toBe(1 + 3 + 12);
    expect(k.kill(middle?.id ?? '')).toBe(true);
    const live = new Set(k.live());
    expect(doomed.filter((id) => live.has(id))).toEqual([]);
    expect(k.agents().length).toBe(50 - doomed.length);
    top.kill();
    await top.result;
    await waitFor(() => k.stats().isolates === 0);
    expect(k.agents()).toEqual([]);
  }, 30_000);
});

describe('host-started children (kernel.spawn({ parent }))', () => {
  it('an unknown or ended parent is E_NOT_FOUND', async () => {
    const k = kernelWith({ leaf: 'export default async () => 1' });
    expect(() => k.spawn({ program: 'leaf', parent: 'no-such-agent' })).toThrow(
      expect.objectContaining({ code: 'E_NOT_FOUND' }),
    );
    const done = k.spawn({ program: 'leaf' });
    await done.result;
    expect(() => k.spawn({ program: 'leaf', parent: done.id })).toThrow(
      expect.objectContaining({ code: 'E_NOT_FOUND' }),
    );
  });

  it("a child attached by the host lives in the parent's subtree: its budget, its label, its end", async () => {
    const k = kernelWith({
      sleeper: 'export default async () => { await new Promise(() => {}); }',
      label: 'export default async () => sys.label()',
    });
    const parent = k.spawn({ program: 'sleeper', label: ['email'], limits: { children: 1, tool_calls: 5 } });
    await waitFor(() => k.agents().length === 1);
    const child = k.spawn({ program: 'label', parent: parent.id, label: ['web'] });
    expect(await child.result).toMatchObject({ ok: true, value: ['email', 'web'] });
    expect(() => k.spawn({ program: 'label', parent: parent.id })).toThrow(
      expect.objectContaining({ code: 'E_QUOTA' }),
    );
    expect(() => k.spawn({ program: 'label', parent: parent.id, limits: { tool_calls: 6 } })).toThrow(
      expect.objectContaining({ code: 'E_QUOTA' }),
    );
    parent.kill();
    await parent.result;
  });

  it('a host-attached child is killed with its parent', async () => {
    const k = kernelWith({ sleeper: 'export default async () => { await new Promise(() => {}); }' });
    const parent = k.spawn({ program: 'sleeper' });
    await waitFor(() => k.agents().length === 1);
    const child = k.spawn({ program: 'sleeper', parent: parent.id });
    expect(k.agents().find((a) => a.id === child.id)?.parent).toBe(parent.id);
    parent.kill();
    expect(await child.result).toMatchObject({ ok: false, error: { code: 'E_KILLED' } });
  });
});
