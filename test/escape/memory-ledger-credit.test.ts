// Attack: make the watchdog forgive off-heap memory by crediting the process-wide isolate ledger
// (isolates/isolate-memory.ts) with memory the process never grew by. A busy agent's memory is its heap plus the
// process's growth outside any V8 heap that no isolate's own reading explains. Children that each hold an
// untouched `new ArrayBuffer(32 << 20)` report 32 MB of external memory that never becomes resident; when the
// ledger counted external bytes, every isolate's unexplained growth went negative and the parent's charged ICU
// copies (Intl.Segmenter results, invisible to V8) were forgiven: found by a red-team pass on the ledger, the
// parent kept 150–200 MB past a 64 MB limit and ended ok, in both tiers. The ledger now counts physical heap only.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel, testToolsPolicy } from '../helpers/kernel.js';

const CREDIT =
  'export default async () => { globalThis.keep = new ArrayBuffer(32 << 20); await new Promise(() => {}); }';
// A child that ends at once: its realm's build and its disposal each move the kernel's account beside the copies.
const BRIEF = 'export default () => 1';
const parent = (child?: string) => `export default async function main() {
  const text = 'ab '.repeat(1_000_000);
  const keep = [];
  for (let round = 0; round < 10; round++) {
    ${child === undefined ? '' : `await sys.spawn({ code: ${JSON.stringify(child)} });`}
    for (let i = 0; i < 3; i++) {
      keep.push(new Intl.Segmenter('en', { granularity: 'word' }).segment(text));
      await sys.tool('sleep', { ms: 30 });
    }
    await sys.tool('sleep', { ms: 200 });
  }
  return keep.length;
}`;

// A child that grows a ~35 MB heap (read by the watchdog between steps), then runs until killed: disposed while
// running, its heap is freed after the disposal returns.
const GROW_THEN_LOOP = `export default async () => {
  const keep = [];
  for (let i = 0; i < 6; i++) {
    keep.push(Array.from({ length: 200_000 }, (_, j) => ({ j })));
    await sys.tool('sleep', { ms: 20 });
  }
  globalThis.keep = keep;
  for (;;) {}
}`;
// Copies as above, logging how many are held; each round a growing child is spawned and killed while it runs.
const KILLER = (withChildren: boolean) => `export default async function main() {
  const text = 'ab '.repeat(1_000_000);
  const keep = [];
  for (let round = 0; round < 12; round++) {
    const child = ${withChildren ? `await sys.spawn({ code: ${JSON.stringify(GROW_THEN_LOOP)}, caps: [{ action: 'sleep', resource: 'sleep' }] })` : 'undefined'};
    await sys.tool('sleep', { ms: 250 });
    for (let i = 0; i < 3; i++) {
      keep.push(new Intl.Segmenter('en', { granularity: 'word' }).segment(text));
      await sys.log(keep.length);
      await sys.tool('sleep', { ms: 30 });
    }
    if (child !== undefined) await sys.kill(child);
    await sys.tool('sleep', { ms: 100 });
  }
  return keep.length;
}`;

describe.each(ISOLATION_MODES)('%s tier: children crediting the memory ledger', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  const run = (code: string, watch?: (kernel: Kernel) => void) => {
    kernel = testKernel({
      isolation,
      limits: { memory_mb: 64, cpu_ms: 20_000, wall_ms: 30_000 },
      policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'agent.spawn', resource: 'inline' }] },
    });
    watch?.(kernel);
    return kernel.run({ code });
  };

  it('control: the ICU copies alone end with a memory E_QUOTA', async () => {
    const result = await run(parent());
    expect(result, JSON.stringify(result)).toMatchObject({
      ok: false,
      error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' },
    });
  }, 60_000);

  it('the same copies beside children holding untouched 32 MB buffers still end with a memory E_QUOTA', async () => {
    const result = await run(parent(CREDIT));
    expect(result, JSON.stringify(result)).toMatchObject({
      ok: false,
      error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' },
    });
  }, 60_000);

  it('killing running children that grew their heaps forgives none of the copies', async () => {
    // Found by a red-team pass: each busy child's heap, freed after its disposal returned, was taken as memory the
    // parent gave back; with a 32 MB child killed per round the parent held 18 copies (~108 MB) against 9-10 alone.
    const held = async (withChildren: boolean) => {
      let most = 0;
      const result = await run(KILLER(withChildren), (kernel) =>
        kernel.on('log', (event) => {
          most = Math.max(most, Number(event.text));
        }),
      );
      expect(result, JSON.stringify(result)).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
      await kernel?.close();
      kernel = undefined;
      return most;
    };
    const alone = await held(false);
    const withKills = await held(true);
    // A heap that comes back in the same tick as a copy still nets against it (SECURITY.md: forgiven at most what
    // that event moved): up to one round of copies; before the fix, eight and more.
    expect(withKills).toBeLessThanOrEqual(alone + 4);
  }, 120_000);

  it('the same copies beside children built and disposed meanwhile still end with a memory E_QUOTA', async () => {
    // Each build and each disposal is credited with what resident memory did meanwhile, at most the isolate's
    // size: the copies made while one is in flight are forgiven up to that much, and no more.
    const result = await run(parent(BRIEF));
    expect(result, JSON.stringify(result)).toMatchObject({
      ok: false,
      error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' },
    });
  }, 60_000);
});
