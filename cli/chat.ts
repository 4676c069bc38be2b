/**
 * `isokernel chat --model NAME --base-url URL "prompt"`: the agent loop from the command line. The loop runs
 * as an agent under the policy with the tools the policy allows (fs confined to --root, proc, http, and the
 * policy's MCP servers), its model calls go to the OpenAI-compatible endpoint at --base-url with the key in
 * OPENAI_API_KEY, and it prints the final answer on stdout and its progress on stderr.
 */
import { join } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { AgentLoopEvent } from '../agents/agent-loop.js';
import type { Kernel } from '../kernel-entry.js';
import { isRefusal } from '../runtime/core/errors.js';
import { matchAction, matchResource } from '../runtime/core/resource-match.js';
import type { Policy } from '../runtime/policy/policy.js';
import type { Tool } from '../runtime/tool-use/tool-contract.js';
import { DEFAULT_STORE, EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Io, sanitizeForTerminal } from './io.js';

export interface ChatOptions {
  model: string;
  baseUrl: string;
  policy?: string;
  root?: string[];
  store?: string;
  audit?: string;
  codeMode?: boolean;
  maxTurns?: number;
  instructions?: string;
}

/** The loop waits on the network; unless the policy's budget says otherwise it gets ten minutes. */
export const CHAT_WALL_MS = 600_000;
const DEFAULT_INSTRUCTIONS =
  'You are a helpful assistant. Use the tools when they help; every call is checked by a security kernel, ' +
  'and a refused call comes back as an error with a code.';

/**
 * Runs one agent loop. Exit 0 when the model gave a final answer, 1 when the loop failed (the endpoint, a
 * budget, maxTurns), 2 on a usage error: bad options, an invalid policy, or a policy that does not allow
 * `model.chat` on the model.
 */
