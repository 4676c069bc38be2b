/**
 * `kernel.runAgentLoop(...)`: runs the agent loop program (loop-program.ts) as an ordinary top agent and
 * reports how it ended. The host only prepares the loop's input (tool definitions in the model's alphabet,
 * the Code Mode declaration) and reads its progress and result; the model calls and tool calls themselves
 * happen inside the isolate, as syscalls.
 */
import type { GrantRule } from '../runtime/capability/grant-rule.js';
import { type Constraints, constraintsSchema } from '../runtime/core/constraint-match.js';
import type { Kernel } from '../runtime/kernel.js';
import { joinLabels } from '../runtime/labels/label.js';
import type { Limits } from '../runtime/process/limits.js';
import type { AgentInfo } from '../runtime/process/process-table.js';
import type { KernelEvent, RunResult, Usage } from '../runtime/process/run-result.js';
import { executeDescription } from './code-mode/typescript-declarations.js';
import {
  AGENT_LOOP_PROGRAM,
  LOOP_EVENT_PREFIX,
  type LoopInput,
  type LoopOutput,
  type LoopToolCall,
} from './loop-program.js';
import { resolveToolDefs, type ToolDef, type ToolSpec } from './tool-defs.js';

export const DEFAULT_MAX_TURNS = 10;
const NO_USAGE: Usage = Object.freeze({
  cpu_ms: 0,
  wall_ms: 0,
  heap_peak_mb: 0,
  syscalls: 0,
  tokens_in: 0,
  tokens_out: 0,
  cost_usd: 0,
  tool_calls: 0,
  children: 0,
});
export const MAX_MAX_TURNS = 1000;
export const DEFAULT_MAX_RESULT_CHARS = 16_000;
/** The Code Mode child's default budget: a slice of the loop's, not all of it. */
export const DEFAULT_CODE_BUDGET: Readonly<Partial<Limits>> = Object.freeze({ cpu_ms: 5_000, wall_ms: 30_000 });

/** Options of `runAgentLoop`. */
export interface AgentLoopOptions {
  /** The model name (the `model.chat` capability's resource). */
  readonly model: string;
  /** The user's prompt. */
  readonly prompt: string;
  /** System instructions. */
  readonly instructions?: string;
  /** The tools the model may call: kernel tool names or ToolDef specs (default: none). */
  readonly tools?: readonly ToolSpec[];
  /** Model calls before the loop gives up (default 10). */
  readonly maxTurns?: number;
  /**
   * Code Mode: the model gets one tool, `execute({ code })`, documented with a TypeScript declaration of
   * `tools`; the code runs as a child agent holding attenuations of the loop's capabilities for those tools,
   * under `budget` (default DEFAULT_CODE_BUDGET, each field at most half the loop's limit).
   */
  readonly codeMode?: boolean | { readonly budget?: Partial<Limits> };
  /** Aborting ends the loop agent (E_KILLED). */
  readonly signal?: AbortSignal;
  /** The loop agent's budget (over the kernel's defaults and the policy's). */
  readonly limits?: Partial<Limits>;
  /** Tags of the prompt (for example ['email'] when it quotes an inbox): the loop's label starts there. */
  readonly label?: readonly string[];
  /** Bound on each tool result fed back to the model, in characters (default 16 000). */
  readonly maxResultChars?: number;
  readonly temperature?: number;
  readonly maxTokens?: number;
  /**
   * Called for each step of the loop as it happens. Exceptions it throws are ignored. Events carry text and
   * numbers the model chose (a tool call's name, finish_reason, how many calls) after reading whatever the loop
   * read: each event's `label` says what; check it before forwarding an event anywhere (see AgentLoopEvent).
   */
  readonly onEvent?: (event: AgentLoopEvent) => void;
}

/**
 * Progress of a running loop. Usage fields are the loop's so far (its subtree's, children included).
 *
 * **A sink.** `name`, `finishReason`, `toolCalls`, `stopped` and the timing of events are chosen by the model,
 * which may have read labelled data (a secret tool result, an injected web page) and been steered to spell it
 * there. `label` is the loop agent's label when it reported the event (the `log` event's label): the join of
 * everything the loop had read by then. A host that shows, logs or sends events must treat them as data with
 * that label, exactly as it treats the loop's result (`AgentLoopResult.label`).
 */
