// Attack: find something on the global object that should not be there (a host binding, a leftover of the
// prelude, a lazy global's loader) or miss something that should. The exact set of own keys of globalThis an
// agent sees is pinned here: the language's globals, sys, and the web globals of syscalls/guest-globals.ts.
// WebAssembly, SharedArrayBuffer and Atomics stay absent. A change to this list is a change to the guest API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { GUEST_GLOBALS } from '../../syscalls/guest-globals.js';
import { LANGUAGE_GLOBALS as LANGUAGE } from '../helpers/globals.js';
import { testKernel } from '../helpers/kernel.js';

let kernel: Kernel;
beforeAll(() => {
  kernel = testKernel({ limits: { cpu_ms: 2000, wall_ms: 5000 } });
});
afterAll(async () => {
  await kernel.close();
});

describe('the global names an agent sees', () => {
  it('are exactly the language, sys and the web globals, before and after every lazy global loaded', async () => {
    const names = GUEST_GLOBALS.map(({ name }) => name);
    const result = await kernel.run({
      code: `export default () => {
        const keys = () => Reflect.ownKeys(globalThis).map(String).sort();
        const before = keys();
        const lazy = ${JSON.stringify(names)}.filter((n) => typeof Object.getOwnPropertyDescriptor(globalThis, n).get === 'function');
        for (const name of ${JSON.stringify(names)}) void globalThis[name];
        const after = keys();
        const shapes = ${JSON.stringify(names)}.map((n) => { const d = Object.getOwnPropertyDescriptor(globalThis, n); return [n, 'value' in d, d.writable, d.enumerable, d.configurable]; });
        return { before, after, lazy, shapes };
      }`,
    });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    const value = (result as { value: Record<string, unknown[]> }).value;
    const expected = [...LANGUAGE, 'sys', ...names].sort();
    expect(value.before).toEqual(expected);
    expect(value.after).toEqual(expected);
    // Once read, every web global is a plain data property, writable and configurable but not enumerable (WebIDL).
    for (const shape of value.shapes as unknown[][]) expect(shape.slice(1)).toEqual([true, true, false, true]);
    // Loaded on first use: everything but the timers (which must exist before agent code) starts as an accessor.
    expect((value.lazy as string[]).sort()).toEqual(
      GUEST_GLOBALS.filter(({ part }) => part !== 'timers')
        .map(({ name }) => name)
        .sort(),
    );
  });

  it('what must stay absent is absent: WebAssembly, SharedArrayBuffer, Atomics, FinalizationRegistry, process, require', async () => {
    const result = await kernel.run({
      code: `export default () => ['WebAssembly', 'SharedArrayBuffer', 'Atomics', 'FinalizationRegistry', 'process', 'require', 'Buffer', 'global',
        'setImmediate', 'module', '__isokernel_superjson'].filter((n) => n in globalThis || Function('return typeof ' + n)() !== 'undefined')`,
    });
    expect(result).toMatchObject({ ok: true, value: [] });
  });

  it('a lazy global can be replaced or deleted by the agent before it loads, like any web global', async () => {
    const result = await kernel.run({
      code: `export default () => {
        globalThis.fetch = 'mine';
        delete globalThis.URL;
        return [fetch, typeof URL, typeof Headers];
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['mine', 'undefined', 'function'] });
  });
});
