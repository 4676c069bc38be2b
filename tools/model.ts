/**
 * The model tool (`model.chat`): one Chat Completions request to an OpenAI-compatible endpoint, made by the
 * kernel on an agent's behalf with the official `openai` SDK (major 6; major 7 needs Node 22).
 *
 * Why it is built the way it is:
 * - The endpoint, the API key and the price table are the host's. The key comes from the options, from a
 *   host environment variable read at call time, or from the vault (a `bearer` binding on `model.chat`);
 *   none of them is ever an argument, a result or a log line. A key the endpoint echoes back is scrubbed
 *   from the result (vault secrets are scrubbed by the kernel itself).
 * - The capability's resource is the model name, so a policy allows a model with `action: model.chat,
 *   resource: gpt-4o` (or a glob).
 * - Usage is charged in two steps. Before the request is sent: `tokens_in` estimated from the whole request
 *   (four characters a token) and its `cost_usd`, since the endpoint bills what it reads whether or not its
 *   answer comes back (the agent may end, the call time out); a call cut short also keeps `max_tokens` of
 *   output charged when the agent set it. Once answered, before the result is returned: the endpoint's input
 *   count where it is higher than the estimate, the output (its count, else an estimate) and their cost.
 *   Crossing a budget ends the agent (E_QUOTA): before anything is sent, or before it reads the answer.
 * - The answer is read whole (at most `maxResponseBytes`) and its JSON shape bounded before the SDK parses it:
 *   parsing millions of empty arrays costs many times their bytes in heap and event-loop time.
 * - The result's label is the call's label: the join of the caller's context and every handle passed in
 *   the messages (the model saw all of it), and, unless the host says the endpoint keeps no state
 *   (`sharedState: false`), the labels of every call any agent sent the endpoint before: its rate limits, spend
 *   caps and caches answer according to them.
 * - Every failure is a fixed message: the endpoint down, a timeout, an HTTP status, an answer that is not a
 *   chat completion, an answer over the size cap. The endpoint's own error text never reaches the agent.
 */
import type OpenAI from 'openai';
import { z } from 'zod';
import { KernelError } from '../runtime/core/errors.js';
import { hasLoneSurrogate, matchResource } from '../runtime/core/resource-match.js';
import { definePolicySection, type PolicySection } from '../runtime/policy/policy.js';
import { scrubTarget, scrubValueSliced } from '../runtime/tool-use/secret-scrub.js';
import { defineTool, type Tool, type ToolContext } from '../runtime/tool-use/tool-contract.js';
import { VAULT_TAG } from '../runtime/tool-use/vault.js';
import { linkedSignal } from './abort-link.js';
import { jsonShapeFits } from './json-shape.js';
import {
  type ChatInput,
  type ChatResult,
  chatInputSchema,
  completionJson,
  estimateTokens,
  MODEL_NAME,
  parseCompletion,
  requestCharacters,
  responseCharacters,
} from './model-messages.js';

/** Model requests one agent tree may have running at once (Tool.maxInFlight). */
export const MODEL_MAX_IN_FLIGHT = 8;

export { type ChatInput, type ChatResult, MODEL_NAME } from './model-messages.js';

const DEFAULT_TIMEOUT_MS = 120_000;
const MAX_TIMEOUT_MS = 3_600_000;
const DEFAULT_MAX_RETRIES = 2;
const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
const MAX_RESPONSE_LIMIT = 256 * 1024 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Sent as the SDK's key when the host has none: the SDK insists on one, and we drop its header anyway. */
const NO_KEY = 'isokernel-no-key';

/** Dollars per million tokens, read and written. */
export interface ModelPrice {
  readonly input: number;
  readonly output: number;
}