export type AgentLoopEvent =
  | ({ readonly type: 'turn'; readonly turn: number; readonly usage: LoopUsage } & LoopEventLabel)
  | ({
      readonly type: 'model';
      readonly turn: number;
      readonly toolCalls: number;
      readonly finishReason: string | null;
      readonly usage: LoopUsage;
    } & LoopEventLabel)
  | ({
      readonly type: 'tool';
      readonly turn: number;
      readonly name: string;
      readonly tool: string | null;
      /** null: the call ran; otherwise its error code (a refusal, a malformed call, a failure). */
      readonly code: string | null;
      readonly usage: LoopUsage;
    } & LoopEventLabel)
  | ({
      readonly type: 'model_error';
      readonly turn: number;
      readonly code: string;
      readonly usage: LoopUsage;
    } & LoopEventLabel)
  | ({
      readonly type: 'done';
      readonly turn: number;
      readonly stopped: string;
      readonly usage: LoopUsage;
    } & LoopEventLabel);

/** The label every AgentLoopEvent carries. */
export interface LoopEventLabel {
  /** The loop agent's label when it reported the event: what the model-chosen fields may spell. */
  readonly label: readonly string[];
}

export interface LoopUsage {
  readonly tokens_in: number;
  readonly tokens_out: number;
  readonly cost_usd: number;
  readonly tool_calls: number;
}

/** How a loop ended. `ok` is false when it stopped without a final answer, whatever the reason. */
export interface AgentLoopResult {
  readonly ok: boolean;
  /** The model's final answer ('' or its last words when there is none). */
  readonly text: string;
  readonly turns: number;
  readonly stopped: 'answer' | 'max_turns' | 'model_error' | 'ended';
  readonly toolCalls: readonly LoopToolCall[];
  /** What the loop agent and its children used: tokens, dollars, tool calls, CPU, wall time. */
  readonly usage: Usage;
  /** Why it failed: the model call's code, E_QUOTA (a budget or maxTurns), E_KILLED (aborted), … */
  readonly error?: { readonly code: string; readonly message: string };
  /** The loop's label at its end: the join of everything it read. */
  readonly label: readonly string[];
  /** The seq range of the audit records written while the loop ran (other agents' may be interleaved). */
  readonly audit: { readonly from: number; readonly to: number };
}

/**
 * Runs the agent loop as an agent of `kernel` under its policy. Resolves when the loop ends; never rejects
 * for anything the model, a tool or the budget does (those come back as `ok: false` with a code). Throws
 * TypeError/RangeError naming the option for host mistakes: a missing `model.chat` tool, an unknown tool,
 * model-name collisions, bad numbers, a closed kernel, a Code Mode tool whose `fixed` arguments a capability
 * constraint cannot express (see ToolDef.fixed).
 */
