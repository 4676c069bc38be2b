// Attack (a red-team pass on kernel-side exhaustion): amplify one syscall into seconds of the kernel's event loop.
// A snapshot covers the agent's whole namespace memory (up to 16 MiB), and the kernel encoded it, with the state,
// through superjson in one synchronous step: superjson walks every node with its path, so memory of deeply nested
// arrays cost it ~3 s per 0.7 MB. One `sys.snapshot` held the event loop 20 s (every other agent's syscalls,
// timers and kill deadlines frozen) and grew the kernel's heap by 2 GB. Memory is plain JSON, so it is now
// encoded without superjson, entry by entry in metered slices with the event loop free between them, and a
// snapshot covers at most 4 MiB of it (parsing nested arrays multiplies their text about 25 times in heap).
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { NESTED_VALUE as VALUE } from './nested-memory.js';

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
    // The parse is held while the snapshot is taken: 1.3 million one-element arrays, 74 MB of heap held at an
    // estimated 95 MB, beside a guest heap of up to 74 MB on Node 24.
    kernel = testKernel({ isolation, limits: { cpu_ms: 60_000, wall_ms: 60_000, memory_mb: 256 } });
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

  it('a snapshot past 4 MiB of namespace memory is refused with E_QUOTA before it parses any', async () => {
    kernel = testKernel({ isolation, limits: { cpu_ms: 60_000, wall_ms: 60_000 } });
    const result = await kernel.run({
      code: `export default async function main() {
        for (let j = 0; j < 5; j++) await sys.mem.put('m' + j, 'x'.repeat(900000));
        try { await sys.snapshot({}); return 'taken'; } catch (e) { return [e.code, e.message]; }
      }`,
    });
    expect(result, JSON.stringify(result).slice(0, 400)).toMatchObject({
      ok: true,
      value: ['E_QUOTA', 'sys.snapshot: a snapshot covers at most 4194304 characters of namespace memory'],
    });
  }, 60_000);
});
