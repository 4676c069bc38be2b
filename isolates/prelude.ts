/**
 * The guest prelude: the only kernel code that runs inside an agent's isolate. It runs before any agent
 * code, captures every intrinsic it needs, takes the two host callbacks off the global object, removes
 * the globals agents must not have, and installs the frozen `sys` object.
 *
 * Wire format (strings only, both directions):
 * - guest -> host: `enter(id, syscall, payload)` where payload is JSON text of the argument array. It
 *   returns a reply at once, or "" when the reply will come later through `deliver(id, reply)`.
 * - host -> guest reply: "v" + JSON text of the value ("v" alone for undefined), or
 *   "e" + JSON text of [code, message].
 * - guest -> host result of main: `done(reply)` with the same reply encoding; a failure carries only the
 *   agent's own message text.
 *
 * Why this shape: only strings cross, so no isolated-vm object or agent object ever reaches the host, and
 * the host never awaits a guest promise. Agent code can poison prototypes, but the prelude only calls
 * functions it captured up front through a captured Reflect.apply, and keeps its state in null-prototype
 * objects, so poisoning can only change what the agent itself observes.
 *
 * The script's completion value is `[deliver, start]`; the host keeps References to both. Nothing in the
 * agent's reach points at them.
 */
import { SUPERJSON_GLOBAL } from './guest-superjson.js';

export const PRELUDE_FILENAME = 'isokernel:prelude';

/** Globals that exist in a bare V8 context but are not part of what agents may use. */
export const REMOVED_GLOBALS = ['WebAssembly', 'SharedArrayBuffer', 'Atomics', 'console'] as const;

/** The prelude's request for superjson (not a syscall: the sandbox answers it, see guest-superjson.ts). */
export const LOAD_SUPERJSON = 'isokernel.superjson';

/** Names of the syscalls the guest can issue, in the order the prelude exposes them. */
export const GUEST_SYSCALLS = [
  'tool',
  'log',
  'caps',
  'read',
  'label',
  'declassify',
  'spawn',
  'join',
  'kill',
  'handoff',
  'snapshot',
  'restored',
  'mem.get',
  'mem.put',
  'mem.list',
  'mem.delete',
  'audit',
] as const;

