import { afterEach, describe, expect, it } from 'vitest';
import { Kernel } from '../../index.js';
import { runBatchInChild } from '../helpers/fork.js';
import { peakHeapGrowth } from '../helpers/heap.js';
import { testKernel, testTools, testToolsPolicy } from '../helpers/kernel.js';

/**
 * Attack (red-team issue 12, item 2): handles keep their values in the kernel's heap, which no quota charged:
 * one 1 MB memory value fetched as a handle thousands of times took the host to 4.3 GB (and to a V8 heap-limit
 * abort). Kernel-held bytes (handles, child results buffered for `join`) now count against the agent's
 * `memory_mb` (crossing it ends the agent with E_QUOTA) and against a bound for the whole kernel
 * (`maxHeldBytes`: past it, holding more is refused with E_QUOTA). Siblings: a value that repeats a handle is
 * measured before it is serialized, so `sys.mem.put` / `sys.spawn` never build a string of it first; and a
 * kernel without a store directory keeps snapshots, blobs and namespace memory in its heap, so those draw on
 * the same bound (a loop of snapshots over a full namespace kept a copy of it per snapshot).
 */
const MiB = 1024 * 1024;
let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

// Stores a value of about 1 MB, then fetches it as a handle `count` times (each fetch is a fresh copy).
const HOARD = (count: number) => `export default async () => {
  await sys.mem.put('big', 'x'.repeat(1000 * 1000));
  const kept = [];
  try { for (let i = 0; i < ${count}; i++) kept.push(await sys.mem.get('big', { handle: true })); }
  catch (e) { return [e.code, e.message, kept.length]; }
  return ['held', kept.length];
}`;

