/**
 * Guest-side source snippets shared by the escape suites. Each is plain JavaScript pasted into an agent
 * module before the code under test, so it runs (and captures intrinsics) before any poisoning.
 */

/**
 * Defines `__known` (every object and function reachable from the guest's own intrinsics, walking own
 * property descriptors and prototypes, not through `sys`) and `__inspect(roots, allowed)`, which walks
 * each root the same way and returns the violations: functions that are neither intrinsics, nor in
 * `allowed`, nor anonymous built-ins (promise resolvers and executors); property keys that only an
 * isolated-vm object or a host object would have; objects whose prototype chain ends outside the
 * guest's Object.prototype.
 */
export const INSPECT = `
const __ownKeys = Reflect.ownKeys;
const __getDesc = Reflect.getOwnPropertyDescriptor;
const __getProto = Reflect.getPrototypeOf;
const __fnToString = Function.prototype.toString;
const __apply = Reflect.apply;
const __ObjectProto = Object.prototype;
const __IVM_KEYS = ['derefInto', 'copySync', 'applySync', 'applyIgnored', 'applySyncPromise', 'setSync', 'getSync',
  'compileScriptSync', 'compileModuleSync', 'createContextSync', 'evalClosure', 'evalClosureSync', 'release',
  'typeof', 'copyInto', 'transferIn', 'isolate', 'global', 'cpuTime', 'wallTime', 'dispose', 'isDisposed',
  'Reference', 'Callback', 'ExternalCopy', 'Context', 'Isolate', 'NativeModule', 'process', 'require', 'Buffer',
  'module', 'exports', '__dirname', '__filename', '__isokernel_enter', '__isokernel_done', 'pending', 'deliver',
  'settle', 'enter', 'done'];
const __walk = (roots, visit) => {
  const seen = new Set();
  const queue = [...roots];
  while (queue.length > 0) {
    const value = queue.pop();
    if (value === null || (typeof value !== 'object' && typeof value !== 'function') || seen.has(value)) continue;
    seen.add(value);
    visit(value);
    queue.push(__getProto(value));
    for (const key of __ownKeys(value)) {
      const desc = __getDesc(value, key);
      if (desc === undefined) continue;
      queue.push(desc.value, desc.get, desc.set);
    }
  }
  return seen;
};
const __AsyncFunction = (async () => {}).constructor;
const __GeneratorFunction = function* () {}.constructor;
const __AsyncGeneratorFunction = async function* () {}.constructor;
const __known = __walk(
  [
    ...__ownKeys(globalThis).filter((k) => k !== 'sys').map((k) => __getDesc(globalThis, k).value),
    __AsyncFunction, __GeneratorFunction, __AsyncGeneratorFunction,
    __getProto([][Symbol.iterator]()), __getProto(new Map()[Symbol.iterator]()), __getProto(new Set()[Symbol.iterator]()),
    __getProto(''[Symbol.iterator]()), __getProto(/x/[Symbol.matchAll]('x')), __getProto((function* () {})()),
    __getProto((async function* () {})()), new Error('seed'), Promise.resolve(),
  ],
  () => {},
);
const __isNativeAnonymous = (fn) => {
  const src = __apply(__fnToString, fn, []);
  return src === 'function () { [native code] }' || src === 'function() { [native code] }';
};
const __describe = (fn) => {
  let src = '?';
  try { src = __apply(__fnToString, fn, []).slice(0, 120); } catch {}
  let name = '?';
  try { name = String(__getDesc(fn, 'name')?.value); } catch {}
  return name + ': ' + src;
};
const __inspect = (roots, allowed) => {
  const violations = [];
  let count = 0;
  __walk(roots, (value) => {
    count++;
    for (const key of __ownKeys(value)) {
      if (typeof key === 'string' && __IVM_KEYS.includes(key) && !__known.has(value)) violations.push('key ' + key);
    }
    if (__known.has(value) || allowed.includes(value)) return;
    if (typeof value === 'function') {
      if (!__isNativeAnonymous(value)) violations.push('function ' + __describe(value));
      return;
    }
    let proto = value;
    let last = value;
    for (let depth = 0; proto !== null && depth < 100; depth++) {
      last = proto;
      proto = __getProto(proto);
    }
    if (last !== value && last !== __ObjectProto) violations.push('foreign prototype chain');
  });
  return { violations, count };
};
`;

/** Markers that appear only in the prelude's own source: a function whose text contains one is kernel code. */
export const PRELUDE_MARKERS = ['ReflectApply', 'JSONStringify', 'kernelError', 'encodeArgs', 'pending[', 'finish('];
