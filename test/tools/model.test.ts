import { createServer } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPolicy } from '../../index.js';
import { createModelTool, type ModelOptions, modelOptionsFromConfig, modelPolicySection } from '../../tools/model.js';
import { completionJson, parseCompletion } from '../../tools/model-messages.js';
import { testKernel } from '../helpers/kernel.js';
import {
  answer,
  callTools,
  garbage,
  httpError,
  type ModelServer,
  type Step,
  startModelServer,
} from '../helpers/model-server.js';
import { webAndMailKernel } from '../helpers/web-and-mail.js';

const servers: ModelServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  delete process.env['ISOKERNEL_TEST_MODEL_KEY'];
});

async function endpoint(...steps: Step[]): Promise<ModelServer> {
  const server = await startModelServer(steps);
  servers.push(server);
  return server;
}

const MODEL_POLICY = { capabilities: [{ action: 'model.chat', resource: 'gpt-4o' }] };
const ASK = `export default async (input) => sys.tool('model.chat', input)`;
const hello = (model = 'gpt-4o') => ({ model, messages: [{ role: 'user', content: 'hello' }] });

async function runWith(
  options: Partial<ModelOptions> & { baseURL: string },
  input: unknown,
  extra: Parameters<typeof testKernel>[0] = {},
) {
  const kernel = testKernel({
    policy: MODEL_POLICY,
    ...extra,
    tools: [createModelTool({ maxRetries: 0, ...options })],
  });
  try {
    return await kernel.run({ code: ASK, input });
  } finally {
    await kernel.close();
  }
}

