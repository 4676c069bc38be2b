// Attack (a red-team pass on kernel-side exhaustion): amplify one syscall into seconds of the kernel's event loop.
// A snapshot covers the agent's whole namespace memory (up to 16 MiB), and the kernel encoded it, with the state,
// through superjson in one synchronous step: superjson walks every node with its path, so memory of deeply nested
// arrays cost it ~3 s per 0.7 MB. One `sys.snapshot` held the event loop 20 s (every other agent's syscalls,
// timers and kill deadlines frozen) and grew the kernel's heap by 2 GB. Memory is plain JSON, so it is now
// encoded without superjson, entry by entry in metered slices with the event loop free between them, and a
// snapshot covers at most 4 MiB of it (parsing nested arrays multiplies their text about 25 times in heap).
// Red-team pass 39: that parse stayed in the kernel, uncounted, until the snapshot was saved, so 40 snapshots at
// once of a nested namespace under 4 MiB took the kernel process past its heap limit (8 at once: +1.4 GB). Each
// parsed value is now held against the caller's memory_mb until its snapshot is saved.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { peakHeapGrowth } from '../helpers/heap.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// 2,000 arrays nested 55 deep (~0.25 MB of JSON).
const VALUE = `() => {
  const o = {};
  for (let i = 0; i < 2000; i++) {
    let v = 0;
    for (let d = 0; d < 55; d++) v = [v];
    o['k' + i] = v;
  }
  return o;
}`;
// 12 such values, then one snapshot, timed by the agent.
const AMPLIFY = `export default async function main() {
  const value = ${VALUE};
  for (let j = 0; j < 12; j++) await sys.mem.put('m' + j, value());
  const started = Date.now();
  await sys.snapshot({ step: 1 });
  return Date.now() - started;
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('a snapshot of deeply nested memory costs the kernel a small multiple of parsing that memory', async () => {
    kernel = testKernel({ isolation, limits: { cpu_ms: 60_000, wall_ms: 60_000 } });
    const result = await kernel.run({ code: AMPLIFY });
    expect(result.ok, JSON.stringify(result).slice(0, 300)).toBe(true);
    const snapshotMs = result.ok ? (result.value as number) : 0;
    // The floor, in the same run: one JSON round trip of the same memory in this process.
    const value = new Function(`return (${VALUE})()`)() as unknown;
    const started = performance.now();
    for (let j = 0; j < 12; j++) JSON.parse(JSON.stringify(value));
    const floorMs = performance.now() - started;
    // Before: superjson walked every node with its path, about 32 times the floor (4–5 times now).
    expect(snapshotMs).toBeLessThan(15 * floorMs);
  }, 120_000);

  it("concurrent snapshots hold their parsed memory against the caller's memory_mb", async () => {
    kernel = testKernel({ isolation, limits: { cpu_ms: 60_000, wall_ms: 60_000 } });
    const k = kernel;
    const concurrent = (count: number, memoryMb: number) =>
      peakHeapGrowth(
        k.run({
          limits: { memory_mb: memoryMb },
          code: `export default async function main() {
            const value = ${VALUE};
            for (let j = 0; j < 12; j++) await sys.mem.put('m' + j, value());
            const all = [];
            for (let i = 0; i < ${count}; i++) all.push(sys.snapshot({ i }).then(() => 'taken', (e) => e.code));
            return await Promise.all(all);
          }`,
        }),
      );
    // One snapshot fits (its parse, about 30 MB estimated, is held and then given back); six at once do not.
    const one = await concurrent(1, 64);
    expect(one.value, JSON.stringify(one.value).slice(0, 300)).toMatchObject({ ok: true, value: ['taken'] });
    const six = await concurrent(6, 64);
    expect(six.value).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    // Before: six parses held at once, about 1 GB of kernel heap.
    expect(six.growth).toBeLessThan(600 * 1024 * 1024);
  }, 120_000);

  it('a snapshot past 4 MiB of namespace memory is refused with E_QUOTA before it parses any', async () => {
    kernel = testKernel({ isolation, limits: { cpu_ms: 60_000, wall_ms: 60_000 } });
    const result = await kernel.run({
      code: `export default async function main() {
        for (let j = 0; j < 5; j++) await sys.mem.put('m' + j, 'x'.repeat(900000));
        try { await sys.snapshot({}); return 'taken'; } catch (e) { return [e.code, e.message]; }
      }`,
    });
    expect(result).toMatchObject({
      ok: true,
      value: ['E_QUOTA', 'sys.snapshot: a snapshot covers at most 4194304 characters of namespace memory'],
    });
  }, 60_000);
});
