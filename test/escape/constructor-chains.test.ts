// Attack: walk constructor chains, prototypes and property descriptors from every value the kernel hands
// the agent (sys, its functions, the promises they return, resolved values, kernel errors) looking for an
// isolated-vm object (Reference, Callback, ExternalCopy, Context) or anything of the host realm.
//
// Not covered from inside the guest: the E_KILLED error of a syscall made after the agent ended. The
// agent has no channel left to report on it; after-main.test.ts checks those calls are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { AGENT_GLOBALS } from '../helpers/globals.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { INSPECT } from './probes.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const LIMITS = { cpu_ms: 2000, wall_ms: 5000, memory_mb: 64 };

  let kernel: Kernel;
  beforeAll(() => {
    kernel = testKernel({ isolation, limits: LIMITS });
  });
  afterAll(async () => {
    await kernel.close();
  });

  // Collects every kernel-provided value: promises (settled or not), resolved values and errors from each
  // failure path the guest can reach.
  const COLLECT = `
const roots = [sys, ...Object.values(sys)];
const errors = {};
const keep = (promise) => { roots.push(promise); promise.catch(() => {}); return promise; };
const settle = async (label, make) => {
  try {
    roots.push(await keep(make()));
  } catch (e) {
    errors[label] = e;
    roots.push(e);
  }
};
await settle('echo', () => sys.tool('echo', { a: [1, 'two', { three: 3 }], b: null }));
await settle('log', () => sys.log('hello', { x: 1 }));
await settle('noTool', () => sys.tool('no-such-tool', {}));
await settle('failing', () => sys.tool('fail', {}));
await settle('rejecting', () => sys.tool('reject', {}));
await settle('badArgGuest', () => sys.tool('echo', 1n));
await settle('badArgHost', () => sys.tool('', {}));
await settle('badToolArgs', () => sys.tool('sleep', { ms: 'soon' }));
await settle('badOptions', () => sys.tool('echo', 1, { handle: 'yes' }));
await settle('oversize', () => sys.tool('echo', 'x'.repeat(1100000)));
await settle('tooDeep', () => { let v = 0; for (let i = 0; i < 100; i++) v = [v]; return sys.tool('echo', v); });
await settle('tooManyLogValues', () => sys.log(...new Array(100).fill(1)));
if (typeof sys.caps === 'function') {
  roots.push(sys.caps);
  await settle('caps', () => sys.caps());
}
`;

  describe('constructor chains from kernel-provided values', () => {
    it('reach only the guest realm: no isolated-vm or host object, no unknown function', async () => {
      const result = await kernel.run({
        code: `${INSPECT}
export default async function main() {
  ${COLLECT}
  const { violations, count } = __inspect(roots, [sys, ...Object.values(sys)]);
  const codes = {};
  for (const [label, e] of Object.entries(errors)) {
    codes[label] = [e instanceof Error, Object.getPrototypeOf(e) === Error.prototype, e.code];
  }
  // Control: the probe does flag an unknown function and an isolated-vm-like key.
  const control = __inspect([{ f() {}, derefInto: 1 }], []).violations.length;
  return { violations, count, codes, control };
}`,
      });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      if (!result.ok) return;
      const value = result.value as {
        violations: string[];
        count: number;
        codes: Record<string, [boolean, boolean, string]>;
        control: number;
      };
      expect(value.control).toBe(2);
      expect(value.violations).toEqual([]);
      expect(value.count).toBeGreaterThan(20);
      expect(value.codes).toEqual({
        noTool: [true, true, 'E_NO_TOOL'],
        failing: [true, true, 'E_TOOL_FAILED'],
        rejecting: [true, true, 'E_TOOL_FAILED'],
        badArgGuest: [true, true, 'E_BAD_ARG'],
        badArgHost: [true, true, 'E_BAD_ARG'],
        badToolArgs: [true, true, 'E_BAD_ARG'],
        badOptions: [true, true, 'E_BAD_ARG'],
        oversize: [true, true, 'E_BAD_ARG'],
        tooDeep: [true, true, 'E_BAD_ARG'],
        tooManyLogValues: [true, true, 'E_BAD_ARG'],
      });
    });

    it(".constructor.constructor('return this')() is the guest's own global, with no host objects", async () => {
      const result = await kernel.run({
        code: `
export default async function main() {
  ${COLLECT}
  const fns = new Set([Function, (async () => {}).constructor, function* () {}.constructor, async function* () {}.constructor]);
  const report = [];
  for (const value of roots) {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) continue;
    const ctor = value.constructor;
    if (ctor === undefined) {
      // Only null-prototype kernel objects may lack a constructor.
      report.push(['no-constructor', Object.getPrototypeOf(value) === null]);
      continue;
    }
    const F = ctor.constructor;
    const g = F('return this')();
    report.push([
      fns.has(F),
      g === globalThis,
      ['process', 'require', 'global', 'Buffer', 'module', 'setImmediate', '__isokernel_enter', '__isokernel_done']
        .filter((name) => name in g || F('return typeof ' + name)() !== 'undefined'),
    ]);
  }
  // __proto__ walks end at the guest's Object.prototype (or at null for null-prototype objects).
  const ends = roots.filter((v) => v !== null && typeof v === 'object' || typeof v === 'function').map((v) => {
    let p = v;
    let last = v;
    while (p !== null && p !== undefined) { last = p; p = p.__proto__; }
    return last === Object.prototype || last === v;
  });
  return { report, ends, sysProto: Object.getPrototypeOf(sys), sysCtor: sys.constructor === undefined };
}`,
      });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      if (!result.ok) return;
      const value = result.value as {
        report: unknown[][];
        ends: boolean[];
        sysProto: unknown;
        sysCtor: boolean;
      };
      expect(value.sysProto).toBeNull();
      expect(value.sysCtor).toBe(true);
      for (const entry of value.report) {
        if (entry[0] === 'no-constructor') expect(entry[1]).toBe(true);
        else expect(entry).toEqual([true, true, []]);
      }
      expect(value.ends.every(Boolean)).toBe(true);
    });

    it('getOwnPropertyDescriptors of every kernel value and of globalThis show only guest data', async () => {
      const result = await kernel.run({
        code: `
export default async function main() {
  ${COLLECT}
  const out = [];
  for (const value of roots) {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) continue;
    const descs = Object.getOwnPropertyDescriptors(value);
    out.push(Reflect.ownKeys(descs).map((k) => {
      const d = descs[k];
      return [String(k), typeof d.value, typeof d.get, typeof d.set];
    }));
  }
  const errorKeys = Object.values(errors).map((e) => Reflect.ownKeys(e).map(String).sort());
  return { out, errorKeys, globals: Reflect.ownKeys(globalThis).map(String) };
}`,
      });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      if (!result.ok) return;
      const value = result.value as { out: string[][][]; errorKeys: string[][]; globals: string[] };
      for (const keys of value.errorKeys) expect(keys).toEqual(['code', 'message', 'stack']);
      for (const global of value.globals) expect(AGENT_GLOBALS.has(global), global).toBe(true);
      // sys itself: only its syscall functions (and the frozen sys.mem namespace of them), as plain values.
      const sysDescs = value.out[0] ?? [];
      for (const [name, type, get, set] of sysDescs) {
        expect([type, get, set]).toEqual([name === 'mem' ? 'object' : 'function', 'undefined', 'undefined']);
      }
    });

    it('a sloppy getter called from inside the stub cannot read its caller', async () => {
      const result = await kernel.run({
        code: `
export default async function main() {
  const seen = [];
  const makeSloppy = Function('seen', \`
    const o = {};
    Object.defineProperty(o, 'probe', {
      enumerable: true,
      get: function probe() { seen.push(probe.caller, arguments.callee.caller); return 1; },
    });
    return { toJSON: function toJSON() { seen.push(toJSON.caller); return o; } };
  \`);
  await sys.tool('echo', makeSloppy(seen));
  await sys.log(makeSloppy(seen));
  // A sloppy then() on Object.prototype runs when the stub resolves with an object.
  Object.prototype.then = Function('seen', 'return function then(resolve) { seen.push(then.caller); delete Object.prototype.then; resolve(this); }')(seen);
  await sys.tool('echo', { x: 1 });
  // Control: between two sloppy functions the probe does see the caller.
  const control = Function('const inner = function inner() { return inner.caller; }; return function outer() { return inner(); };')()();
  if (typeof control !== 'function') return ['control failed'];
  return seen.map((v) => v === null || v === undefined ? 'none' : typeof v === 'function' ? Function.prototype.toString.call(v).slice(0, 80) : String(v));
}`,
      });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      if (!result.ok) return;
      const seen = result.value as string[];
      expect(seen.length).toBeGreaterThanOrEqual(5);
      // No caller is visible at all: the stub is strict, so V8 censors it (and everything below it).
      expect(seen.filter((s) => s !== 'none')).toEqual([]);
    });
  });
});
