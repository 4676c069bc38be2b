import { GUEST_GLOBALS } from '../../syscalls/guest-globals.js';

/** The globals of a bare V8 context that agents keep (the language's own) on every supported V8, in V8 11's order. */
const BASE_LANGUAGE_GLOBALS: readonly string[] = [
  'Object',
  'Function',
  'Array',
  'Number',
  'parseFloat',
  'parseInt',
  'Infinity',
  'NaN',
  'undefined',
  'Boolean',
  'String',
  'Symbol',
  'Date',
  'Promise',
  'RegExp',
  'Error',
  'AggregateError',
  'EvalError',
  'RangeError',
  'ReferenceError',
  'SyntaxError',
  'TypeError',
  'URIError',
  'globalThis',
  'JSON',
  'Math',
  'Intl',
  'ArrayBuffer',
  'Uint8Array',
  'Int8Array',
  'Uint16Array',
  'Int16Array',
  'Uint32Array',
  'Int32Array',
  'Float32Array',
  'Float64Array',
  'Uint8ClampedArray',
  'BigUint64Array',
  'BigInt64Array',
  'DataView',
  'Map',
  'BigInt',
  'Set',
  'WeakMap',
  'WeakSet',
  'Proxy',
  'Reflect',
  'WeakRef',
  'decodeURI',
  'decodeURIComponent',
  'encodeURI',
  'encodeURIComponent',
  'escape',
  'unescape',
  'eval',
  'isFinite',
  'isNaN',
];

/**
 * Language globals that newer V8s add: `Iterator` (V8 12, Node 22), `Float16Array` and explicit resource
 * management's `SuppressedError`, `DisposableStack` and `AsyncDisposableStack` (V8 13.6, Node 24). Agents keep
 * the ones their V8 has; the host's own global object shows which (an isolate runs the host's V8), so on each
 * runtime the list is exact and any other new name still fails the global-names suite.
 */
const NEWER_LANGUAGE_GLOBALS: readonly string[] = [
  'Iterator',
  'Float16Array',
  'SuppressedError',
  'DisposableStack',
  'AsyncDisposableStack',
];

/** The language globals agents keep on this runtime. */
export const LANGUAGE_GLOBALS: readonly string[] = [
  ...BASE_LANGUAGE_GLOBALS,
  ...NEWER_LANGUAGE_GLOBALS.filter((name) => Object.hasOwn(globalThis, name)),
];

/** Every global name an agent may see: the language's, `sys`, and the web globals (syscalls/guest-globals.ts). */
export const AGENT_GLOBALS: ReadonlySet<string> = new Set([
  ...LANGUAGE_GLOBALS,
  'sys',
  ...GUEST_GLOBALS.map(({ name }) => name),
]);