export async function runAgentLoop(kernel: Kernel, options: AgentLoopOptions): Promise<AgentLoopResult> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  if (typeof options.model !== 'string' || options.model === '')
    throw new TypeError('options.model must be a model name');
  if (typeof options.prompt !== 'string') throw new TypeError('options.prompt must be a string');
  if (options.instructions !== undefined && typeof options.instructions !== 'string') {
    throw new TypeError('options.instructions must be a string');
  }
  if (kernel.tools.get('model.chat') === undefined) {
    throw new TypeError('runAgentLoop: no model.chat tool is registered (kernel.tools.add(createModelTool(...)))');
  }
  const maxTurns = integer('options.maxTurns', options.maxTurns, DEFAULT_MAX_TURNS, 1, MAX_MAX_TURNS);
  const maxResultChars = integer(
    'options.maxResultChars',
    options.maxResultChars,
    DEFAULT_MAX_RESULT_CHARS,
    100,
    1_000_000,
  );
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError('options.signal must be an AbortSignal');
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function')
    throw new TypeError('options.onEvent must be a function');
  const defs = resolveToolDefs(kernel.tools, options.tools ?? []);
  const codeMode =
    options.codeMode === undefined || options.codeMode === false
      ? undefined
      : options.codeMode === true
        ? {}
        : options.codeMode;
  if (codeMode !== undefined && (codeMode === null || typeof codeMode !== 'object')) {
    throw new TypeError('options.codeMode must be a boolean or { budget }');
  }
  if (codeMode !== undefined) defs.forEach(fixedAsConstraints);
  const chat: Record<string, unknown> = {};
  if (options.temperature !== undefined) chat['temperature'] = options.temperature;
  if (options.maxTokens !== undefined) chat['max_tokens'] = options.maxTokens;
  const input: LoopInput = {
    model: options.model,
    instructions: options.instructions ?? null,
    prompt: options.prompt,
    maxTurns,
    tools: codeMode === undefined ? defs : [],
    codeMode:
      codeMode === undefined
        ? null
        : {
            description: executeDescription(defs),
            tools: defs,
            budget: codeBudget(kernel, options.limits, codeMode.budget),
            ruleConstraints: ruleConstraints(kernel, defs),
          },
    maxResultChars,
    chat,
  };
  // Code Mode spawns the model's code as inline children: the host that turned Code Mode on grants that.
  const caps: GrantRule[] = codeMode === undefined ? [] : [{ action: 'agent.spawn', resource: 'inline' }];
  const from = kernel.audit.size;
  if (options.signal?.aborted === true) {
    const error = { code: 'E_KILLED', message: 'killed: aborted by the host before the loop started' };
    return {
      ok: false,
      text: '',
      turns: 0,
      stopped: 'ended',
      toolCalls: [],
      usage: NO_USAGE,
      error,
      label: [],
      audit: { from, to: from - 1 },
    };
  }
  const handle = kernel.spawn({
    code: AGENT_LOOP_PROGRAM,
    input,
    caps,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.label === undefined ? {} : { label: options.label }),
  });
  const progress = watchProgress(kernel, handle.id, options.onEvent);
  const abort = () => handle.kill('aborted by the host');
  options.signal?.addEventListener('abort', abort, { once: true });
  let result: RunResult;
  try {
    result = await handle.result;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    progress.stop();
  }
  const audit = { from, to: kernel.audit.size - 1 };
  const label = result.label ?? [];
  if (!result.ok) {
    // The loop agent itself ended (killed, a budget crossed): what it did so far comes from its progress lines.
    return {
      ok: false,
      text: '',
      turns: progress.turns(),
      stopped: 'ended',
      toolCalls: progress.toolCalls(),
      usage: result.usage,
      error: result.error,
      label,
      audit,
    };
  }
  const output = result.value as LoopOutput;
  return {
    ok: output.ok,
    text: output.text,
    turns: output.turns,
    stopped: output.stopped,
    toolCalls: output.toolCalls,
    usage: result.usage,
    ...(output.error === undefined ? {} : { error: output.error }),
    label,
    audit,
  };
}

/**
 * Code Mode enforces a def's `fixed` arguments as argument constraints on the child's capability for its tool
 * (the model's code may call `sys.tool` directly, past the typed API that writes them). Throws TypeError naming
 * the def when a fixed value is one the constraint language cannot express as "equals": anything but a string
 * of at most 256 characters, a finite number or a boolean, under a name starting with a letter (at most 16).
 */
function fixedAsConstraints(def: ToolDef, index: number): void {
  if (def.fixed === undefined) return;
  const where = `tools[${index}].fixed`;
  const checked = constraintsSchema.safeParse(def.fixed);
  const array = Object.entries(def.fixed).find(([, value]) => Array.isArray(value));
  if (!checked.success || array !== undefined) {
    const name = array?.[0] ?? checked.error?.issues[0]?.path.join('.') ?? '';
    throw new TypeError(
      `${where}${name === '' ? '' : `.${name.slice(0, 64)}`}: Code Mode enforces fixed arguments as capability ` +
        'constraints, which hold a string of at most 256 characters, a finite number or a boolean, under an ' +
        'argument name starting with a letter, at most 16 of them',
    );
  }
}

/**
 * The argument constraints of the policy rules whose capabilities a Code Mode child may be handed for a tool with
 * `fixed` arguments: the child's constraints replace its parent's, so the loop must repeat them next to the fixed
 * ones (matched by the held capability's action and resource).
 */
function ruleConstraints(
  kernel: Kernel,
  defs: readonly ToolDef[],
): { action: string; resource: string; constraint: Constraints }[] {
  const fixedActions = defs.filter((def) => def.fixed !== undefined).map((def) => def.action);
  if (fixedActions.length === 0) return [];
  const covers = (pattern: string, action: string): boolean =>
    pattern === '*' || pattern === action || (pattern.endsWith('*') && action.startsWith(pattern.slice(0, -1)));
  return kernel.policy.capabilities
    .filter((rule) => fixedActions.some((action) => covers(rule.action, action)))
    .map((rule) => ({ action: rule.action, resource: rule.resource, constraint: rule.constraint ?? {} }));
}