/** Options of `createModelTool`. */
export interface ModelOptions {
  /** The endpoint's base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`. */
  readonly baseURL: string;
  /** The API key, held host-side. Prefer `apiKeyEnv` or the vault so it is not in the host's code. */
  readonly apiKey?: string;
  /** A host environment variable holding the key, read at each call (e.g. `OPENAI_API_KEY`). */
  readonly apiKeyEnv?: string;
  /**
   * Prices by model name or glob (`gpt-4o`, `gpt-4o-*`, `*`), in dollars per million tokens. The exact name
   * wins over globs, then the first glob that matches. A model without a price is charged tokens only.
   */
  readonly prices?: Readonly<Record<string, ModelPrice>>;
  /**
   * Deadline of one call in ms (default 120 000): from the request until the whole response body is read,
   * retries included. An endpoint that answers its headers and then trickles the body fails at it.
   */
  readonly timeoutMs?: number;
  /** Retries of a failed request by the SDK (default 2; 0 turns them off, as tests should). */
  readonly maxRetries?: number;
  /** Largest response body in bytes (default 8 MiB); a larger answer fails the call. */
  readonly maxResponseBytes?: number;
  /**
   * Whether the endpoint keeps state between calls that an agent can observe (default true): a provider's rate
   * limit, spend cap or cache. Then it is shared state, as an MCP server is: it keeps the label of every call sent
   * to it, and every later answer or failure carries it. false only for an endpoint the host knows keeps nothing an
   * agent can observe (a local model without limits), or to accept that channel between its callers.
   */
  readonly sharedState?: boolean;
}

/** The policy-file form of the model tool's settings (`tools.model`). Strict: unknown keys are refused. */
export const modelConfigSchema = z.strictObject({
  base_url: z
    .string()
    .max(2048)
    .refine((url) => httpUrl(url) !== undefined, 'must be an http or https URL')
    .optional(),
  api_key_env: z.string().regex(ENV_NAME, 'must be an environment variable name').optional(),
  prices: z
    .record(
      z.string().max(128),
      z.strictObject({ input: z.number().min(0).max(1e6), output: z.number().min(0).max(1e6) }),
    )
    .optional(),
  timeout_ms: z.int().min(1).max(MAX_TIMEOUT_MS).optional(),
  max_retries: z.int().min(0).max(10).optional(),
  max_response_bytes: z.int().min(1).max(MAX_RESPONSE_LIMIT).optional(),
  shared_state: z.boolean().optional(),
});

export type ModelConfig = z.output<typeof modelConfigSchema>;

/** The policy's `tools.model` section, validated by `modelConfigSchema`. */
export const modelPolicySection: PolicySection<ModelConfig> = definePolicySection('model', modelConfigSchema);

/**
 * Maps a validated `tools.model` section (plus a base URL the section may leave to the caller, such as the
 * CLI's `--base-url`) to `ModelOptions`. Throws TypeError when neither gives a base URL.
 */
export function modelOptionsFromConfig(config: ModelConfig, overrides: Partial<ModelOptions> = {}): ModelOptions {
  const baseURL = overrides.baseURL ?? config.base_url;
  if (baseURL === undefined) throw new TypeError('model: a base URL is needed (tools.model.base_url or --base-url)');
  return {
    baseURL,
    ...(config.api_key_env === undefined ? {} : { apiKeyEnv: config.api_key_env }),
    ...(config.prices === undefined ? {} : { prices: config.prices }),
    ...(config.timeout_ms === undefined ? {} : { timeoutMs: config.timeout_ms }),
    ...(config.max_retries === undefined ? {} : { maxRetries: config.max_retries }),
    ...(config.max_response_bytes === undefined ? {} : { maxResponseBytes: config.max_response_bytes }),
    ...(config.shared_state === undefined ? {} : { sharedState: config.shared_state }),
    ...overrides,
  };
}

/**
 * Creates the `model.chat` tool (action `model.chat`, resource: the model name, target argument `model`).
 * Throws TypeError naming the option for a malformed one (a base URL that is not http(s), a price that is not
 * two non-negative numbers), RangeError for a number out of bounds.
 *
 * A call throws KernelError E_TOOL_FAILED with a fixed message when the endpoint cannot be reached, times
 * out, answers an HTTP error, answers something that is not a chat completion, or answers more than
 * `maxResponseBytes`; E_KILLED when the calling agent ended meanwhile; E_QUOTA (from the charge) when the
 * usage crosses the agent's budget.
 */
