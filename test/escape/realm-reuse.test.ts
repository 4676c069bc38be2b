// Attack: make the realm pool (isolates/realm-pool.ts, isolates/guest-realm.ts) carry anything from one agent
// to the next, or hand an agent a realm whose limits are not its own. Every agent must run in a realm that
// no agent ran in before and that is disposed when it ends, whatever way it ends (bad code before or after
// the claim, a throw at top level, a watchdog or host kill, kernel.close); state an agent leaves behind
// (globals, prototypes, Symbol registry, promise loops, pending syscalls)
// must be unreachable for the next one; a realm's V8 heap limit must be the one for its agent's memory_mb;
// idle realms must not keep the process alive after close, and an unclaimed realm reaches no kernel.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { GuestRealm } from '../../isolates/guest-realm.js';
import { PRELUDE_CONFIG } from '../../isolates/prelude-config.js';
import { RealmPool } from '../../isolates/realm-pool.js';
import { isolateHeapLimitMb } from '../../isolates/watchdog.js';
import { ISOLATION_MODES, testKernel, waitFor } from '../helpers/kernel.js';

const LIMITS = { cpu_ms: 1000, wall_ms: 3000, memory_mb: 32 };
const tick = () => new Promise((resolve) => setImmediate(resolve));

// Every realm any sandbox claims in this file, in claim order; and every realm built, in build order.
const claimed: GuestRealm[] = [];
const built: GuestRealm[] = [];
const originalClaim = GuestRealm.prototype.claim;
const originalBuild = GuestRealm.build;
beforeAll(() => {
  GuestRealm.prototype.claim = function (this: GuestRealm, binding) {
    claimed.push(this);
    return originalClaim.call(this, binding);
  };
  GuestRealm.build = async (memoryMb, config) => {
    const realm = await originalBuild.call(GuestRealm, memoryMb, config);
    built.push(realm);
    return realm;
  };
});
afterAll(() => {
  GuestRealm.prototype.claim = originalClaim;
  GuestRealm.build = originalBuild;
});

function expectNoReuse(): void {
  expect(new Set(claimed).size).toBe(claimed.length);
  expect(new Set(claimed.map((realm) => realm.isolate)).size).toBe(claimed.length);
}

// The realm mechanics below are inline ones (this process's realm pool); what agents can observe of a
// previous agent is checked in both tiers (a sandbox host also runs one agent after another).
let kernel: Kernel;
beforeAll(() => {
  kernel = testKernel({ limits: LIMITS });
});
afterAll(async () => {
  await kernel.close();
});

