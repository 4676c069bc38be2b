// Attack (red-team pass 66): a hostile model endpoint answers a valid chat completion, under the 8 MiB size cap,
// padded with a field the kernel never reads, shaped to be costly to parse: millions of empty arrays, arrays
// nested millions deep, objects of unique keys. The SDK parsed it on the kernel's event loop: one such answer
// held the loop 0.7-1.8 s and grew the kernel's heap by about 470 MB, charged to no one; four trees at once, 4.8 s.
// The answer is now read whole and its JSON shape bounded (depth 64, 200,000 values) before anything parses it.
//
// Red-team pass 124: what the bound let through was still decoded, scanned, parsed (by the SDK) and checked on the
// kernel's loop after the tool's first await, charged to nobody: an answer of 8 MiB of escapes held the loop about
// 0.4 s a turn, 2,000 objects of 99 distinct keys (197,000 values) 1-1.7 s, for 3 ms of kernel time. All of it now
// runs under the call's meter, the SDK is handed only the fields the tool reads, and the bound is 20,000 values.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { createModelTool } from '../../tools/model.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { answer, callTools, type ModelServer, startModelServer } from '../helpers/model-server.js';
import { longestGap } from '../helpers/stall.js';

const SIZE = 8 * 1024 * 1024 - 4096;
const HEAD =
  '{"id":"x","object":"chat.completion","created":1,"model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1},"pad":';

function padded(kind: 'wide' | 'deep' | 'keys'): string {
  const room = SIZE - HEAD.length - 1;
  if (kind === 'wide') return `${HEAD}[${'[],'.repeat(Math.floor(room / 3) - 1)}[]]}`;
  if (kind === 'deep') {
    const depth = Math.floor(room / 2);
    return `${HEAD}${'['.repeat(depth)}${']'.repeat(depth)}}`;
  }
  const keys: string[] = [];
  for (let i = 0, length = 2; length < room - 40; i++) {
    const key = `{"k${i.toString(36)}":0}`;
    keys.push(key);
    length += key.length + 1;
  }
  return `${HEAD}[${keys.join(',')}]}`;
}

// Well above reading and scanning 8 MiB (about 20-60 ms), well below the 0.7 s and more a parse took.
const STALL_BOUND_MS = 400;

describe('a model answer shaped to be costly to parse', () => {
  let kernel: Kernel | undefined;
  let server: ModelServer | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await server?.close();
    server = undefined;
  });

  it.each(['wide', 'deep', 'keys'] as const)(
    'attack: %s padding is refused unparsed, and the loop keeps turning',
    async (kind) => {
      const text = padded(kind);
      server = await startModelServer([], { kind: 'raw', status: 200, contentType: 'application/json', text });
      kernel = testKernel({
        isolation: 'process',
        tools: [createModelTool({ baseURL: server.baseURL, maxRetries: 0 })],
        policy: { capabilities: [{ action: 'model.chat', resource: 'gpt-test' }] },
      });
      const running = kernel;
      const { value: result, gapMs } = await longestGap(() =>
        running.run({
          code: `export default async () => {
  const out = await Promise.allSettled(Array.from({ length: 4 }, () => sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] })));
  return out.map((o) => (o.status === 'fulfilled' ? 'answered' : o.reason.message));
}`,
          limits: { wall_ms: 60_000 },
        }),
      );
      expect(result).toMatchObject({
        ok: true,
        value: Array(4).fill("model.chat: the endpoint's answer nests too deep or holds too many values"),
      });
      expect(gapMs).toBeLessThan(STALL_BOUND_MS);
    },
  );

  it('attack: 2,000 objects of 99 distinct keys (costly maps, under the old bound) are refused unparsed', async () => {
    const objects = Array.from({ length: 1990 }, (_, i) => {
      const keys = Array.from({ length: 99 }, (_, k) => `"k${i}_${k}":0`);
      return `{${keys.join(',')}}`;
    });
    server = await startModelServer([], {
      kind: 'raw',
      status: 200,
      contentType: 'application/json',
      text: `${HEAD}[${objects.join(',')}]}`,
    });
    kernel = testKernel({
      tools: [createModelTool({ baseURL: server.baseURL, maxRetries: 0 })],
      policy: { capabilities: [{ action: 'model.chat', resource: 'gpt-test' }] },
    });
    const result = await kernel.run({
      code: `export default async () => { try { await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }); } catch (e) { return e.message; } }`,
    });
    expect(result).toMatchObject({
      ok: true,
      value: "model.chat: the endpoint's answer nests too deep or holds too many values",
    });
  });

  describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
    it("attack: an answer of 8 MiB of escapes is decoded, scanned and parsed on the caller's meter", async () => {
      const room = SIZE - HEAD.length - 4;
      server = await startModelServer([], {
        kind: 'raw',
        status: 200,
        contentType: 'application/json',
        text: `${HEAD}"${'\\u0001'.repeat(Math.floor(room / 6))}"}`,
      });
      kernel = testKernel({
        isolation,
        tools: [createModelTool({ baseURL: server.baseURL, maxRetries: 0 })],
        policy: { capabilities: [{ action: 'model.chat', resource: 'gpt-test' }] },
      });
      const running = kernel;
      // The time this process's loop stood still past a 5 ms interval's own period, all of it.
      let held = 0;
      let last = performance.now();
      const timer = setInterval(() => {
        const now = performance.now();
        held += Math.max(0, now - last - 5);
        last = now;
      }, 5);
      let result: Awaited<ReturnType<Kernel['run']>>;
      try {
        result = await running.run({
          code: `export default async () => {
            for (let i = 0; i < 3; i++) await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
            return 'answered';
          }`,
          limits: { wall_ms: 60_000 },
        });
      } finally {
        clearInterval(timer);
      }
      expect(result).toMatchObject({ ok: true, value: 'answered' });
      // Before: 3 answers held the loop 290-460 ms for 3 ms of kernel time (a ratio of 0.01); now 0.35-0.45, the
      // rest being the body's arrival in chunks, this process's model server writing it, and collections.
      expect(result.usage.kernel_ms, `held ${held.toFixed(0)} ms`).toBeGreaterThan(0.2 * held);
    }, 120_000);
  });

  it('an ordinary answer with 128 tool calls still passes the shape bound', async () => {
    const calls = Array.from({ length: 128 }, (_, i) => ({
      name: 'noop',
      arguments: { index: i, text: 'x'.repeat(1000) },
    }));
    server = await startModelServer([callTools(calls)], answer('done'));
    kernel = testKernel({
      tools: [createModelTool({ baseURL: server.baseURL, maxRetries: 0 })],
      policy: { capabilities: [{ action: 'model.chat', resource: 'gpt-test' }] },
    });
    const result = await kernel.run({
      code: `export default async () => (await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] })).message.tool_calls.length`,
    });
    expect(result).toMatchObject({ ok: true, value: 128 });
  });
});
