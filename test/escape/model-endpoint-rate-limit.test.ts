// Attack (red-team pass 117): read a PIN through the model endpoint's rate limit. An endpoint keeps state between
// callers (requests or tokens per minute, a spend cap, a cache), and `model.chat` labelled its answers with the
// caller's label alone. A `secret` agent, which policies let call the model (the loop needs the model to read what
// it read), sent one request of 4 × PIN characters against a 10,000-token-per-minute limit; a clean agent then
// tried requests of 2^13 … 2^0 tokens, added up those that passed and mailed 10,000 minus the sum: the PIN, under
// `[]`, in 14 calls. (The same with a count of requests: 4 bits a window.) The endpoint is now shared state, as an
// MCP server is: it keeps the label of every call sent to it, and every later answer or failure carries it.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';
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
let server: ModelServer | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  await server?.close();
  server = undefined;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  async function attack(sharedState?: boolean) {
    server = await tokenLimited();
    const sent: unknown[] = [];
    kernel = loopKernel(server, {
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

  it('an endpoint the host declares stateless (sharedState: false) labels nothing it was not sent', async () => {
    const { reader, sent } = await attack(false);
    expect(reader).toMatchObject({ ok: true, value: { pin: PIN, mailed: 'sent', label: [] } });
    expect(sent).toEqual([{ body: PIN }]);
  });
});

it('a clean agent alone on an endpoint stays clean', async () => {
  server = await tokenLimited();
  kernel = loopKernel(server);
  const result = await kernel.run({
    code: `export default async () => {
      await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
      return await sys.label();
    }`,
  });
  expect(result).toMatchObject({ ok: true, value: [] });
});
