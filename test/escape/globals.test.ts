// Attack: the global scope. WebAssembly (unmetered memory), SharedArrayBuffer/Atomics (shared memory,
// timers) and the host's runtime globals (process, require, Buffer, setImmediate, ...) must be absent (the
// web globals agents do get, console and timers among them, are tested by test/isolates/guest/ and the
// escape suites named for them); the raw host callbacks the prelude starts from must be gone; `sys` must be
// frozen and impossible to replace, extend or re-prototype; dynamic import through eval or Function must
// reject inside the guest rather than crash anything; import.meta must be harmless.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const LIMITS = { cpu_ms: 1000, wall_ms: 3000, memory_mb: 64 };

  let kernel: Kernel;
  beforeAll(() => {
    kernel = testKernel({ isolation, limits: LIMITS });
  });
  afterAll(async () => {
    await kernel.close();
  });

  async function value(code: string): Promise<unknown> {
    const result = await kernel.run({ code });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    return result.ok ? result.value : undefined;
  }

  describe('removed globals', () => {
    it('WebAssembly, SharedArrayBuffer, Atomics and the host runtime are absent every way one can look', async () => {
      const found = await value(`export default async function main() {
  const names = ['WebAssembly', 'SharedArrayBuffer', 'Atomics', 'process', 'require', 'global', 'Buffer',
    'setImmediate', 'clearImmediate', 'module', 'exports', '__dirname', 'navigator', 'window', 'self', 'Deno', 'Bun'];
  const g1 = globalThis;
  const g2 = Function('return this')();
  const g3 = (0, eval)('this');
  const found = [];
  for (const name of names) {
    if (typeof globalThis[name] !== 'undefined') found.push(name + ' typeof');
    for (const g of [g1, g2, g3]) if (name in g) found.push(name + ' in global');
    if (Function('return typeof ' + name)() !== 'undefined') found.push(name + ' by name');
  }
  if (g1 !== g2 || g2 !== g3) found.push('several globals');
  return found;
}`);
      expect(found).toEqual([]);
    });

    it('the raw host callbacks are gone', async () => {
      const found = await value(`export default async function main() {
  const keys = Reflect.ownKeys(globalThis).map(String);
  return [
    keys.filter((k) => /isokernel|enter|done|deliver|ivm/i.test(k)),
    '__isokernel_enter' in globalThis,
    '__isokernel_done' in globalThis,
    typeof Function('return typeof __isokernel_enter')(),
    Function('return typeof __isokernel_enter')(),
  ];
}`);
      expect(found).toEqual([[], false, false, 'string', 'undefined']);
    });
  });

  describe('sys is frozen', () => {
    it('its global binding cannot be deleted, reassigned or redefined', async () => {
      const outcome = await value(`export default async function main() {
  const desc = Object.getOwnPropertyDescriptor(globalThis, 'sys');
  const attempts = {};
  const attempt = (name, fn) => { try { fn(); attempts[name] = 'no error'; } catch (e) { attempts[name] = e.constructor.name; } };
  attempt('delete', () => { delete globalThis.sys; });
  attempt('assign', () => { globalThis.sys = {}; });
  attempt('defineProperty', () => Object.defineProperty(globalThis, 'sys', { value: {} }));
  attempt('sloppy assign', () => Function('sys = 1; return sys')());
  attempt('sloppy delete', () => { if (Function('return delete sys')()) throw new Error('deleted'); });
  return { desc: { writable: desc.writable, configurable: desc.configurable, enumerable: desc.enumerable }, attempts, same: globalThis.sys === sys };
}`);
      expect(outcome).toEqual({
        desc: { writable: false, configurable: false, enumerable: false },
        attempts: {
          delete: 'TypeError',
          assign: 'TypeError',
          defineProperty: 'TypeError',
          'sloppy assign': 'no error',
          'sloppy delete': 'no error',
        },
        same: true,
      });
    });

    it('sys and its functions cannot be extended, changed or re-prototyped', async () => {
      const outcome = await value(`export default async function main() {
  const attempts = {};
  const attempt = (name, fn) => { try { const r = fn(); attempts[name] = r === false ? 'refused' : 'no error'; } catch (e) { attempts[name] = e.constructor.name; } };
  const original = sys.tool;
  attempt('replace tool', () => { sys.tool = () => 'evil'; });
  attempt('add member', () => { sys.evil = 1; });
  attempt('delete member', () => { delete sys.log; });
  attempt('defineProperty on sys', () => Object.defineProperty(sys, 'tool', { value: () => 'evil' }));
  attempt('setPrototypeOf sys', () => Object.setPrototypeOf(sys, { evil: true }));
  attempt('Reflect.setPrototypeOf sys', () => Reflect.setPrototypeOf(sys, {}));
  attempt('__proto__ of sys', () => { sys.__proto__ = {}; });
  attempt('property on sys.tool', () => { sys.tool.evil = 1; });
  attempt('name of sys.tool', () => Object.defineProperty(sys.tool, 'name', { value: 'x' }));
  attempt('setPrototypeOf sys.tool', () => Object.setPrototypeOf(sys.tool, null));
  attempt('Function.prototype.call poisoned', () => { Function.prototype.call = () => 'evil'; });
  const states = [Object.isFrozen(sys), Object.isFrozen(sys.tool), Object.isFrozen(sys.log), Object.getPrototypeOf(sys) === null, sys.tool === original, 'evil' in sys];
  const still = await sys.tool('echo', 'works');
  return { attempts, states, still };
}`);
      expect(outcome).toEqual({
        attempts: {
          'replace tool': 'TypeError',
          'add member': 'TypeError',
          'delete member': 'TypeError',
          'defineProperty on sys': 'TypeError',
          'setPrototypeOf sys': 'TypeError',
          'Reflect.setPrototypeOf sys': 'refused',
          '__proto__ of sys': 'TypeError',
          'property on sys.tool': 'TypeError',
          'name of sys.tool': 'TypeError',
          'setPrototypeOf sys.tool': 'TypeError',
          'Function.prototype.call poisoned': 'no error',
        },
        states: [true, true, true, true, true, false],
        still: 'works',
      });
    });

    it('a module-scope shadow of sys only fools the agent itself', async () => {
      const outcome = await value(`const sys = { tool: async () => 'fake' };
export default async function main() { return [await sys.tool('echo', 1), await globalThis.sys.tool('echo', 2)]; }`);
      expect(outcome).toEqual(['fake', 2]);
    });
  });

  describe('dynamic code', () => {
    it('import() through eval or Function rejects inside the guest', async () => {
      const outcome = await value(`export default async function main() {
  const out = [];
  for (const make of [
    () => (0, eval)('import("node:fs")'),
    () => eval('import("x")'),
    () => new Function('return import("x")')(),
    () => Function('s', 'return import(s)')('data:text/javascript,export default 1'),
    () => (async () => {}).constructor('return await import("x")')(),
  ]) {
    try {
      const p = make();
      out.push(['returned', p instanceof Promise]);
      await p;
      out.push(['resolved']);
    } catch (e) {
      out.push(['rejected', e instanceof Error, typeof e.message]);
    }
  }
  return out;
}`);
      expect(outcome).toEqual([
        ['returned', true],
        ['rejected', true, 'string'],
        ['returned', true],
        ['rejected', true, 'string'],
        ['returned', true],
        ['rejected', true, 'string'],
        ['returned', true],
        ['rejected', true, 'string'],
        ['returned', true],
        ['rejected', true, 'string'],
      ]);
    });

    it('a literal import() anywhere in the source is refused before the agent runs', async () => {
      for (const code of [
        "export default async function main() { return import('x'); }",
        "const later = () => import('x');\nexport default async function main() { return 1; }",
        "import 'x';\nexport default async function main() {}",
      ]) {
        const result = await kernel.run({ code });
        expect(result).toMatchObject({ ok: false, error: { code: 'E_BAD_CODE' } });
      }
    });

    it('import.meta is an empty, harmless object', async () => {
      const outcome = await value(`export default async function main() {
  return [typeof import.meta, Reflect.ownKeys(import.meta).map(String), Object.getPrototypeOf(import.meta) === null, JSON.stringify(import.meta)];
}`);
      expect(outcome).toEqual(['object', [], true, '{}']);
    });
  });
});