export function createModelTool(options: ModelOptions): Tool {
  if (options === null || typeof options !== 'object')
    throw new TypeError('createModelTool: options must be an object');
  const baseURL = httpUrl(options.baseURL);
  if (baseURL === undefined) throw new TypeError('createModelTool: options.baseURL must be an http or https URL');
  if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey === '')) {
    throw new TypeError('createModelTool: options.apiKey must be a non-empty string');
  }
  if (options.apiKeyEnv !== undefined && (typeof options.apiKeyEnv !== 'string' || !ENV_NAME.test(options.apiKeyEnv))) {
    throw new TypeError('createModelTool: options.apiKeyEnv must be an environment variable name');
  }
  if (options.sharedState !== undefined && typeof options.sharedState !== 'boolean') {
    throw new TypeError('createModelTool: options.sharedState must be a boolean');
  }
  const prices = checkPrices(options.prices);
  const timeoutMs = integerOption('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS);
  const maxRetries = integerOption('maxRetries', options.maxRetries, DEFAULT_MAX_RETRIES, 0, 10);
  const maxResponseBytes = integerOption(
    'maxResponseBytes',
    options.maxResponseBytes,
    DEFAULT_MAX_RESPONSE_BYTES,
    1,
    MAX_RESPONSE_LIMIT,
  );
  // The SDK is loaded and the client built on the first call, not when the tool is made: every kernel with the
  // built-in tools makes this one, and importing openai measured ≈ 0.2 s of the CLI's start.
  let client: Promise<OpenAIClient> | undefined;
  const clientOnce = (): Promise<OpenAIClient> =>
    (client ??= loadOpenAI().then(
      (sdk) =>
        ({
          sdk,
          client: new sdk.default({
            baseURL,
            apiKey: NO_KEY,
            maxRetries,
            timeout: timeoutMs,
            // The SDK's own bearer header is dropped; each request sets the key it resolved (or none).
            defaultHeaders: { Authorization: null },
            fetch: cappedFetch(maxResponseBytes),
          }),
        }) satisfies OpenAIClient,
    ));
  const keyOf = (ctx: ToolContext): string | undefined => {
    const injected = ctx.inject.headers['authorization'];
    if (injected !== undefined) return injected.replace(/^Bearer\s+/i, '');
    if (options.apiKey !== undefined) return options.apiKey;
    if (options.apiKeyEnv === undefined) return undefined;
    const value = Object.hasOwn(process.env, options.apiKeyEnv) ? process.env[options.apiKeyEnv] : undefined;
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  return defineTool({
    name: 'model.chat',
    description:
      'Ask a language model (OpenAI Chat Completions). Returns { model, message: { content, tool_calls? }, ' +
      'finish_reason, usage: { tokens_in, tokens_out, estimated }, cost_usd }.',
    input: chatInputSchema,
    target: 'model',
    resource: (args) => args.model,
    // Each call is an HTTPS request (a socket, its buffers) held until the model answers.
    maxInFlight: MODEL_MAX_IN_FLIGHT,
    run: async (args, ctx) => {
      if (options.sharedState === false) {
        return chat(await clientOnce(), args, ctx, keyOf(ctx), prices, timeoutMs, async () => {});
      }
      // Red-team pass 117: a `secret` agent spent the endpoint's rate limit digit by digit, and a clean agent read
      // the PIN from how many of its own calls were refused HTTP 429 (or how large a request passed). What this call
      // sends may move what any later call meets: the endpoint keeps its label, recorded before sending, and the
      // answer or failure carries what it keeps once answered (in `finally`: the kernel joins taints on a throw).
      const key = modelEndpointKey(baseURL);
      ctx.taint(await ctx.labels.raise(key, ctx.label));
      // Before every charge the answer decides (review 119: a clean call held until a secret call was sent, then
      // retried or not by what it sent, crossed tokens_in and its warning under the clean label).
      const observe = async () => ctx.taint(await ctx.labels.get(key));
      try {
        return await chat(await clientOnce(), args, ctx, keyOf(ctx), prices, timeoutMs, observe);
      } finally {
        ctx.taint(await ctx.labels.get(key));
      }
    },
  });
}

/** The label store's key for what a model endpoint was sent (ModelOptions.sharedState). */
export const modelEndpointKey = (baseURL: string): string => `(model endpoint ${baseURL})`;

type OpenAISdk = typeof import('openai');
interface OpenAIClient {
  readonly sdk: OpenAISdk;
  readonly client: OpenAI;
}
const loadOpenAI = (): Promise<OpenAISdk> => import('openai');

async function chat(
  { sdk, client }: OpenAIClient,
  args: ChatInput,
  ctx: ToolContext,
  key: string | undefined,
  prices: PriceTable,
  timeoutMs: number,
  // Joins what the endpoint keeps into the call's taints: its answers and retries may depend on it.
  observe: () => Promise<void>,
): Promise<ChatResult> {
  let body: unknown;
  const price = priceFor(prices, args.model);
  const inputEstimate = estimateTokens(requestCharacters(args));
  // Charged before each request is sent, the SDK's retries included (red-team pass 67: three reads of a prompt,
  // one charge): an endpoint bills the prompt it read whether or not its answer comes back, and an agent ends its
  // calls in flight by returning (red-team pass 66: a tree under tokens_in 1000 had an endpoint read 4.8M prompt
  // tokens, each call cut short by its child's return, and was charged nothing).
  let sent = 0;
  const exchange: Exchange = {
    sending: async () => {
      // A request is going out, and the endpoint bills what it reads: a failure from here (the agent ending, a
      // retry's charge past a limit) comes after an effect (review 152).
      ctx.tookEffect();
      if (sent++ === 0) return;
      await observe();
      ctx.charge(usageOf(inputEstimate, 0, price));
    },
    metered: ctx.metered,
    bytes: 0,
    refused: undefined,
  };
  ctx.charge(usageOf(inputEstimate, 0, price));
  // One deadline for the whole call: the SDK's own timeout stops at the response headers, and the body is read
  // after them (red-team: an endpoint that trickled its body a byte every 100 ms held the call open until the
  // agent's wall budget, and a host `submit` forever). Aborting the request's signal ends the body stream, and
  // the race ends the call at the deadline even if some layer did not listen.
  // The SDK gets a signal of this call's own (it adds listeners it never removes), aborted by the agent's end
  // (through `link`, detached when the call ends) or by the deadline.
  const link = linkedSignal(ctx.signal);
  const controller = new AbortController();
  if (link.signal.aborted) controller.abort();
  else link.signal.addEventListener('abort', () => controller.abort(), { once: true });
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new KernelError('E_TOOL_FAILED', 'model.chat: the endpoint timed out'));
      controller.abort();
    }, timeoutMs);
  });
  try {
    const request = client.chat.completions.create(
      // Our schema is a subset of the SDK's request type; the cast only widens what the SDK accepts.
      { ...(args as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming), stream: false },
      {
        signal: controller.signal,
        ...(key === undefined ? {} : { headers: { Authorization: `Bearer ${key}` } }),
        // Handed through to cappedFetch with each request (the SDK spreads fetchOptions into fetch's init).
        fetchOptions: { [EXCHANGE]: exchange } as NonNullable<OpenAI.RequestOptions['fetchOptions']>,
      },
    );
    request.catch(() => undefined);
    body = await Promise.race([request, deadline]);
    await observe();
  } catch (error) {
    await observe();
    // No answer the agent reads, but the endpoint wrote one: what was read of it is charged as output, and a call
    // cut short (the agent ended, the deadline) the `max_tokens` the agent allowed, when more.
    const cut = timedOut || ctx.signal.aborted;
    ctx.charge(usageOf(0, Math.max(cut ? (args.max_tokens ?? 0) : 0, estimateTokens(exchange.bytes)), price));
    if (timedOut && !ctx.signal.aborted) throw new KernelError('E_TOOL_FAILED', 'model.chat: the endpoint timed out');
    if (exchange.refused !== undefined && !ctx.signal.aborted) throw refusedAnswer(exchange.refused);
    throw failure(sdk, error, ctx.signal);
  } finally {
    clearTimeout(timer);
    link.release();
  }
  if (ctx.signal.aborted) throw new KernelError('E_KILLED', 'model.chat: the agent has ended');
  const parsed = parseCompletion(body);
  if (parsed === undefined) {
    ctx.charge(usageOf(0, estimateTokens(exchange.bytes), price));
    throw new KernelError('E_TOOL_FAILED', "model.chat: the endpoint's answer is not a chat completion");
  }
  // The endpoint's count of the prompt replaces the estimate charged only where it is higher: a count of 0 for a
  // 900 KB prompt is not believed.
  const reported = parsed.usage;
  const tokensIn = Math.max(reported?.prompt ?? 0, inputEstimate);
  const tokensOut = reported?.completion ?? estimateTokens(responseCharacters(parsed.message));
  const estimated = reported === undefined || reported.prompt < inputEstimate;
  const cost = price === undefined ? null : (tokensIn * price.input + tokensOut * price.output) / 1_000_000;
  // Charged before anything is returned: crossing a budget ends the agent before it reads the answer.
  ctx.charge(usageOf(tokensIn - inputEstimate, tokensOut, price));
  const result: ChatResult = {
    model: parsed.model ?? args.model,
    message: parsed.message,
    finish_reason: parsed.finishReason,
    usage: { tokens_in: tokensIn, tokens_out: tokensOut, estimated },
    cost_usd: cost,
  };
  // An answer larger than the reply may be is refused before the key's scrub searches it, as a file is by its size
  // (its characters are no more than its JSON's bytes): the scrub of one string runs in one go, and 7.5 MiB of
  // `%41` held the loop 0.5-0.9 s for a result the syscall then refused (red-team pass 144).
  const cap = ctx.maxResultBytes;
  if (cap !== undefined && responseCharacters(parsed.message) > cap) {
    throw new KernelError(
      'E_TOOL_FAILED',
      `model.chat: the answer is larger than a result may be (${cap} bytes); ask with { handle: true }`,
    );
  }
  if (key === undefined) return result;
  // A key among the agent's own words is a guess that matched, and the scrub of a model that repeats it (or
  // transforms the agent's words into it) says which: the answer carries the vault's tag, as a vault secret's
  // scrub does (runtime/tool-use/vault.ts).
  const scrubbed = await scrub(result, key, ctx);
  if (scrubbed.found || (await scrub(args, key, ctx)).found) ctx.taint([VAULT_TAG]);
  return scrubbed.value;
}

