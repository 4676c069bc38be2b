/**
 * Tool definitions for models (the agent_os_kernel `ToolDef` idea): metadata only. A ToolDef names what the
 * model sees (a name in the model API's alphabet, a description, the JSON Schema of the arguments) and the
 * kernel tool a call maps to, with how its arguments map. It holds no code: a call the model makes becomes
 * `sys.tool(def.tool, mappedArguments)` inside the agent loop, so the kernel is the only way it runs.
 */
import type { Tool, ToolDefinition, ToolRegistry } from '../runtime/tool-use/tool-contract.js';
import { toolAction, toolDefinition } from '../runtime/tool-use/tool-contract.js';

/** What a model is told about one tool, and where its calls go. */
export interface ToolDef {
  /** The name the model sees and calls: `^[a-zA-Z0-9_-]{1,64}$` (`fs.read` is shown as `fs_read`). */
  readonly name: string;
  readonly description: string;
  /** JSON Schema of the arguments the model writes (default: the kernel tool's, from its zod schema). */
  readonly parameters: Readonly<Record<string, unknown>>;
  /** The kernel tool a call runs as (`sys.tool(tool, …)`). */
  readonly tool: string;
  /** The capability action the kernel tool is authorized as (for attenuating capabilities in Code Mode). */
  readonly action: string;
  /** Argument renames: the model's name → the kernel tool's name. */
  readonly rename?: Readonly<Record<string, string>>;
  /**
   * Arguments every call gets, whatever the model wrote (for example `{ method: 'GET' }`). In Code Mode they are
   * also the argument constraints of the child's capability for the tool, so code that calls `sys.tool` directly
   * with another value is refused (E_CAP_DENIED); there each must be a string of at most 256 characters, a finite
   * number or a boolean under a name starting with a letter (`runAgentLoop` throws TypeError otherwise).
   */
  readonly fixed?: Readonly<Record<string, unknown>>;
}

/** How a host names a tool for a model: a kernel tool's name, or a partial ToolDef naming `tool`. */
export type ToolSpec =
  | string
  | {
      readonly tool: string;
      readonly name?: string;
      readonly description?: string;
      readonly parameters?: Readonly<Record<string, unknown>>;
      readonly rename?: Readonly<Record<string, string>>;
      readonly fixed?: Readonly<Record<string, unknown>>;
    };

const MODEL_ALPHABET = /^[a-zA-Z0-9_-]{1,64}$/;
const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * A kernel tool name in the model API's alphabet: every character outside `[a-zA-Z0-9_-]` becomes `_`
 * (`fs.read` → `fs_read`, `mcp:search` → `mcp_search`), cut to 64 characters. Never throws.
 */
export function modelToolName(name: string): string {
  const mapped = String(name)
    .replace(/[^a-zA-Z0-9_-]/g, '_')
    .slice(0, 64);
  return mapped === '' ? '_' : mapped;
}

/**
 * Resolves host tool specs against the kernel's registry. Throws TypeError naming the spec when a tool is
 * not registered, a name is outside the model alphabet, two tools would have the same model name (the
 * rewrite maps back one-to-one or not at all), or a rename or fixed argument is malformed.
 */
export function resolveToolDefs(registry: ToolRegistry, specs: readonly ToolSpec[]): ToolDef[] {
  if (!Array.isArray(specs)) throw new TypeError('tools must be an array of tool names or tool definitions');
  const byName = new Map<string, ToolDef>();
  specs.forEach((spec, index) => {
    const where = `tools[${index}]`;
    const request = typeof spec === 'string' ? { tool: spec } : spec;
    if (request === null || typeof request !== 'object' || typeof request.tool !== 'string') {
      throw new TypeError(`${where} must be a tool name or an object naming \`tool\``);
    }
    const tool = registry.get(request.tool);
    if (tool === undefined) throw new TypeError(`${where}: no tool named "${request.tool}" is registered`);
    const def = toolDef(tool, request, where);
    const clash = byName.get(def.name);
    if (clash !== undefined) {
      throw new TypeError(
        `${where}: "${def.tool}" and "${clash.tool}" would both be called "${def.name}" by the model`,
      );
    }
    byName.set(def.name, def);
  });
  return [...byName.values()];
}

function toolDef(tool: Tool, request: Exclude<ToolSpec, string>, where: string): ToolDef {
  const definition: ToolDefinition = toolDefinition(tool);
  const name = request.name ?? modelToolName(tool.name);
  if (typeof name !== 'string' || !MODEL_ALPHABET.test(name)) {
    throw new TypeError(`${where}.name must match ^[a-zA-Z0-9_-]{1,64}$`);
  }
  const description = request.description ?? definition.description;
  if (typeof description !== 'string' || description.trim() === '') {
    throw new TypeError(`${where}.description must be a non-empty string`);
  }
  const parameters = request.parameters ?? definition.parameters;
  if (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters)) {
    throw new TypeError(`${where}.parameters must be a JSON Schema object`);
  }
  const rename = checkRecord(
    request.rename,
    `${where}.rename`,
    (value) => typeof value === 'string' && ARG_NAME.test(value),
  );
  const fixed = checkRecord(request.fixed, `${where}.fixed`, (value) => value !== undefined);
  return Object.freeze({
    name,
    description,
    parameters,
    tool: tool.name,
    action: toolAction(tool),
    ...(rename === undefined ? {} : { rename }),
    ...(fixed === undefined ? {} : { fixed }),
  });
}

function checkRecord<T>(
  value: Readonly<Record<string, T>> | undefined,
  where: string,
  valid: (item: unknown) => boolean,
): Readonly<Record<string, T>> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new TypeError(`${where} must be an object`);
  for (const [key, item] of Object.entries(value)) {
    if (!ARG_NAME.test(key) || !valid(item)) throw new TypeError(`${where}.${key.slice(0, 64)} is malformed`);
  }
  try {
    return JSON.parse(JSON.stringify(value)) as Readonly<Record<string, T>>;
  } catch {
    throw new TypeError(`${where} must be JSON`);
  }
}

/**
 * The tools a policy lets the host's agents use: every registered tool whose action some policy rule's action
 * pattern covers, except those listed in `except`. What `isokernel chat` and `isokernel mcp serve` offer.
 */
export function allowedTools(
  registry: ToolRegistry,
  actionPatterns: readonly string[],
  except: readonly string[] = [],
): Tool[] {
  const covers = (pattern: string, action: string) =>
    pattern === '*' || pattern === action || (pattern.endsWith('*') && action.startsWith(pattern.slice(0, -1)));
  return registry
    .list()
    .filter(
      (tool) => !except.includes(tool.name) && actionPatterns.some((pattern) => covers(pattern, toolAction(tool))),
    );
}
