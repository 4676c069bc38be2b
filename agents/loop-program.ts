/**
 * The agent loop as an agent program. `agentLoopMain` is the loop's `main`: it runs inside an isolate like
 * any agent, and its only way to act is `sys`: every model call is `sys.tool('model.chat', …)`, every tool
 * call the model makes is `sys.tool(def.tool, …)`, every Code Mode `execute` is a `sys.spawn` of a child
 * agent. The kernel is therefore the only execution path by construction, and capabilities, labels, quotas
 * and audit apply to the loop exactly as to any agent.
 *
 * The program text is assembled from these functions' source (`AGENT_LOOP_PROGRAM`), so the loop is type
 * checked here and runs unchanged there. Both functions are self-contained: they use only the language and
 * `sys`, never anything imported (the guest has no modules).
 *
 * Progress goes to the host as `sys.log` lines starting with LOOP_EVENT_PREFIX and a JSON object; the host
 * reads them only from the loop agent itself (a Code Mode child is another agent and cannot forge them).
 */
import { ERROR_CODES } from '../runtime/core/errors.js';
import { buildCodeModule, type CodeTool } from './code-mode/code-module.js';
import type { ToolDef } from './tool-defs.js';

/** The prefix of the loop's progress lines (see `AgentLoopEvent`). */
export const LOOP_EVENT_PREFIX = 'isokernel.loop ';

/** What the host hands the loop program as its input. */
export interface LoopInput {
  readonly model: string;
  readonly instructions: string | null;
  readonly prompt: string;
  readonly maxTurns: number;
  /** The model's tools in tool mode; empty in Code Mode. */
  readonly tools: readonly ToolDef[];
  readonly codeMode: null | {
    /** The `execute` tool's description (with the TypeScript declaration of `tools`). */
    readonly description: string;
    readonly tools: readonly ToolDef[];
    /** The child's budget request (carved from the loop's remainder). */
    readonly budget: Readonly<Record<string, number>>;
    /**
     * The argument constraints of the policy rules the loop's capabilities come from, for the actions of tools
     * with `fixed` arguments: a child capability's constraints replace its parent's, so they are repeated.
     */
    readonly ruleConstraints: readonly {
      readonly action: string;
      readonly resource: string;
      readonly constraint: Readonly<Record<string, unknown>>;
    }[];
  };
  /** Bound on each tool result fed back to the model, in characters. */
  readonly maxResultChars: number;
  /** Extra Chat Completions fields (temperature, max_tokens). */
  readonly chat: Readonly<Record<string, unknown>>;
}

/** One tool call the model made, as the loop saw it end. */
export interface LoopToolCall {
  readonly turn: number;
  /** The name the model used. */
  readonly name: string;
  /** The kernel tool it mapped to (`execute` for Code Mode; null when the name matched nothing). */
  readonly tool: string | null;
  /** null when it succeeded; the error code otherwise. */
  readonly code: string | null;
}

/** What the loop program returns. */
export interface LoopOutput {
  readonly ok: boolean;
  readonly text: string;
  readonly turns: number;
  readonly stopped: 'answer' | 'max_turns' | 'model_error';
  readonly toolCalls: readonly LoopToolCall[];
  readonly error?: { readonly code: string; readonly message: string };
}

interface GuestError {
  readonly code?: unknown;
  readonly message?: unknown;
}

interface GuestSys {
  tool(name: string, args?: unknown, options?: { handle?: boolean } | null): Promise<unknown>;
  log(...values: unknown[]): Promise<void>;
  caps(): Promise<{ id: string; action: string; resource: string }[]>;
  spawn(request: Record<string, unknown>): Promise<string>;
  join(id: string, options?: { handle?: boolean } | null): Promise<unknown>;
}

type BuildCodeModule = typeof buildCodeModule;

/**
 * The loop's `main`. Never throws for anything the model or a tool does: refusals, malformed calls and failed
 * code become tool messages with their codes, and the loop continues; a failed model call ends the loop with
 * that call's code in `error`.
 */
