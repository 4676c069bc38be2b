import type { ServerResponse } from 'node:http';
import { type ReceivedRequest, startTestServer, type TestServer } from './http-server.js';

/**
 * A scripted OpenAI-compatible endpoint: a real HTTP server on 127.0.0.1 that answers each
 * `POST /v1/chat/completions` with the next step of its script. The model tool talks to it through the real
 * `openai` SDK, so the tests exercise the same path a real endpoint would.
 */

/** One tool call the scripted model makes. */
export interface ScriptedCall {
  readonly name: string;
  /** An object (sent as JSON) or raw text (to script malformed arguments). */
  readonly arguments: unknown;
  readonly id?: string;
}

/** A chat request as the server received it. */
export interface ChatRequest {
  readonly model: string;
  readonly messages: { role: string; content?: unknown; tool_calls?: unknown; tool_call_id?: string }[];
  readonly tools?: { type: string; function: { name: string; description?: string; parameters?: unknown } }[];
  readonly [key: string]: unknown;
}

/** What a step answers: a completion body, or a raw HTTP answer (status, content type, text). */
export type StepReply =
  | { readonly kind: 'json'; readonly body: unknown; readonly status?: number }
  | { readonly kind: 'raw'; readonly status: number; readonly contentType: string; readonly text: string }
  | { readonly kind: 'hang' }
  | { readonly kind: 'delayed'; readonly ms: number; readonly reply: StepReply };

/** A step: a fixed reply, or a function of the request (to answer what the conversation holds). */
export type Step = StepReply | ((request: ChatRequest) => StepReply);

let callCounter = 0;

/** A final answer. `usage: null` leaves usage out of the completion (the kernel must estimate). */
export function answer(content: string, usage: { in: number; out: number } | null = { in: 10, out: 5 }): StepReply {
  return completion({ role: 'assistant', content }, 'stop', usage);
}

/** A turn that calls tools. */
export function callTools(
  calls: readonly ScriptedCall[],
  usage: { in: number; out: number } | null = { in: 10, out: 5 },
): StepReply {
  const toolCalls = calls.map((call) => ({
    id: call.id ?? `call_${++callCounter}`,
    type: 'function',
    function: {
      name: call.name,
      arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
    },
  }));
  return completion({ role: 'assistant', content: null, tool_calls: toolCalls }, 'tool_calls', usage);
}

/** A body that is JSON but not a chat completion, or not JSON at all. */
export function garbage(kind: 'json' | 'text' = 'json'): StepReply {
  return kind === 'json'
    ? { kind: 'json', body: { hello: 'not a completion' } }
    : { kind: 'raw', status: 200, contentType: 'application/json', text: '{"choices": [ this is not json' };
}

/** An HTTP error answer. */
export function httpError(status: number, text = '{"error":{"message":"boom"}}'): StepReply {
  return { kind: 'raw', status, contentType: 'application/json', text };
}

function completion(message: unknown, finish: string, usage: { in: number; out: number } | null): StepReply {
  return {
    kind: 'json',
    body: {
      id: `chatcmpl-${++callCounter}`,
      object: 'chat.completion',
      created: 1,
      model: 'scripted-model',
      choices: [{ index: 0, message, finish_reason: finish }],
      ...(usage === null
        ? {}
        : { usage: { prompt_tokens: usage.in, completion_tokens: usage.out, total_tokens: usage.in + usage.out } }),
    },
  };
}

export interface ModelServer {
  /** `http://127.0.0.1:<port>/v1`: the base URL to give the model tool. */
  readonly baseURL: string;
  /** Chat requests received, in order. */
  readonly chats: ChatRequest[];
  /** Every HTTP request received (headers included). */
  readonly requests: ReceivedRequest[];
  /** Appends steps to the script. */
  push(...steps: Step[]): void;
  close(): Promise<void>;
}

/**
 * Starts a scripted endpoint. Steps are consumed in order; once they run out, `fallback` answers (default: a
 * final answer "script exhausted"). A `hang` step never answers (the connection is closed by `close`).
 */
export async function startModelServer(
  steps: readonly Step[] = [],
  fallback: Step = answer('script exhausted'),
): Promise<ModelServer> {
  const script: Step[] = [...steps];
  const chats: ChatRequest[] = [];
  const server: TestServer = await startTestServer((req, res) => {
    if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
      send(res, { kind: 'raw', status: 404, contentType: 'text/plain', text: 'not found' });
      return;
    }
    let request: ChatRequest;
    try {
      request = JSON.parse(req.body.toString('utf8')) as ChatRequest;
    } catch {
      send(res, httpError(400));
      return;
    }
    chats.push(request);
    const step = script.shift() ?? fallback;
    send(res, typeof step === 'function' ? step(request) : step);
  });
  return {
    baseURL: `${server.origin}/v1`,
    chats,
    requests: server.requests,
    push: (...more) => {
      script.push(...more);
    },
    close: () => server.close(),
  };
}

/** `reply`, sent after `ms` (unless the client has gone by then). */
export function delayed(ms: number, reply: StepReply): StepReply {
  return { kind: 'delayed', ms, reply };
}

function send(res: ServerResponse, reply: StepReply): void {
  if (reply.kind === 'hang') return;
  if (reply.kind === 'delayed') {
    setTimeout(() => {
      if (!res.destroyed) send(res, reply.reply);
    }, reply.ms);
    return;
  }
  if (reply.kind === 'raw') {
    res.writeHead(reply.status, { 'content-type': reply.contentType });
    res.end(reply.text);
    return;
  }
  res.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(reply.body));
}

/** The text of the last message of a request whose role is `tool` (what the loop fed back), or ''. */
export function lastToolResult(request: ChatRequest): string {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const message = request.messages[i]!;
    if (message.role === 'tool')
      return typeof message.content === 'string' ? message.content : JSON.stringify(message.content);
  }
  return '';
}

/** Every message text of a request, joined: what the model was shown. */
export function shownText(request: ChatRequest): string {
  return request.messages
    .map((message) => (typeof message.content === 'string' ? message.content : JSON.stringify(message.content ?? '')))
    .join('\n');
}
