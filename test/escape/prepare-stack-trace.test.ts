// Attack: V8's structured stack traces (Error.prepareStackTrace, Error.captureStackTrace) expose
// getFunction()/getThis() of every frame that is not strict. Capture traces while the stub is on the stack
// (inside argument serialization, inside a kernel reply being settled, inside the report of main's
// failure) and try to pull the stub's functions or its pending-call records out of the frames. Then the
// Symbol.species family: a Promise subclass or a species getter that receives the stub's executors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { HOST_SECRETS, ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { PRELUDE_MARKERS } from './probes.js';

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

  // Installs a prepareStackTrace that records every frame. Frame functions and receivers the agent did not
  // make itself are described by their source text, so the host can look for kernel code in them.
  const RECORDER = `
const mine = new WeakSet();
const frames = [];
const fnText = Function.prototype.toString;
const describe = (v) => {
  if (v === undefined) return 'undefined';
  if (v === globalThis) return 'global';
  if ((typeof v === 'object' || typeof v === 'function') && v !== null && mine.has(v)) return 'mine';
  if (typeof v === 'function') return 'function:' + Reflect.apply(fnText, v, []).slice(0, 200);
  if (typeof v === 'object' && v !== null) return 'object:' + Reflect.ownKeys(v).map(String).join(',');
  return typeof v;
};
const record = (where, callsites) => {
  for (const c of callsites) {
    frames.push({
      where,
      fn: describe(c.getFunction()),
      self: describe(c.getThis()),
      file: String(c.getFileName()),
      evalOrigin: String(c.getEvalOrigin()),
      script: String(c.getScriptNameOrSourceURL()),
      name: String(c.getFunctionName()),
      type: (() => { try { return String(c.getTypeName()); } catch { return 'throws'; } })(),
    });
  }
};
Error.stackTraceLimit = Infinity;
Error.prepareStackTrace = (error, callsites) => { record(error.where ?? 'error', callsites); return 'stack'; };
// Sloppy helpers, so that frames above the stub are not censored and the walk reaches it.
const sloppy = Function('mine', 'record', \`
  const capture = function capture(where) { const o = { where }; Error.captureStackTrace(o); return o.stack; };
  mine.add(capture);
  const args = function args(where) {
    const o = {};
    Object.defineProperty(o, 'probe', { enumerable: true, get: function probe() { mine.add(this); capture(where); return 1; } });
    const outer = { toJSON: function toJSON() { mine.add(this); capture(where + ':toJSON'); return o; } };
    mine.add(o); mine.add(outer); mine.add(outer.toJSON); mine.add(Object.getOwnPropertyDescriptor(o, 'probe').get);
    return outer;
  };
  const then = function then(resolve) { capture('then'); delete Object.prototype.then; resolve(this); };
  mine.add(args); mine.add(then);
  return { capture, args, then };
\`)(mine, record);
mine.add(Error.prepareStackTrace);
`;

  function checkFrames(frames: Array<Record<string, string>>): void {
    expect(frames.length).toBeGreaterThan(0);
    for (const frame of frames) {
      for (const field of [frame.fn, frame.self]) {
        // Anything the agent did not make must be a built-in (native) or nothing at all.
        if (field?.startsWith('function:')) {
          expect(field, JSON.stringify(frame)).toMatch(/\{ \[native code\] \}$/);
          expect(field).not.toMatch(/enter|done|ivm|Callback|isokernel/i);
        }
        for (const marker of PRELUDE_MARKERS) expect(field ?? '', JSON.stringify(frame)).not.toContain(marker);
        // The pending-call record ({ resolve, reject }) must never be a frame's receiver.
        expect(field).not.toBe('object:resolve,reject');
      }
      for (const text of [frame.file, frame.evalOrigin, frame.script]) {
        for (const secret of HOST_SECRETS) expect(text ?? '').not.toContain(secret);
      }
    }
  }

  describe('prepareStackTrace / captureStackTrace inside sys calls', () => {
    it('frames inside argument serialization, replies and rejections expose no kernel function', async () => {
      const result = await kernel.run({
        code: `${RECORDER}
export default async function main() {
  await sys.tool('echo', sloppy.args('sync-args'));
  await sys.log(sloppy.args('log-args'));
  await sys.tool('sleep', { ms: 1 });
  for (const name of ['no-such-tool', 'fail', 'reject']) {
    try { await sys.tool(name, {}); } catch (e) { e.where = 'error:' + name; e.stack; }
  }
  try { await sys.tool('echo', 1n); } catch (e) { e.where = 'error:bigint'; e.stack; }
  // A then() planted on Object.prototype runs while the stub resolves an object reply.
  Object.prototype.then = sloppy.then;
  await sys.tool('echo', { x: 1 });
  // Deliveries that arrive later from the host (sleep is asynchronous).
  Object.prototype.then = sloppy.then;
  await sys.tool('sleep', { ms: 1 });
  // captureStackTrace with the stub's own functions as the constructorOpt.
  for (const fn of [sys.tool, sys.log]) { const o = { where: 'ctor-opt' }; Error.captureStackTrace(o, fn); o.stack; }
  return frames;
}`,
      });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      if (!result.ok) return;
      const frames = result.value as Array<Record<string, string>>;
      const wheres = new Set(frames.map((f) => f.where));
      for (const where of ['sync-args', 'sync-args:toJSON', 'log-args', 'error:no-such-tool', 'error:reject', 'then']) {
        expect(wheres.has(where), where).toBe(true);
      }
      // The stub is on these stacks, but censored: it is strict, so its frames carry no function or receiver.
      const stubFrames = frames.filter((f) => f.file === 'isokernel:prelude');
      expect(stubFrames.length).toBeGreaterThan(0);
      for (const frame of stubFrames) expect([frame.fn, frame.self]).toEqual(['undefined', 'undefined']);
      checkFrames(frames);
    });

    it("frames captured while the stub reports main's failure expose nothing either", async () => {
      // The message getter runs inside the stub's fail(); it reports what it saw through the message itself.
      const result = await kernel.run({
        code: `${RECORDER}
export default async function main() {
  const thrown = {};
  const message = Function('capture', 'frames', 'return function message() { capture("fail"); return JSON.stringify(frames); }')(sloppy.capture, frames);
  mine.add(thrown);
  mine.add(message);
  Object.defineProperty(thrown, 'message', { get: message });
  throw thrown;
}`,
      });
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.error.code).toBe('E_AGENT_FAILED');
      const frames = JSON.parse(result.error.message) as Array<Record<string, string>>;
      expect(frames.some((f) => f.file === 'isokernel:prelude')).toBe(true);
      checkFrames(frames);
    });
  });

  describe('Symbol.species and Promise subclass tricks', () => {
    const SPECIES = `
const captured = [];
const fnText = Function.prototype.toString;
class Evil extends Promise {
  constructor(executor) {
    captured.push(executor);
    super((resolve, reject) => { captured.push(resolve, reject); executor(resolve, reject); });
  }
}
Object.defineProperty(Promise, Symbol.species, { get: () => Evil, configurable: true });
Object.defineProperty(Promise.prototype, 'constructor', { value: Evil, configurable: true, writable: true });
const describeCaptured = () => captured.map((f) => typeof f === 'function' ? Reflect.apply(fnText, f, []).slice(0, 200) : typeof f);
`;

    it('a species constructor sees only built-in executors and resolvers, and replies stay correct', async () => {
      const result = await kernel.run({
        code: `${SPECIES}
export default async function main() {
  const echoed = await sys.tool('echo', { a: 1 });
  const chained = await sys.tool('echo', 2).then((v) => v + 1);
  let code;
  try { await sys.tool('reject', {}); } catch (e) { code = e.code; }
  let code2;
  await sys.tool('no-such-tool').catch((e) => { code2 = e.code; });
  await sys.log('x').finally(() => {});
  return { echoed, chained, code, code2, captured: describeCaptured() };
}`,
      });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      if (!result.ok) return;
      const value = result.value as {
        echoed: unknown;
        chained: number;
        code: string;
        code2: string;
        captured: string[];
      };
      expect(value.echoed).toEqual({ a: 1 });
      expect(value.chained).toBe(3);
      expect(value.code).toBe('E_TOOL_FAILED');
      expect(value.code2).toBe('E_NO_TOOL');
      expect(value.captured.length).toBeGreaterThan(0);
      for (const text of value.captured) expect(text).toMatch(/^function \(\) \{ \[native code\] \}$/);
    });

    it("main's own promise with a hostile species still reports exactly once, with a typed outcome", async () => {
      const variants = [
        // The species constructor swallows the executor: the stub's then() throws inside the guest.
        `class Sink { constructor() {} } Object.defineProperty(Promise.prototype, 'constructor', { value: { [Symbol.species]: Sink }, configurable: true });`,
        // The species getter throws.
        `Object.defineProperty(Promise.prototype, 'constructor', { get() { throw new Error('species boom'); }, configurable: true });`,
        // A subclass that resolves with a different value.
        `class Liar extends Promise { constructor(ex) { super((res, rej) => ex(() => res('lie'), rej)); } } Object.defineProperty(Promise.prototype, 'constructor', { value: Liar, configurable: true });`,
        // Promise.resolve and Promise.prototype.then replaced outright.
        `Promise.resolve = () => ({ then() {} }); Promise.prototype.then = function () { return this; };`,
      ];
      for (const poison of variants) {
        const result = await kernel.run({
          code: `export default function main() { ${poison} return Promise.resolve(42); }`,
          limits: { wall_ms: 1000 },
        });
        if (result.ok) expect([42, undefined], poison).toContain(result.value);
        else expect(['E_AGENT_FAILED', 'E_QUOTA'], poison).toContain(result.error.code);
      }
      // The kernel keeps working.
      const after = await kernel.run({ code: 'export default async function main() { return sys.tool("echo", 1); }' });
      expect(after).toMatchObject({ ok: true, value: 1 });
    });

    it('Array species and Array.prototype.constructor do not change what the tool receives', async () => {
      const result = await kernel.run({
        code: `
export default async function main() {
  class Evil extends Array { constructor(...a) { super(...a); this.push('evil'); } }
  Object.defineProperty(Array, Symbol.species, { get: () => Evil, configurable: true });
  Object.defineProperty(Array.prototype, 'constructor', { value: Evil, configurable: true });
  return sys.tool('echo', [1, [2, 3]]);
}`,
      });
      expect(result).toMatchObject({ ok: true, value: [1, [2, 3]] });
    });
  });
});
