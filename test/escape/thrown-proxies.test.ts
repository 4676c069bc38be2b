// Attack: make the kernel read a hostile thrown value. main throws or rejects with proxies (throwing traps,
// a trap on get('message'), a revoked proxy, traps that never return), errors whose message/toString
// getters throw or return proxies, and main returns proxies as results. The stub reads these inside the
// guest, so the worst an agent gets is its own E_AGENT_FAILED or a quota end. Top-level module throws go
// through isolated-vm's own copy of the thrown value instead, which runs the agent's getters on the host's
// behalf; that path has a known hole (see the last test).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel, RunResult } from '../../index.js';
import { expectContained, expectContainedInline, HEALTHY_AGENT, pinHole } from '../helpers/containment.js';
import { runBatchInChild, runInChild } from '../helpers/fork.js';
import { expectKernelHealthy, HOST_SECRETS, ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { HOLE_OPEN_INLINE } from '../helpers/runtime.js';

const LIMITS = { cpu_ms: 300, wall_ms: 2000, memory_mb: 64 };

// H1: a top-level throw of an error whose message getter never returns.
const H1_AGENT = `const e = new Error('x'); Object.defineProperty(e, 'message', { get() { for (;;); } }); throw e;
export default async function main() {}`;

// Every attack of this suite runs against both isolation tiers; the known hole below is pinned separately.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel;
  beforeAll(() => {
    kernel = testKernel({ isolation, limits: LIMITS });
  });
  afterAll(async () => {
    await kernel.close();
  });

  function expectFailure(result: RunResult, code: string): string {
    expect(result.ok, JSON.stringify(result)).toBe(false);
    if (result.ok) return '';
    expect(result.error.code, result.error.message).toBe(code);
    expect(typeof result.error.message).toBe('string');
    expect(result.error.message.length).toBeLessThanOrEqual(1000);
    for (const secret of HOST_SECRETS) expect(result.error.message).not.toContain(secret);
    return result.error.message;
  }

  const THROWN: Record<string, string> = {
    'proxy whose every trap throws': `new Proxy({}, new Proxy({}, { get() { return () => { throw new Error('trap'); }; } }))`,
    'proxy trapping get(message)': `new Proxy(new Error('real'), { get(t, k) { if (k === 'message') return 'from trap'; return Reflect.get(t, k); } })`,
    'revoked proxy': `(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; })()`,
    'revoked proxy of a function': `(() => { const r = Proxy.revocable(function () {}, {}); r.revoke(); return r.proxy; })()`,
    'message getter that throws': `Object.defineProperty(new Error('x'), 'message', { get() { throw new Error('getter'); } })`,
    'message getter that returns a proxy': `Object.defineProperty(new Error('x'), 'message', { get() { return new Proxy({}, { get() { throw 1; } }); } })`,
    'message whose toString throws': `{ message: { toString() { throw new Error('toString'); } } }`,
    'message whose toString returns an object': `{ message: { toString() { return {}; }, valueOf() { return {}; } } }`,
    'message with Symbol.toPrimitive returning a proxy': `{ message: { [Symbol.toPrimitive]() { return new Proxy({}, {}); } } }`,
    'message that is a symbol': `{ message: Symbol('s') }`,
    'thrown symbol': `Symbol('thrown')`,
    'thrown function with hostile toString': `Object.assign(function f() {}, { toString() { throw 1; } })`,
    'getter that rethrows itself': `(() => { const o = {}; Object.defineProperty(o, 'message', { get() { throw o; } }); return o; })()`,
    'huge message': `new Error('m'.repeat(5000000))`,
    'proxy chain (getter loop that ends)': `(() => { let depth = 0; const h = { get() { return ++depth < 10000 ? new Proxy({}, h) : 'deep'; } }; return new Proxy({}, h); })()`,
  };

  describe('main throws or rejects hostile values', () => {
    for (const [name, expression] of Object.entries(THROWN)) {
      it(`${name}: typed E_AGENT_FAILED, host intact`, async () => {
        for (const code of [
          `export default async function main() { throw ${expression}; }`,
          `export default function main() { throw ${expression}; }`,
          `export default function main() { return Promise.reject(${expression}); }`,
        ]) {
          const message = expectFailure(await kernel.run({ code }), 'E_AGENT_FAILED');
          if (name === 'proxy trapping get(message)') expect(message).toBe('from trap');
          if (name === 'huge message') expect(message).toBe('m'.repeat(1000));
        }
        await expectKernelHealthy(kernel);
      });
    }

    it('a message getter or trap that never returns ends with E_QUOTA and the isolate is gone', async () => {
      for (const expression of [
        `Object.defineProperty(new Error('x'), 'message', { get() { for (;;); } })`,
        `new Proxy({}, { get() { for (;;); } })`,
        `{ message: { toString() { for (;;); } } }`,
      ]) {
        const result = await kernel.run({ code: `export default async function main() { throw ${expression}; }` });
        expectFailure(result, 'E_QUOTA');
        expect(result.ok ? '' : result.error.message).toMatch(/cpu_ms|wall_ms/);
      }
      await expectKernelHealthy(kernel);
    });

    it("a message that is an endless chain of proxies overflows the stub's stack: E_AGENT_FAILED", async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  const h = { get() { return new Proxy({}, h); } };
  throw { message: new Proxy({}, h) };
}`,
      });
      expect(expectFailure(result, 'E_AGENT_FAILED')).toBe('agent threw a non-error value');
      await expectKernelHealthy(kernel);
    });
  });

  describe('main returns hostile values', () => {
    const RETURNED: Record<string, string> = {
      'proxy with throwing ownKeys': `new Proxy({}, { ownKeys() { throw new Error('keys'); } })`,
      'revoked proxy': `(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; })()`,
      'toJSON that throws': `{ toJSON() { throw new Error('toJSON'); } }`,
      'BigInt inside': `{ n: 1n }`,
      'cyclic object': `(() => { const o = {}; o.o = o; return o; })()`,
      'result over the payload cap': `'x'.repeat(2 * 1024 * 1024)`,
    };
    for (const [name, expression] of Object.entries(RETURNED)) {
      it(`${name}: typed E_AGENT_FAILED`, async () => {
        const result = await kernel.run({ code: `export default async function main() { return ${expression}; }` });
        expectFailure(result, 'E_AGENT_FAILED');
      });
    }

    // Each level is a fresh proxy, so JSON.stringify sees no cycle: it recurses until the stack overflows,
    // which took 250-380 ms of CPU here on Node 20 and 24 in both tiers. Against cpu_ms 300 either end can
    // come first (CI saw both), so the claim is a typed end in bounded time, whichever limit decides it.
    it('proxy producing endless nesting: typed E_QUOTA or E_AGENT_FAILED, in bounded time', async () => {
      const nesting = `(() => { const h = { get: () => new Proxy({}, h), ownKeys: () => ['a'], getOwnPropertyDescriptor: () => ({ value: 1, enumerable: true, configurable: true }) }; return new Proxy({}, h); })()`;
      const result = await kernel.run({ code: `export default async function main() { return ${nesting}; }` });
      expect(result.ok, JSON.stringify(result)).toBe(false);
      if (result.ok) return;
      expectFailure(result, result.error.code === 'E_QUOTA' ? 'E_QUOTA' : 'E_AGENT_FAILED');
      if (result.error.code === 'E_AGENT_FAILED') {
        expect(result.error.message).toBe('main returned a value that is not JSON-serializable');
      }
      expect(result.usage.wall_ms).toBeLessThan(LIMITS.wall_ms);
      await expectKernelHealthy(kernel);
    });

    it('a proxy that serializes to plain data is copied as data', async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  return new Proxy({}, {
    ownKeys: () => ['a', 'b'],
    getOwnPropertyDescriptor: () => ({ enumerable: true, configurable: true }),
    get: (t, k) => (k === 'a' ? [1, 2] : k === 'b' ? { c: 'd' } : undefined),
  });
}`,
      });
      expect(result).toMatchObject({ ok: true, value: { a: [1, 2], b: { c: 'd' } } });
    });

    it('a thenable proxy as result resolves through the guest', async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  return new Proxy({}, { get: (t, k) => (k === 'then' ? (resolve) => resolve('via then') : undefined) });
}`,
      });
      expect(result).toMatchObject({ ok: true, value: 'via then' });
    });
  });

  describe('top-level module code throws hostile values (isolated-vm copies them)', () => {
    for (const [name, expression] of Object.entries(THROWN)) {
      it(`${name}: typed E_AGENT_FAILED without host text`, async () => {
        const result = await kernel.run({ code: `throw ${expression};\nexport default async function main() {}` });
        const message = expectFailure(result, 'E_AGENT_FAILED');
        expect(message).not.toMatch(/isolated-vm/);
      });
    }

    it('after top-level await, a rejection with a proxy ends the agent with E_AGENT_FAILED before main returns', async () => {
      // main waits for a tool first, so the module's rejected evaluation is certainly reported before it.
      const result = await kernel.run({
        code: `await null;\nawait Promise.reject(new Proxy({}, { get() { throw 1; } }));\nexport default async function main() { await sys.tool('sleep', { ms: 300 }); return 1; }`,
      });
      expect(expectFailure(result, 'E_AGENT_FAILED')).toBe('agent threw a non-error value');
      await expectKernelHealthy(kernel);
    });
  });
});

describe('H1: a top-level throw whose message getter never returns', () => {
  // KNOWN HOLE H1 (isolated-vm 5.0.4, inline only): when top-level code throws an Error whose `message`
  // getter (or its toString, or a proxy trap on it) never returns, isolated-vm runs that getter while copying
  // the error out of the isolate, outside the code path its termination covers. The watchdog reports E_QUOTA,
  // but the disposed isolate's thread keeps spinning forever: one core is lost and the process can never exit
  // (even process.exit() blocks joining the thread). The same getter thrown from main is harmless (the stub
  // reads it inside the guest). The process tier contains it (below): the host process is SIGKILLed.
  // isolated-vm 7 (Node 24) closed it (helpers/runtime.ts): there the inline kernel must contain it as well.
  if (HOLE_OPEN_INLINE.H1) {
    it.fails('HOLE H1 (inline): the agent is reported E_QUOTA and the kernel process never exits', async () => {
      const child = await runInChild(H1_AGENT, { limits: LIMITS, timeoutMs: 25_000, exitGraceMs: 3000 });
      pinHole('H1', {
        'the agent was reported E_QUOTA': child.result?.ok === false && child.result.error.code === 'E_QUOTA',
        'the kernel closed but its process had not exited 3 s later': child.hungAfterClose,
      });
    });
  } else {
    it('H1 (inline, closed on this isolated-vm): E_QUOTA in bounded time, the kernel serves on and exits', async () => {
      const batch = await runBatchInChild([H1_AGENT, HEALTHY_AGENT], LIMITS, 30_000, 'inline', 3000);
      expectContainedInline(batch, { code: 'E_QUOTA', message: /cpu_ms|wall_ms/, boundMs: 10_000 });
    });
  }

  it('H1 (process tier): E_QUOTA in bounded time, the host is killed, the kernel serves on and exits', async () => {
    const batch = await runBatchInChild([H1_AGENT, HEALTHY_AGENT], LIMITS, 30_000, 'process');
    expectContained(batch, { code: 'E_QUOTA', message: /cpu_ms|wall_ms/, boundMs: 10_000 });
  });
});