describe('model.chat', () => {
  it('returns the assistant message and charges the reported usage with the configured price', async () => {
    const server = await endpoint(answer('hi there', { in: 1000, out: 500 }));
    const result = await runWith(
      { baseURL: server.baseURL, prices: { 'gpt-4o': { input: 2.5, output: 10 } } },
      hello(),
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value).toMatchObject({
      message: { role: 'assistant', content: 'hi there' },
      finish_reason: 'stop',
      usage: { tokens_in: 1000, tokens_out: 500, estimated: false },
      cost_usd: 0.0075,
    });
    expect(result.usage).toMatchObject({ tokens_in: 1000, tokens_out: 500, cost_usd: 0.0075, tool_calls: 1 });
    expect(server.chats[0]).toMatchObject({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] });
  });

  it('estimates usage when the endpoint reports none, and says so', async () => {
    const server = await endpoint(answer('x'.repeat(40), null));
    const result = await runWith({ baseURL: server.baseURL }, hello());
    expect(result.ok && result.value).toMatchObject({
      usage: { tokens_in: 6, tokens_out: 10, estimated: true },
      cost_usd: null,
    });
    // 'hello' and a message's framing (16 characters): 21 characters, 6 tokens.
    expect(result.usage).toMatchObject({ tokens_in: 6, tokens_out: 10, cost_usd: 0 });
  });

  it('prices a model by glob when it has no exact entry', async () => {
    const server = await endpoint(answer('ok', { in: 1_000_000, out: 0 }));
    const result = await runWith(
      { baseURL: server.baseURL, prices: { 'gpt-4*': { input: 1, output: 1 }, '*': { input: 9, output: 9 } } },
      hello(),
    );
    expect(result.ok && result.value).toMatchObject({ cost_usd: 1 });
  });

  it('refuses a model the policy does not allow, before the endpoint hears of it', async () => {
    const server = await endpoint(answer('never'));
    const result = await runWith({ baseURL: server.baseURL }, hello('gpt-5'));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('E_AGENT_FAILED');
    expect(result.error.message).toMatch(/model\.chat/);
    expect(server.requests).toHaveLength(0);
  });

  it('refuses tool definitions the model API would refuse (E_BAD_ARG)', async () => {
    const server = await endpoint(answer('never'));
    const kernel = testKernel({
      policy: MODEL_POLICY,
      tools: [createModelTool({ baseURL: server.baseURL, maxRetries: 0 })],
    });
    const result = await kernel.run({
      code: `export default async () => {
        try { await sys.tool('model.chat', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }],
          tools: [{ type: 'function', function: { name: 'fs.read' } }] }); }
        catch (e) { return e.code; } }`,
    });
    await kernel.close();
    expect(result.ok && result.value).toBe('E_BAD_ARG');
    expect(server.requests).toHaveLength(0);
  });

  it('labels the answer with the labels of every message sent (a handle passed in is joined)', async () => {
    const server = await endpoint(answer('summary'));
    const { kernel } = webAndMailKernel('page text');
    kernel.tools.add(createModelTool({ baseURL: server.baseURL, maxRetries: 0 }));
    const grant = { action: 'model.chat', resource: 'gpt-4o' };
    const result = await kernel.run({
      caps: [grant],
      code: `export default async () => {
        const page = await sys.tool('fetch', {}, { handle: true });
        const before = await sys.label();
        const reply = await sys.tool('model.chat', { model: 'gpt-4o', messages: [{ role: 'user', content: page }] }, { handle: true });
        const kept = await sys.label();
        const text = await sys.read(reply);
        return { before, kept, after: await sys.label(), text: text.message.content };
      }`,
    });
    await kernel.close();
    expect(result.ok && result.value).toEqual({ before: [], kept: [], after: ['web'], text: 'summary' });
    expect(server.chats[0]?.messages[0]?.content).toBe('page text');
  });

  it('sends the key from the host environment as a bearer token and scrubs it from what the endpoint echoes', async () => {
    process.env['ISOKERNEL_TEST_MODEL_KEY'] = 'sk-test-secret-123456';
    const server = await endpoint(answer('your key is sk-test-secret-123456'));
    const result = await runWith({ baseURL: server.baseURL, apiKeyEnv: 'ISOKERNEL_TEST_MODEL_KEY' }, hello());
    expect(server.requests[0]?.headers['authorization']).toBe('Bearer sk-test-secret-123456');
    expect(JSON.stringify(result)).not.toContain('sk-test-secret');
    expect(result.ok && result.value).toMatchObject({ message: { content: 'your key is [model api key]' } });
  });

  it('scrubs the key an endpoint echoes base64-encoded, \\u-escaped or percent-encoded (red-team pass 105)', async () => {
    process.env['ISOKERNEL_TEST_MODEL_KEY'] = 'sk-test-secret-123456';
    const base64 = Buffer.from('sk-test-secret-123456').toString('base64');
    const server = await endpoint(answer(`key: ${base64} / \\u0073k-test-secret-123456 / sk%2dtest-secret-123456`));
    const result = await runWith({ baseURL: server.baseURL, apiKeyEnv: 'ISOKERNEL_TEST_MODEL_KEY' }, hello());
    expect(result.ok && result.value).toMatchObject({
      message: { content: 'key: [model api key] / [model api key] / [model api key]' },
    });
  });

  it('an answer to messages that hold the key, or one the key was scrubbed from, carries `secret`', async () => {
    process.env['ISOKERNEL_TEST_MODEL_KEY'] = 'sk-test-secret-123456';
    const server = await endpoint(answer('noted'), answer('noted'), answer('your key is sk-test-secret-123456'));
    const kernel = testKernel({
      policy: MODEL_POLICY,
      tools: [createModelTool({ maxRetries: 0, baseURL: server.baseURL, apiKeyEnv: 'ISOKERNEL_TEST_MODEL_KEY' })],
    });
    const chat = (content: string) =>
      kernel.run({
        code: `export default async () => {
          await sys.tool('model.chat', { model: 'gpt-4o', messages: [{ role: 'user', content: ${JSON.stringify(content)} }] });
          return sys.label();
        }`,
      });
    try {
      const guessed = await chat('is it sk-test-secret-123456 or sk-test-secret-654321?');
      expect(guessed.ok && guessed.value).toEqual(['secret']);
      const plain = await chat('hello');
      expect(plain.ok && plain.value).toEqual([]);
      const echoed = await chat('hello');
      expect(echoed.ok && echoed.value).toEqual(['secret']);
    } finally {
      await kernel.close();
    }
  });

  it('sends no Authorization header when the host has no key', async () => {
    const server = await endpoint(answer('ok'));
    await runWith({ baseURL: server.baseURL }, hello());
    expect(server.requests[0]?.headers['authorization']).toBeUndefined();
  });

  it('takes the key from the vault when a bearer binding matches the call, and scrubs it', async () => {
    const server = await endpoint(answer('echo sk-vault-987654321'));
    const kernel = testKernel({
      policy: MODEL_POLICY,
      tools: [createModelTool({ baseURL: server.baseURL, maxRetries: 0 })],
    });
    kernel.vault.set('openai', 'sk-vault-987654321', {
      bind: { action: 'model.chat', resource: '*' },
      inject: { bearer: true },
    });
    const result = await kernel.run({ code: ASK, input: hello() });
    await kernel.close();
    expect(server.requests[0]?.headers['authorization']).toBe('Bearer sk-vault-987654321');
    expect(JSON.stringify(result)).not.toContain('sk-vault');
  });

  it('ends the agent with E_QUOTA when the reported usage crosses its token budget', async () => {
    const server = await endpoint(answer('one', { in: 10, out: 1 }), answer('two', { in: 10, out: 1 }));
    const kernel = testKernel({
      policy: MODEL_POLICY,
      tools: [createModelTool({ baseURL: server.baseURL, maxRetries: 0 })],
    });
    const result = await kernel.run({
      limits: { tokens_in: 15 },
      code: `export default async () => {
        await sys.tool('model.chat', { model: 'gpt-4o', messages: [{ role: 'user', content: 'a' }] });
        await sys.tool('model.chat', { model: 'gpt-4o', messages: [{ role: 'user', content: 'b' }] });
        return 'unreachable';
      }`,
    });
    await kernel.close();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toEqual({ code: 'E_QUOTA', message: 'quota exceeded: tokens_in' });
    expect(result.usage.tokens_in).toBe(20);
  });

  describe('typed errors with fixed messages', () => {
    const failing = async (options: Partial<ModelOptions> & { baseURL: string }) => {
      const kernel = testKernel({ policy: MODEL_POLICY, tools: [createModelTool({ maxRetries: 0, ...options })] });
      const result = await kernel.run({
        code: `export default async () => {
          try { await sys.tool('model.chat', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }); return 'no error'; }
          catch (e) { return { code: e.code, message: e.message }; } }`,
      });
      await kernel.close();
      return result.ok ? result.value : result.error;
    };

    it('the endpoint down', async () => {
      const port = await closedPort();
      expect(await failing({ baseURL: `http://127.0.0.1:${port}/v1` })).toEqual({
        code: 'E_TOOL_FAILED',
        message: 'model.chat: the endpoint could not be reached',
      });
    });

    it('JSON that is not a chat completion, and text that is not JSON', async () => {
      const server = await endpoint(garbage('json'), garbage('text'));
      const expected = { code: 'E_TOOL_FAILED', message: "model.chat: the endpoint's answer is not a chat completion" };
      expect(await failing({ baseURL: server.baseURL })).toEqual(expected);
      expect(await failing({ baseURL: server.baseURL })).toEqual(expected);
    });

    it('an HTTP error, without retries and without the endpoint’s text', async () => {
      const server = await endpoint(httpError(500, '{"error":{"message":"internal detail /srv/secret"}}'));
      expect(await failing({ baseURL: server.baseURL })).toEqual({
        code: 'E_TOOL_FAILED',
        message: 'model.chat: the endpoint answered HTTP 500',
      });
      expect(server.requests).toHaveLength(1);
    });

    it('an answer without a body (204, 205, 304) is one request, refused as it was, not retried (review 126)', async () => {
      for (const [status, message] of [
        [204, "model.chat: the endpoint's answer is not a chat completion"],
        [205, "model.chat: the endpoint's answer is not a chat completion"],
        [304, 'model.chat: the endpoint answered HTTP 304'],
      ] as const) {
        const server = await endpoint(httpError(status, ''));
        expect(await failing({ baseURL: server.baseURL, maxRetries: 2 }), String(status)).toEqual({
          code: 'E_TOOL_FAILED',
          message,
        });
        expect(server.requests, String(status)).toHaveLength(1);
      }
    });

    it('an endpoint that never answers is timed out', async () => {
      const server = await endpoint({ kind: 'hang' });
      expect(await failing({ baseURL: server.baseURL, timeoutMs: 300 })).toEqual({
        code: 'E_TOOL_FAILED',
        message: 'model.chat: the endpoint timed out',
      });
    });

    it('an answer over the size cap', async () => {
      const server = await endpoint(answer('y'.repeat(5000)));
      expect(await failing({ baseURL: server.baseURL, maxResponseBytes: 1000 })).toEqual({
        code: 'E_TOOL_FAILED',
        message: "model.chat: the endpoint's answer exceeds the size cap",
      });
    });
  });

  it('passes tool definitions and returns the tool calls the model made', async () => {
    const server = await endpoint(callTools([{ name: 'fs_read', arguments: { path: 'a.txt' } }]));
    const result = await runWith(
      { baseURL: server.baseURL },
      {
        ...hello(),
        tools: [{ type: 'function', function: { name: 'fs_read', parameters: { type: 'object' } } }],
      },
    );
    expect(result.ok && result.value).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        content: null,
        tool_calls: [{ type: 'function', function: { name: 'fs_read', arguments: '{"path":"a.txt"}' } }],
      },
    });
    expect(server.chats[0]?.tools?.[0]?.function.name).toBe('fs_read');
  });
});

