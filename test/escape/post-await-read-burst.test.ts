// Attack: make the kernel work for an agent after its end (red-team pass 82). A read's parse runs after the store's
// await, out of the dispatcher's sight: an agent that fired 200 unawaited `sys.mem.get` of a 900 KB value of empty
// arrays and returned had them all parsed back to back after its end, charged 25-30 times its cpu_ms of 300, and
// in the process tier every other tenant stalled 7-9 s (10 s at cpu_ms 100). An ended agent's parse is now refused
// and its replies are not encoded, so the burst stops where its quota ends it. (A live agent's burst still runs in
// one drain, charged to it and paid back by its host's turns: SECURITY.md, process tier.)
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel, RunResult } from '../../index.js';
import type { Limits } from '../../runtime/process/limits.js';
import { ISOLATION_MODES, type IsolationMode, testKernel } from '../helpers/kernel.js';
import { longestGap } from '../helpers/stall.js';

const STORE = `export default async () => { await sys.mem.put('k', JSON.parse('[' + '[],'.repeat(300000) + '[]]')); }`;
const FIRE_AND_RETURN = `export default async (n) => { for (let i = 0; i < n; i++) sys.mem.get('k').catch(() => {}); }`;
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
});
