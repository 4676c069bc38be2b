/**
 * isokernel as an MCP server: a model host (an IDE, a chat app, another framework) uses the kernel as its
 * sandbox. The server exposes every registered tool the policy allows (JSON Schema from its zod schema), each
 * call going through the kernel's gate, labels and audit as the host principal (`kernel.submit`), and
 * `execute({ code })`, which runs JavaScript as a fresh agent holding the policy's capabilities for the exposed
 * tools only (Code Mode's module builder) and returns `{ result, logs }` or the typed error.
 *
 * Label state is per MCP session (one `createMcpServer` per connection): whatever a call reads raises the
 * session's label, and every later call carries it, so data read in one call cannot be sent to a forbidden
 * sink by a later one, nor by code run with `execute`.
 */
import { type CallToolResult, Server } from '@modelcontextprotocol/server';
import { type ErrorCode, isErrorCode, KernelError, observedBy } from '../runtime/core/errors.js';
import { PayloadTooLargeError } from '../runtime/core/payload-size.js';
import type { Kernel } from '../runtime/kernel.js';
import { joinLabels, type Label } from '../runtime/labels/label.js';
import type { Limits } from '../runtime/process/limits.js';
import type { Tool } from '../runtime/tool-use/tool-contract.js';
import { toolAction, toolDefinition } from '../runtime/tool-use/tool-contract.js';
import { ToolSlots } from '../runtime/tool-use/tool-slots.js';
import { buildCodeModule } from './code-mode/code-module.js';
import { executeDescription } from './code-mode/typescript-declarations.js';
import { allowedTools, resolveToolDefs } from './tool-defs.js';

export interface McpServerOptions {
  /** Limits of each `execute` agent (over the kernel's and the policy's). */
  readonly limits?: Partial<Limits>;
  /**
   * Tools never exposed, by kernel name: not listed, not callable, and not callable from `execute` code either
   * (capabilities name actions, so a hidden tool with the action of an exposed one is reachable there).
   */
  readonly hide?: readonly string[];
  /**
   * Largest text of one tool answer, in characters (default 100 000): the rest is cut, and said to be; an answer
   * whose JSON is longer comes without `structuredContent`.
   */
  readonly maxResultChars?: number;
  /**
   * `execute` calls one session may have running at once (default 4): each is an agent tree, in the process tier
   * a sandbox host of its own. Past it, a call waits for one to end.
   */
  readonly maxExecutes?: number;
  /** Calls one session may have in flight, waiting ones included (default 64): past it, a call is `E_QUOTA`. */
  readonly maxPendingCalls?: number;
}

/** One MCP session's view of the kernel: its label only rises. */
export interface McpSession {
  readonly server: Server;
  /** The session's label: the join of everything its calls read. */
  label(): Label;
}

const EXECUTE = 'execute';
const DEFAULT_MAX_RESULT_CHARS = 100_000;
const DEFAULT_MAX_EXECUTES = 4;
const DEFAULT_MAX_PENDING_CALLS = 64;

// A top agent holds every policy rule, so `execute` code run as one reached hidden tools through sys.tool
// (red-team pass 71). This parent runs the code as a child holding only attenuations of its capabilities to the
// exposed tools' actions (Code Mode's way, agents/loop-program.ts), and answers with the child's report or the
// kernel's refusal of it. It also turns the client's code into the child's module, so that work (a parse of code
// the client chose, 29 s on the host for one scope of 180,000 names, red-team pass 122) is an agent's, charged
// to its budget. `__name`: see AGENT_LOOP_PROGRAM.
const EXECUTE_PARENT = `const __name = (target) => target;
const buildCodeModule = ${buildCodeModule.toString()};
export default async function main({ code, tools, actions }) {
  const { module } = buildCodeModule(code, tools);
  const covers = (pattern, action) =>
    pattern === '*' || pattern === action || (pattern.endsWith('*') && action.startsWith(pattern.slice(0, -1)));
  const caps = [];
  for (const cap of await sys.caps()) {
    for (const action of actions) if (covers(cap.action, action) && caps.length < 64) caps.push({ from: cap.id, action });
  }
  try {
    return await sys.join(await sys.spawn({ code: module, caps }));
  } catch (error) {
    return { ok: false, error: { code: error?.code, message: error?.message }, logs: [] };
  }
}`;

/**
 * A low-level MCP `Server` for one session over `kernel`; connect it to a transport (stdio for `isokernel mcp
 * serve`). The tool list is taken from the kernel's registry and policy when the client asks. Tool errors are
 * MCP error results (`isError`) whose text starts with the kernel's code. Throws TypeError for bad options.
 */
