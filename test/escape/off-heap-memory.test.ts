// Attack (issue 12, item 6): hold memory V8 does not count. Intl.Segmenter#segment copies its string into
// ICU's malloc heap; a Segments object kept alive keeps that copy, while the V8 heap holds only a small
// object. Bursts separated by idle moments used to let the watchdog re-read the (small) heap and forget the
// growth: 847 MB of RSS with memory_mb 64 and the agent reported ok. Growth of process memory that no V8 heap
// explains is now charged to the agent that ran while it appeared, so the agent ends with a memory E_QUOTA
// and the kernel process stays far from what the agent tried to take (the process tier bounds the host's RSS
// from the OS as well).
import { describe, expect, it } from 'vitest';
import { runBatchInChild } from '../helpers/fork.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';

// 40 bursts of ~20 MB of ICU copies each (800 MB in all), with an idle gap after each.
const SEGMENTER_BURSTS = `export default async function main() {
  const text = 'ab '.repeat(3_500_000);
  const keep = [];
  for (let burst = 0; burst < 40; burst++) {
    keep.push(new Intl.Segmenter('en', { granularity: 'word' }).segment(text));
    await sys.tool('sleep', { ms: 30 });
  }
  return keep.length;
}`;
const LIMITS = { memory_mb: 64, cpu_ms: 20_000, wall_ms: 30_000 };

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('bursts of Intl.Segmenter copies with idle gaps end with a memory E_QUOTA, the kernel process bounded', async () => {
    const batch = await runBatchInChild([SEGMENTER_BURSTS], LIMITS, 60_000, isolation);
    expect(batch.timedOut, batch.stderr.slice(-500)).toBe(false);
    expect(batch.exitCode).toBe(0);
    expect(batch.results[0]).toMatchObject({
      ok: false,
      error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' },
    });
    // What the agent tried to hold (800 MB) never reached the kernel's process: the bound is generous (the
    // runtime and the test loader take their share) but far below it.
    expect(batch.reports[0]?.maxRssMb).toBeLessThan(450);
  }, 70_000);
});
