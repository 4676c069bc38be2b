/**
 * The shapes `model.chat` accepts from agents and returns to them: a bounded subset of OpenAI Chat
 * Completions (messages, function tools, tool choice, a few sampling fields) as zod schemas, and the parser
 * that turns whatever the endpoint answered into a checked result or refuses it.
 *
 * Why a subset: the kernel validates every argument before a tool runs, so anything an agent sends must fit
 * a schema the kernel can check (and that sinks can see). Fields outside it are refused, not forwarded.
 */
import { z } from 'zod';

/** Longest text of one message, in characters. */
export const MAX_MESSAGE_CHARS = 1_000_000;
export const MAX_MESSAGES = 1024;
export const MAX_TOOLS = 128;
/** OpenAI's function-name alphabet: what tool names the model sees must match. */
export const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/**
 * A model name: the capability's resource, so it must be a kernel name resource (no leading scheme, no
 * empty or dot segments). `gpt-4o`, `llama3.1:8b`, `openai/gpt-4o` (two segments: `*` does not cover it).
 */
export const MODEL_NAME =
  /^(?!(?:https?|wss?):)[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}(?:\/[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}){0,3}$/;

const text = z.string().max(MAX_MESSAGE_CHARS);
const textParts = z.array(z.strictObject({ type: z.literal('text'), text })).max(256);
const content = z.union([text, textParts]);
const name = z.string().regex(FUNCTION_NAME).optional();

export const toolCallSchema = z.strictObject({
  id: z.string().min(1).max(256),
  type: z.literal('function'),
  function: z.strictObject({ name: z.string().max(256), arguments: z.string().max(MAX_MESSAGE_CHARS) }),
});

const messageSchema = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('system'), content, name }),
  z.strictObject({ role: z.literal('developer'), content, name }),
  z.strictObject({ role: z.literal('user'), content, name }),
  z.strictObject({
    role: z.literal('assistant'),
    content: content.nullable().optional(),
    name,
    tool_calls: z.array(toolCallSchema).max(MAX_TOOLS).optional(),
    refusal: z.string().max(MAX_MESSAGE_CHARS).nullable().optional(),
  }),
  z.strictObject({ role: z.literal('tool'), content, tool_call_id: z.string().min(1).max(256) }),
]);

const functionToolSchema = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({
    name: z.string().regex(FUNCTION_NAME, 'tool names must match ^[a-zA-Z0-9_-]{1,64}$'),
    description: z.string().max(100_000).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().optional(),
  }),
});

/** The arguments of a `model.chat` call. */
export const chatInputSchema = z
  .strictObject({
    model: z.string().regex(MODEL_NAME, 'must be a model name such as "gpt-4o"'),
    messages: z.array(messageSchema).min(1).max(MAX_MESSAGES),
    tools: z.array(functionToolSchema).max(MAX_TOOLS).optional(),
    tool_choice: z
      .union([
        z.enum(['auto', 'none', 'required']),
        z.strictObject({
          type: z.literal('function'),
          function: z.strictObject({ name: z.string().regex(FUNCTION_NAME) }),
        }),
      ])
      .optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    max_tokens: z.int().min(1).max(1_000_000).optional(),
    seed: z.int().optional(),
    stop: z.union([z.string().max(256), z.array(z.string().max(256)).max(4)]).optional(),
    response_format: z
      .union([
        z.strictObject({ type: z.enum(['text', 'json_object']) }),
        z.strictObject({
          type: z.literal('json_schema'),
          json_schema: z.strictObject({
            name: z.string().regex(FUNCTION_NAME),
            schema: z.record(z.string(), z.unknown()).optional(),
            strict: z.boolean().optional(),
            description: z.string().max(10_000).optional(),
          }),
        }),
      ])
      .optional(),
  })
  .superRefine((args, ctx) => {
    if (args.tool_choice !== undefined && args.tool_choice !== 'none' && (args.tools?.length ?? 0) === 0) {
      ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: 'tool_choice needs tools' });
    }
  });

export type ChatInput = z.output<typeof chatInputSchema>;
export type ToolCall = z.output<typeof toolCallSchema>;

/** What `model.chat` returns to the agent. */
export interface ChatResult {
  /** The model the endpoint says answered (it may differ from the one asked for, e.g. a dated version). */
  readonly model: string;
  readonly message: {
    readonly role: 'assistant';
    readonly content: string | null;
    readonly tool_calls?: readonly ToolCall[];
    readonly refusal?: string;
  };
  /** `stop`, `tool_calls`, `length`, `content_filter`, … as the endpoint reported it (null when absent). */
  readonly finish_reason: string | null;
  /** Tokens charged; `estimated` when the endpoint reported no usage and the kernel counted characters. */
  readonly usage: { readonly tokens_in: number; readonly tokens_out: number; readonly estimated: boolean };
  /** Dollars charged, or null when no price is configured for the model (nothing charged). */
  readonly cost_usd: number | null;
}

