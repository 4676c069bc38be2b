// Attack (red-team pass 117): read a PIN through the model endpoint's rate limit. An endpoint keeps state between
// callers (requests or tokens per minute, a spend cap, a cache), and `model.chat` labelled its answers with the
// caller's label alone. A `secret` agent, which policies let call the model (the loop needs the model to read what
// it read), sent one request of 4 × PIN characters against a 10,000-token-per-minute limit; a clean agent then
// tried requests of 2^13 … 2^0 tokens, added up those that passed and mailed 10,000 minus the sum: the PIN, under
// `[]`, in 14 calls. (The same with a count of requests: 4 bits a window.) The endpoint is now shared state, as an
// MCP server is: it keeps the label of every call sent to it, and every later answer or failure carries it.
// Review 119: a clean call already in flight when a secret call was sent was answered according to it (HTTP 429 and
// a retry, or not) and charged the retry under its clean label: a tokens_in kill or warning the host read under
// `[]`. What the endpoint keeps is now read again before every charge the answer decides.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel, KernelEvent } from '../../index.js';
import { createModelTool } from '../../tools/model.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { loopKernel } from '../helpers/loop-kernel.js';
import { answer, httpError, type ModelServer, startModelServer } from '../helpers/model-server.js';
import { PIN, pinVault, recordingSink } from '../helpers/web-and-mail.js';

const TOKENS_PER_WINDOW = 10_000;

// An honest endpoint: TOKENS_PER_WINDOW tokens (four characters each) in the window, then HTTP 429.
function tokenLimited(): Promise<ModelServer> {
  let used = 0;
  return startModelServer([], (request: { messages: { content?: unknown }[] }) => {
    const chars = request.messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.length : 0), 0);
    const tokens = Math.ceil(chars / 4);
    if (used + tokens > TOKENS_PER_WINDOW) return httpError(429, '{"error":{"message":"Rate limit reached"}}');
    used += tokens;
    return answer('ok');
  });
}

const WORKER = `export default async () => {
  const { pin } = await sys.tool('vault.read', {});
  await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'x'.repeat(4 * Number(pin)) }] });
  return await sys.label();
}`;

const READER = `export default async () => {
  let got = 0;
  for (let k = 13; k >= 0; k--) {
    try {
      await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'x'.repeat(4 * 2 ** k) }] });
      got += 2 ** k;
    } catch (error) {
      if (error.code !== 'E_TOOL_FAILED') throw error;
    }
  }
  const pin = String(${TOKENS_PER_WINDOW} - got);
  const mailed = await sys.tool('mail', { body: pin }).then(() => 'sent', (error) => error.code);
  return { pin, mailed, label: await sys.label() };
}`;

let kernel: Kernel | undefined;
let server: { close(): Promise<void> } | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  await server?.close();
  server = undefined;
});

