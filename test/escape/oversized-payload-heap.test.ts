import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { digestArgs } from '../../runtime/audit/record.js';
import { runBatchInChild } from '../helpers/fork.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

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

describe.each(ISOLATION_MODES)("the kernel's own cap, not the default (%s)", (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('is the one the prelude applies: a payload past 4096 bytes is refused and recorded, one within passes', async () => {
    kernel = testKernel({ isolation, maxPayloadBytes: 4096 });
    const result = await kernel.run({
      namespace: 'capped',
      code: `export default async () => {
        for (const n of [3000, 5000]) await sys.log('x'.repeat(n)).catch(() => {});
        return 'y'.repeat(5000);
      }`,
    });
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'E_AGENT_FAILED', message: 'result rejected: payload exceeds 4096 bytes' },
    });
    const records = kernel.audit.records({ namespace: 'capped' }).filter((r) => r.syscall === 'log');
    expect(records.filter((r) => r.phase === 'outcome').map((r) => r.code)).toEqual([null, 'E_BAD_ARG']);
    // Recorded by its length (in both tiers: a sandbox host carries it in its frame), not by its text.
    const refused = records.filter((r) => r.phase === 'intent').at(-1);
    expect(refused?.args_sha256).toBe(digestArgs({ oversized: JSON.stringify(['x'.repeat(5000)]).length }));
  });
});