describe('completionJson', () => {
  it('law: what parseCompletion read of an answer, written and read again, is the same (the SDK sees only that)', () => {
    const text = fc.option(fc.string(), { nil: null });
    const call = fc.record({
      id: fc.string({ minLength: 1, maxLength: 20 }),
      type: fc.constant('function' as const),
      function: fc.record({ name: fc.string({ maxLength: 20 }), arguments: fc.string() }),
    });
    const answer = fc.record(
      {
        model: fc.string({ maxLength: 40 }),
        choices: fc.tuple(
          fc.record(
            {
              finish_reason: fc.option(fc.string({ maxLength: 64 }), { nil: null }),
              message: fc.record(
                { content: text, refusal: text, tool_calls: fc.array(call, { maxLength: 3 }) },
                { requiredKeys: [] },
              ),
            },
            { requiredKeys: ['message'] },
          ),
        ),
        usage: fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat() }),
        extra: fc.jsonValue(),
      },
      { requiredKeys: ['choices'] },
    );
    fc.assert(
      fc.property(answer, (body) => {
        const parsed = parseCompletion(body);
        expect(parsed).toBeDefined();
        if (parsed === undefined) return;
        expect(parseCompletion(JSON.parse(completionJson(parsed)))).toEqual(parsed);
      }),
    );
  });
});

