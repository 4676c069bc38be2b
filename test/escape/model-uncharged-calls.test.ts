// Attack (red-team pass 66): make a model endpoint read, and bill, prompts the kernel never charges. `model.chat`
// charged only after a parsed answer, so every call that ended another way was free:
// - a child that fires its calls and returns ends them (an agent's end aborts its calls in flight): a tree under
//   `tokens_in: 1000` had the endpoint read 4.8M prompt tokens, charged nothing;
// - a call past its deadline, or answered with an HTTP error, likewise;
// - the estimate of a prompt left out `response_format`'s schema (614,000 characters beside "hi": one token), and
//   (pass 69) tool calls' ids (990 KB of them: 101 tokens), and (pass 70) empty content parts (1 MB: 600 tokens);
// - an endpoint's count was believed as given (0 tokens for a 900 KB prompt).
// The estimate of the whole request is now charged before it is sent, and the endpoint's count replaces it only
// where higher; a call cut short keeps `max_tokens` of output charged when the agent set it. Pass 67 on that fix:
// the SDK's retries sent the prompt three times for one charge, and an answer refused unparsed (too large, too
// complex) was asked for again, its output charged nothing: each sending is charged now, a refused answer is
// not retried, and what was read of an answer nobody parsed is charged as output.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { createModelTool } from '../../tools/model.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import {
  answer,
  delayed,
  httpError,
  type ModelServer,
  type StepReply,
  startModelServer,
} from '../helpers/model-server.js';

