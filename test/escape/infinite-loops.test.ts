// Attack: never give the CPU back. Synchronous loops, loops of awaits on resolved promises, microtask
// floods, loops in top-level module code and in callbacks that run after main returned, catastrophic
// regular expressions and runaway recursion. isolated-vm's own timeout covers none of the asynchronous
// ones; the kernel's watchdog reads isolate.cpuTime continuously and enforces the wall clock itself, so
// each must end with E_QUOTA (or the agent's own RangeError) in bounded time, and the kernel must keep
// working afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel, RunResult } from '../../index.js';
import { expectKernelHealthy, ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const LIMITS = { cpu_ms: 300, wall_ms: 1000, memory_mb: 64 };
const BOUND_MS = 10_000;

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel;
  beforeAll(() => {
    kernel = testKernel({ isolation, limits: LIMITS });
  });
  afterAll(async () => {
    await kernel.close();
  });

  async function runBounded(code: string): Promise<RunResult> {
    const started = performance.now();
    const result = await kernel.run({ code });
    expect(performance.now() - started).toBeLessThan(BOUND_MS);
    return result;
  }

  const LOOPS: Record<string, string> = {
    'sync for(;;)': 'export default async function main() { for (;;); }',
    'sync while(true) with work':
      'export default function main() { let x = 0; while (true) x = (x * 31 + 7) % 1000003; }',
    'async loop awaiting resolved promises': 'export default async function main() { for (;;) await null; }',
    'async loop awaiting Promise.resolve()':
      'export default async function main() { for (;;) await Promise.resolve(1); }',
    'loop of synchronous syscalls': "export default async function main() { for (;;) await sys.tool('noop', {}); }",
    'loop of asynchronous syscalls':
      "export default async function main() { for (;;) await sys.tool('sleep', { ms: 0 }); }",
    'loop of failing syscalls':
      "export default async function main() { for (;;) { try { await sys.tool('fail', {}); } catch {} } }",
    'microtask flood': `export default async function main() {
  const flood = () => { Promise.resolve().then(flood); Promise.resolve().then(flood); };
  flood();
  await new Promise(() => {});
}`,
    'thenable recursion': `export default async function main() {
  const t = { then(resolve) { resolve(t); } };
  return t;
}`,
    'top-level module loop': 'for (;;);\nexport default async function main() {}',
    'top-level await loop': 'for (;;) await null;\nexport default async function main() {}',
    'loop in a getter read by the stub': `export default async function main() {
  await sys.tool('echo', { get x() { for (;;); } });
}`,
    'loop in toJSON of the result': 'export default async function main() { return { toJSON() { for (;;); } }; }',
    'catastrophic regex': "export default async function main() { return /(a+)+$/.test('a'.repeat(40) + 'b'); }",
    'catastrophic regex with lookahead':
      "export default async function main() { return /^(?=(a*)*b)/.test('a'.repeat(5000)); }",
    'never-settling await (wall clock)': 'export default async function main() { await new Promise(() => {}); }',
    'long sleep (wall clock)': "export default async function main() { await sys.tool('sleep', { ms: 10000 }); }",
  };

  describe('loops end with E_QUOTA and the kernel keeps working', () => {
    for (const [name, code] of Object.entries(LOOPS)) {
      it(name, async () => {
        const result = await runBounded(code);
        expect(result.ok, JSON.stringify(result)).toBe(false);
        if (!result.ok) {
          expect(result.error.code).toBe('E_QUOTA');
          // A flood that doubles its queue also grows the heap, and a loop of syscalls counts them (20,000 by
          // default, about a second of async calls on an idle machine, which CI saw come first): whichever limit
          // it crosses first ends it.
          const limits =
            name === 'microtask flood'
              ? /cpu|wall|memory/
              : name.includes('syscalls')
                ? /cpu|wall|syscalls/
                : /cpu|wall/;
          expect(result.error.message).toMatch(limits);
        }
        await expectKernelHealthy(kernel);
      });
    }

    it('a loop scheduled with then() after main returned does not change the result or outlive the agent', async () => {
      const result = await runBounded(`export default async function main() {
  (async () => { for (let i = 0; i < 20; i++) await null; for (;;); })();
  Promise.resolve().then(() => 0).then(() => 0).then(() => 0).then(() => { for (;;); });
  return 'returned';
}`);
      // Either main's value was reported before the loop started, or the loop used up the CPU first.
      if (result.ok) expect(result.value).toBe('returned');
      else expect(result.error.code).toBe('E_QUOTA');
      const cpuBefore = process.cpuUsage();
      await new Promise((resolve) => setTimeout(resolve, 500));
      const cpu = process.cpuUsage(cpuBefore);
      // A loop still spinning in this process would burn about 500 ms in 500 ms.
      expect((cpu.user + cpu.system) / 1000).toBeLessThan(400);
      await expectKernelHealthy(kernel);
    });
  });

  describe('deep recursion', () => {
    it('a stack overflow the agent catches is its own business', async () => {
      const result = await runBounded(`export default async function main() {
  const f = (n) => f(n + 1) + 1;
  try { f(0); } catch (e) { return [e instanceof RangeError, e.constructor === RangeError]; }
}`);
      expect(result).toMatchObject({ ok: true, value: [true, true] });
    });

    it('an uncaught stack overflow ends the agent with E_AGENT_FAILED', async () => {
      for (const code of [
        'export default async function main() { const f = () => f(); f(); }',
        'const f = () => f();\nf();\nexport default async function main() {}',
        'export default async function main() { const f = async () => { await null; return (await f()) + 1; }; return f(); }',
      ]) {
        const result = await runBounded(code);
        expect(result.ok, code).toBe(false);
        if (!result.ok) expect(['E_AGENT_FAILED', 'E_QUOTA']).toContain(result.error.code);
      }
      await expectKernelHealthy(kernel);
    });

    it('recursion inside argument serialization is E_BAD_ARG to the agent', async () => {
      const result = await runBounded(`export default async function main() {
  const o = {};
  Object.defineProperty(o, 'x', { enumerable: true, get() { return JSON.stringify(o); } });
  try { await sys.tool('echo', o); } catch (e) { return e.code; }
}`);
      expect(result).toMatchObject({ ok: true, value: 'E_BAD_ARG' });
    });
  });
});
