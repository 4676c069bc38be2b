// Attack: time-of-check/time-of-use through sys.tool arguments. Getters, toJSON and toString that answer
// differently on each access try to make the kernel validate one value and run the tool with another, or
// to get agent code called on the host. The stub serializes the arguments exactly once, in the guest; the
// host parses that one string, so the tool receives exactly what that serialization produced, as plain
// data. Values JSON cannot represent (BigInt, cycles, functions, symbols) are refused with E_BAD_ARG.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, recordingTool, testKernel, testToolsPolicy } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const LIMITS = { cpu_ms: 1000, wall_ms: 3000, memory_mb: 64 };

  const { tool: record, calls: received, capability: recordCapability } = recordingTool('recorded');
  // A tool whose schema is checked by the kernel before use: a time-of-check/time-of-use target.
  const bounded = defineTool({
    name: 'bounded',
    description: 'records a small number',
    input: z.strictObject({ n: z.number().int().min(0).max(10) }),
    run: (args) => {
      received.push(args);
      return args.n;
    },
  });

  let kernel: Kernel;
  beforeAll(() => {
    kernel = testKernel({
      isolation,
      limits: LIMITS,
      tools: [record, bounded],
      policy: {
        capabilities: [...testToolsPolicy.capabilities, recordCapability, { action: 'bounded', resource: 'bounded' }],
      },
    });
  });
  afterAll(async () => {
    await kernel.close();
  });
  beforeEach(() => {
    received.length = 0;
  });

  // Everything the host received is plain data: no functions, no accessors, only ordinary prototypes (the
  // kernel's schema parse may rebuild objects with Object.prototype).
  function expectPlainData(value: unknown, depth = 0): void {
    expect(depth).toBeLessThan(100);
    expect(typeof value).not.toBe('function');
    expect(typeof value).not.toBe('symbol');
    expect(typeof value).not.toBe('bigint');
    if (value === null || typeof value !== 'object') return;
    const proto = Object.getPrototypeOf(value);
    expect(proto === null || proto === Object.prototype || proto === Array.prototype).toBe(true);
    for (const key of Reflect.ownKeys(value)) {
      expect(typeof key).toBe('string');
      const desc = Object.getOwnPropertyDescriptor(value, key);
      expect(desc?.get).toBeUndefined();
      expect(desc?.set).toBeUndefined();
      expectPlainData(desc?.value, depth + 1);
    }
  }

  describe('getters and toJSON on sys.tool arguments', () => {
    it('a getter that changes on each access is read once; the tool gets exactly that value', async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  let reads = 0;
  const args = { get n() { reads++; return reads === 1 ? 1 : 1e9; } };
  const out = await sys.tool('bounded', args);
  return { out, reads };
}`,
      });
      expect(result).toMatchObject({ ok: true, value: { out: 1, reads: 1 } });
      expect(received).toEqual([{ n: 1 }]);
      expectPlainData(received[0]);
    });

    it('toJSON that changes on each call is called once', async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  let calls = 0;
  const args = { toJSON() { calls++; return calls === 1 ? { n: 2 } : { n: 1e9, extra: true }; } };
  const out = await sys.tool('bounded', args);
  return { out, calls };
}`,
      });
      expect(result).toMatchObject({ ok: true, value: { out: 2, calls: 1 } });
      expect(received).toEqual([{ n: 2 }]);
    });

    it('nested getters, toJSON on nested values and a toString are each resolved once, in the guest', async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  const counts = { a: 0, b: 0, c: 0, str: 0 };
  const inner = { get b() { counts.b++; return ['x', { get c() { counts.c++; return counts.c; } }]; } };
  const args = {
    get a() { counts.a++; return inner; },
    date: new Date(0),
    when: { toJSON() { return 'custom'; } },
    text: Object.create({ toString() { counts.str++; return 'never used by JSON'; } }),
  };
  await sys.tool('record', args);
  return counts;
}`,
      });
      expect(result).toMatchObject({ ok: true, value: { a: 1, b: 1, c: 1, str: 0 } });
      expect(received).toEqual([
        { a: { b: ['x', { c: 1 }] }, date: '1970-01-01T00:00:00.000Z', when: 'custom', text: {} },
      ]);
      expectPlainData(received[0]);
    });

    it('getters on the arguments array itself and on Array.prototype cannot change the envelope', async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  Object.defineProperty(Array.prototype, '1', { get() { return 'injected'; }, set() {}, configurable: true });
  Object.defineProperty(Array.prototype, '2', { get() { return { handle: true }; }, set() {}, configurable: true });
  const out = await sys.tool('record', { ok: 1 });
  return out;
}`,
      });
      expect(result).toMatchObject({ ok: true, value: 'recorded' });
      expect(received).toEqual([{ ok: 1 }]);
    });

    it('a throwing getter or toJSON is E_BAD_ARG and the tool never runs', async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  const codes = [];
  for (const args of [
    { get x() { throw new Error('getter'); } },
    { toJSON() { throw new Error('toJSON'); } },
    new Proxy({}, { ownKeys() { throw new Error('ownKeys'); } }),
    (() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; })(),
  ]) {
    try { await sys.tool('record', args); codes.push('no error'); } catch (e) { codes.push(e.code); }
  }
  return codes;
}`,
      });
      expect(result).toMatchObject({ ok: true, value: ['E_BAD_ARG', 'E_BAD_ARG', 'E_BAD_ARG', 'E_BAD_ARG'] });
      expect(received).toEqual([]);
    });

    it('no agent code runs on the host: the tool sees only data, never a function', async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  let hostSide = 0;
  const trap = { toString() { hostSide++; return 'x'; }, valueOf() { hostSide++; return 1; }, [Symbol.toPrimitive]() { hostSide++; return 'p'; } };
  await sys.tool('record', { nested: [{ deep: { value: 'plain' } }], ok: true });
  // Coercion hooks on a name or an option object are not called either: they are data too.
  const codes = [];
  for (const [name, opts] of [[trap, null], ['record', trap], ['record', { handle: trap }]]) {
    try { await sys.tool(name, 1, opts); codes.push('no error'); } catch (e) { codes.push(e.code); }
  }
  return { hostSide, codes };
}`,
      });
      expect(result).toMatchObject({
        ok: true,
        value: { hostSide: 0, codes: ['E_BAD_ARG', 'E_BAD_ARG', 'E_BAD_ARG'] },
      });
      expect(received).toEqual([{ nested: [{ deep: { value: 'plain' } }], ok: true }]);
      for (const value of received) expectPlainData(value);
    });
  });

  describe('non-JSON arguments', () => {
    const NON_JSON: Record<string, string> = {
      'top-level BigInt': '1n',
      'nested BigInt': '{ a: [1, 2n] }',
      'cyclic object': '(() => { const o = { a: 1 }; o.self = o; return o; })()',
      'cyclic array': '(() => { const a = [1]; a.push(a); return a; })()',
      'top-level function': '() => 1',
      'nested function': '{ f: () => 1 }',
      'function in an array': '[1, function () {}]',
      'top-level symbol': "Symbol('s')",
      'nested symbol': "{ s: Symbol('s') }",
      'class instance with a method-valued own property': '{ run() { return 1; } }',
      'toJSON returning a function': '{ toJSON() { return () => 1; } }',
      'toJSON returning a BigInt': '{ toJSON() { return 5n; } }',
    };
    for (const [name, expression] of Object.entries(NON_JSON)) {
      it(`${name} -> E_BAD_ARG from sys.tool and sys.log, nothing reaches the tool`, async () => {
        const result = await kernel.run({
          code: `export default async function main() {
  const codes = [];
  try { await sys.tool('record', ${expression}); codes.push('no error'); } catch (e) { codes.push(e.code, e instanceof Error); }
  try { await sys.log('x', ${expression}); codes.push('no error'); } catch (e) { codes.push(e.code, e instanceof Error); }
  return codes;
}`,
        });
        expect(result).toMatchObject({ ok: true, value: ['E_BAD_ARG', true, 'E_BAD_ARG', true] });
        expect(received).toEqual([]);
      });
    }

    it('undefined values follow JSON (dropped from objects, null in arrays)', async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  await sys.tool('record', { a: undefined, b: [undefined, 1] });
  await sys.tool('record');
  return 'done';
}`,
      });
      expect(result).toMatchObject({ ok: true, value: 'done' });
      expect(received).toEqual([{ b: [null, 1] }, undefined]);
    });
  });
});