/**
 * The Code Mode child's budget: the host's request, or the default slice, each field at most half the loop's
 * own limit so the loop keeps room to report what the code did.
 */
function codeBudget(
  kernel: Kernel,
  loopLimits: Partial<Limits> | undefined,
  asked: Partial<Limits> | undefined,
): Record<string, number> {
  const limits = kernel.limitsFor(loopLimits);
  const out: Record<string, number> = { children: 0 };
  for (const [field, value] of Object.entries(asked ?? DEFAULT_CODE_BUDGET)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`options.codeMode.budget.${field} must be a finite non-negative number`);
    }
    const limit = limits[field as keyof Limits];
    if (limit === undefined) throw new TypeError(`options.codeMode.budget.${field} is not a known limit`);
    out[field] =
      asked === undefined && Number.isFinite(limit) && field !== 'memory_mb' && field !== 'warn_at'
        ? Math.min(value, Math.floor(limit / 2))
        : value;
  }
  return out;
}

/** Follows the loop's progress lines, tells `onEvent`, and remembers turns and tool calls. */
function watchProgress(
  kernel: Kernel,
  agent: string,
  onEvent: ((event: AgentLoopEvent) => void) | undefined,
): { stop(): void; turns(): number; toolCalls(): LoopToolCall[] } {
  let turns = 0;
  const calls: LoopToolCall[] = [];
  const usage = (used: AgentInfo['usage'] | undefined): LoopUsage => ({
    tokens_in: used?.tokens_in ?? 0,
    tokens_out: used?.tokens_out ?? 0,
    cost_usd: Math.round((used?.cost_usd ?? 0) * 1e6) / 1e6,
    tool_calls: used?.tool_calls ?? 0,
  });
  const listener = (event: Extract<KernelEvent, { type: 'log' }>) => {
    if (event.agent !== agent || !event.text.startsWith(LOOP_EVENT_PREFIX)) return;
    // An event carries the loop's usage, which counts its children's use: its label covers that too.
    const info = kernel.agents().find((entry) => entry.id === agent);
    const label = joinLabels(event.label, info?.label ?? []);
    const parsed = parseEvent(event.text.slice(LOOP_EVENT_PREFIX.length), () => usage(info?.usage), label);
    if (parsed === undefined) return;
    if (parsed.type === 'turn') turns = parsed.turn;
    if (parsed.type === 'tool')
      calls.push({ turn: parsed.turn, name: parsed.name, tool: parsed.tool, code: parsed.code });
    try {
      onEvent?.(parsed);
    } catch {
      // The host's listener must not break the loop's bookkeeping.
    }
  };
  kernel.on('log', listener);
  return { stop: () => kernel.off('log', listener), turns: () => turns, toolCalls: () => [...calls] };
}

function parseEvent(text: string, usage: () => LoopUsage, labelled: readonly string[]): AgentLoopEvent | undefined {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== 'object') return undefined;
  const turn = typeof raw['turn'] === 'number' ? raw['turn'] : 0;
  const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
  const label = Object.freeze([...labelled]);
  switch (raw['event']) {
    case 'turn':
      return { type: 'turn', turn, usage: usage(), label };
    case 'model':
      return {
        type: 'model',
        turn,
        toolCalls: typeof raw['tool_calls'] === 'number' ? raw['tool_calls'] : 0,
        finishReason: str(raw['finish_reason']),
        usage: usage(),
        label,
      };
    case 'tool':
      return {
        type: 'tool',
        turn,
        name: str(raw['name']) ?? '',
        tool: str(raw['tool']),
        code: str(raw['code']),
        usage: usage(),
        label,
      };
    case 'model_error':
      return { type: 'model_error', turn, code: str(raw['code']) ?? 'E_INTERNAL', usage: usage(), label };
    case 'done':
      return { type: 'done', turn, stopped: str(raw['stopped']) ?? '', usage: usage(), label };
    default:
      return undefined;
  }
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${name} must be an integer`);
  if (value < min || value > max) throw new RangeError(`${name} must be between ${min} and ${max}`);
  return value;
}