/** A charge of `tokensIn` and `tokensOut`, with their cost when the model has a price. */
function usageOf(tokensIn: number, tokensOut: number, price: ModelPrice | undefined) {
  const cost = price === undefined ? undefined : (tokensIn * price.input + tokensOut * price.output) / 1_000_000;
  return { tokens_in: tokensIn, tokens_out: tokensOut, ...(cost === undefined ? {} : { cost_usd: cost }) };
}

/** Maps whatever the SDK threw to a KernelError with a fixed message. */
function failure(sdk: OpenAISdk, error: unknown, signal: AbortSignal): KernelError {
  const { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } = sdk;
  if (error instanceof KernelError) return error;
  if (signal.aborted || error instanceof APIUserAbortError) {
    return new KernelError('E_KILLED', 'model.chat: the agent has ended');
  }
  if (error instanceof APIConnectionTimeoutError)
    return new KernelError('E_TOOL_FAILED', 'model.chat: the endpoint timed out');
  if (error instanceof APIConnectionError) {
    return new KernelError('E_TOOL_FAILED', 'model.chat: the endpoint could not be reached');
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    const hint = error.status === 429 ? ' (rate limited)' : error.status === 401 ? ' (unauthorized)' : '';
    return new KernelError('E_TOOL_FAILED', `model.chat: the endpoint answered HTTP ${error.status}${hint}`);
  }
  return new KernelError('E_TOOL_FAILED', "model.chat: the endpoint's answer is not a chat completion");
}

