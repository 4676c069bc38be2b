// Red-team finding (an over-charge, not an escape): an ordinary agent that builds a working set, drops it and
// builds it again, as a parse / transform / repeat loop does, was ended with a memory E_QUOTA well below its
// limit. Its heap shrank in a GC while it ran; the watchdog's busy estimate stopped counting from that fall, and
// the next idle reading recorded the shrink as well, so every rebuild was charged once more as off-heap memory
// (E_QUOTA by the fourth cycle of ~30 MB under memory_mb 128, in both tiers). The shrink the reading records is
// now counted back. What the agent regrows before its first idle reading after the shrink is still charged (the
// watchdog cannot tell it from off-heap memory, and counting back more forgave other agents' falls): this agent
// builds in steps with idle moments between them, as an agent awaiting its tools does, and must end ok.
import { describe, expect, it } from 'vitest';
import { runBatchInChild } from '../helpers/fork.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';

// Eight cycles: ~30 MB of small objects built in eight steps with idle gaps (each an exact heap reading),
// dropped, then 400 ms of busy work that lets V8 collect it.
const REBUILD = `export default async function main() {
  let keep = null;
  for (let cycle = 0; cycle < 8; cycle++) {
    keep = [];
    for (let step = 0; step < 8; step++) {
      const part = [];
      for (let i = 0; i < 100000; i++) part.push({ a: i, b: cycle });
      keep.push(part);
      await sys.tool('sleep', { ms: 40 });
    }
    keep = null;
    const end = Date.now() + 400;
    let ring = [];
    while (Date.now() < end) {
      ring.push({ x: Math.random() });
      if (ring.length > 1000) ring = [];
    }
  }
  return 'done';
}`;
const LIMITS = { memory_mb: 160, cpu_ms: 30_000, wall_ms: 40_000 };

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('an agent that drops and rebuilds its working set is not charged for each rebuild', async () => {
    const batch = await runBatchInChild([REBUILD], LIMITS, 60_000, isolation);
    console.log('RESULT', JSON.stringify(batch.results[0]?.usage));
    expect(batch.timedOut, batch.stderr.slice(-500)).toBe(false);
    expect(batch.results[0]).toMatchObject({ ok: true, value: 'done' });
    // What was charged stays within what the agent can really hold (two working sets and garbage).
    expect(batch.results[0]?.usage.heap_peak_mb).toBeLessThan(150);
  }, 70_000);
});
