import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../runtime/core/errors.js';
import { jsonLengthAtLeast } from '../../../runtime/core/payload-size.js';
import { estimateBytes, HeldMemory, HeldMemoryPool, HeldShares } from '../../../runtime/process/held-memory.js';
import { pinHole } from '../../helpers/containment.js';

describe('HeldMemoryPool and HeldMemory', () => {
  it('an agent holds up to its limit; crossing it ends the agent and holds nothing', () => {
    const pool = new HeldMemoryPool(1000);
    const ended: string[] = [];
    const agent = new HeldMemory(pool, 100, () => ended.push('ended'));
    agent.hold(60);
    expect(() => agent.hold(50)).toThrow(
      expect.objectContaining({ code: 'E_QUOTA', message: 'quota exceeded: memory_mb' }),
    );
    expect(ended).toEqual(['ended']);
    expect([agent.held, pool.used]).toEqual([60, 60]);
  });

  it('an observer hears what was held before it came, then every change', () => {
    // The agent's capabilities are held at its start, before a sandbox host's launcher observes it: the host's
    // watchdog must count them too.
    const agent = new HeldMemory(new HeldMemoryPool(1000), 500, () => {});
    agent.hold(300);
    const heard: number[] = [];
    agent.observe((held) => heard.push(held));
    agent.hold(50);
    agent.release(100);
    expect(heard).toEqual([300, 350, 250]);
    const idle = new HeldMemory(new HeldMemoryPool(1000), 500, () => {});
    const silent: number[] = [];
    idle.observe((held) => silent.push(held));
    expect(silent).toEqual([]);
  });

  it('the pool bounds every agent together and refuses without ending anyone; an ended agent gives all back', () => {
    const pool = new HeldMemoryPool(100);
    const ended: string[] = [];
    const a = new HeldMemory(pool, 80, () => ended.push('a'));
    const b = new HeldMemory(pool, 80, () => ended.push('b'));
    a.hold(70);
    const refusal = (() => {
      try {
        b.hold(40);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(KernelError);
    expect(refusal).toMatchObject({ code: 'E_QUOTA', message: expect.stringContaining('kernel') });
    expect(ended).toEqual([]);
    a.releaseAll();
    expect(pool.used).toBe(0);
    expect(() => a.hold(1)).toThrow(expect.objectContaining({ code: 'E_KILLED' }));
    b.hold(40);
    expect(pool.used).toBe(40);
  });

  it("a tenant's agents hold up to its share; a full share refuses only that tenant, with that tenant's labels", () => {
    const shares = new HeldShares(new HeldMemoryPool(100), 60);
    const alice = new HeldMemory(shares.of('alice'), 1000, () => {});
    const alice2 = new HeldMemory(shares.of('alice'), 1000, () => {});
    const bob = new HeldMemory(shares.of('bob'), 1000, () => {});
    alice.hold(40, ['secret']);
    expect(() => alice2.hold(30)).toThrow(
      expect.objectContaining({ code: 'E_QUOTA', message: expect.stringContaining('share'), observed: ['secret'] }),
    );
    bob.hold(50);
    // The pool bounds the shares together: 90 of 100 are held.
    expect(() => alice2.hold(15)).toThrow(
      expect.objectContaining({ code: 'E_QUOTA', message: expect.stringContaining('exhausted') }),
    );
    expect(shares.pool.used).toBe(90);
    alice.releaseAll();
    alice2.hold(20);
    expect(shares.pool.used).toBe(70);
    // A tenant that holds nothing has no entry left: its label starts over with what it holds next.
    bob.releaseAll();
    expect(shares.used('bob')).toBe(0);
    const bobAgain = new HeldMemory(shares.of('bob'), 1000, () => {});
    bobAgain.hold(60);
    expect(() => bobAgain.hold(1)).toThrow(expect.objectContaining({ observed: [] }));
    expect(() => new HeldShares(new HeldMemoryPool(10), 0)).toThrow(RangeError);
  });

  it('refuses a bad limit', () => {
    expect(() => new HeldMemoryPool(0)).toThrow(RangeError);
    expect(() => new HeldMemoryPool(Number.NaN)).toThrow(RangeError);
  });
});

describe('estimateBytes', () => {
  it('property: at least two bytes per character of every string and key, and 16 per value', () => {
    const counted = (value: unknown): number => {
      if (typeof value === 'string') return 16 + 2 * value.length;
      if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + counted(item), 16);
      if (value !== null && typeof value === 'object') {
        return Object.entries(value).reduce((sum, [key, item]) => sum + 2 * key.length + counted(item), 16);
      }
      return 16;
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(estimateBytes(value)).toBeGreaterThanOrEqual(counted(value));
        expect(estimateBytes(value)).toBeGreaterThanOrEqual(jsonLengthAtLeast(value, Number.POSITIVE_INFINITY));
      }),
    );
  });

  // What an agent can send to be parsed and held: each shape's JSON text, per copy `c` (keys that must differ
  // between copies use it, as an attacker's would, so no copy shares another's hidden classes).
  const shapes: Record<string, (c: number) => string> = {
    'empty arrays': () => JSON.stringify(Array.from({ length: 2000 }, () => [])),
    'empty objects': () => JSON.stringify(Array.from({ length: 2000 }, () => ({}))),
    'nested arrays': () => `${'['.repeat(500)}${']'.repeat(500)}`,
    'an object per unique key': (c) => JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ [`k${c}_${i}`]: 0 }))),
    'objects of four unique keys': (c) =>
      JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ [`a${c}_${i}`]: 0, b: 1, [`c${c}_${i}`]: 2, d: 3 }))),
    'records of one shape': () => JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ id: i, name: `n${i}` }))),
    'a dictionary object': (c) =>
      JSON.stringify(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${c}_${i}`, i]))),
    'one-byte strings': () => JSON.stringify(Array.from({ length: 1000 }, (_, i) => `s${i}`)),
    'two-byte strings': () => JSON.stringify(Array.from({ length: 1000 }, (_, i) => `\u00e9\u4e2d${i}`)),
    doubles: () => JSON.stringify(Array.from({ length: 1000 }, (_, i) => i + 0.5)),
    'mixed arrays': () => JSON.stringify(Array.from({ length: 500 }, () => [1.5, 'x', {}])),
    // Array-index keys are elements, stored by the largest index (red-team pass 42: held at a seventh of the heap).
    'holey index keys': () => {
      const holey = `{${Array.from({ length: 85 }, (_, i) => `"${i}":0`).join(',')},"2302":0}`;
      return `[${Array.from({ length: 200 }, () => holey).join(',')}]`;
    },
    'dense index keys': () => {
      const dense = `{${Array.from({ length: 86 }, (_, i) => `"${i}":0`).join(',')}}`;
      return `[${Array.from({ length: 200 }, () => dense).join(',')}]`;
    },
    // A fraction in another field of each object: V8 builds a new chain of hidden classes from that field on, and
    // the objects parsed before keep theirs (red-team pass 43: held at 2.5 times less).
    'generalized fields': (c) =>
      JSON.stringify(
        Array.from({ length: 64 }, (_, i) =>
          Object.fromEntries(Array.from({ length: 63 }, (_, k) => [`f${c}_${k}`, k === i - 1 ? 0.5 : 1])),
        ),
      ),
    'an index key among 127 named ones': (c) =>
      JSON.stringify(Object.fromEntries([['0', 0.5], ...Array.from({ length: 127 }, (_, k) => [`n${c}_${k}`, 0.5])])),
    'a sparse index key': () => JSON.stringify(Array.from({ length: 2000 }, () => ({ 50: 0 }))),
  };

  // The heap that parsing each text and keeping the result adds, per text. Each result is estimated too, as the
  // kernel does: its walks give objects enum caches that stay with their hidden classes.
  function heapPerParse(texts: readonly string[]): number {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const kept: unknown[] = new Array(texts.length).fill(null);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let c = 0; c < texts.length; c++) {
      kept[c] = JSON.parse(texts[c]!);
      estimateBytes(kept[c]);
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(kept).toHaveLength(texts.length);
    return grown / texts.length;
  }

  it.each(Object.keys(shapes))('never below the V8 heap of parsed JSON: %s', (name) => {
    const make = shapes[name]!;
    const texts = Array.from({ length: 200 }, (_, c) => make(c));
    const perParse = heapPerParse(texts);
    expect(estimateBytes(JSON.parse(texts[0]!))).toBeGreaterThanOrEqual(perParse);
  });

  // Red-team pass 44: once the transition array objects start from is full (an agent's 1,600 objects of distinct
  // first keys, kept alive), every later object gets a hidden class of its own, and the estimate charges one per
  // key sequence: 1.8 times under. Charging every object a class of its own closed it, but charged honest payloads
  // of small objects 5-9 times their heap and ended ordinary agents (pass 45); the hole stays open, pinned here
  // (SECURITY.md, "Kernel-held bytes").
  it.fails('HOLE: never below the V8 heap of parsed JSON: objects after a full transition array', () => {
    let estimate: number;
    let perParse: number;
    try {
      const filler = JSON.parse(
        JSON.stringify(Array.from({ length: 1600 }, (_, i) => ({ [`fill${i}`]: 0, b: 0, c: 0, d: 0, e: 0, f: 0 }))),
      );
      const texts = Array.from({ length: 50 }, (_, c) =>
        JSON.stringify(Array.from({ length: 500 }, () => ({ [`q${c}x`]: 0, r: 0, s: 0, t: 0, u: 0, v: 0 }))),
      );
      perParse = heapPerParse(texts);
      estimate = estimateBytes(JSON.parse(texts[0]!));
      if (filler.length !== 1600) return;
    } catch (error) {
      // A harness that broke (no gc) must fail the pin, not pass it (review 129).
      console.error('the transition-array pin could not measure:', error);
      return;
    }
    pinHole('objects after a full transition array', {
      'the estimate is under the heap it parses to': estimate < perParse,
    });
  });

  it('stops once over the limit: one huge array reached many times is looked at once', () => {
    const big = new Array(1_000_000).fill(0);
    const repeated = new Array(1000).fill(big);
    const started = performance.now();
    expect(estimateBytes(repeated, 10_000)).toBeGreaterThan(10_000);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