function refusedAnswer(reason: 'large' | 'complex'): KernelError {
  return new KernelError(
    'E_TOOL_FAILED',
    reason === 'large'
      ? "model.chat: the endpoint's answer exceeds the size cap"
      : "model.chat: the endpoint's answer nests too deep or holds too many values",
  );
}

class ResponseTooLarge extends Error {}

/** One call's side of cappedFetch: told of each request the SDK sends, and of what came back. */
interface Exchange {
  /** Before each request (the SDK retries some failures): charges every request after the first. */
  readonly sending: () => Promise<void>;
  /** Runs the kernel's work on an answer (decoding, scanning, parsing it) and charges its time to the caller. */
  readonly metered: <T>(call: () => T) => T;
  /** Bytes of answer bodies read, every request's together. */
  bytes: number;
  /** Why an answer was refused unread by the SDK, if one was. */
  refused: 'large' | 'complex' | undefined;
}

const EXCHANGE = Symbol('isokernel.model.exchange');

/**
 * What cappedFetch answers in place of a refused answer: a status the SDK reports as a failure without retrying
 * it (a refused answer was written in full; asking again only bills it again).
 */
function refusedResponse(): Response {
  return new Response('{}', {
    status: 502,
    headers: { 'content-type': 'application/json', 'x-should-retry': 'false' },
  });
}

