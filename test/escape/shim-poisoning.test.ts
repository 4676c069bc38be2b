// Attack: poison the intrinsics and the shims' own prototypes (Array, Map, Promise, typed arrays, JSON,
// Reflect, accessors planted on Object.prototype for the keys the guest parts use, Headers, Response,
// AbortSignal) before using every web global, hoping (a) to be handed a kernel function (the prelude's kit,
// syscall function or host callbacks), (b) to change what the kernel receives, or (c) to break the host or
// another agent. The guest parts call only intrinsics the prelude captured and keep their records in own
// properties, so a poison sees only the agent's own data, and can at worst break the agent's own globals.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpTool, type Kernel } from '../../index.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { testKernel } from '../helpers/kernel.js';

let server: TestServer;
let kernel: Kernel;
beforeAll(async () => {
  server = await startTestServer((req, res) => res.end(`${req.method} ${req.url} ${req.body.toString()}`));
  kernel = testKernel({
    tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })],
    policy: { capabilities: [{ action: 'net.http', resource: `${server.origin}/**` }] },
    limits: { cpu_ms: 5000, wall_ms: 10_000, memory_mb: 64 },
  });
});
afterAll(async () => {
  await kernel.close();
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

// The bundled libraries (whatwg-url, @ungap/structured-clone) run with the agent's intrinsics, like any code the
// agent could have written: a poison breaks them for that agent only (see 'breaking poisons'), so the
// pass-through exercise leaves URL out (whatwg-url builds descriptors from plain objects) and loads them first.
// Everything reachable from the global object before the poison (every web global loaded first) is the agent's
// API: its functions are not findings even when they are kernel code (a patched Date method, a lazy global's
// getter); anything else a poison is handed must not be kernel code.
const PRELOAD = `
void [URL, URLSearchParams, structuredClone, fetch, console, crypto, TextEncoder, AbortController, atob];
const known = new Set();
{
  const queue = [globalThis];
  while (queue.length > 0) {
    const value = queue.pop();
    if (value === null || (typeof value !== 'object' && typeof value !== 'function') || known.has(value)) continue;
    known.add(value);
    queue.push(Reflect.getPrototypeOf(value));
    for (const key of Reflect.ownKeys(value)) {
      const desc = Reflect.getOwnPropertyDescriptor(value, key);
      if (desc !== undefined) queue.push(desc.value, desc.get, desc.set);
    }
  }
}
`;

// Plants pass-through poisons that note their receiver and arguments, and accessors on Object.prototype for
// the keys the guest parts' records use; `handed` collects everything a poison saw.
const POISON = `
const __apply = Reflect.apply;
const __define = Reflect.defineProperty;
const __getDesc = Reflect.getOwnPropertyDescriptor;
const handed = [];
let __count = 0;
// One value at a time: a spread would run the (poisoned) array iterator from inside the poison.
const note = (value) => {
  __define(handed, __count++, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
};
const wrap = (target, key) => {
  const desc = __getDesc(target, key);
  if (desc === undefined) return;
  if (typeof desc.value === 'function') {
    const original = desc.value;
    __define(target, key, { __proto__: null, configurable: true, writable: true,
      value: function (...args) { note(this); for (let i = 0; i < args.length; i++) note(args[i]); return __apply(original, this, args); } });
  } else if (typeof desc.get === 'function') {
    const get = desc.get;
    __define(target, key, { __proto__: null, configurable: true, get() { note(this); return __apply(get, this, []); } });
  }
};
const TypedArray = Object.getPrototypeOf(Uint8Array.prototype);
for (const [target, keys] of [
  [Array.prototype, ['push', 'pop', 'join', 'slice', 'map', 'forEach', 'indexOf', 'includes', Symbol.iterator]],
  [Map.prototype, ['get', 'set', 'has', 'delete', 'forEach', 'size']],
  [Set.prototype, ['add', 'has', 'forEach', 'size']],
  [Promise.prototype, ['then', 'catch', 'finally']],
  [Promise, ['resolve', 'reject']],
  [String.prototype, ['slice', 'charCodeAt', 'indexOf', 'toLowerCase', 'toUpperCase', 'padStart']],
  [TypedArray, ['set', 'subarray', 'slice', 'buffer', 'byteLength', 'byteOffset']],
  [RegExp.prototype, ['exec', 'test']],
  [Function.prototype, ['call', 'apply', 'bind']],
  [Object, ['create', 'freeze', 'defineProperty', 'keys']],
  [Reflect, ['apply', 'construct', 'defineProperty', 'ownKeys', 'getOwnPropertyDescriptor']],
  [JSON, ['parse', 'stringify']],
  [Error, ['captureStackTrace']],
]) for (const key of keys) wrap(target, key);
for (const key of ['then', 'get', 'set', 'callback', 'deadline', 'live', 'queued', 'seq', 'args', 'text', 'bytes',
  'type', 'aborted', 'reason', 'ok', 'value', 'url', 'method', 'headers', 'body', 'signal', 'exports', 'default']) {
  __define(Object.prototype, key, { __proto__: null, configurable: true,
    get() { note(this); return undefined; }, set(v) { note(this); note(v); __define(this, key, { __proto__: null, value: v, writable: true, enumerable: true, configurable: true }); } });
}
`;

// Functions whose source marks them as kernel code (the prelude or a guest part), and kit-shaped objects.
const CHECK = `
const __fnText = Function.prototype.toString;
const MARKERS = ['ReflectApply', 'kernelError', 'encodeArgs', 'pending[', 'finish(', 'callSync', 'kit.', 'p.apply(',
  'p.promiseThen', 'LIBRARY_REQUEST', 'IndirectEval'];
const KIT_KEYS = ['callSync', 'uncaught', 'kernelError', 'require', 'enter', 'deliver'];
const findings = [];
const seen = new Set();
const inspect = (value, depth) => {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function') || seen.has(value) || depth > 2) return;
  seen.add(value);
  if (known.has(value)) return;
  if (typeof value === 'function') {
    let text = '';
    try { text = __apply(__fnText, value, []); } catch {}
    for (const marker of MARKERS) if (text.includes(marker)) findings.push('kernel function: ' + text.slice(0, 100));
  }
  let keys = [];
  try { keys = Reflect.ownKeys(value); } catch {}
  for (const key of keys) {
    if (KIT_KEYS.includes(key)) findings.push('kernel key: ' + String(key));
    const desc = __getDesc(value, key);
    if (desc !== undefined) { inspect(desc.value, depth + 1); inspect(desc.get, depth + 1); inspect(desc.set, depth + 1); }
  }
};
`;

const EXERCISE = `
  const out = {};
  await new Promise((resolve) => setTimeout(resolve, 5));
  let fired = false;
  setTimeout(() => { fired = true; }, 1);
  const interval = setInterval(() => {}, 1);
  clearInterval(interval);
  queueMicrotask(() => {});
  await new Promise((resolve) => setTimeout(resolve, 20));
  out.fired = fired;
  console.log('poisoned', { a: [1] }, new Map([[1, 2]]));
  out.text = new TextDecoder().decode(new TextEncoder().encode('hé'));
  out.b64 = atob(btoa('xy'));
  out.uuid = /^[0-9a-f-]{36}$/.test(crypto.randomUUID());
  crypto.getRandomValues(new Uint8Array(8));
  out.clone = structuredClone(new Map([[1, 'x']])).get(1);
  const controller = new AbortController();
  controller.signal.addEventListener('abort', () => {});
  controller.abort();
  out.aborted = controller.signal.aborted;
  const response = await fetch(origin + '/echo?x=1', { method: 'POST', headers: { 'x-a': 'b' }, body: 'hi' });
  out.status = response.status;
  out.body = await response.text();
  out.date = new Date(0).toString();
`;

describe('pass-through poisons see only agent data', () => {
  it('no poison is handed a kernel function or the kit, and everything still works', async () => {
    const result = await kernel.run({
      input: server.origin,
      code: `${PRELOAD}${POISON}${CHECK}
export default async function main(origin) {
  ${EXERCISE}
  const snapshot = [];
  for (let i = 0; i < handed.length; i++) snapshot[i] = handed[i];
  for (const value of snapshot) inspect(value, 0);
  return { out, findings, handed: snapshot.length };
}`,
    });
    expect(result.ok, JSON.stringify(result).slice(0, 2000)).toBe(true);
    if (!result.ok) return;
    const value = result.value as { out: Record<string, unknown>; findings: string[]; handed: number };
    expect(value.findings).toEqual([]);
    expect(value.handed).toBeGreaterThan(100);
    expect(value.out).toEqual({
      fired: true,
      text: 'hé',
      b64: 'xy',
      uuid: true,
      clone: 'x',
      aborted: true,
      status: 200,
      body: 'POST /echo?x=1 hi',
      date: 'Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)',
    });
    expect(server.requests.map((r) => [r.method, r.url, r.headers['x-a'], r.body.toString()])).toEqual([
      ['POST', '/echo?x=1', 'b', 'hi'],
    ]);
  });
});

describe('breaking poisons break only the agent', () => {
  it('a bundled library first loaded after Object.prototype is poisoned fails inside the agent only', async () => {
    const result = await kernel.run({
      code: `export default () => {
        Object.defineProperty(Object.prototype, 'get', { get() { return undefined; }, configurable: true });
        const outcome = (f) => { try { f(); return 'ok'; } catch (e) { return e.constructor.name; } };
        const first = [outcome(() => new URL('https://a.example/')), outcome(() => structuredClone(1))];
        delete Object.prototype.get;
        return first;
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['TypeError', 'TypeError'] });
    const next = await kernel.run({
      code: "export default () => [new URL('https://a.example/x').pathname, structuredClone(2)]",
    });
    expect(next).toMatchObject({ ok: true, value: ['/x', 2] });
  });

  it('throwing intrinsics and lying shim prototypes: the kernel receives what it checks, the host and the next agent are intact', async () => {
    const result = await kernel.run({
      input: server.origin,
      code: `export default async function main(origin) {
  const results = {};
  const attempt = async (name, f) => { try { results[name] = ['ok', await f()]; } catch (e) { results[name] = ['threw', String(e && e.code || e && e.name)]; } };
  Headers.prototype.get = () => 'forged';
  Response.prototype.text = async () => 'forged body';
  Object.defineProperty(AbortSignal.prototype, 'aborted', { get: () => true });
  for (const key of ['push', 'pop', 'join', Symbol.iterator]) Array.prototype[key] = () => { throw new Error('poisoned ' + String(key)); };
  Map.prototype.get = () => { throw new Error('poisoned get'); };
  Map.prototype.set = () => { throw new Error('poisoned set'); };
  Promise.prototype.then = function () { throw new Error('poisoned then'); };
  JSON.stringify = () => '{"url":"http://169.254.169.254/"}';
  JSON.parse = () => ({ status: 0 });
  Reflect.apply = () => { throw new Error('poisoned apply'); };
  Object.defineProperty(Object.prototype, 'url', { get: () => 'http://169.254.169.254/', set() {}, configurable: true });
  await attempt('timer', () => new Promise((resolve) => setTimeout(() => resolve('fired'), 5)));
  await attempt('fetch', async () => { const r = await fetch(origin + '/real'); return [r.status, r.headers.get('x'), await r.text()]; });
  await attempt('console', () => console.log('still', [1, 2]));
  await attempt('url', () => new URL('https://example.com/').host);
  return results;
}`,
    });
    expect(result.ok, JSON.stringify(result).slice(0, 2000)).toBe(true);
    if (!result.ok) return;
    const value = result.value as Record<string, [string, unknown]>;
    // The guest's own plumbing never used the poisoned intrinsics: the timer fired, the fetch went where the agent
    // asked (and only there) with the real reply, which the agent then read through its own forged methods.
    expect(value.timer).toEqual(['ok', 'fired']);
    expect(value.fetch).toEqual(['ok', [200, 'forged', 'forged body']]);
    expect(server.requests.map((r) => r.url)).toEqual(['/real']);
    // A fresh agent in the same kernel sees none of it.
    const next = await kernel.run({
      input: server.origin,
      code: `export default async (origin) => { const r = await fetch(origin + '/next'); return [typeof Headers.prototype.get, await r.text(), [1].join()]; }`,
    });
    expect(next).toMatchObject({ ok: true, value: ['function', 'GET /next ', '1'] });
  });
});
