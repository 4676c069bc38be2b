// Attack: poison the intrinsics the stub might use (Object/Array/Promise/String/Function/Map/Error
// prototypes, JSON, Reflect, setters and getters on Object.prototype for the keys the stub uses) before
// calling sys, hoping to (a) change what the kernel receives, (b) be handed a kernel function or a pending
// call record, or (c) break the host. The stub captured what it needs before agent code ran, keeps its
// records in null-prototype objects and defines properties with null-prototype descriptors.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, recordingTool, testKernel, testToolsPolicy } from '../helpers/kernel.js';
import { PRELUDE_MARKERS } from './probes.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const LIMITS = { cpu_ms: 1000, wall_ms: 3000, memory_mb: 64 };
  const PAYLOAD = { a: [1, 'two', { three: 3 }], b: null, c: 'text', d: { e: [true, false] } };
  const PAYLOAD_SOURCE = JSON.stringify(PAYLOAD);

  const logs: string[] = [];
  const { tool: record, calls: received, capability: recordCapability } = recordingTool({ got: 'it' });

  let kernel: Kernel;
  beforeAll(() => {
    kernel = testKernel({
      isolation,
      limits: LIMITS,
      tools: [record],
      policy: { capabilities: [...testToolsPolicy.capabilities, recordCapability] },
    });
    kernel.on('log', (event) => logs.push(event.text));
  });
  afterAll(async () => {
    await kernel.close();
  });
  beforeEach(() => {
    received.length = 0;
    logs.length = 0;
  });

  // Runs before the poison: captures what the harness itself needs and defines `note`, which every poisoned
  // function calls with its receiver and arguments so that anything handed to it can be inspected.
  const HARNESS = `
const __apply = Reflect.apply;
const __ownKeys = Reflect.ownKeys;
const __fnText = Function.prototype.toString;
const __isArray = Array.isArray;
const __getProto = Object.getPrototypeOf;
const __define = Reflect.defineProperty;
const __noted = [];
let __count = 0;
// Defines (never assigns) each entry: an assignment would hit the setters the poison plants on index keys.
const note = (...values) => {
  for (let i = 0; i < values.length; i++) {
    __define(__noted, __count++, { __proto__: null, value: values[i], writable: true, enumerable: true, configurable: true });
  }
};
const __markers = ${JSON.stringify(PRELUDE_MARKERS)};
const __strIncludes = String.prototype.includes;
const __strSlice = String.prototype.slice;
const __strEndsWith = String.prototype.endsWith;
const __reTest = RegExp.prototype.test;
const __hostish = /enter|done|ivm|Callback/;
// Kernel functions or pending-call records among everything the poisons were handed. Uses only captured
// intrinsics: the poisons replace the ordinary ones.
const __leaks = () => {
  let found = '';
  for (let i = 0; i < __count; i++) {
    const v = __noted[i];
    if (typeof v === 'function') {
      const src = __apply(__fnText, v, []);
      for (let j = 0; j < __markers.length; j++) {
        if (__apply(__strIncludes, src, [__markers[j]])) found += ' fn:' + __apply(__strSlice, src, [0, 60]);
      }
      if (__apply(__reTest, __hostish, [src]) && __apply(__strEndsWith, src, ['{ [native code] }'])) found += ' native:' + src;
    } else if (v !== null && typeof v === 'object') {
      const keys = __ownKeys(v);
      let hasResolve = false;
      let hasReject = false;
      for (let j = 0; j < keys.length; j++) {
        if (keys[j] === 'resolve') hasResolve = true;
        if (keys[j] === 'reject') hasReject = true;
      }
      if (hasResolve && hasReject) found += ' pending-record';
    }
  }
  return found;
};
const __equal = (x, y) => {
  if (x === y) return true;
  if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object') return false;
  if (__isArray(x) !== __isArray(y)) return false;
  const kx = __ownKeys(x);
  const ky = __ownKeys(y);
  if (kx.length !== ky.length) return false;
  for (let i = 0; i < kx.length; i++) if (!__equal(x[kx[i]], y[kx[i]])) return false;
  return true;
};
const __expected = ${PAYLOAD_SOURCE};
`;

  // Exercises every reply path after the poison; the report is built with '+' only (no poisoned method).
  const EXERCISE = `
let report = '';
try { const r = await sys.tool('record', ${PAYLOAD_SOURCE}); report += 'record=' + (r !== null && typeof r === 'object' && r.got === 'it'); } catch (e) { report += 'record=err:' + e.code; }
try { report += ' echo=' + __equal(await sys.tool('echo', ${PAYLOAD_SOURCE}), __expected); } catch (e) { report += ' echo=err:' + e.code; }
try { await sys.tool('no-such-tool', {}); report += ' noTool=none'; } catch (e) { report += ' noTool=' + e.code; }
try { await sys.tool('fail', {}); report += ' fail=none'; } catch (e) { report += ' fail=' + e.code; }
try { await sys.tool('reject', {}); report += ' reject=none'; } catch (e) { report += ' reject=' + e.code; }
try { await sys.tool('echo', 1n); report += ' bigint=none'; } catch (e) { report += ' bigint=' + e.code; }
try { const s = await sys.tool('sleep', { ms: 1 }); report += ' sleep=' + (s !== null && typeof s === 'object' && s.slept === 1); } catch (e) { report += ' sleep=err:' + e.code; }
try { await sys.log('line', ${PAYLOAD_SOURCE}); report += ' log=ok'; } catch (e) { report += ' log=err:' + e.code; }
report += ' leaks=[' + __leaks() + ']';
return report;
`;

  const EXPECTED_REPORT =
    'record=true echo=true noTool=E_NO_TOOL fail=E_TOOL_FAILED reject=E_TOOL_FAILED bigint=E_BAD_ARG sleep=true log=ok leaks=[]';

  // Each poison replaces intrinsics with functions that note their receiver and arguments, then either
  // forward to the original or throw.
  const KEYS = [
    'resolve',
    'reject',
    'ok',
    'value',
    'code',
    'message',
    'stack',
    'get',
    'set',
    'enumerable',
    'writable',
    'configurable',
    'id',
    'error',
    'waiter',
    'payload',
    'reply',
    'args',
    'name',
    'options',
    'handle',
    '0',
    '1',
    '2',
    'length',
  ];
  // Poison code avoids spread and for-of (they use the iterators it poisons) and uses null-prototype
  // descriptors (it poisons the descriptor keys on Object.prototype).
  const ARGS = 'note(this, arguments[0], arguments[1], arguments[2])';
  const POISONS: Record<string, string> = {
    'getters and setters on Object.prototype for every key the stub uses': `
    const keys = ${JSON.stringify(KEYS)};
    for (let i = 0; i < keys.length; i++) {
      Object.defineProperty(Object.prototype, keys[i], {
        __proto__: null,
        get() { note(this); return () => 'poison'; },
        set(v) { note(this, v); },
        configurable: true,
      });
    }
    Object.defineProperty(Object.prototype, 'then', { __proto__: null, get() { note(this); return undefined; }, set(v) { note(this, v); }, configurable: true });`,
    'Object.prototype.__proto__ and constructor accessors': `
    Object.defineProperty(Object.prototype, '__proto__', { __proto__: null, get() { note(this); return null; }, set(v) { note(this, v); }, configurable: true });
    Object.defineProperty(Object.prototype, 'constructor', { __proto__: null, get() { note(this); return function Fake() {}; }, set(v) { note(this, v); }, configurable: true });`,
    'Array.prototype methods, iterator and index accessors': `
    const methods = ['push', 'pop', 'shift', 'join', 'map', 'slice', 'concat', 'forEach', 'includes', 'indexOf', Symbol.iterator];
    for (let i = 0; i < methods.length; i++) Array.prototype[methods[i]] = function () { ${ARGS}; throw new Error('poisoned'); };
    const indices = ['0', '1', '2', '3'];
    for (let i = 0; i < indices.length; i++) {
      Object.defineProperty(Array.prototype, indices[i], { __proto__: null, get() { note(this); return 'poison'; }, set(v) { note(this, v); }, configurable: true });
    }`,
    'Promise, its prototype and statics': `
    const P = Promise;
    const methods = ['then', 'catch', 'finally'];
    for (let i = 0; i < methods.length; i++) P.prototype[methods[i]] = function () { ${ARGS}; throw new Error('poisoned'); };
    const statics = ['resolve', 'reject', 'all', 'race', 'allSettled', 'any'];
    for (let i = 0; i < statics.length; i++) P[statics[i]] = function () { ${ARGS}; throw new Error('poisoned'); };
    globalThis.Promise = function FakePromise() { ${ARGS}; throw new Error('poisoned'); };`,
    'JSON.parse and JSON.stringify': `
    JSON.parse = function () { ${ARGS}; return { poisoned: true }; };
    JSON.stringify = function () { ${ARGS}; return '"poisoned"'; };`,
    'String, its prototype and coercions': `
    const methods = ['slice', 'substring', 'substr', 'charAt', 'charCodeAt', 'indexOf', 'split', 'replace', 'concat', 'toString', 'valueOf', 'startsWith', Symbol.iterator];
    for (let i = 0; i < methods.length; i++) String.prototype[methods[i]] = function () { ${ARGS}; throw new Error('poisoned'); };
    globalThis.String = function FakeString() { ${ARGS}; return 'poisoned'; };
    Number.prototype.toString = function () { ${ARGS}; return 'poisoned'; };`,
    'Reflect and Object statics': `
    const keys = Reflect.ownKeys(Reflect);
    const define = Object.defineProperty;
    for (let i = 0; i < keys.length; i++) if (typeof Reflect[keys[i]] === 'function') Reflect[keys[i]] = function () { ${ARGS}; throw new Error('poisoned'); };
    const statics = ['create', 'freeze', 'defineProperty', 'defineProperties', 'assign', 'keys', 'entries', 'getPrototypeOf', 'setPrototypeOf'];
    for (let i = 0; i < statics.length; i++) Object[statics[i]] = function () { ${ARGS}; throw new Error('poisoned'); };
    void define;`,
    'Function.prototype.call/apply/bind/toString': `
    const methods = ['call', 'apply', 'bind', 'toString'];
    for (let i = 0; i < methods.length; i++) Function.prototype[methods[i]] = function () { ${ARGS}; throw new Error('poisoned'); };`,
    'Map, Set and WeakMap prototypes': `
    const classes = [Map, Set, WeakMap, WeakSet];
    for (let c = 0; c < classes.length; c++) {
      const proto = classes[c].prototype;
      const keys = Reflect.ownKeys(proto);
      for (let i = 0; i < keys.length; i++) {
        const desc = Reflect.getOwnPropertyDescriptor(proto, keys[i]);
        const own = Reflect.ownKeys(desc);
        let isMethod = false;
        for (let j = 0; j < own.length; j++) if (own[j] === 'value' && typeof desc.value === 'function') isMethod = true;
        if (keys[i] === 'constructor' || !isMethod) continue;
        proto[keys[i]] = function () { ${ARGS}; throw new Error('poisoned'); };
      }
    }`,
    'Error, its prototype, captureStackTrace and prepareStackTrace': `
    const E = Error;
    E.captureStackTrace = function () { ${ARGS}; };
    E.prepareStackTrace = function () { ${ARGS}; return 'poisoned'; };
    E.stackTraceLimit = Infinity;
    Object.defineProperty(E.prototype, 'message', { __proto__: null, get() { note(this); return 'poisoned'; }, set(v) { note(this, v); }, configurable: true });
    Object.defineProperty(E.prototype, 'code', { __proto__: null, get() { note(this); return 'E_FAKE'; }, set(v) { note(this, v); }, configurable: true });
    E.prototype.toString = function () { note(this); return 'poisoned'; };
    globalThis.Error = function FakeError() { ${ARGS}; return { code: 'E_FAKE' }; };
    globalThis.TypeError = globalThis.Error;`,
    'Symbol.toPrimitive, valueOf and toString on Object.prototype': `
    Object.prototype[Symbol.toPrimitive] = function () { ${ARGS}; return 'poisoned'; };
    Object.prototype.valueOf = function () { ${ARGS}; return 'poisoned'; };
    Object.prototype.toString = function () { ${ARGS}; return 'poisoned'; };`,
  };

  describe('poisoned prototypes before calling sys', () => {
    for (const [name, poison] of Object.entries(POISONS)) {
      it(`${name}: the kernel receives the same data, nothing leaks, the host is fine`, async () => {
        const result = await kernel.run({
          code: `${HARNESS}
export default async function main() {
  ${poison}
  ${EXERCISE}
}`,
        });
        expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: EXPECTED_REPORT });
        expect(received).toEqual([PAYLOAD]);
        expect(logs).toEqual([`line ${PAYLOAD_SOURCE}`]);
      });
    }

    it('control: the leak probe flags a kernel-looking function and a pending-call record', async () => {
      const result = await kernel.run({
        code: `${HARNESS}
export default async function main() {
  note(function kernelError() {}, { resolve: 1, reject: 2 });
  return __leaks();
}`,
      });
      expect(result).toMatchObject({ ok: true });
      if (result.ok) expect(String(result.value)).toMatch(/fn:.*pending-record/);
    });

    it('every poison at once', async () => {
      const result = await kernel.run({
        code: `${HARNESS}
export default async function main() {
  ${Object.entries(POISONS)
    // Object and Reflect statics last: the other poisons use them to install themselves.
    .sort(([a], [b]) => Number(a.startsWith('Reflect')) - Number(b.startsWith('Reflect')))
    .map(([, poison]) => `{${poison}\n}`)
    .join('\n')}
  ${EXERCISE}
}`,
      });
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: EXPECTED_REPORT });
      expect(received).toEqual([PAYLOAD]);
    });

    it('toJSON planted on Array.prototype or Object.prototype cannot redirect a syscall', async () => {
      const result = await kernel.run({
        code: `export default async function main() {
  Array.prototype.toJSON = function () { return ['echo', 'redirected', null]; };
  Object.prototype.toJSON = function () { return 'object-poison'; };
  const noop = await sys.tool('noop', 'arg');
  const recorded = await sys.tool('record', 'plain');
  await sys.log('line', 7);
  return String(noop) + ' ' + (recorded === 'object-poison' || typeof recorded);
}`,
      });
      // noop answered (not echo); the tool name and positions of the envelope are the agent's.
      expect(result).toMatchObject({ ok: true, value: 'undefined object' });
      expect(received).toEqual(['plain']);
      expect(logs).toEqual(['line 7']);
    });

    it('a toJSON planted on BigInt.prototype cannot smuggle a function or symbol past the encoding', async () => {
      // BigInt is the one primitive JSON asks for toJSON: its result must be checked like an object's.
      const result = await kernel.run({
        code: `export default async function main() {
  const codes = [];
  for (const made of [() => () => 1, () => Symbol('s'), () => ({ f: () => 1 })]) {
    BigInt.prototype.toJSON = made;
    try { await sys.tool('record', 1n); codes.push('sent'); } catch (error) { codes.push(error.code); }
  }
  BigInt.prototype.toJSON = function () { return 'big'; };
  codes.push(await sys.tool('record', 2n));
  return codes;
}`,
      });
      expect(result, JSON.stringify(result)).toMatchObject({
        ok: true,
        value: ['E_BAD_ARG', 'E_BAD_ARG', 'E_BAD_ARG', { got: 'it' }],
      });
      expect(received).toEqual(['big']);
    });

    it('the host keeps working after all of it', async () => {
      const result = await kernel.run({
        code: 'export default async function main() { return sys.tool("echo", [1, 2]); }',
      });
      expect(result).toMatchObject({ ok: true, value: [1, 2] });
      expect(kernel.live()).toEqual([]);
    });
  });
});
