import { describe, expect, it } from 'vitest';
import { runBatchInChild } from '../helpers/fork.js';

/**
 * Attack: one refused call with a payload far past the cap. isolated-vm copied the whole string into the kernel's
 * heap before anything measured it, and the refusal's intent record digested it (canonical JSON, then SHA-256):
 * about three times the payload in the kernel's heap, bounded only by the agent's `memory_mb`. One 1 GB `sys.log`
 * took an inline kernel's heap from 34 MB to 3.1 GB and stalled its loop 6.8 s; under a 1.5 GB heap limit one call
 * aborted it (red-team pass 96). The process tier's sandbox host already sent a marker. Now the prelude sends only
 * the length of a payload (or `main`'s result) past the cap, in both tiers, and dispatch records the attempt by it.
 *
 * Each run is a kernel in a child process whose heap limit (192 MB) is below what carrying a 96 MB payload cost.
 */
const PAYLOAD = 96 * 1024 * 1024;
const limits = { memory_mb: 512, cpu_ms: 20_000, wall_ms: 30_000 };
const LOG = `export default async () => {
  const big = 'x'.repeat(${PAYLOAD});
  try { await sys.log(big); return 'sent'; } catch (e) { return e.code + ' ' + e.message; }
}`;
const RESULT = `export default async () => 'x'.repeat(${PAYLOAD})`;
describe.each(['inline', 'process'] as const)('a payload far past the cap (%s)', (isolation) => {
  it('is refused E_BAD_ARG, with the kernel never holding it: a 192 MB heap survives a 96 MB sys.log and result', async () => {
    const outcome = await runBatchInChild([LOG, RESULT], limits, 60_000, isolation, undefined, [
      '--max-old-space-size=192',
    ]);
    expect(outcome.stderr).not.toMatch(/heap out of memory/);
    expect(outcome.signal).toBeNull();
    expect(outcome.exitCode).toBe(0);
    expect(outcome.results[0]).toMatchObject({ ok: true, value: 'E_BAD_ARG sys.log: payload exceeds 1048576 bytes' });
    expect(outcome.results[1]).toMatchObject({
      ok: false,
      error: { code: 'E_AGENT_FAILED', message: 'result rejected: payload exceeds 1048576 bytes' },
    });
  }, 90_000);
});
