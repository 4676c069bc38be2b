// The guest's timers (isolates/guest/timers.cjs) through a real kernel: used the way model-written code
// uses them, woken by one kernel timer per agent, bounded, charged to the wall budget, and dead with the agent.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Kernel, KernelEvent } from '../../../index.js';
import { recordingTool, testKernel, testToolsPolicy } from '../../helpers/kernel.js';

const { tool: record, calls, capability } = recordingTool('ok');
let kernel: Kernel;
const syscalls: Extract<KernelEvent, { type: 'syscall' }>[] = [];
beforeAll(() => {
  kernel = testKernel({
    limits: { cpu_ms: 5000, wall_ms: 10_000, memory_mb: 64 },
    tools: [record],
    policy: { capabilities: [...testToolsPolicy.capabilities, capability] },
  });
  kernel.on('syscall', (event) => syscalls.push(event));
});
afterAll(async () => {
  await kernel.close();
});
beforeEach(() => {
  calls.length = 0;
  syscalls.length = 0;
});

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function value(code: string, limits?: Record<string, number>): Promise<unknown> {
  const result = await kernel.run({ code, ...(limits === undefined ? {} : { limits }) });
  expect(result.ok, JSON.stringify(result)).toBe(true);
  return result.ok ? result.value : undefined;
}

describe('timers as model-written code uses them', () => {
  it('a sleep loop waits at least as long as asked, in order', async () => {
    const out = (await value(`export default async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const started = Date.now();
      const steps = [];
      for (let i = 0; i < 5; i++) { await sleep(20); steps.push(Date.now() - started); }
      return steps;
    }`)) as number[];
    expect(out).toHaveLength(5);
    for (let i = 0; i < 5; i++) expect(out[i]).toBeGreaterThanOrEqual(20 * (i + 1));
  });

  it('run by deadline, then by creation; pass their arguments; clearTimeout and clearInterval work', async () => {
    const out = await value(`export default async () => {
      const order = [];
      setTimeout((a, b) => order.push('late ' + a + b), 30, 'x', 'y');
      setTimeout(() => order.push('first'), 0);
      setTimeout(() => order.push('second'), 0);
      const cancelled = setTimeout(() => order.push('cancelled'), 10);
      clearTimeout(cancelled);
      let ticks = 0;
      const interval = setInterval(() => { ticks++; if (ticks === 3) clearInterval(interval); }, 5);
      await new Promise((resolve) => setTimeout(resolve, 80));
      return { order, ticks, ids: typeof interval };
    }`);
    expect(out).toEqual({ order: ['first', 'second', 'late xy'], ticks: 3, ids: 'number' });
  });

  it('microtasks run before a zero-delay timer; a timer runs after the task that set it', async () => {
    const out = await value(`export default async () => {
      const order = [];
      setTimeout(() => order.push('timeout'), 0);
      queueMicrotask(() => order.push('microtask'));
      Promise.resolve().then(() => order.push('then'));
      order.push('sync');
      await new Promise((resolve) => setTimeout(resolve, 10));
      return order;
    }`);
    expect(out).toEqual(['sync', 'microtask', 'then', 'timeout']);
  });

  it('refuses what the web refuses: a callback that is not a function', async () => {
    const out = await value(`export default async () => {
      const out = [];
      for (const bad of ['code', 1, null]) { try { setTimeout(bad, 1); out.push('accepted'); } catch (e) { out.push(e.constructor.name); } }
      try { queueMicrotask('x'); } catch (e) { out.push(e.constructor.name); }
      return out;
    }`);
    expect(out).toEqual(['TypeError', 'TypeError', 'TypeError', 'TypeError']);
  });

  it('performance.now() counts from the agent start and never decreases', async () => {
    const out = (await value(`export default async () => {
      const a = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 30));
      const b = performance.now();
      return [a, b, typeof performance.timeOrigin];
    }`)) as [number, number, string];
    expect(out[0]).toBeGreaterThanOrEqual(0);
    expect(out[1] - out[0]).toBeGreaterThanOrEqual(29);
    expect(out[2]).toBe('number');
  });
});

describe('one kernel timer per agent', () => {
  it('a thousand timers set in one task cost one wake syscall per distinct wake-up, and all fire', async () => {
    const out = await value(`export default async () => {
      let fired = 0;
      for (let i = 0; i < 1000; i++) setTimeout(() => fired++, 50 + (i % 3));
      await new Promise((resolve) => setTimeout(resolve, 200));
      return fired;
    }`);
    expect(out).toBe(1000);
    const wakes = syscalls.filter((event) => event.syscall === 'wake');
    // The batch asks once; then at most one wake per distinct deadline (50, 51, 52 ms; 200 ms) and a few
    // re-arms when a host timer fires a moment early.
    expect(wakes.length).toBeGreaterThanOrEqual(2);
    expect(wakes.length).toBeLessThanOrEqual(12);
    expect(wakes.every((event) => event.code === null)).toBe(true);
  });

  it('a wake is an audited syscall like any other', async () => {
    const records = (await value(`export default async () => {
      await new Promise((r) => setTimeout(r, 1));
      return (await sys.audit({ limit: 50 })).filter((r) => r.syscall === 'wake').map((r) => [r.phase, r.action, r.status]);
    }`)) as [string, string, string | null][];
    expect(records).toContainEqual(['intent', 'timer.wake', null]);
    expect(records).toContainEqual(['outcome', 'timer.wake', 'ok']);
  });
});

describe('timers die with the agent', () => {
  it('timers pending when main settles never fire', async () => {
    await value(`export default async () => {
      setTimeout(() => sys.tool('record', 'timeout'), 30);
      setInterval(() => sys.tool('record', 'interval'), 10);
      return 'done';
    }`);
    await settle(150);
    expect(calls).toEqual([]);
  });

  it('timers of a killed agent never fire, and no syscall arrives after the kill', async () => {
    const handle = kernel.spawn({
      code: `export default async () => {
        setTimeout(() => sys.tool('record', 'late'), 200);
        await sys.tool('record', 'started');
        await new Promise(() => {});
      }`,
    });
    while (calls.length === 0) await settle(5);
    handle.kill('test');
    const result = await handle.result;
    expect(result).toMatchObject({ ok: false, error: { code: 'E_KILLED' } });
    const count = syscalls.length;
    await settle(400);
    expect(calls).toEqual(['started']);
    expect(syscalls.slice(count).filter((event) => !event.refused)).toEqual([]);
  });

  it('a setInterval that would outlive the wall budget ends the agent with E_QUOTA wall_ms', async () => {
    const result = await kernel.run({
      code: `export default async () => {
        let ticks = 0;
        setInterval(() => { ticks++; }, 50);
        await new Promise(() => {});
      }`,
      limits: { wall_ms: 300 },
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: wall_ms' } });
  });

  it('a sleep longer than the wall budget ends with E_QUOTA, not a late wake', async () => {
    const result = await kernel.run({
      code: 'export default async () => { await new Promise((r) => setTimeout(r, 60000)); return "woke"; }',
      limits: { wall_ms: 200 },
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: wall_ms' } });
    expect(result.usage.wall_ms).toBeLessThan(30_000);
  });

  it('a callback that throws ends the agent with its message, as an uncaught exception would', async () => {
    const result = await kernel.run({
      code: `export default async () => {
        setTimeout(() => { throw new Error('timer boom'); }, 1);
        await new Promise((r) => setTimeout(r, 100));
        return 'survived';
      }`,
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_AGENT_FAILED', message: 'timer boom' } });
  });
});