export function createMcpServer(kernel: Kernel, options: McpServerOptions = {}): McpSession {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const maxChars = options.maxResultChars ?? DEFAULT_MAX_RESULT_CHARS;
  if (!Number.isInteger(maxChars) || maxChars < 100)
    throw new RangeError('options.maxResultChars must be an integer >= 100');
  const maxExecutes = options.maxExecutes ?? DEFAULT_MAX_EXECUTES;
  if (!Number.isInteger(maxExecutes) || maxExecutes < 1)
    throw new RangeError('options.maxExecutes must be an integer >= 1');
  const maxPending = options.maxPendingCalls ?? DEFAULT_MAX_PENDING_CALLS;
  if (!Number.isInteger(maxPending) || maxPending < 1) {
    throw new RangeError('options.maxPendingCalls must be an integer >= 1');
  }
  let label: Label = [];
  // A client's calls are bounded as an agent tree's are (red-team pass 85): `kernel.submit` takes no tool place,
  // so 500 direct calls of `proc.exec sleep` ran 500 programs at once, and 40 `execute` calls started 40 sandbox
  // hosts (2.4 GB). Direct calls hold their tool's places (Tool.maxInFlight), `execute` calls one of
  // `maxExecutes`, and a session has at most `maxPending` calls in flight.
  const toolSlots = new ToolSlots();
  const executeSlots = new ToolSlots();
  let pending = 0;
  const server = new Server(
    { name: 'isokernel', version: '0.1.0' },
    {
      capabilities: { tools: {} },
      instructions:
        'Every tool call runs through the isokernel security kernel: capability checks, information-flow labels ' +
        'and an audit log. A refused call returns an error whose text starts with its code (E_CAP_DENIED, E_TAINT, ...). ' +
        'Use `execute` to run JavaScript against the typed API of the tools.',
    },
  );
  const exposed = (): Tool[] => {
    const patterns = kernel.policy.capabilities.map((rule) => rule.action);
    return allowedTools(kernel.tools, patterns, options.hide ?? []).filter(
      (tool) => toolDefinition(tool).parameters['type'] === 'object',
    );
  };
  const bound = (text: string) =>
    text.length <= maxChars ? text : `${text.slice(0, maxChars)}… [truncated ${text.length - maxChars} characters]`;
  // `structured` is the same answer as data, `text` its JSON: past the bound it would carry all that the text cut
  // (red-team pass 71: 900,023 characters under a 1,000-character bound), so it is left out.
  const answer = (text: string, structured?: Record<string, unknown>): CallToolResult => ({
    content: [{ type: 'text', text: bound(text) }],
    ...(structured !== undefined && text.length <= maxChars ? { structuredContent: structured } : {}),
  });
  const failure = (code: string, message: string, extra?: Record<string, unknown>): CallToolResult => ({
    isError: true,
    content: [
      {
        type: 'text',
        text: bound(
          extra === undefined ? `${code}: ${message}` : JSON.stringify({ error: { code, message }, ...extra }),
        ),
      },
    ],
  });

  server.setRequestHandler('tools/list', async () => {
    const tools = exposed();
    const defs = resolveToolDefs(
      kernel.tools,
      tools.map((tool) => tool.name),
    );
    return {
      tools: [
        ...tools.map((tool) => {
          const definition = toolDefinition(tool);
          return {
            name: tool.name,
            description: definition.description,
            inputSchema: definition.parameters as { type: 'object' },
          };
        }),
        {
          name: EXECUTE,
          description: executeDescription(defs),
          inputSchema: {
            type: 'object' as const,
            properties: { code: { type: 'string', description: 'the JavaScript to run' } },
            required: ['code'],
            additionalProperties: false,
          },
        },
      ],
    };
  });

  // One place of `slots` for `key` (bound `bound`) while `run` runs; a call cancelled while it waits is refused
  // E_KILLED.
  const inPlace = async (
    slots: ToolSlots,
    key: string,
    bound: number | undefined,
    signal: AbortSignal,
    cancelled: () => CallToolResult,
    run: () => Promise<CallToolResult>,
  ): Promise<CallToolResult> => {
    if (bound === undefined) return run();
    try {
      await slots.take(key, bound, signal);
    } catch {
      return cancelled();
    }
    try {
      return await run();
    } finally {
      slots.give(key);
    }
  };

  const execute = async (
    code: string,
    signal: AbortSignal,
    tooLarge: () => CallToolResult,
  ): Promise<CallToolResult> => {
    const tools = exposed();
    const defs = resolveToolDefs(
      kernel.tools,
      tools.map((tool) => tool.name),
    );
    let handle: ReturnType<Kernel['spawn']>;
    try {
      // The parent's one child must not cost the code a level or a child of its budget.
      const limits = kernel.limitsFor(options.limits);
      handle = kernel.spawn({
        code: EXECUTE_PARENT,
        input: {
          code,
          tools: defs.map((def) => ({ name: def.name, tool: def.tool })),
          actions: [...new Set(tools.map(toolAction))],
        },
        caps: [{ action: 'agent.spawn', resource: 'inline' }],
        // The host's own grants, handed on: a run must not give the session fresh uses of a `max_uses` rule or a
        // fresh `expires_in` (red-team pass 85: 4 runs of `execute` made 8 calls under `max_uses: 1`).
        policyGrants: 'shared',
        label: [...label],
        limits: {
          ...options.limits,
          children: Math.min(limits.children + 1, 100_000),
          depth: Math.min(limits.depth + 1, 64),
        },
      });
    } catch (error) {
      // A refusal by a bound sized by others' data (the tenant's share of held memory) tells of that data: the
      // session takes its label (red-team pass 85 read a secret bit from whether a probe's start was refused).
      label = joinLabels(label, observedBy(error));
      if (error instanceof KernelError) return failure(error.code, error.message);
      // The one bound on the host's request that the client chose the size of: the code, as the agent's input.
      if (error instanceof PayloadTooLargeError) return tooLarge();
      return failure('E_INTERNAL', error instanceof Error ? error.message.slice(0, 200) : 'the agent could not start');
    }
    // A cancelled call ends its agent: it was left running to its cpu_ms, and the client could start another.
    const cancel = () => handle.kill('cancelled by the MCP client');
    signal.addEventListener('abort', cancel, { once: true });
    let result: Awaited<ReturnType<Kernel['run']>>;
    try {
      result = await handle.result;
    } finally {
      signal.removeEventListener('abort', cancel);
    }
    label = joinLabels(label, result.label ?? []);
    if (!result.ok) return failure(result.error.code, result.error.message, { logs: [] });
    const report = (result.value ?? {}) as {
      ok?: unknown;
      result?: unknown;
      error?: { code?: unknown; message?: unknown };
      logs?: unknown;
    };
    const logs = Array.isArray(report.logs) ? report.logs : [];
    if (report.ok !== true) {
      // The agent's code wrote this error: only a kernel code (one it caught and re-threw) passes; anything
      // else, a made-up code or text posing as one, is E_AGENT_FAILED. Agent text never becomes a code.
      const code = isErrorCode(report.error?.code) ? report.error.code : 'E_AGENT_FAILED';
      const message = typeof report.error?.message === 'string' ? report.error.message : 'the code failed';
      return failure(code, message, { logs });
    }
    const structured = { result: report.result ?? null, logs };
    return answer(JSON.stringify(structured), structured);
  };

  const direct = async (tool: Tool, args: Record<string, unknown>): Promise<CallToolResult> => {
    const done = await kernel.submit({ action: toolAction(tool), params: args, label: [...label] });
    label = joinLabels(label, done.label);
    if (done.status !== 'OK') {
      const error = done.error ?? { code: 'E_INTERNAL', message: 'failed' };
      return failure(error.code, error.message);
    }
    const data = done.data === undefined ? null : done.data;
    const text = typeof data === 'string' ? data : (JSON.stringify(data) ?? 'null');
    const isObject = data !== null && typeof data === 'object' && !Array.isArray(data);
    return answer(text, isObject ? (data as Record<string, unknown>) : undefined);
  };

  server.setRequestHandler('tools/call', async (request, ctx): Promise<CallToolResult> => {
    const { name } = request.params;
    const args = request.params.arguments ?? {};
    const signal = ctx.mcpReq.signal;
    // A call turned away here never reaches `submit` or `spawn`: it is recorded as the host's refused attempt
    // (red-team pass 97 probed denied and hidden tools, and flooded past the bound, leaving no record).
    const refuse = (action: string, code: ErrorCode, message: string): CallToolResult => {
      kernel.recordRefusal({ action, params: args, label: [...label] }, code);
      return failure(code, message);
    };
    if (pending >= maxPending) {
      return refuse(String(name), 'E_QUOTA', `this session already has ${maxPending} calls in flight`);
    }
    pending += 1;
    try {
      if (name === EXECUTE) {
        const code = args['code'];
        if (typeof code !== 'string' || code.trim() === '')
          return refuse(EXECUTE, 'E_BAD_ARG', '`code` must be a non-empty string');
        const cancelled = () => refuse(EXECUTE, 'E_KILLED', 'the client cancelled the call');
        // Refused as a call turned away, so it is recorded (review 123: it answered E_INTERNAL, unrecorded).
        const tooLarge = () => refuse(EXECUTE, 'E_BAD_ARG', "`code` is larger than the kernel's payload limit");
        return await inPlace(executeSlots, EXECUTE, maxExecutes, signal, cancelled, () =>
          execute(code, signal, tooLarge),
        );
      }
      const tool = exposed().find((candidate) => candidate.name === name);
      if (tool === undefined) return refuse(String(name), 'E_NO_TOOL', `no tool named "${String(name).slice(0, 64)}"`);
      const cancelled = () => refuse(toolAction(tool), 'E_KILLED', 'the client cancelled the call');
      return await inPlace(toolSlots, tool.name, tool.maxInFlight, signal, cancelled, () => direct(tool, args));
    } finally {
      pending -= 1;
    }
  });

  return { server, label: () => label };
}