describe('createModelTool options and the policy section', () => {
  it('refuses malformed options with errors naming them', () => {
    expect(() => createModelTool({ baseURL: 'ftp://x' })).toThrow(/options\.baseURL/);
    expect(() => createModelTool({ baseURL: 'http://u:p@x' })).toThrow(/options\.baseURL/);
    expect(() => createModelTool({ baseURL: 'http://x', apiKeyEnv: 'A B' })).toThrow(/options\.apiKeyEnv/);
    expect(() => createModelTool({ baseURL: 'http://x', prices: { m: { input: -1, output: 1 } } })).toThrow(
      /options\.prices\.m/,
    );
    expect(() => createModelTool({ baseURL: 'http://x', timeoutMs: 0 })).toThrow(RangeError);
    expect(() => createModelTool({ baseURL: 'http://x', sharedState: 'no' as unknown as boolean })).toThrow(
      /options\.sharedState/,
    );
  });

  it('loads `tools.model` from a policy and maps it to options', () => {
    const policy = loadPolicy({
      capabilities: [],
      tools: {
        model: {
          base_url: 'http://127.0.0.1:9/v1',
          api_key_env: 'OPENAI_API_KEY',
          prices: { '*': { input: 1, output: 2 } },
          max_retries: 0,
          shared_state: false,
        },
      },
    });
    const config = modelPolicySection.read(policy);
    expect(config).toBeDefined();
    expect(modelOptionsFromConfig(config!)).toMatchObject({
      baseURL: 'http://127.0.0.1:9/v1',
      apiKeyEnv: 'OPENAI_API_KEY',
      maxRetries: 0,
      sharedState: false,
    });
    expect(() => loadPolicy({ capabilities: [], tools: { model: { api_key: 'sk-in-a-policy' } } })).toThrow(/api_key/);
    expect(() => modelOptionsFromConfig({})).toThrow(/base URL/);
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