/**
 * The shape a chat completion may have: a few levels (choices, message, tool calls) and a few values per
 * token of text at most. Refused beyond: parsing is where a hostile answer's cost lies, not its bytes. An answer
 * to a request of the tool's (one choice, no logprobs, at most MAX_TOOLS calls) has hundreds of values; 200,000
 * shaped as 2,000 objects of 99 distinct keys held the loop 1-1.7 s a turn (red-team pass 124).
 */
const COMPLETION_SHAPE = { maxDepth: 64, maxNodes: 20_000 } as const;

/**
 * Global fetch with the response body cut off at `limit` bytes (an endpoint that answers without end must not
 * grow the kernel's memory), read whole here, then decoded, its JSON shape bounded (COMPLETION_SHAPE), parsed and
 * checked as a chat completion under the call's meter (Exchange.metered): the SDK is given only what the tool
 * reads of it (parseCompletion's fields, or `{}` for an answer that is not one), so no work on the endpoint's
 * bytes runs on the kernel's loop uncharged (pass 124: an answer held it about 1 s a turn for 3 ms charged). An
 * answer past either bound is refused: the call's Exchange says why, and the SDK gets a failure it does not retry.
 * An error status keeps its headers (the SDK's retry decision) and loses its body, which nothing reads. Each
 * request first tells the Exchange it is being sent (it charges the retries).
 */