// An honest endpoint that answers a waiting request by what the next one asks: the first `C…` request waits; a
// later request of at most 2,000 characters answers it briefly, a larger one by `large`: HTTP 429 (retry after 50
// ms), or an answer of 1,000 output tokens.
async function crowdSensitive(
  large: 'retry' | 'long answer',
): Promise<{ baseURL: string; waiting(): boolean; close(): Promise<void> }> {
  let held: ServerResponse | undefined;
  let asked = 0;
  const ok = (res: ServerResponse, out = 1) => {
    const { body } = answer('ok', { in: 1, out }) as { body: unknown };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const content = String(JSON.parse(Buffer.concat(chunks).toString('utf8')).messages[0].content);
      if (content.startsWith('C') && asked++ === 0) {
        held = res;
        return;
      }
      ok(res);
      const waiting = held;
      held = undefined;
      if (waiting === undefined || content.startsWith('C')) return;
      if (content.length <= 2000) ok(waiting);
      else if (large === 'long answer') ok(waiting, 1000);
      else waiting.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': '50' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    baseURL: `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1`,
    waiting: () => held !== undefined,
    close: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  async function attack(sharedState?: boolean) {
    const endpoint = await tokenLimited();
    server = endpoint;
    const sent: unknown[] = [];
    kernel = loopKernel(endpoint, {
      rules: [
        { action: 'vault.read', resource: 'vault.read' },
        { action: 'mail', resource: 'mail' },
      ],
      kernel: { isolation, tools: [pinVault, recordingSink('mail', ['secret'], sent)] },
      ...(sharedState === undefined ? {} : { model: { sharedState } }),
    });
    const worker = await kernel.run({ code: WORKER });
    expect(worker).toMatchObject({ ok: true, value: ['secret'] });
    const reader = await kernel.run({ code: READER });
    return { reader, sent };
  }

  it('a clean agent that reads the rate limit a secret agent moved is labelled by it; the sink refuses', async () => {
    const { reader, sent } = await attack();
    // The channel is still there (the endpoint is honest); what crosses it is labelled.
    expect(reader).toMatchObject({ ok: true, value: { pin: PIN, mailed: 'E_TAINT', label: ['secret'] } });
    expect(reader.label).toContain('secret');
    expect(sent).toEqual([]);
  });

  // Estimated at 5 input tokens a sending: a retry makes 10 (past 7; past 12's warning at 80%).
  it.each([
    ['retried', 'ended by its tokens_in', 'retry', { tokens_in: 7 }],
    ['retried', 'warned at its tokens_in', 'retry', { tokens_in: 12 }],
    ['answered at length', 'ended by its tokens_out', 'long answer', { tokens_out: 100 }],
  ] as const)(
    'a clean call in flight, %s because a secret call was sent, is %s under that label',
    async (_, __, large, limits) => {
      const endpoint = await crowdSensitive(large);
      server = endpoint;
      kernel = testKernel({
        isolation,
        policy: {
          capabilities: [
            { action: 'model.chat', resource: 'gpt-test' },
            { action: 'vault.read', resource: 'vault.read' },
          ],
        },
        tools: [pinVault, createModelTool({ baseURL: endpoint.baseURL, maxRetries: 1 })],
      });
      const warns: Extract<KernelEvent, { type: 'warn' }>[] = [];
      kernel.on('warn', (event) => warns.push(event));
      const clean = kernel.spawn({
        code: `export default async () => {
        await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'C' }] });
      }`,
        limits,
      });
      for (let i = 0; i < 400 && !endpoint.waiting(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
      expect(endpoint.waiting()).toBe(true);
      // The PIN is odd: a large request.
      const worker = await kernel.run({
        code: `export default async () => {
        const { pin } = await sys.tool('vault.read', {});
        const large = Number(pin) % 2 === 1;
        await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'S' + 'x'.repeat(large ? 4000 : 10) }] });
      }`,
      });
      expect(worker.ok).toBe(true);
      const result = await clean.result;
      expect(result.label).toContain('secret');
      if (!('tokens_in' in limits && limits.tokens_in === 12)) {
        expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
      } else {
        const crossed = warns.filter((event) => event.agent === clean.id && event.limit === 'tokens_in');
        expect(crossed.length).toBeGreaterThan(0);
        for (const event of crossed) expect(event.label).toContain('secret');
      }
    },
  );

  it('an endpoint the host declares stateless (sharedState: false) labels nothing it was not sent', async () => {
    const { reader, sent } = await attack(false);
    expect(reader).toMatchObject({ ok: true, value: { pin: PIN, mailed: 'sent', label: [] } });
    expect(sent).toEqual([{ body: PIN }]);
  });
});

it('a clean agent alone on an endpoint stays clean', async () => {
  const endpoint = await tokenLimited();
  server = endpoint;
  kernel = loopKernel(endpoint);
  const result = await kernel.run({
    code: `export default async () => {
      await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
      return await sys.label();
    }`,
  });
  expect(result).toMatchObject({ ok: true, value: [] });
});
