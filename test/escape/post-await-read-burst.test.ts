// Attack: make the kernel work for an agent after its await, out of every bound (red-team pass 82). The kernel
// reads a sandbox host's frames in turns of 10 ms, but a read's parse runs after the store's await: an agent that
// fired 200 unawaited `sys.mem.get` of a 900 KB value of empty arrays and returned had them all parsed back to
// back in one microtask drain after its end, charged 25-30 times its cpu_ms of 300, and every other tenant stalled
// 7-9 s (10 s at cpu_ms 100; a live agent's 170 awaited reads, 8 s). A large value is now parsed in its tenant's
// next turn of the event loop, an ended agent's parse is refused, and an ended agent's reply is not encoded.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel, RunResult } from '../../index.js';
import type { Limits } from '../../runtime/process/limits.js';
import { ISOLATION_MODES, type IsolationMode, testKernel } from '../helpers/kernel.js';
import { longestGap } from '../helpers/stall.js';

const STORE = `export default async () => { await sys.mem.put('k', JSON.parse('[' + '[],'.repeat(300000) + '[]]')); }`;
const FIRE_AND_RETURN = `export default async (n) => { for (let i = 0; i < n; i++) sys.mem.get('k').catch(() => {}); }`;
const AWAIT_ALL = `export default async (n) => { await Promise.all(Array.from({ length: n }, () => sys.mem.get('k').then(() => 0))); }`;
const VICTIM = `export default async () => { await sys.tool('noop', {}); return 'done'; }`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

// Alice stores the value and runs `attack`; 50 ms later Bob, another tenant, runs a trivial agent. Returns Alice's
// result, how long Bob's run took and the longest stall of the kernel's loop meanwhile (beyond its 5 ms tick).
async function burst(isolation: IsolationMode, limits: Partial<Limits>, attack: string, reads: number) {
  kernel = testKernel({ isolation, limits: { wall_ms: 60_000, ...limits } });
  const k = kernel;
  expect(await k.run({ code: VICTIM, namespace: 'bob' })).toMatchObject({ ok: true });
  const stored = await k.run({ code: STORE, namespace: 'alice', limits: { cpu_ms: 5_000 } });
  expect(stored.ok ? 'stored' : stored.error).toBe('stored');
  let victimMs = 0;
  const { value: attacker, gapMs } = await longestGap(async (): Promise<RunResult> => {
    const attacking = k.run({ code: attack, namespace: 'alice', input: reads });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    expect(await k.run({ code: VICTIM, namespace: 'bob' })).toMatchObject({ ok: true, value: 'done' });
    victimMs = performance.now() - started;
    const result = await attacking;
    // The reads still in flight settle: their intents get their outcomes.
    await new Promise((resolve) => setTimeout(resolve, 500));
    return result;
  });
  return { attacker, victimMs, stallMs: gapMs - 5 };
}

describe.each(ISOLATION_MODES)('%s', (isolation) => {
  it('200 reads fired by an agent that returns cost about its cpu_ms, and another tenant is not held up', async () => {
    const { attacker, victimMs, stallMs } = await burst(
      isolation,
      { cpu_ms: 300, memory_mb: 64 },
      FIRE_AND_RETURN,
      200,
    );
    // Before: 7,500-9,000 ms charged, 7-9 s stalls, the victim's run 7-9 s.
    expect(attacker.usage.cpu_ms).toBeLessThan(3 * 300);
    expect(stallMs).toBeLessThan(900);
    expect(victimMs).toBeLessThan(2_000);
  }, 60_000);

  it("a live agent's burst of large reads shares the loop with other tenants", async () => {
    const { attacker, victimMs, stallMs } = await burst(isolation, { cpu_ms: 30_000, memory_mb: 256 }, AWAIT_ALL, 40);
    expect(attacker.ok ? 'read' : attacker.error).toBe('read');
    // Each read's parse (tens of ms) is a turn of its own: no stall near the burst's whole cost (40 × ~50 ms).
    expect(stallMs).toBeLessThan(600);
    expect(victimMs).toBeLessThan(1_500);
  }, 60_000);
});
