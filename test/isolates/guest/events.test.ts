// Event, EventTarget, DOMException, AbortController and AbortSignal inside the guest (isolates/guest/events.cjs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../../index.js';
import { testKernel } from '../../helpers/kernel.js';

let kernel: Kernel;
beforeAll(() => {
  kernel = testKernel({ limits: { cpu_ms: 5000, wall_ms: 10_000 } });
});
afterAll(async () => {
  await kernel.close();
});

async function value(code: string): Promise<unknown> {
  const result = await kernel.run({ code });
  expect(result.ok, JSON.stringify(result)).toBe(true);
  return result.ok ? result.value : undefined;
}

describe('abort signals', () => {
  it('AbortController aborts its signal once: listeners, onabort, reason, throwIfAborted', async () => {
    const out = await value(`export default () => {
      const controller = new AbortController();
      const { signal } = controller;
      const seen = [];
      signal.addEventListener('abort', (e) => seen.push(['listener', e.type, e.target === signal]));
      signal.addEventListener('abort', () => seen.push(['once']), { once: true });
      signal.onabort = () => seen.push(['onabort']);
      controller.abort();
      controller.abort('again');
      let thrown;
      try { signal.throwIfAborted(); } catch (e) { thrown = [e.name, e.code, e instanceof DOMException, e instanceof Error]; }
      return { seen, aborted: signal.aborted, reason: signal.reason.name, thrown };
    }`);
    expect(out).toEqual({
      seen: [['listener', 'abort', true], ['once'], ['onabort']],
      aborted: true,
      reason: 'AbortError',
      thrown: ['AbortError', 20, true, true],
    });
  });

  it('AbortSignal.timeout aborts with a TimeoutError after the delay; AbortSignal.any follows the first', async () => {
    const out = await value(`export default async () => {
      const timeout = AbortSignal.timeout(20);
      const manual = new AbortController();
      const any = AbortSignal.any([manual.signal, timeout]);
      const before = [timeout.aborted, any.aborted];
      await new Promise((r) => setTimeout(r, 60));
      const already = AbortSignal.any([AbortSignal.abort('why')]);
      return { before, after: [timeout.aborted, timeout.reason.name, any.reason.name], already: already.reason };
    }`);
    expect(out).toEqual({ before: [false, false], after: [true, 'TimeoutError', 'TimeoutError'], already: 'why' });
  });

  it('forged signals are refused; the constructor is illegal', async () => {
    const out = await value(`export default () => {
      const name = (f) => { try { f(); return 'accepted'; } catch (e) { return e.constructor.name; } };
      const fake = Object.create(AbortSignal.prototype);
      return [
        name(() => new AbortSignal()),
        name(() => fake.aborted),
        name(() => new EventTarget().addEventListener('x', () => {}, { signal: { aborted: false } })),
        name(() => AbortSignal.any([{}])),
      ];
    }`);
    expect(out).toEqual(['TypeError', 'TypeError', 'TypeError', 'TypeError']);
  });
});

describe('EventTarget and Event', () => {
  it('dispatches to listeners in order, honours once, signal, removal, handleEvent and preventDefault', async () => {
    const out = await value(`export default () => {
      const target = new EventTarget();
      const seen = [];
      const a = () => seen.push('a');
      target.addEventListener('ping', a);
      target.addEventListener('ping', a);
      target.addEventListener('ping', { handleEvent: (e) => seen.push('object:' + e.type) });
      const stop = new AbortController();
      target.addEventListener('ping', () => seen.push('until-abort'), { signal: stop.signal });
      target.addEventListener('ping', (e) => { e.preventDefault(); seen.push('cancel'); }, { once: true });
      const first = target.dispatchEvent(new Event('ping', { cancelable: true }));
      stop.abort();
      target.removeEventListener('ping', a);
      const second = target.dispatchEvent(new Event('ping', { cancelable: true }));
      return { seen, first, second, phases: [Event.AT_TARGET, new Event('x').eventPhase] };
    }`);
    expect(out).toEqual({
      seen: ['a', 'object:ping', 'until-abort', 'cancel', 'object:ping'],
      first: false,
      second: true,
      phases: [2, 0],
    });
  });

  it('a listener that throws ends the agent with its message', async () => {
    const result = await kernel.run({
      code: `export default async () => {
        const c = new AbortController();
        c.signal.addEventListener('abort', () => { throw new Error('listener boom'); });
        c.abort();
        await new Promise((r) => setTimeout(r, 50));
        return 'survived';
      }`,
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_AGENT_FAILED', message: 'listener boom' } });
  });

  it('DOMException has the web shape', async () => {
    const out = await value(`export default () => {
      const e = new DOMException('nope', 'NotFoundError');
      return [e.name, e.message, e.code, String(e), e instanceof Error, new DOMException().name, Object.prototype.toString.call(e)];
    }`);
    expect(out).toEqual(['NotFoundError', 'nope', 8, 'NotFoundError: nope', true, 'Error', '[object DOMException]']);
  });
});