describe.each(ISOLATION_MODES)('%s tier: state left by one agent is absent for the next', (isolation) => {
  let kernel: Kernel;
  beforeAll(() => {
    kernel = testKernel({ isolation, limits: LIMITS });
  });
  afterAll(async () => {
    await kernel.close();
  });

  it('globals, intrinsics, prototypes, the Symbol registry and sys are fresh for every agent', async () => {
    const dirty = await kernel.run({
      code: `export default () => {
        globalThis.left = 'x';
        Symbol.for('isokernel.shared').description;
        globalThis[Symbol.for('isokernel.shared')] = 1;
        Object.prototype.polluted = 1;
        Promise.prototype.then = function () { return 'hijacked'; };
        JSON.stringify = () => '"hijacked"';
        Function.prototype.call = null;
        try { sys.tool = null; } catch {}
        try { Object.defineProperty(globalThis, 'sys', { value: 1 }); } catch {}
        return 1;
      }`,
    });
    expect(dirty.ok).toBe(true);
    const clean = await kernel.run({
      code: `export default async () => [
        typeof globalThis.left,
        typeof globalThis[Symbol.for('isokernel.shared')],
        typeof ({}).polluted,
        Promise.prototype.then.toString().includes('native code'),
        JSON.stringify({ a: 1 }),
        typeof Function.prototype.call,
        typeof sys.tool,
        await sys.tool('echo', { a: 2 }),
      ]`,
    });
    expect(clean).toMatchObject({
      ok: true,
      value: ['undefined', 'undefined', 'undefined', true, '{"a":1}', 'function', 'function', { a: 2 }],
    });
  });

  it('Math.random differs between agents (each realm has its own seed)', async () => {
    const code = 'export default () => [Math.random(), Math.random(), Math.random()]';
    const a = await kernel.run({ code });
    const b = await kernel.run({ code });
    expect(a.ok && b.ok).toBe(true);
    if (a.ok && b.ok) expect(a.value).not.toEqual(b.value);
  });

  it('promise loops and WeakRefs left running write into no later agent', async () => {
    const first = await kernel.run({
      code: `export default () => {
        globalThis.finalizationRegistry = typeof FinalizationRegistry;
        globalThis.keep = new WeakRef({});
        let n = 0;
        const loop = () => { globalThis.fromLoop = ++n; if (n < 1e5) Promise.resolve().then(loop); };
        loop();
        return 'left';
      }`,
    });
    expect(first).toMatchObject({ ok: true, value: 'left' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await kernel.run({
      code: `export default async () => {
        await sys.tool('sleep', { ms: 50 });
        return [typeof globalThis.finalizationRegistry, typeof globalThis.fromLoop, typeof globalThis.keep];
      }`,
    });
    expect(second).toMatchObject({ ok: true, value: ['undefined', 'undefined', 'undefined'] });
  });

  it('a reply still pending when one agent ends is not delivered to the next agent (same syscall id)', async () => {
    // Both agents' first syscall has id 1 in their own prelude; a reply routed by realm instead of by
    // sandbox would resolve the second agent's call with the first agent's value.
    const first = await kernel.run({
      code: `export default () => { sys.tool('sleep', { ms: 150 }).then(() => {}, () => {}); return 'gone'; }`,
    });
    expect(first).toMatchObject({ ok: true, value: 'gone' });
    const second = await kernel.run({ code: `export default () => sys.tool('sleep', { ms: 400 })` });
    expect(second).toMatchObject({ ok: true, value: { slept: 400 } });
  });
});

describe('a realm is used once, however its agent ends', () => {
  afterEach(() => expectNoReuse());

  it('each failure mode disposes the claimed realm and the next agent gets a fresh one', async () => {
    const before = claimed.length;
    const cases: Array<[string, string]> = [
      ['import x from "y"; export default () => 1', 'E_BAD_CODE'], // refused by the source check, before take
      ['export default () => {', 'E_BAD_CODE'], // refused by the source check, before take
      // The source check does no scope analysis, V8 does: a redeclaration is refused by the compiler, after claim
      ['let a = 1; let a = 2; export default () => a', 'E_BAD_CODE'],
      ['globalThis.mark = 1; throw new Error("top")', 'E_AGENT_FAILED'],
      ['globalThis.mark = 1; for (;;) {}', 'E_QUOTA'], // watchdog kill during module evaluation
      ['globalThis.mark = 1; export const x = 1', 'E_BAD_CODE'], // no default export
      ['globalThis.mark = 1; export default () => { for (;;) {} }', 'E_QUOTA'], // kill during main
    ];
    for (const [code, errorCode] of cases) {
      const result = await kernel.run({ code, limits: { cpu_ms: 200 } });
      expect(result, code).toMatchObject({ ok: false, error: { code: errorCode } });
      for (const realm of claimed.slice(before)) expect(realm.isolate.isDisposed).toBe(true);
      const next = await kernel.run({ code: 'export default () => typeof globalThis.mark' });
      expect(next).toMatchObject({ ok: true, value: 'undefined' });
    }
    // The source check fails before a realm is taken; every other case claimed exactly one.
    expect(claimed.length - before).toBe(2 * cases.length - 2);
  });

  it('a host kill mid-evaluation disposes the realm; the realm is not returned to the pool', async () => {
    const before = claimed.length;
    const handle = kernel.spawn({ code: 'globalThis.mark = 1; for (;;) {}', limits: { cpu_ms: 5000 } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    handle.kill('test');
    expect(await handle.result).toMatchObject({ ok: false, error: { code: 'E_KILLED' } });
    expect(claimed[before]?.isolate.isDisposed).toBe(true);
    const next = await kernel.run({ code: 'export default () => typeof globalThis.mark' });
    expect(next).toMatchObject({ ok: true, value: 'undefined' });
  });

  it('kernel.close() with live agents disposes their realms and every idle one', async () => {
    const own = testKernel({ limits: LIMITS });
    const before = claimed.length;
    const handles = [0, 1, 2].map(() => own.spawn({ code: 'export default () => sys.tool("sleep", { ms: 5000 })' }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await own.close();
    for (const handle of handles) expect(await handle.result).toMatchObject({ ok: false });
    for (const realm of claimed.slice(before)) expect(realm.isolate.isDisposed).toBe(true);
    expect(() => own.spawn({ code: 'export default () => 1' })).toThrow(/closed/);
  });

  it('many concurrent spawns drain the pool and each gets its own fresh realm', async () => {
    // Room for 24 realms built one after another on a loaded machine: this test is about reuse, not limits.
    const own = testKernel({ limits: { ...LIMITS, cpu_ms: 10_000, wall_ms: 60_000 } });
    const before = claimed.length;
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        own.run({
          code: `export default (i) => { const seen = typeof globalThis.mark; globalThis.mark = i; return seen; }`,
          input: i,
        }),
      ),
    );
    await own.close();
    for (const result of results)
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: 'undefined' });
    expect(claimed.length - before).toBe(24);
    for (const realm of claimed.slice(before)) expect(realm.isolate.isDisposed).toBe(true);
  });
});

describe('limits', () => {
  it('each agent gets a realm built for its own memory_mb, never a bigger pooled one', async () => {
    const sizes = [16, 64, 16, 128, 8, 64, 200, 16, 300, 16];
    for (const memory_mb of sizes) {
      const before = claimed.length;
      const result = await kernel.run({ code: 'export default () => 1', limits: { memory_mb } });
      expect(result.ok).toBe(true);
      const realm = claimed[before];
      expect(realm?.memoryMb).toBe(memory_mb);
      expect(realm?.isolate.isDisposed).toBe(true);
    }
    const pool = new RealmPool(PRELUDE_CONFIG, 2);
    const warm = await pool.take(64);
    await waitFor(() => pool.idle(64) === 2, 'refill');
    const small = await pool.take(16);
    expect(small.memoryMb).toBe(16);
    const stats = small.isolate.getHeapStatisticsSync();
    expect(stats.heap_size_limit).toBeLessThan((isolateHeapLimitMb(16) + 32) * 1024 * 1024);
    expect(stats.heap_size_limit).toBeLessThan(warm.isolate.getHeapStatisticsSync().heap_size_limit - 64 * 1024 * 1024);
    for (const realm of [warm, small]) realm.dispose();
    pool.close();
  });

  it('a small agent after bigger pooled ones is still held to its own memory limit', async () => {
    const big = await kernel.run({ code: 'export default () => 1', limits: { memory_mb: 256 } });
    expect(big.ok).toBe(true);
    await tick();
    const bomb = await kernel.run({
      code: 'export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(1.5)); }',
      limits: { memory_mb: 16, cpu_ms: 5000, wall_ms: 5000 },
    });
    expect(bomb).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
  });

  it('CPU time charged to an agent is its own, not the time its realm sat idle or others ran', async () => {
    await kernel.run({ code: 'export default () => { const t = Date.now(); while (Date.now() - t < 200) {} }' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const light = await kernel.run({ code: 'export default () => 1' });
    expect(light.ok).toBe(true);
    expect(light.usage.cpu_ms).toBeLessThan(50);
  });
});

describe('the pool itself', () => {
  it('an unclaimed realm reaches no kernel: its callbacks are gone from the global and enter refuses', async () => {
    const realm = await GuestRealm.build(16, PRELUDE_CONFIG);
    try {
      const globals = realm.context.evalSync(
        'JSON.stringify([typeof __isokernel_enter, typeof __isokernel_done, typeof sys.tool])',
      );
      expect(JSON.parse(globals as string)).toEqual(['undefined', 'undefined', 'function']);
      const code = await realm.context.eval("sys.tool('echo', 1).then(() => 'reached', (e) => e.code)", {
        promise: true,
      });
      expect(code).toBe('E_KILLED');
    } finally {
      realm.dispose();
    }
  });

  it('close stops refills: no realm is built after close, not even by a take already scheduled', async () => {
    const pool = new RealmPool(PRELUDE_CONFIG, 2);
    // The take starts a refill; closing while that build is in flight must dispose it when it lands. A size the
    // kernel above never pools: its own refills (they wait for its agents to end) may still land meanwhile.
    const size = 24;
    const taken = await pool.take(size);
    pool.close();
    const before = built.length;
    const live = () =>
      built.slice(before).filter((realm) => realm.memoryMb === size && !realm.isolate.isDisposed).length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(pool.idle(size)).toBe(0);
    const late = await pool.take(size);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pool.idle(size)).toBe(0);
    for (const realm of [taken, late]) realm.dispose();
    expect(live()).toBe(0);
  });

  it('a process exits promptly after kernel.close() (idle realms keep nothing alive)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'realm-reuse-'));
    const script = join(dir, 'probe.mjs');
    const helper = fileURLToPath(new URL('../helpers/kernel.ts', import.meta.url));
    writeFileSync(
      script,
      `const { testKernel } = await import(${JSON.stringify(helper)});
       const kernel = testKernel();
       for (const memory_mb of [16, 32, 64, 128, 256]) await kernel.run({ code: 'export default () => 1', limits: { memory_mb } });
       await new Promise((r) => setTimeout(r, 20));
       await kernel.close();
       globalThis.closedAt = performance.now();
       process.on('exit', () => process.stdout.write(String(Math.round(performance.now() - globalThis.closedAt))));`,
    );
    try {
      const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = spawn(process.execPath, ['--no-node-snapshot', '--import', 'tsx', script], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.on('close', (exitCode) => {
          clearTimeout(timer);
          resolve({ code: exitCode, stdout: out });
        });
      });
      expect(code).toBe(0);
      expect(Number(stdout)).toBeLessThan(500);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