export async function agentLoopMain(
  input: LoopInput,
  build: BuildCodeModule,
  errorCodes: readonly string[],
): Promise<LoopOutput> {
  const sys = (globalThis as unknown as { sys: GuestSys }).sys;
  const PREFIX = 'isokernel.loop ';
  const emit = (event: Record<string, unknown>): Promise<void> =>
    sys.log(PREFIX + JSON.stringify(event)).catch(() => undefined);
  // Only the kernel's own codes are ever reported: a Code Mode child's code chooses its error object, and a
  // code it made up (or text posing as one) becomes `fallback`.
  const known = new Set(errorCodes);
  const codeOf = (error: unknown, fallback = 'E_INTERNAL'): string => {
    const code = (error as GuestError | null)?.code;
    return typeof code === 'string' && known.has(code) ? code : fallback;
  };
  const messageOf = (error: unknown): string => {
    const message = (error as GuestError | null)?.message;
    return typeof message === 'string' ? message.slice(0, 2000) : 'failed';
  };
  const bound = (text: string): string =>
    text.length <= input.maxResultChars
      ? text
      : `${text.slice(0, input.maxResultChars)}… [truncated ${text.length - input.maxResultChars} characters]`;
  const show = (value: unknown): string => {
    try {
      const text = JSON.stringify(value);
      return text === undefined ? 'null' : text;
    } catch {
      return '"(not JSON-serializable)"';
    }
  };

  const code = input.codeMode;
  const defs = code === null ? input.tools : [];
  const byName = new Map(defs.map((def) => [def.name, def]));
  const modelTools =
    code === null
      ? defs.map((def) => ({
          type: 'function',
          function: { name: def.name, description: def.description, parameters: def.parameters },
        }))
      : [
          {
            type: 'function',
            function: {
              name: 'execute',
              description: code.description,
              parameters: {
                type: 'object',
                properties: { code: { type: 'string', description: 'the JavaScript to run' } },
                required: ['code'],
                additionalProperties: false,
              },
            },
          },
        ];

  const messages: Record<string, unknown>[] = [];
  if (input.instructions !== null && input.instructions !== '')
    messages.push({ role: 'system', content: input.instructions });
  messages.push({ role: 'user', content: input.prompt });
  const toolCalls: LoopToolCall[] = [];

  const covers = (pattern: string, action: string): boolean =>
    pattern === '*' || pattern === action || (pattern.endsWith('*') && action.startsWith(pattern.slice(0, -1)));

  // Code Mode: the code runs as a child holding only attenuations of the loop's capabilities for the allowed
  // tools' actions (each narrowed to the concrete action), under its own budget slice.
  const execute = async (args: Record<string, unknown>): Promise<{ content: unknown; code: string | null }> => {
    if (code === null)
      return { content: { error: { code: 'E_NO_TOOL', message: 'no tool named "execute"' } }, code: 'E_NO_TOOL' };
    const source = args['code'];
    if (typeof source !== 'string' || source.trim() === '') {
      return {
        content: { error: { code: 'E_BAD_ARG', message: '`code` must be a non-empty string' } },
        code: 'E_BAD_ARG',
      };
    }
    const tools: CodeTool[] = code.tools.map((def) => ({
      name: def.name,
      tool: def.tool,
      ...(def.rename === undefined ? {} : { rename: def.rename }),
      ...(def.fixed === undefined ? {} : { fixed: def.fixed }),
    }));
    const { module } = build(source, tools);
    const held = await sys.caps();
    const caps: Record<string, unknown>[] = [];
    for (const def of code.tools) {
      for (const cap of held) {
        if (!covers(cap.action, def.action) || caps.length >= 64) continue;
        if (def.fixed === undefined) {
          caps.push({ from: cap.id, action: def.action });
          continue;
        }
        // The fixed arguments become the child capability's constraints, so the code's direct `sys.tool` calls
        // get them too (E_CAP_DENIED otherwise), next to the constraints the parent's rule already had. A
        // capability whose rule is ambiguous, or refuses a fixed value anyway, is not handed on.
        const rules = code.ruleConstraints.filter(
          (rule) => rule.action === cap.action && rule.resource === cap.resource,
        );
        const distinct = new Set(rules.map((rule) => JSON.stringify(rule.constraint)));
        if (distinct.size > 1) continue;
        const constraint: Record<string, unknown> = { ...(rules[0]?.constraint ?? {}) };
        let fits = true;
        for (const [name, value] of Object.entries(def.fixed)) {
          const allowed = Object.hasOwn(constraint, name) ? constraint[name] : undefined;
          if (allowed !== undefined && !(Array.isArray(allowed) ? allowed.includes(value) : allowed === value)) {
            fits = false;
          }
          constraint[name] = value;
        }
        if (fits && Object.keys(constraint).length <= 16) caps.push({ from: cap.id, action: def.action, constraint });
      }
    }
    let outcome: unknown;
    try {
      const id = await sys.spawn({ code: module, caps, budget: code.budget });
      outcome = await sys.join(id);
    } catch (error) {
      const failure = { code: codeOf(error), message: messageOf(error) };
      return { content: { error: failure, logs: [] }, code: failure.code };
    }
    const report = (outcome ?? {}) as { ok?: unknown; result?: unknown; error?: unknown; logs?: unknown };
    const logs = Array.isArray(report.logs) ? report.logs : [];
    if (report.ok === true) return { content: { result: report.result ?? null, logs }, code: null };
    const error = { code: codeOf(report.error, 'E_AGENT_FAILED'), message: messageOf(report.error) };
    return { content: { error, logs }, code: error.code };
  };

  const runCall = async (
    name: string,
    rawArguments: string,
  ): Promise<{ content: unknown; tool: string | null; code: string | null }> => {
    let args: unknown;
    try {
      args = rawArguments.trim() === '' ? {} : JSON.parse(rawArguments);
    } catch {
      return {
        content: { error: { code: 'E_BAD_ARG', message: 'the arguments are not valid JSON' } },
        tool: null,
        code: 'E_BAD_ARG',
      };
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      return {
        content: { error: { code: 'E_BAD_ARG', message: 'the arguments must be a JSON object' } },
        tool: null,
        code: 'E_BAD_ARG',
      };
    }
    if (code !== null && name === 'execute') {
      const outcome = await execute(args as Record<string, unknown>);
      return { ...outcome, tool: 'execute' };
    }
    const def = byName.get(name);
    if (def === undefined) {
      const known = [...byName.keys()].join(', ') || (code === null ? 'none' : 'execute');
      const message = `no tool named "${name.slice(0, 64)}"; the tools are: ${known}`;
      return { content: { error: { code: 'E_NO_TOOL', message } }, tool: null, code: 'E_NO_TOOL' };
    }
    let mapped = args as Record<string, unknown>;
    if (def.rename !== undefined || def.fixed !== undefined) {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(mapped)) out[def.rename?.[key] ?? key] = value;
      mapped = { ...out, ...def.fixed };
    }
    try {
      const result = await sys.tool(def.tool, mapped);
      return { content: { result: result ?? null }, tool: def.tool, code: null };
    } catch (error) {
      const failure = { code: codeOf(error), message: messageOf(error) };
      return { content: { error: failure }, tool: def.tool, code: failure.code };
    }
  };

  let lastText = '';
  for (let turn = 1; turn <= input.maxTurns; turn++) {
    await emit({ event: 'turn', turn });
    let reply: {
      message?: {
        content?: unknown;
        refusal?: unknown;
        tool_calls?: { id: string; function: { name: string; arguments: string } }[];
      };
      finish_reason?: unknown;
      usage?: { tokens_in?: unknown; tokens_out?: unknown };
      cost_usd?: unknown;
    };
    try {
      reply = (await sys.tool('model.chat', {
        ...input.chat,
        model: input.model,
        messages,
        ...(modelTools.length === 0 ? {} : { tools: modelTools }),
      })) as typeof reply;
    } catch (error) {
      const failure = { code: codeOf(error), message: messageOf(error) };
      await emit({ event: 'model_error', turn, code: failure.code });
      return { ok: false, text: lastText, turns: turn, stopped: 'model_error', toolCalls, error: failure };
    }
    const message = reply.message ?? {};
    const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
    const content = typeof message.content === 'string' ? message.content : null;
    if (content !== null) lastText = content;
    await emit({
      event: 'model',
      turn,
      tool_calls: calls.length,
      finish_reason: typeof reply.finish_reason === 'string' ? reply.finish_reason : null,
    });
    messages.push({ role: 'assistant', content, ...(calls.length === 0 ? {} : { tool_calls: calls }) });
    if (calls.length === 0) {
      const text = content ?? (typeof message.refusal === 'string' ? message.refusal : '');
      await emit({ event: 'done', turn, stopped: 'answer' });
      return { ok: true, text, turns: turn, stopped: 'answer', toolCalls };
    }
    for (const call of calls) {
      const name = String(call.function?.name ?? '');
      const outcome = await runCall(name, String(call.function?.arguments ?? ''));
      toolCalls.push({ turn, name: name.slice(0, 64), tool: outcome.tool, code: outcome.code });
      messages.push({ role: 'tool', tool_call_id: call.id, content: bound(show(outcome.content)) });
      await emit({ event: 'tool', turn, name: name.slice(0, 64), tool: outcome.tool, code: outcome.code });
    }
  }
  await emit({ event: 'done', turn: input.maxTurns, stopped: 'max_turns' });
  return {
    ok: false,
    text: lastText,
    turns: input.maxTurns,
    stopped: 'max_turns',
    toolCalls,
    error: { code: 'E_QUOTA', message: `agent loop: ${input.maxTurns} turns used without a final answer (maxTurns)` },
  };
}

/**
 * The loop program's source: an agent module whose `main` is `agentLoopMain`, with `buildCodeModule` for Code
 * Mode. `__name` is defined because a host running under esbuild with keepNames (tsx) decorates functions
 * with it, and that decoration would otherwise be an undefined reference inside the isolate.
 */
export const AGENT_LOOP_PROGRAM = [
  '// isokernel agent loop: every action is a syscall.',
  'const __name = (target) => target;',
  `const buildCodeModule = ${buildCodeModule.toString()};`,
  `const agentLoopMain = ${agentLoopMain.toString()};`,
  `const ERROR_CODES = ${JSON.stringify(ERROR_CODES)};`,
  'export default async function main(input) { return agentLoopMain(input, buildCodeModule, ERROR_CODES); }',
  '',
].join('\n');