const PRICES = { '*': { input: 5, output: 15 } };
const PROMPT_CHARS = 120_000;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  let server: ModelServer | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await server?.close();
    server = undefined;
  });

  /** An endpoint that answers each request after `delayMs` with `reply` (its own count by default). */
  async function makeKernel(delayMs: number, reply?: StepReply, timeoutMs?: number, maxRetries = 0): Promise<Kernel> {
    server = await startModelServer([], delayed(delayMs, reply ?? answer('ok', { in: PROMPT_CHARS / 4, out: 1 })));
    kernel = testKernel({
      isolation,
      tools: [
        createModelTool({
          baseURL: server.baseURL,
          maxRetries,
          prices: PRICES,
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        }),
      ],
      policy: {
        capabilities: [
          { action: 'model.chat', resource: 'gpt-test' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    return kernel;
  }

  it('attack: children fire big prompts and return before the answers: the tree is charged, the budget holds', async () => {
    const k = await makeKernel(600);
    const child = `export default async () => {
  for (let i = 0; i < 4; i++) sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'x'.repeat(${PROMPT_CHARS}) + i }] }).catch(() => {});
  await new Promise((r) => setTimeout(r, 100));
  return 'done';
}`;
    const result = await k.run({
      code: `export default async () => {
  const cap = (await sys.caps()).find((c) => c.action === 'model.chat');
  for (let k = 0; k < 5; k++) {
    const id = await sys.spawn({ code: ${JSON.stringify(child)}, caps: [{ from: cap.id, action: 'model.chat' }] });
    await sys.join(id);
  }
  return 'spent';
}`,
      limits: { tokens_in: 100_000, wall_ms: 60_000 },
    });
    // Each prompt is charged (30,001 estimated tokens) before it is sent: the fourth crosses the tree's budget,
    // which ends it. Before, the run ended ok with tokens_in 0 after the endpoint read 20 prompts.
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
    expect(result.usage.tokens_in).toBeGreaterThanOrEqual(server!.chats.length * (PROMPT_CHARS / 4));
    expect(server!.chats.length).toBeLessThanOrEqual(3);
  });

  it('a call past its deadline is charged its prompt and the max_tokens it allowed', async () => {
    const k = await makeKernel(2_000, undefined, 300);
    const result = await k.run({
      code: `export default async () => sys.tool('model.chat', { model: 'gpt-test', max_tokens: 1000, messages: [{ role: 'user', content: 'x'.repeat(4000) }] }).catch((e) => e.message)`,
    });
    expect(result).toMatchObject({ ok: true, value: 'model.chat: the endpoint timed out' });
    // 4,000 characters and a message's framing (16): 1,004 tokens.
    expect(result.usage).toMatchObject({ tokens_in: 1004, tokens_out: 1000 });
    expect(result.usage.cost_usd).toBeCloseTo((1004 * 5 + 1000 * 15) / 1e6, 9);
  });

  it("attack: a response format's schema the model reads is counted: its size crosses the budget before it is sent", async () => {
    const k = await makeKernel(0, answer('{}', null));
    const properties = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`field_${i}`, { type: 'string' }]));
    const result = await k.run({
      code: `export default async () => sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }],
  response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: ${JSON.stringify(properties)} } } } })`,
      limits: { tokens_in: 1000 },
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: tokens_in' } });
    expect(server!.chats).toHaveLength(0);
  });

  it("attack: tool calls' ids the model reads are counted: 128 of 256 characters cross the budget before sending", async () => {
    const k = await makeKernel(0, answer('{}', null));
    const result = await k.run({
      code: `export default async () => {
  const calls = Array.from({ length: 128 }, (_, i) => ({ id: String(i).padStart(256, 'x'), type: 'function', function: { name: '', arguments: '' } }));
  return sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, tool_calls: calls }] });
}`,
      limits: { tokens_in: 1000 },
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: tokens_in' } });
    expect(server!.chats).toHaveLength(0);
  });

  it('attack: empty content parts are counted for their framing: 38,400 of them cross the budget before sending', async () => {
    const k = await makeKernel(0, answer('{}', null));
    const result = await k.run({
      code: `export default async () => {
  const content = Array.from({ length: 256 }, () => ({ type: 'text', text: '' }));
  return sys.tool('model.chat', { model: 'gpt-test', messages: Array.from({ length: 150 }, () => ({ role: 'user', content })) });
}`,
      limits: { tokens_in: 10_000 },
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: tokens_in' } });
    expect(server!.chats).toHaveLength(0);
  });

  it('attack: an endpoint that counts a 900 KB prompt as 0 tokens is charged the estimate', async () => {
    const k = await makeKernel(0, answer('ok', { in: 0, out: 0 }));
    const result = await k.run({
      code: `export default async () => (await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'x'.repeat(900000) }] })).usage`,
    });
    expect(result).toMatchObject({ ok: true, value: { tokens_in: 225_004, tokens_out: 0, estimated: true } });
    expect(result.usage.tokens_in).toBe(225_004);
  });

  it("attack: the SDK's retries send the prompt again: each sending is charged", async () => {
    const k = await makeKernel(0, httpError(503), undefined, 2);
    const result = await k.run({
      code: `export default async () => sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'x'.repeat(40000) }] }).catch((e) => e.message)`,
    });
    expect(result).toMatchObject({ ok: true, value: 'model.chat: the endpoint answered HTTP 503' });
    expect(server!.chats).toHaveLength(3);
    // Three sendings of 40,000 characters and a message's framing (10,004 tokens each).
    expect(result.usage.tokens_in).toBe(3 * 10_004);
  });

  it('an answer refused unparsed is not asked for again, and what was read of it is charged as output', async () => {
    const deep = `{"choices":${'['.repeat(100)}${']'.repeat(100)},"pad":"${'x'.repeat(40_000)}"}`;
    const k = await makeKernel(
      0,
      { kind: 'raw', status: 200, contentType: 'application/json', text: deep },
      undefined,
      2,
    );
    const result = await k.run({
      code: `export default async () => sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e.message)`,
    });
    expect(result).toMatchObject({
      ok: true,
      value: "model.chat: the endpoint's answer nests too deep or holds too many values",
    });
    expect(server!.chats).toHaveLength(1);
    expect(result.usage.tokens_out).toBe(Math.ceil(deep.length / 4));
  });
});
