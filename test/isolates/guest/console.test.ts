// console inside the guest (isolates/guest/console.cjs): formatted in the guest, one bounded `log` event per
// call with its level, audited like sys.log, never the host console.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Kernel, KernelEvent } from '../../../index.js';
import { testKernel } from '../../helpers/kernel.js';

let kernel: Kernel;
const logs: Extract<KernelEvent, { type: 'log' }>[] = [];
beforeAll(() => {
  kernel = testKernel({ limits: { cpu_ms: 5000, wall_ms: 10_000 } });
  kernel.on('log', (event) => logs.push(event));
});
afterAll(async () => {
  await kernel.close();
});
beforeEach(() => {
  logs.length = 0;
});

async function run(code: string): Promise<void> {
  const result = await kernel.run({ code });
  expect(result.ok, JSON.stringify(result)).toBe(true);
}

describe('console', () => {
  it('each method sends one log event with its level; the host console is never touched', async () => {
    const host = vi.spyOn(console, 'log');
    await run(`export default () => {
      console.log('plain', 1, true, null, undefined);
      console.info('info'); console.warn('warn'); console.error('error'); console.debug('debug');
    }`);
    expect(logs.map(({ level, text }) => [level, text])).toEqual([
      ['log', 'plain 1 true null undefined'],
      ['info', 'info'],
      ['warn', 'warn'],
      ['error', 'error'],
      ['debug', 'debug'],
    ]);
    expect(host).not.toHaveBeenCalled();
    host.mockRestore();
  });

  it('formats like Node: printf specifiers, nested objects to depth 2, Maps, Sets, errors, cycles', async () => {
    await run(`export default () => {
      console.log('%s has %d items (%i%%) %j', 'cart', 3.5, 42.9, { a: 1 });
      console.log({ a: [1, 'two', { deep: { deeper: 1 } }], m: new Map([['k', 1]]), s: new Set([1]) });
      const cyclic = { name: 'c' }; cyclic.self = cyclic;
      console.log(cyclic, [1, , 3], new Uint8Array([1, 2]), -0, 10n, Symbol('s'), function named() {});
      console.log(new Date(0), /x/g, Object.create(null));
      const e = new Error('bad'); console.error(e.message, String(e));
    }`);
    expect(logs.map(({ text }) => text)).toEqual([
      'cart has 3.5 items (42%) {"a":1}',
      "{ a: [ 1, 'two', { deep: [Object] } ], m: Map(1) { 'k' => 1 }, s: Set(1) { 1 } }",
      "{ name: 'c', self: [Circular] } [ 1, <empty>, 3 ] Uint8Array(2) [ 1, 2 ] -0 10n Symbol(s) [Function: named]",
      '1970-01-01T00:00:00.000Z /x/g [Object: null prototype] {}',
      'bad Error: bad',
    ]);
  });

  it('never runs getters, and bounds a huge or endless value to one 4096-character line', async () => {
    await run(`export default () => {
      let ran = false;
      const o = { get trap() { ran = true; return 1; } };
      console.log(o);
      console.log('x'.repeat(100000));
      const wide = {}; for (let i = 0; i < 100000; i++) wide['k' + i] = i;
      console.log(wide);
      if (ran) throw new Error('getter ran');
    }`);
    expect(logs[0]?.text).toBe('{ trap: [Getter] }');
    expect(logs[1]?.text.length).toBeLessThanOrEqual(4097);
    expect(logs[2]?.text.length).toBeLessThanOrEqual(4097);
  });

  it('assert, count, time, group and dir', async () => {
    await run(`export default () => {
      console.assert(true, 'never'); console.assert(false, 'went %s', 'wrong');
      console.count(); console.count(); console.count('x');
      console.group('outer'); console.log('inside'); console.groupEnd(); console.log('outside');
      console.time('t'); console.timeEnd('t'); console.timeEnd('missing');
      console.dir('str');
    }`);
    expect(logs.map(({ level, text }) => [level, text.replace(/\d+ms$/, 'Nms')])).toEqual([
      ['error', 'Assertion failed: went wrong'],
      ['info', 'default: 1'],
      ['info', 'default: 2'],
      ['info', 'x: 1'],
      ['log', 'outer'],
      ['log', '  inside'],
      ['log', 'outside'],
      ['info', 't: Nms'],
      ['warn', "No such label 'missing' for console.timeEnd()"],
      ['log', "'str'"],
    ]);
  });

  it('every console call is an audited console syscall', async () => {
    const result = await kernel.run({
      code: `export default async () => {
        console.warn('audited');
        return (await sys.audit({ limit: 20 })).filter((r) => r.syscall === 'console').map((r) => [r.phase, r.action, r.resource]);
      }`,
    });
    expect(result).toMatchObject({ ok: true });
    expect((result as { value: unknown[] }).value).toContainEqual(['outcome', 'console.log', 'warn']);
  });
});