describe('handles hoarded on the host heap', () => {
  it('4000 handles of a 1 MB value end the agent with E_QUOTA memory_mb; the host survives', async () => {
    const outcome = await runBatchInChild(
      [HOARD(4000), 'export default async () => "alive"'],
      { memory_mb: 64 },
      90_000,
    );
    expect(outcome.timedOut).toBe(false);
    expect(outcome.exitCode).toBe(0);
    expect(outcome.results[0]).toMatchObject({
      ok: false,
      error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' },
    });
    expect(outcome.results[1]).toMatchObject({ ok: true, value: 'alive' });
  }, 100_000);

  it("the host heap grows by at most a small multiple of the agent's memory_mb", async () => {
    kernel = testKernel();
    const { value, growth } = await peakHeapGrowth(kernel.run({ code: HOARD(300), limits: { memory_mb: 32 } }));
    expect(value).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    // Before: 300 handles of ~1 MB, ~300 MB of host heap for a 32 MB agent.
    expect(growth).toBeLessThan(4 * 32 * MiB);
  }, 60_000);

  it('held bytes are bounded for the whole kernel: past maxHeldBytes a handle is refused with E_QUOTA', async () => {
    // Half of maxHeldBytes (24 MiB) is for what agents hold: the holder's 8 handles of ~2 MB each fit, twice not.
    // One tenant may hold the whole of either half here, so the kernel's own bound is what stops it.
    kernel = Kernel.create({
      tools: testTools,
      policy: testToolsPolicy,
      maxHeldBytes: 48 * MiB,
      maxHeldBytesPerTenant: 48 * MiB,
      maxStoredBytesPerTenant: 24 * MiB,
    });
    // The two agents share the default namespace and take turns through it: the holder holds 16 MB, then
    // the latecomer tries to hold as much again, then the holder ends.
    const holder = kernel.spawn({
      code: `export default async () => {
        const kept = [];
        for (let i = 0; i < 8; i++) kept.push(await sys.tool('echo', 'x'.repeat(1000 * 1000), { handle: true }));
        await sys.mem.put('held', true);
        while ((await sys.mem.get('tried')) === undefined) await sys.tool('sleep', { ms: 20 });
        return kept.length;
      }`,
      limits: { memory_mb: 64 },
    });
    const latecomer = kernel.spawn({
      code: `export default async () => {
        while ((await sys.mem.get('held')) === undefined) await sys.tool('sleep', { ms: 20 });
        const kept = [];
        let outcome;
        try { for (let i = 0; i < 8; i++) kept.push(await sys.tool('echo', 'x'.repeat(1000 * 1000), { handle: true })); outcome = ['held', kept.length]; }
        catch (e) { outcome = [e.code, e.message, kept.length]; }
        await sys.mem.put('tried', true);
        return outcome;
      }`,
      limits: { memory_mb: 64 },
    });
    const [first, second] = await Promise.all([holder.result, latecomer.result]);
    expect(first, JSON.stringify(first)).toMatchObject({ ok: true, value: 8 });
    expect(second).toMatchObject({
      ok: true,
      value: ['E_QUOTA', expect.stringContaining('kernel'), expect.any(Number)],
    });
  }, 60_000);

  it("child results buffered for join count against the parent's memory_mb", async () => {
    kernel = testKernel();
    kernel.programs.add('big', `export default async () => 'y'.repeat(900 * 1000)`);
    const result = await kernel.run({
      code: `export default async () => {
        const ids = [];
        for (let i = 0; i < 40; i++) ids.push(await sys.spawn({ program: 'big' }));
        await sys.tool('sleep', { ms: 3000 });
        return ids.length;
      }`,
      limits: { memory_mb: 16 },
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
  }, 60_000);

  it('pending syscalls (each keeps its attempt, context and reply in the kernel) count against memory_mb', async () => {
    kernel = testKernel({ limits: { syscalls: 100_000 } });
    const result = await kernel.run({
      code: `export default async () => {
        const all = [];
        // Long enough that the first are still pending when the last are issued, however loaded the host is.
        for (let i = 0; i < 20000; i++) all.push(sys.tool('sleep', { ms: 10000 }).catch((e) => e.code));
        return (await Promise.all(all)).filter((x) => typeof x === 'string').length;
      }`,
      limits: { memory_mb: 64 },
    });
    // Measured: about 6.5 KB of host heap per pending tool call; 20000 of them are ~130 MB for a 64 MB agent.
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
  }, 60_000);

  it('benign twin: a few handles within memory_mb are kept and read back', async () => {
    kernel = testKernel();
    // Five handles are ~5 MB of kernel-held bytes; the rest of the room is for what the watchdog cannot tell apart
    // under load (off-heap growth while the isolate is busy is charged to it, SECURITY.md "Exact memory
    // attribution under concurrency"): at 32 MB a loaded CI machine ended this agent once.
    const result = await kernel.run({ code: HOARD(5), limits: { memory_mb: 64 } });
    expect(result).toMatchObject({ ok: true, value: ['held', 5] });
  });
});

describe('a value that repeats a handle', () => {
  it.each([
    ['sys.mem.put', `await sys.mem.put('k', big);`],
    ['sys.spawn', `await sys.spawn({ program: 'size', input: big });`],
  ])(
    '%s is measured before it is serialized: refused at once, not after building a huge string',
    async (_name, body) => {
      kernel = testKernel({ limits: { memory_mb: 128 } });
      kernel.programs.add('size', 'export default async (input) => input.length');
      const amplified = `export default async () => {
      const h = await sys.tool('echo', 'x'.repeat(1000 * 1000), { handle: true });
      const big = Array.from({ length: 2000 }, () => h);
      const started = Date.now();
      try { ${body} return ['accepted']; } catch (e) { return [e.code, Date.now() - started]; }
    }`;
      const single = `export default async () => {
      const h = await sys.tool('echo', 'x'.repeat(1000 * 1000), { handle: true });
      const big = [h];
      const started = Date.now();
      try { ${body.replace("'k'", "'one'")} return ['accepted', Date.now() - started]; } catch (e) { return [e.code]; }
    }`;
      const baseline = await kernel.run({ code: single });
      expect(baseline).toMatchObject({ ok: true, value: ['accepted', expect.any(Number)] });
      const { value, growth } = await peakHeapGrowth(kernel.run({ code: amplified }));
      expect(value).toMatchObject({ ok: true, value: ['E_BAD_ARG', expect.any(Number)] });
      const [, amplifiedMs] = (value as { value: [string, number] }).value;
      const [, singleMs] = (baseline as { value: [string, number] }).value;
      // Before: the host serialized up to 2 GB of JSON (V8 gives up at 512 MiB) before comparing its length, which
      // took seconds; refused at once it took 1-28 ms on a loaded machine, against a bound of at least 500 ms.
      expect(amplifiedMs).toBeLessThan(Math.max(500, singleMs * 20));
      expect(growth).toBeLessThan(128 * MiB);
    },
    60_000,
  );
});

describe('in-memory stores (a kernel without a store directory)', () => {
  it('snapshots of a full namespace stop with E_QUOTA at the kernel bound, and the heap stays near it', async () => {
    // One tenant may hold the whole store half here, so the kernel's own bound is what stops it.
    kernel = Kernel.create({
      tools: testTools,
      policy: testToolsPolicy,
      maxHeldBytes: 48 * MiB,
      maxStoredBytesPerTenant: 24 * MiB,
    });
    const { value, growth } = await peakHeapGrowth(
      kernel.run({
        code: `export default async () => {
          for (let i = 0; i < 4; i++) await sys.mem.put('k' + i, String(i).repeat(1000 * 1000));
          let saved = 0;
          try { for (let i = 0; i < 100; i++) { await sys.snapshot({ i }); saved++; } }
          catch (e) { return [e.code, e.message, saved]; }
          return ['saved', saved];
        }`,
        limits: { cpu_ms: 60_000, wall_ms: 120_000 },
      }),
    );
    expect(value).toMatchObject({
      ok: true,
      value: ['E_QUOTA', expect.stringContaining('kernel'), expect.any(Number)],
    });
    // Before: 100 snapshots of ~4 MB each stayed in the heap (~800 MB as two-byte estimates, ~400 MB real).
    expect(growth).toBeLessThan(3 * 48 * MiB);
  }, 120_000);

  it('namespace memory of many children draws on the same bound', async () => {
    kernel = Kernel.create({
      tools: testTools,
      policy: testToolsPolicy,
      maxHeldBytes: 24 * MiB,
      maxStoredBytesPerTenant: 12 * MiB,
    });
    kernel.programs.add(
      'fill',
      `export default async () => {
        try { for (let i = 0; i < 4; i++) await sys.mem.put('k' + i, 'z'.repeat(1000 * 1000)); return 'full'; }
        catch (e) { return e.code; }
      }`,
    );
    const result = await kernel.run({
      code: `export default async () => {
        const out = [];
        for (let i = 0; i < 6; i++) out.push(await sys.join(await sys.spawn({ program: 'fill' })));
        return out;
      }`,
      limits: { cpu_ms: 60_000, wall_ms: 120_000 },
    });
    expect(result, JSON.stringify(result)).toMatchObject({
      ok: true,
      value: expect.arrayContaining(['full', 'E_QUOTA']),
    });
  }, 60_000);
});
