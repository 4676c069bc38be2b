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

describe.each(ISOLATION_MODES)('%s tier: children crediting the memory ledger', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  const run = (code: string) => {
    kernel = testKernel({
      isolation,
      limits: { memory_mb: 64, cpu_ms: 20_000, wall_ms: 30_000 },
      policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'agent.spawn', resource: 'inline' }] },
    });
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
