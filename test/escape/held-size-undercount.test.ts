// Attack: park arguments whose kernel-side size the estimate undercounts. A tool call's arguments are held
// against the caller's memory_mb until it settles, at `estimateBytes`' size, which must never fall below V8's.
// - Hidden classes: the estimate charged an object 16 bytes plus 16 a key, but V8 spends 135-264 bytes a key on
//   an object whose keys no other object shares (a hidden class per key, its descriptors and transitions) and 56
//   bytes on an empty one. 60 awaiting calls of 20,000 such objects each (about 300 KB of JSON a call) all fitted
//   an agent of memory_mb 128 and grew the kernel's heap by 310 MB (inline). The estimate now charges a key
//   sequence's hidden classes the first time it meets it: the agent ends after about 10 calls, at 56 MB of
//   growth. The agent builds its objects without a prototype, so its own heap keeps them as dictionaries.
// - Array-index keys (red-team pass 42): `{"0":0,…,"84":0,"2302":0}` keeps its keys in an elements array sized
//   by the largest index, about 18.5 KB for 600 bytes of JSON, charged 2.5 KB. 12 calls of 1,600 references to one
//   such object fitted memory_mb 64 and grew the kernel's heap by 307 MB. The estimate now charges elements.
// - Generalized fields (red-team pass 43): a field that held integers and is given a fraction makes V8 build a new
//   chain of hidden classes from it on, while the objects parsed before keep theirs. 128 objects of one 127-key
//   sequence, object i with 0.5 at key i-1, were held at 2.5 times less than their heap; 28 calls of 6 such groups
//   fitted memory_mb 128 and grew the kernel's heap by 165-247 MB. A field's new representation now pays for the
//   keys from it on.
//
// Each benign twin runs before its attack: right after an attack, the inline watchdog can charge a busy agent for
// the kernel heap the attack churned through (SECURITY.md, "exact memory attribution").

import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { peakHeapGrowth } from '../helpers/heap.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { slowLookupTool } from '../helpers/slow-tool.js';

const MiB = 1024 * 1024;

/** Makes `calls` awaiting calls, each with 20,000 objects of one key: its own key each, or all the same. */
const CALLS = (calls: number, shared: boolean) => `export default async () => {
  const all = [];
  for (let i = 0; i < ${calls}; i++) {
    const arg = Array.from({ length: 20000 }, (_, j) => {
      if (${shared}) return { id: j };
      // A prototype-less object is a dictionary in the agent's heap: no hidden class per key there.
      const own = Object.create(null);
      own['k' + i + '_' + j] = 0;
      return own;
    });
    all.push(sys.tool('lookup', arg).then(() => 'ok', (e) => e.code));
  }
  return await Promise.all(all);
}`;

/** `calls` awaiting calls of 1,600 references to one object of index keys 0..84 and 2302 (holey) or 85 (dense). */
const INDEX_KEYS = (calls: number, holey: boolean) => `export default async () => {
  const one = {};
  for (let j = 0; j < 85; j++) one[j] = 0;
  one[${holey} ? 2302 : 85] = 0;
  const arg = new Array(1600).fill(one);
  const all = [];
  for (let i = 0; i < ${calls}; i++) all.push(sys.tool('lookup', arg).then(() => 'ok', (e) => e.code));
  return await Promise.all(all);
}`;

/** `calls` awaiting calls of 6 groups of 128 objects of 127 keys; `fraction`: object i has 0.5 at key i-1. */
const GENERALIZED = (calls: number, fraction: boolean) => `export default async () => {
  const AL = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$';
  const all = [];
  for (let c = 0; c < ${calls}; c++) {
    const arg = [];
    for (let g = 0; g < 6; g++) {
      for (let i = 0; i <= 127; i++) {
        const o = Object.create(null);
        for (let j = 0; j < 127; j++) o[AL[j % 64] + AL[j >> 6] + AL[c] + AL[g]] = ${fraction} && j === i - 1 ? 0.5 : 1;
        arg.push(o);
      }
    }
    all.push(sys.tool('lookup', arg).then(() => 'ok', (e) => e.code));
  }
  return await Promise.all(all);
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  // `ms`: how long each call stays pending. The attacks' calls must all be pending at once when the last arrives: in
  // the process tier the kernel reads a host's costly frames a turn at a time, paying back their decoding, which on
  // a loaded machine took longer than the default 1.5 s for 12 frames of 98k keys.
  function lookupKernel(ms?: number): Kernel {
    kernel = testKernel({
      isolation,
      tools: [slowLookupTool(ms)],
      policy: { capabilities: [{ action: 'lookup', resource: 'lookup' }] },
    });
    return kernel;
  }

  it('benign twin: four such calls with objects of one shape fit in memory_mb 32', async () => {
    const result = await lookupKernel().run({ code: CALLS(4, true), limits: { memory_mb: 32, cpu_ms: 20_000 } });
    expect(result, JSON.stringify(result).slice(0, 300)).toMatchObject({ ok: true, value: ['ok', 'ok', 'ok', 'ok'] });
  }, 60_000);

  it('benign twin: 6 calls of objects with dense index keys fit in memory_mb 64', async () => {
    const result = await lookupKernel().run({ code: INDEX_KEYS(6, false), limits: { memory_mb: 64, cpu_ms: 60_000 } });
    expect(result, JSON.stringify(result).slice(0, 300)).toMatchObject({ ok: true });
  }, 60_000);

  it('benign twin: 12 calls of 768 integer-only objects of 127 keys fit in memory_mb 128', async () => {
    const result = await lookupKernel().run({
      code: GENERALIZED(12, false),
      limits: { memory_mb: 128, cpu_ms: 60_000, wall_ms: 60_000 },
    });
    expect(result, JSON.stringify(result).slice(0, 300)).toMatchObject({ ok: true });
  }, 60_000);

  it('objects with keys of their own are held at their V8 size: 60 calls end an agent of memory_mb 128', async () => {
    const { value, growth } = await peakHeapGrowth(
      lookupKernel(10_000).run({ code: CALLS(60, false), limits: { memory_mb: 128, cpu_ms: 60_000 } }),
    );
    expect(value).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    // In the process tier the host sends every call's frame before the first is answered, so the kernel's heap
    // sees them all; inline, the calls end at the limit.
    if (isolation === 'inline') expect(growth).toBeLessThan(128 * MiB);
  }, 60_000);

  it('objects with holey index keys are held at their V8 size: 12 calls end an agent of memory_mb 64', async () => {
    const { value, growth } = await peakHeapGrowth(
      lookupKernel(10_000).run({ code: INDEX_KEYS(12, true), limits: { memory_mb: 64, cpu_ms: 60_000 } }),
    );
    expect(value).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    // Each call parses 30 MB before it is held and refused: the bound allows the one in flight.
    if (isolation === 'inline') expect(growth).toBeLessThan(128 * MiB);
  }, 60_000);

  it('objects whose fields are generalized are held at their V8 size: 12 calls end an agent of memory_mb 128', async () => {
    const { value, growth } = await peakHeapGrowth(
      lookupKernel(10_000).run({
        code: GENERALIZED(12, true),
        limits: { memory_mb: 128, cpu_ms: 60_000, wall_ms: 60_000 },
      }),
    );
    expect(value).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    if (isolation === 'inline') expect(growth).toBeLessThan(128 * MiB);
  }, 60_000);
});