export const PRELUDE_SOURCE = `'use strict';
(() => {
  const g = globalThis;
  const enter = g.__isokernel_enter;
  const done = g.__isokernel_done;
  delete g.__isokernel_enter;
  delete g.__isokernel_done;
  for (const name of ${JSON.stringify(REMOVED_GLOBALS)}) delete g[name];

  const ReflectApply = Reflect.apply;
  const ReflectDefineProperty = Reflect.defineProperty;
  const ObjectCreate = Object.create;
  const ObjectFreeze = Object.freeze;
  const JSONParse = JSON.parse;
  const JSONStringify = JSON.stringify;
  const StringSlice = String.prototype.slice;
  const StringCtor = String;
  const PromiseCtor = Promise;
  const PromiseResolve = Promise.resolve;
  const PromiseThen = Promise.prototype.then;
  const ErrorCtor = Error;
  const MAX_MESSAGE = 1000;

  const slice = (s, from, to) => ReflectApply(StringSlice, s, [from, to]);

  // The descriptor has a null prototype: a 'get' or 'set' planted on Object.prototype must not turn it
  // into an accessor (or make defining it throw, which would leave a pending call unsettled).
  const kernelError = (code, message) => {
    const error = new ErrorCtor(message);
    ReflectDefineProperty(error, 'code', { __proto__: null, value: code, enumerable: true, writable: false, configurable: false });
    return error;
  };

  // JSON has no form for functions and symbols and would drop them silently; refuse them instead.
  const strictReplacer = (key, value) => {
    const type = typeof value;
    if (type === 'function' || type === 'symbol') throw strictReplacer;
    return value;
  };
  // JSON text of the argument list, serialized one argument at a time so that a toJSON planted on
  // Array.prototype cannot replace the envelope (the syscall's own argument positions). Each argument
  // is serialized exactly once; its getters and toJSON run here, in the agent's realm.
  const encodeArgs = (list) => {
    let text = '[';
    for (let i = 0; i < list.length; i++) {
      const part = JSONStringify(list[i], strictReplacer);
      text += (i === 0 ? '' : ',') + (part === undefined ? 'null' : part);
    }
    return text + ']';
  };

  // Turns a host reply into the value or a guest-realm Error; a malformed reply is an internal error.
  const settle = (reply, resolve, reject) => {
    if (typeof reply !== 'string' || reply.length === 0) {
      reject(kernelError('E_INTERNAL', 'malformed kernel reply'));
      return;
    }
    try {
      if (reply[0] === 'v') {
        resolve(reply.length === 1 ? undefined : JSONParse(slice(reply, 1)));
        return;
      }
      if (reply[0] === 'e') {
        const info = JSONParse(slice(reply, 1));
        reject(kernelError(StringCtor(info[0]), StringCtor(info[1])));
        return;
      }
    } catch {}
    reject(kernelError('E_INTERNAL', 'malformed kernel reply'));
  };

  const pending = ObjectCreate(null);
  let nextId = 1;

  const call = (syscall, args) =>
    new PromiseCtor((resolve, reject) => {
      let payload;
      try {
        payload = encodeArgs(args);
      } catch {
        payload = undefined;
      }
      if (typeof payload !== 'string') {
        reject(kernelError('E_BAD_ARG', 'sys.' + syscall + ': arguments must be JSON-serializable'));
        return;
      }
      const id = nextId++;
      let reply;
      try {
        reply = enter(id, syscall, payload);
      } catch {
        reject(kernelError('E_KILLED', 'sys.' + syscall + ': the agent has ended'));
        return;
      }
      if (reply === '') {
        pending[id] = { resolve, reject };
        return;
      }
      settle(reply, resolve, reject);
    });

  const deliver = (id, reply) => {
    const waiter = pending[id];
    if (waiter === undefined) return;
    delete pending[id];
    settle(reply, waiter.resolve, waiter.reject);
  };

  // An absent optional argument crosses as null, so every syscall's argument list has a fixed length.
  const opt = (value) => (value === undefined ? null : value);
  const define = (target, name, fn) => {
    ObjectFreeze(fn);
    ReflectDefineProperty(target, name, { __proto__: null, value: fn, enumerable: true });
  };
  const sys = ObjectCreate(null);
  define(sys, 'tool', (name, args, options) => call('tool', [name, opt(args), opt(options)]));
  define(sys, 'log', (...values) => call('log', values));
  define(sys, 'caps', () => call('caps', []));
  define(sys, 'read', (handle) => call('read', [opt(handle)]));
  define(sys, 'label', () => call('label', []));
  define(sys, 'declassify', (handle, tags) => call('declassify', [opt(handle), opt(tags)]));
  define(sys, 'spawn', (request) => call('spawn', [opt(request)]));
  define(sys, 'join', (id, options) => call('join', [opt(id), opt(options)]));
  define(sys, 'kill', (id) => call('kill', [opt(id)]));
  define(sys, 'handoff', (request) => call('handoff', [opt(request)]));
  // Snapshot state crosses in superjson's form (JSON plus type annotations), loaded into the realm on first use.
  let superjson;
  const withSuperjson = (use) => {
    const ready =
      superjson !== undefined
        ? ReflectApply(PromiseResolve, PromiseCtor, [undefined])
        : ReflectApply(PromiseThen, call(${JSON.stringify(LOAD_SUPERJSON)}, []), [
            () => {
              if (superjson === undefined) {
                const lib = g[${JSON.stringify(SUPERJSON_GLOBAL)}];
                delete g[${JSON.stringify(SUPERJSON_GLOBAL)}];
                superjson = { serialize: lib.serialize, deserialize: lib.deserialize };
              }
            },
          ]);
    return ReflectApply(PromiseThen, ready, [() => use(superjson)]);
  };
  define(sys, 'snapshot', (state) => withSuperjson((lib) => call('snapshot', [lib.serialize(state)])));
  define(sys, 'restored', () =>
    withSuperjson((lib) =>
      ReflectApply(PromiseThen, call('restored', []), [(wire) => (wire === null ? undefined : lib.deserialize(wire))]),
    ),
  );
  define(sys, 'audit', (options) => call('audit', [opt(options)]));
  const mem = ObjectCreate(null);
  define(mem, 'get', (key, options) => call('mem.get', [opt(key), opt(options)]));
  define(mem, 'put', (key, value, options) => call('mem.put', [opt(key), opt(value), opt(options)]));
  define(mem, 'list', (prefix, options) => call('mem.list', [opt(prefix), opt(options)]));
  define(mem, 'delete', (key, options) => call('mem.delete', [opt(key), opt(options)]));
  ObjectFreeze(mem);
  ReflectDefineProperty(sys, 'mem', { __proto__: null, value: mem, enumerable: true });
  ObjectFreeze(sys);
  ReflectDefineProperty(g, 'sys', { value: sys, writable: false, enumerable: false, configurable: false });

  // Reports the outcome of main exactly once.
  let finished = false;
  const finish = (reply) => {
    if (finished) return;
    finished = true;
    done(reply);
  };
  const succeed = (value) => {
    let text;
    try {
      text = JSONStringify(value);
    } catch {
      finish('e' + JSONStringify('main returned a value that is not JSON-serializable'));
      return;
    }
    finish(text === undefined ? 'v' : 'v' + text);
  };
  // The agent's own message, as plain text: any getter or toString it planted runs here, in its realm.
  const fail = (thrown) => {
    let message = 'agent threw a non-error value';
    try {
      const raw = thrown !== null && typeof thrown === 'object' ? thrown.message : thrown;
      if (raw !== undefined) message = slice(StringCtor(raw), 0, MAX_MESSAGE);
    } catch {}
    finish('e' + JSONStringify(typeof message === 'string' ? message : 'agent failed'));
  };

  let started = false;
  const start = (namespace, inputJson) => {
    if (started) return;
    started = true;
    let outcome;
    try {
      const main = namespace.default;
      if (typeof main !== 'function') {
        finish('b');
        return;
      }
      outcome = main(JSONParse(inputJson));
    } catch (thrown) {
      fail(thrown);
      return;
    }
    try {
      ReflectApply(PromiseThen, ReflectApply(PromiseResolve, PromiseCtor, [outcome]), [succeed, fail]);
    } catch (thrown) {
      fail(thrown);
    }
  };

  return [deliver, start];
})();
`;