function cappedFetch(limit: number): typeof fetch {
  return async (input, init) => {
    const exchange = (init as { [EXCHANGE]?: Exchange } | undefined)?.[EXCHANGE];
    await exchange?.sending();
    const response = await fetch(input, init);
    const refuse = (reason: 'large' | 'complex', bytes: number): Response => {
      if (exchange === undefined) throw new ResponseTooLarge(`response too ${reason}`);
      exchange.refused = reason;
      exchange.bytes += bytes;
      return refusedResponse();
    };
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > limit) {
      await response.body?.cancel().catch(() => undefined);
      // Not read, but written: at least `limit` bytes of it exist.
      return refuse('large', limit);
    }
    const chunks: Uint8Array[] = [];
    if (response.body !== null) {
      let seen = 0;
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        seen += value.byteLength;
        if (exchange !== undefined) exchange.bytes += value.byteLength;
        if (seen > limit) {
          await reader.cancel().catch(() => undefined);
          return refuse('large', 0);
        }
        chunks.push(value);
      }
    }
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    headers.delete('content-encoding');
    headers.set('content-type', 'application/json');
    // A status that may carry no body takes none (a Response with one throws, which the SDK retried as a failed
    // connection: review 126 made three requests of one 204).
    const bodiless = response.status === 204 || response.status === 205 || response.status === 304;
    const answer = (body: string) =>
      new Response(bodiless ? null : body, { status: response.status, statusText: response.statusText, headers });
    if (!response.ok) return answer('{}');
    const metered = exchange?.metered ?? ((call) => call());
    const read = metered(() => {
      const text = new TextDecoder().decode(Buffer.concat(chunks));
      if (!jsonShapeFits(text, COMPLETION_SHAPE)) return undefined;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return '{}';
      }
      const parsed = parseCompletion(value);
      return parsed === undefined ? '{}' : completionJson(parsed);
    });
    return read === undefined ? refuse('complex', 0) : answer(read);
  };
}

type PriceTable = readonly (readonly [pattern: string, price: ModelPrice])[];

function checkPrices(prices: unknown): PriceTable {
  if (prices === undefined) return [];
  if (prices === null || typeof prices !== 'object' || Array.isArray(prices)) {
    throw new TypeError('createModelTool: options.prices must be an object of model name → { input, output }');
  }
  const out: [string, ModelPrice][] = [];
  for (const [pattern, price] of Object.entries(prices)) {
    const p = price as Partial<ModelPrice> | null;
    const ok = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 1e6;
    if (p === null || typeof p !== 'object' || !ok(p.input) || !ok(p.output)) {
      throw new TypeError(
        `createModelTool: options.prices.${pattern.slice(0, 64)} must be { input, output } dollars per million tokens`,
      );
    }
    out.push([pattern, { input: p.input as number, output: p.output as number }]);
  }
  return out;
}

/** The price of `model`: its exact entry, else the first glob entry that matches it. */
function priceFor(prices: PriceTable, model: string): ModelPrice | undefined {
  const exact = prices.find(([pattern]) => pattern === model);
  if (exact !== undefined) return exact[1];
  return prices.find(([pattern]) => /[*?[]/.test(pattern) && matchResource(pattern, model))?.[1];
}

const KEY_MARKER = '[model api key]';

/**
 * `value` with the API key replaced in every spelling the vault's scrub knows, and whether it was there. Searched in
 * metered slices, as a vault secret's scrub is: the endpoint chooses the answer, and one 8 MiB answer of escapes
 * (`%41` repeated) held the kernel's event loop 0.5-0.9 s, charged to no one (red-team pass 144).
 */
async function scrub<T>(value: T, secret: string, ctx: ToolContext): Promise<{ value: T; found: boolean }> {
  // A key of three characters or fewer would be found everywhere, and one inside the marker would be found in it:
  // neither is a key.
  // A lone surrogate cannot go into a header: the endpoint never got such a key to echo.
  if (secret.length < 4 || KEY_MARKER.includes(secret) || hasLoneSurrogate(secret)) return { value, found: false };
  const slicing = { meter: ctx.metered, stopped: () => ctx.signal.aborted };
  const done = await scrubValueSliced(value, [scrubTarget(secret, KEY_MARKER)], slicing);
  if (done === undefined) throw new KernelError('E_KILLED', 'model.chat: the agent has ended');
  return done;
}

function httpUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const url = new URL(value);
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
      return undefined;
    }
    return url.href.replace(/\/$/, '');
  } catch {
    return undefined;
  }
}

function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new TypeError(`createModelTool: options.${name} must be an integer`);
  if (value < min || value > max)
    throw new RangeError(`createModelTool: options.${name} must be between ${min} and ${max}`);
  return value;
}

/** True when `name` is a model name `model.chat` accepts (and so a valid capability resource). */
export function isModelName(name: unknown): name is string {
  return typeof name === 'string' && MODEL_NAME.test(name);
}
