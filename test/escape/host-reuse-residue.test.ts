// Attack (red-team pass 72): end a run cleanly but leave something behind in its sandbox host, and count on the
// pool placing the next tenant's run on that host. Hosts are reused after a clean end, and the only gate was a
// 30 ms CPU check of the host's other threads:
// - a built-in that ignores termination, started from a promise chain after the agent's end, kept its isolate
//   thread running after disposal; the check missed it 7 times in 8 and the next tenant, doing nothing but sleep,
//   was charged its memory growth and ended E_QUOTA;
// - memory the run freed but the allocator kept (190-220 MB) counted against the next run's bound of the host's
//   start size plus its own allowance, and the supervisor SIGKILLed the host with the next tenant on it (E_CRASHED);
// - 3000 unawaited 100 KB `sys.log` calls queued 300 MB of frames in the host's write buffer, charged to no one.
// Now a clean end confirms its isolate idle before disposal (else the host is not reused), a host holding much
// more memory than when it started is retired, and frames waiting to be written are charged to their agent.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { processTestKernel, waitFor } from '../helpers/kernel.js';
import { isAlive } from '../helpers/processes.js';

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

const VICTIM = `export default async () => { await sys.tool('sleep', { ms: 300 }); return 'victim ok'; }`;

// Runs `attacker` to its end, then three other tenants' runs at once; resolves to what happened to each.
async function afterward(code: string, limits: { memory_mb: number } = { memory_mb: 128 }, victimMb = 32) {
  const made = processTestKernel({ limits: { wall_ms: 30_000, cpu_ms: 10_000, memory_mb: 128 } });
  kernel = made.kernel;
  const { launcher } = made;
  await kernel.run({ code: 'export default async () => 1' });
  const attacker = kernel.spawn({ code, namespace: 'mallory', limits });
  await waitFor(() => launcher.hostPid(attacker.id) !== undefined, 'the attacker is placed', 20_000);
  const host = launcher.hostPid(attacker.id) as number;
  const result = await attacker.result;
  const victims = [0, 1, 2].map((i) =>
    kernel!.spawn({ code: VICTIM, namespace: `tenant${i}`, limits: { memory_mb: victimMb } }),
  );
  const placed = victims.map((victim) => launcher.hostPid(victim.id));
  const outcomes = await Promise.all(victims.map((victim) => victim.result));
  return { result, host, placed, outcomes };
}

describe('a sandbox host after a clean end that left something running or resident', () => {
  // Work started from a promise chain after `main` returned: a built-in that ignores termination, or allocation
  // that the watchdog, still watching while the end waits for the isolate, stops at the agent's memory limit.
  it.each([
    ['a built-in still running after the agent ended', "'x'.repeat(1e8).toLocaleUpperCase('tr')"],
    ['allocating after the agent ended', 'all.push(new Array(100000).fill(1))'],
  ])(
    '%s: the agent keeps its own end, and the host is not reused',
    async (_, step) => {
      const { result, host, placed, outcomes } = await afterward(`export default async () => {
      let p = Promise.resolve();
      for (let i = 0; i < 20; i++) p = p.then(() => 0);
      p.then(() => { const all = []; for (let k = 0; k < 1e6; k++) ${step}; });
      return 'clean';
    }`);
      expect(result).toMatchObject({ ok: true, value: 'clean' });
      expect(placed).not.toContain(host);
      for (const outcome of outcomes) expect(outcome).toMatchObject({ ok: true, value: 'victim ok' });
      await waitFor(() => !isAlive(host), 'the busy host is killed', 10_000);
    },
    60_000,
  );

  it('memory freed but still resident: the host is retired, not handed to the next tenant', async () => {
    const { result, host, outcomes } = await afterward(
      `export default async () => {
        const keep = [];
        for (let round = 0; round < 4; round++) {
          const all = [];
          for (let i = 0; i < 1200; i++) { const b = new Uint8Array(100_000); b.fill(1); all.push(b); }
          for (let i = 0; i < all.length; i += 50) keep.push(all[i]);
        }
        return 'done';
      }`,
      { memory_mb: 256 },
      16,
    );
    expect(result).toMatchObject({ ok: true, value: 'done' });
    // A run placed while the host cooled waits there and moves when the host is retired: the ends tell.
    for (const outcome of outcomes) expect(outcome).toMatchObject({ ok: true, value: 'victim ok' });
    await waitFor(() => !isAlive(host), 'the swollen host is retired', 10_000);
  }, 60_000);

  it('frames queued faster than the kernel reads them are charged to the agent that queued them', async () => {
    const { result, outcomes } = await afterward(`export default async () => {
      const text = 'x'.repeat(100_000 - 64);
      for (let i = 0; i < 3000; i++) sys.log(text + i).catch(() => 0);
      return 'flooded';
    }`);
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    for (const outcome of outcomes) expect(outcome).toMatchObject({ ok: true, value: 'victim ok' });
  }, 60_000);
});
