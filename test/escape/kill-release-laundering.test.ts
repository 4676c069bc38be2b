// Attack: launder off-heap memory through the heap of children killed while they run. isolated-vm frees a
// disposed isolate's heap after `dispose` returns (a running one's on its own thread), and the fall of resident
// memory lowered the charge of every agent read meanwhile. A 64 MB parent that per round spawns a child holding
// ~35 MB, keeps 3 Intl.Segmenter copies (~6 MB each, invisible to V8), kills the child and idles while its heap goes
// back kept all 36 copies (~210 MB) and ended ok, in both tiers; alone it ends E_QUOTA at 9. The child yields for a
// moment every 15 ms, so most kills find it idle. Now every disposal expects the heap back for 3 s
// (isolates/isolate-memory.ts `Release`) and falls then are debited to it: the parent ends E_QUOTA near 9.
// Benign twins: a parent that kills children that grew their heap without yielding, and a parent whose children
// are ended by their own memory_mb, allocate nothing themselves and must end ok. An agent is charged the growth of
// others that run while it is read, and that charge used to go when their heap went back; a first version of the
// release debited that fall and kept the charge for good (E_QUOTA in round 2-4): the watchdog now takes a running
// isolate's unread growth off the agents it charged when it ends (isolates/watchdog.ts `remove`).
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, recordingTool, testKernel, testToolsPolicy } from '../helpers/kernel.js';

// ~35 MB of 1 MB arrays built in three steps (each read by the watchdog), then short spins between timer turns.
const YIELDING = `export default async () => {
  globalThis.keep = [];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 5; i++) keep.push(new Array(1 << 17).fill(i + 0.5));
    await new Promise((r) => setTimeout(r, 15));
  }
  for (;;) { const end = Date.now() + 15; while (Date.now() < end) {} await new Promise((r) => setTimeout(r, 0)); }
}`;
// ~30 MB built in one go, never idle: the watchdog never reads its heap.
const GROWER = `export default () => {
  const keep = [];
  for (let i = 0; i < 15; i++) keep.push(new Array(1 << 17).fill(i + 0.5));
  for (;;) {}
}`;
const BOMB = 'export default () => { const keep = []; for (;;) keep.push(new Array(1 << 17).fill(0.5)); }';
// ~36 MB of Intl.Segmenter copies, memory outside its heap the watchdog charges it with, then idle.
const ICU_HOLDER = `export default async () => {
  const text = 'ab '.repeat(1_000_000);
  globalThis.keep = [];
  for (let i = 0; i < 6; i++) keep.push(new Intl.Segmenter('en', { granularity: 'word' }).segment(text + i));
  await new Promise((r) => setTimeout(r, 1e6));
}`;

const launderer = (child?: string) => `export default async function main() {
  const text = 'ab '.repeat(1_000_000);
  const keep = [];
  for (let round = 0; round < 12; round++) {
    ${child === undefined ? '' : `const id = await sys.spawn({ code: ${JSON.stringify(child)} });`}
    await sys.tool('sleep', { ms: 200 });
    for (let i = 0; i < 3; i++) {
      keep.push(new Intl.Segmenter('en', { granularity: 'word' }).segment(text));
      await sys.tool('record', keep.length);
      await sys.tool('sleep', { ms: 30 });
    }
    ${child === undefined ? '' : 'await sys.kill(id);'}
    await sys.tool('sleep', { ms: 200 });
  }
  return keep.length;
}`;
const KILLER = `export default async function main() {
  for (let round = 0; round < 8; round++) {
    const id = await sys.spawn({ code: ${JSON.stringify(GROWER)} });
    await sys.tool('sleep', { ms: 300 });
    await sys.kill(id);
    await sys.tool('sleep', { ms: 100 });
  }
  return 'done';
}`;
const ICU_KILLER = `export default async function main() {
  for (let round = 0; round < 12; round++) {
    const id = await sys.spawn({ code: ${JSON.stringify(ICU_HOLDER)} });
    await sys.tool('sleep', { ms: 200 });
    await sys.kill(id);
    await sys.tool('sleep', { ms: 200 });
  }
  return 'done';
}`;
const JOINER = `export default async function main() {
  const codes = [];
  for (let round = 0; round < 6; round++) {
    const id = await sys.spawn({ code: ${JSON.stringify(BOMB)}, budget: { memory_mb: 32 } });
    await sys.join(id).catch((error) => codes.push(error.code));
    await sys.tool('sleep', { ms: 100 });
  }
  return codes;
}`;

describe.each(ISOLATION_MODES)('%s tier: children killed while they run', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  const run = async (code: string, memoryMb: number) => {
    const recorder = recordingTool();
    kernel = testKernel({
      isolation,
      tools: [recorder.tool],
      limits: { memory_mb: memoryMb, cpu_ms: 30_000, wall_ms: 30_000 },
      policy: {
        capabilities: [
          ...testToolsPolicy.capabilities,
          recorder.capability,
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    const result = await kernel.run({ code });
    return { result, kept: recorder.calls.length };
  };

  it('control: the copies alone end with a memory E_QUOTA', async () => {
    const { result, kept } = await run(launderer(), 64);
    expect(result, JSON.stringify(result)).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
    expect(kept).toBeLessThanOrEqual(12);
  }, 30_000);

  it('the same copies beside running children killed each round still end with a memory E_QUOTA', async () => {
    const { result, kept } = await run(launderer(YIELDING), 64);
    expect(result, JSON.stringify({ result, kept })).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
    expect(kept).toBeLessThanOrEqual(15);
  }, 30_000);

  it('the same copies beside children holding ICU memory, killed each round, still end with a memory E_QUOTA', async () => {
    // Red-team pass 142: a disposal expected back only the child's heap, so the fall of its ICU copies lowered the
    // charge of the parent, which had run meanwhile (the kill's reply): 36 copies (~216 MB) kept under memory_mb 85.
    const { result, kept } = await run(launderer(ICU_HOLDER), 85);
    expect(result, JSON.stringify({ result, kept })).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
    expect(kept).toBeLessThanOrEqual(18);
  }, 30_000);

  it('benign: a parent that kills children holding ICU memory and allocates nothing ends ok', async () => {
    const { result } = await run(ICU_KILLER, 85);
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: 'done' });
  }, 30_000);

  it('benign: a parent that kills running children and allocates nothing ends ok', async () => {
    const { result } = await run(KILLER, 64);
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: 'done' });
  }, 30_000);

  it('benign: a parent whose children are ended by their own memory_mb ends ok', async () => {
    const { result } = await run(JOINER, 128);
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: Array(6).fill('E_QUOTA') });
  }, 30_000);
});
