import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { runBatchInChild } from '../helpers/fork.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack (red-team issue 12, item 1): `sys.snapshot` decoded the guest's superjson annotations with the host's
 * superjson, but the guest's copy is poisonable, so the wire is the agent's to write. An annotation claiming a
 * typed array of length n made the host allocate n elements and enumerate their keys before any size check (a
 * 2 s wall limit held the host 28 s at n = 3e7; the process aborted at 1.3e8), and referential-equality paths
 * into a Set walk it once per path (quadratic). The kernel now validates the annotations' shape and sizes
 * against the JSON before building anything and never enumerates an agent-sized object: each forgery is
 * E_BAD_ARG within the agent's own wall limit, the host process survives, and honest rich states still
 * round-trip.
 */
let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

// Swaps the superjson wire for `forged` as it crosses (a toJSON planted on Object.prototype), then snapshots. An
// honest snapshot first: planted before the guest's superjson is first used, the forgery is refused by that first
// use (the built-ins must be unchanged until then) and never reaches the kernel's decoder (red-team pass 92).
const forging = (forged: string) => `export default async () => {
  const forged = ${forged};
  await sys.snapshot({ warm: 1 });
  Object.defineProperty(Object.prototype, 'toJSON', {
    configurable: true,
    value() { return this !== null && typeof this === 'object' && 'json' in this && this !== forged ? forged : this; },
  });
  try { await sys.snapshot({ any: 1 }); return 'saved'; } catch (e) { return e.code; }
}`;

const WALL_MS = 2000;

const FORGERIES: readonly (readonly [string, string])[] = [
  [
    'a typed array of 3e7 elements named by a number',
    `{ json: { a: 3e7 }, meta: { v: 1, values: { a: [['typed-array', 'Uint8Array']] } } }`,
  ],
  [
    'a typed array of 1.3e8 doubles named by a string',
    `{ json: { a: '130000000' }, meta: { v: 1, values: { a: [['typed-array', 'Float64Array']] } } }`,
  ],
  ['a typed array at the root', `{ json: 3e7, meta: { v: 1, values: [['typed-array', 'Int32Array']] } }`],
  ['a bigint of a million digits', `{ json: { b: '9'.repeat(1e6) }, meta: { v: 1, values: { b: ['bigint'] } } }`],
  [
    'referential-equality paths that each walk a 60k-element Set',
    `(() => {
      const s = Array.from({ length: 60000 }, (_, i) => i);
      return { json: { s, x: 1 }, meta: { v: 1, values: { s: ['set'] }, referentialEqualities: { x: Array.from({ length: 40000 }, () => 's.59999') } } };
    })()`,
  ],
  ['a map whose entries are not pairs', `{ json: { m: [1, 2, 3] }, meta: { v: 1, values: { m: ['map'] } } }`],
  ['an annotation on a path the JSON does not have', `{ json: {}, meta: { v: 1, values: { 'a.b.c': ['Date'] } } }`],
  ['a registered-class annotation', `{ json: { c: {} }, meta: { v: 1, values: { c: [['class', 'Anything']] } } }`],
  [
    // superjson flattens paths; stored, these 400 annotations under one 20,000-character key were written as 400
    // paths of 20,000 characters each, an 8 MB snapshot from 50 KB sent (quadratic: 514 s at 325 KB, pass 92).
    'a map of annotations nested in a map (superjson never writes one)',
    `(() => {
      const K = 'k'.repeat(20000), inner = {};
      for (let i = 0; i < 400; i++) inner[i] = ['undefined'];
      return { json: { [K]: new Array(400).fill(null) }, meta: { v: 1, values: { [K]: inner } } };
    })()`,
  ],
];

describe('forged superjson wire', () => {
  it('every forgery is E_BAD_ARG within the wall limit, and the host process survives', async () => {
    const codes = [...FORGERIES.map(([, forged]) => forging(forged)), 'export default async () => "alive"'];
    const outcome = await runBatchInChild(codes, { wall_ms: WALL_MS }, 90_000);
    expect(outcome.timedOut).toBe(false);
    expect(outcome.signal).toBe(null);
    expect(outcome.exitCode).toBe(0);
    const values = outcome.results.map((result) => (result.ok ? result.value : result.error.code));
    expect(values).toEqual([...FORGERIES.map(() => 'E_BAD_ARG'), 'alive']);
    // The kernel was never busy past the agent's own wall limit: each result came back before it.
    for (const result of outcome.results) expect(result.usage.wall_ms).toBeLessThan(WALL_MS);
  }, 100_000);

  it('benign twin: honest rich types round-trip (Date, Map, Set, BigInt, RegExp, undefined, NaN, typed arrays)', async () => {
    kernel = testKernel();
    const code = `export default async () => {
      const prev = await sys.restored();
      if (prev === undefined) {
        const shared = { deep: [new Date(5)] };
        return sys.snapshot({
          d: new Date(0), m: new Map([['a', new Set([1, 2])], [3n, { u: undefined }]]), b: -(2n ** 70n), n: NaN,
          inf: [Infinity, -Infinity, -0], r: /x.y/gi, t: new Uint8Array([1, 2, 255]), f: new Float64Array(1000).fill(0.5),
          once: shared, twice: shared, 'dotted.key': 1, 'back\\\\slash': 2, e: new Error('boom'),
        });
      }
      return {
        date: prev.d instanceof Date && prev.d.getTime() === 0,
        map: prev.m instanceof Map && prev.m.get('a') instanceof Set && prev.m.get('a').has(2) && 'u' in prev.m.get(3n),
        big: prev.b === -(2n ** 70n),
        nan: Number.isNaN(prev.n),
        inf: prev.inf[0] === Infinity && prev.inf[1] === -Infinity && Object.is(prev.inf[2], -0),
        regexp: prev.r instanceof RegExp && prev.r.source === 'x.y' && prev.r.flags === 'gi',
        typed: prev.t instanceof Uint8Array && prev.t[2] === 255 && prev.f instanceof Float64Array && prev.f.length === 1000,
        shared: prev.once.deep[0] instanceof Date && prev.twice.deep[0].getTime() === 5,
        keys: prev['dotted.key'] === 1 && prev['back\\\\slash'] === 2,
        error: prev.e instanceof Error && prev.e.message === 'boom',
      };
    }`;
    const snap = await kernel.run({ code });
    expect(snap).toMatchObject({ ok: true, value: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const restored = await (await kernel.restore(String(snap.ok ? snap.value : ''))).result;
    expect(restored).toMatchObject({
      ok: true,
      value: {
        date: true,
        map: true,
        big: true,
        nan: true,
        inf: true,
        regexp: true,
        typed: true,
        shared: true,
        keys: true,
        error: true,
      },
    });
  });

  it('benign twin: a cycle is refused with E_BAD_ARG, as before', async () => {
    kernel = testKernel();
    const result = await kernel.run({
      code: `export default async () => { const a = { n: 1 }; a.self = a; try { await sys.snapshot(a); return 'saved'; } catch (e) { return e.code; } }`,
    });
    expect(result).toMatchObject({ ok: true, value: 'E_BAD_ARG' });
  });
});