export async function chatCommand(prompt: string, options: ChatOptions, io: Io): Promise<number> {
  // Loaded here, not at the CLI's start (see cli/main.ts): the model client and the kernel are this command's.
  const [{ allowedTools }, { Kernel }, { createModelTool, isModelName, modelOptionsFromConfig, modelPolicySection }] =
    await Promise.all([import('../agents/tool-defs.js'), import('../kernel-entry.js'), import('../tools/model.js')]);
  const [{ builtinTools }, { kernelState }] = await Promise.all([import('./builtin-tools.js'), import('./run.js')]);
  const usage = (message: string): number => {
    io.err(`isokernel chat: ${message}`);
    return EXIT_USAGE;
  };
  if (!isModelName(options.model)) return usage('--model must be a model name such as gpt-4o');
  if (options.maxTurns !== undefined && (!Number.isInteger(options.maxTurns) || options.maxTurns > 1000)) {
    return usage('--max-turns must be an integer between 1 and 1000');
  }
  const store = options.store ?? DEFAULT_STORE;
  const auditFile = options.audit ?? join(store, 'audit.jsonl');
  let kernel: Kernel;
  try {
    kernel = Kernel.create({
      store,
      audit: { file: auditFile, fsync: 'interval' },
      ...(options.policy === undefined ? {} : { policy: options.policy }),
    });
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
  const fail = async (message: string): Promise<number> => {
    await kernel.close();
    return usage(message);
  };
  if (!allowsModel(kernel.policy, options.model)) {
    return await fail(
      `the policy does not allow model.chat on "${options.model}" (add - action: model.chat, resource: ${options.model})`,
    );
  }
  let tools: Tool[];
  try {
    const config = modelPolicySection.read(kernel.policy) ?? {};
    const model = createModelTool(
      modelOptionsFromConfig(config, {
        baseURL: options.baseUrl,
        apiKeyEnv: config.api_key_env ?? 'OPENAI_API_KEY',
      }),
    );
    kernel.tools.add(
      ...builtinTools(kernel.policy, options.root ?? [], kernelState(store, auditFile, [options.policy]), {
        model: false,
        warn: (message) => io.err(`isokernel chat: warning: ${message}`),
      }),
      model,
    );
    const patterns = kernel.policy.capabilities.map((rule) => rule.action);
    tools = allowedTools(kernel.tools, patterns, ['model.chat']);
  } catch (error) {
    return await fail(error instanceof Error ? error.message : String(error));
  }
  const wall = kernel.policy.budget?.wall_ms === undefined ? { wall_ms: CHAT_WALL_MS } : {};
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  let exit: number;
  try {
    const result = await kernel.runAgentLoop({
      model: options.model,
      prompt,
      instructions: options.instructions ?? DEFAULT_INSTRUCTIONS,
      tools: tools.map((tool) => tool.name),
      ...(options.maxTurns === undefined ? {} : { maxTurns: options.maxTurns }),
      ...(options.codeMode === true ? { codeMode: true } : {}),
      limits: wall,
      signal: controller.signal,
      onEvent: (event) => io.err(describe(event)),
    });
    const { tokens_in, tokens_out, cost_usd, tool_calls } = result.usage;
    const records = result.audit.to >= result.audit.from ? `seq=${result.audit.from}..${result.audit.to}` : 'seq=none';
    const totals = `tokens in=${tokens_in} out=${tokens_out} cost=$${cost_usd} tool_calls=${tool_calls}`;
    if (result.ok) {
      io.out(result.text.split('\n').map(sanitizeForTerminal).join('\n'));
      io.err(`isokernel: ok turns=${result.turns} ${totals} audit=${auditFile} ${records}`);
      exit = EXIT_OK;
    } else {
      const error = result.error ?? { code: 'E_INTERNAL', message: 'the loop failed' };
      io.err(
        `isokernel: ${error.code} (${sanitizeForTerminal(error.message)}) turns=${result.turns} ${totals} audit=${auditFile} ${records}`,
      );
      exit = EXIT_FAILED;
    }
  } catch (error) {
    exit = usage(error instanceof Error ? error.message : String(error));
  } finally {
    process.off('SIGINT', interrupt);
  }
  await kernel.close();
  return exit;
}

/** Adds `chat` to the isokernel command. */
export function registerChat(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('chat')
    .description('run the LLM agent loop under a policy: the answer on stdout, progress on stderr')
    .argument('<prompt>', 'what to ask')
    .requiredOption('--model <name>', 'the model (the policy must allow model.chat on it)')
    .requiredOption(
      '--base-url <url>',
      'an OpenAI-compatible endpoint, e.g. https://api.openai.com/v1 (key: OPENAI_API_KEY)',
    )
    .option('--policy <file>', 'policy YAML: the capabilities of the loop and its tools')
    .option(
      '--root <dir>',
      'directory the fs tools may act in; repeatable (default: the current directory)',
      collect,
      [],
    )
    .option('--code-mode', 'give the model one execute({ code }) tool over a typed API of the tools')
    .option('--max-turns <n>', 'model calls before giving up (default 10)', positiveInteger)
    .option('--instructions <text>', 'system instructions')
    .option('--store <dir>', 'state that outlives the run: root key, counters, memory', DEFAULT_STORE)
    .option('--audit <file>', 'audit log (JSONL); default <store>/audit.jsonl')
    .action(async (prompt: string, options: ChatOptions) => {
      setExit(await chatCommand(prompt, options, io));
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** True when some policy rule allows `model.chat` on `model`. */
export function allowsModel(policy: Policy, model: string): boolean {
  return policy.capabilities.some(
    (rule) => matchAction(rule.action, 'model.chat') && matchResource(rule.resource, model),
  );
}

/** One progress line: the turn, each tool call with the kernel's decision, tokens and dollars so far. */
function describe(event: AgentLoopEvent): string {
  const spent = `tokens in=${event.usage.tokens_in} out=${event.usage.tokens_out} cost=$${event.usage.cost_usd}`;
  const safe = (text: string) => sanitizeForTerminal(text);
  switch (event.type) {
    case 'turn':
      return `[turn ${event.turn}] asking the model (${spent})`;
    case 'model':
      return `[turn ${event.turn}] the model ${event.toolCalls === 0 ? 'answered' : `called ${event.toolCalls} tool${event.toolCalls === 1 ? '' : 's'}`} (${spent})`;
    case 'tool': {
      const target = event.tool === null ? '(no such tool)' : safe(event.tool);
      const decision =
        event.code === null ? 'ok' : isRefusal(event.code) ? `refused ${event.code}` : `failed ${event.code}`;
      return `[turn ${event.turn}] ${safe(event.name)} -> ${target}: ${decision}`;
    }
    case 'model_error':
      return `[turn ${event.turn}] the model call failed: ${event.code}`;
    case 'done':
      return `[done] ${safe(event.stopped)} after ${event.turn} turn${event.turn === 1 ? '' : 's'} (${spent})`;
  }
}
