import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { knownIsolateBytes } from '../../isolates/isolate-memory.js';

// Child: an untouched ArrayBuffer counts in its heap reading (externally_allocated_size) but is not resident
// (calloc'd mmap pages): the ledger's total rises by 48 MB while RSS does not.
const CREDIT = 'export default async () => { globalThis.keep = new ArrayBuffer(48 << 20); await new Promise(() => {}); }';

const PARENT = (withKids: boolean, rounds: number) => `export default async function main() {
  const text = 'ab '.repeat(3_500_000);
  const keep = [];
  for (let round = 0; round < ${rounds}; round++) {
    keep.push(new Intl.Segmenter('en', { granularity: 'word' }).segment(text));
    await sys.tool('sleep', { ms: 40 });
    ${withKids ? "await sys.spawn({ program: 'credit' });" : ''}
    await sys.tool('sleep', { ms: 150 });
  }
  return keep.length;
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

async function run(code: string) {
  kernel = testKernel({ isolation: 'inline', limits: { memory_mb: 64, cpu_ms: 20_000, wall_ms: 30_000 } });
  kernel.programs.add('credit', CREDIT);
  const base = process.memoryUsage().rss;
  let max = base;
  const t0 = performance.now();
  const trace: string[] = [];
  const timer = setInterval(() => {
    const u = process.memoryUsage();
    max = Math.max(max, u.rss);
    trace.push(`${Math.round(performance.now() - t0)} off=${Math.round((u.rss - u.heapTotal - u.external) / 2 ** 20)} known=${Math.round(knownIsolateBytes() / 2 ** 20)}`);
  }, 20);
  const result = await kernel.run({ code });
  clearInterval(timer);
  if (process.env.TRACE) console.log(trace.join('\n'));
  const grewMb = Math.round((max - base) / 2 ** 20);
  console.log(JSON.stringify({ ok: result.ok, error: result.ok ? undefined : result.error, value: result.ok ? result.value : undefined, usage: result.usage, grewMb }));
  return { result, grewMb };
}

describe('ledger credit', () => {
  it('control: ICU bursts alone end E_QUOTA', async () => {
    const { result } = await run(PARENT(false, 10));
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
  }, 60_000);
  it('attack: the same bursts with credit children', async () => {
    const { result } = await run(PARENT(true, 10));
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
  }, 60_000);
});