// Lenient on fields we do not use (endpoints add their own), strict on the ones we do.
const completionSchema = z.object({
  model: z.string().max(256).optional(),
  choices: z
    .array(
      z.object({
        finish_reason: z.string().max(64).nullable().optional(),
        message: z.object({
          content: z.string().nullable().optional(),
          refusal: z.string().nullable().optional(),
          tool_calls: z
            .array(
              z.object({
                id: z.string().min(1).max(256),
                type: z.literal('function').optional(),
                function: z.object({ name: z.string().max(256), arguments: z.string() }),
              }),
            )
            .max(MAX_TOOLS)
            .nullable()
            .optional(),
        }),
      }),
    )
    .min(1),
  usage: z
    .object({ prompt_tokens: z.number().int().min(0), completion_tokens: z.number().int().min(0) })
    .nullable()
    .optional(),
});

/** A chat completion as parsed: the first choice and the reported usage (undefined when absent). */
export interface ParsedCompletion {
  readonly model: string | undefined;
  readonly message: ChatResult['message'];
  readonly finishReason: string | null;
  readonly usage: { readonly prompt: number; readonly completion: number } | undefined;
}

/** The first choice of an endpoint's answer, or undefined when the answer is not a chat completion. */
export function parseCompletion(body: unknown): ParsedCompletion | undefined {
  const parsed = completionSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const choice = parsed.data.choices[0]!;
  const calls = (choice.message.tool_calls ?? []).map((call) => ({
    id: call.id,
    type: 'function' as const,
    function: { name: call.function.name, arguments: call.function.arguments },
  }));
  const message: ChatResult['message'] = {
    role: 'assistant',
    content: choice.message.content ?? null,
    ...(calls.length === 0 ? {} : { tool_calls: calls }),
    ...(typeof choice.message.refusal === 'string' ? { refusal: choice.message.refusal } : {}),
  };
  const usage = parsed.data.usage ?? undefined;
  return {
    model: parsed.data.model,
    message,
    finishReason: choice.finish_reason ?? null,
    usage: usage === undefined ? undefined : { prompt: usage.prompt_tokens, completion: usage.completion_tokens },
  };
}

/**
 * A chat completion's JSON holding exactly what `parsed` holds: parseCompletion of it gives `parsed` again. What
 * the model tool hands the SDK in place of the endpoint's answer, so the SDK never parses the endpoint's bytes.
 */
export function completionJson(parsed: ParsedCompletion): string {
  return JSON.stringify({
    object: 'chat.completion',
    ...(parsed.model === undefined ? {} : { model: parsed.model }),
    choices: [{ index: 0, finish_reason: parsed.finishReason, message: parsed.message }],
    ...(parsed.usage === undefined
      ? {}
      : { usage: { prompt_tokens: parsed.usage.prompt, completion_tokens: parsed.usage.completion } }),
  });
}

/**
 * A rough token count for text an endpoint did not count: four characters per token, rounded up, which
 * over-counts English prose slightly (charging more is the safe side of a budget).
 */
export function estimateTokens(characters: number): number {
  return Math.ceil(characters / 4);
}

/** What a message's role and framing count, in characters: about four tokens, as OpenAI's tokenizers frame one. */
const MESSAGE_OVERHEAD_CHARS = 16;

/**
 * Characters of everything the model reads from a request: message texts and names, tool calls and their ids,
 * tool definitions, stop sequences and a response format's schema (red-team pass 66: a 614,000-character
 * `json_schema` beside "hi" was charged one token), and a few tokens a message and a tool call for their framing
 * (pass 67: 1,024 empty messages were charged nothing; pass 69: tool calls' ids were left out, 990 KB of them
 * charged 101 tokens).
 */
export function requestCharacters(input: ChatInput): number {
  let total = 0;
  for (const message of input.messages) {
    total += MESSAGE_OVERHEAD_CHARS + contentLength(message.content);
    if ('name' in message) total += message.name?.length ?? 0;
    if (message.role === 'tool') total += message.tool_call_id.length;
    if (message.role === 'assistant') {
      for (const call of message.tool_calls ?? []) {
        total += MESSAGE_OVERHEAD_CHARS + call.id.length + call.function.name.length + call.function.arguments.length;
      }
      total += message.refusal?.length ?? 0;
    }
  }
  if (input.tools !== undefined) total += JSON.stringify(input.tools).length;
  if (input.response_format !== undefined) total += JSON.stringify(input.response_format).length;
  if (input.stop !== undefined) total += JSON.stringify(input.stop).length;
  return total;
}

/** Characters of what the model wrote. */
export function responseCharacters(message: ChatResult['message']): number {
  let total = message.content?.length ?? 0;
  for (const call of message.tool_calls ?? []) total += call.function.name.length + call.function.arguments.length;
  return total + (message.refusal?.length ?? 0);
}

// A content part's framing, in characters (about a token): 38,400 empty parts, a 1 MB request, were charged
// nothing before (red-team pass 70).
const PART_OVERHEAD_CHARS = 4;

function contentLength(value: string | readonly { text: string }[] | null | undefined): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'string') return value.length;
  return value.reduce((sum, part) => sum + PART_OVERHEAD_CHARS + part.text.length, 0);
}
