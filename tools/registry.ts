import type { z } from 'zod';

/** What a tool sees of the call it is serving. */
export interface ToolContext {
  /** The id of the calling agent. */
  readonly agent: string;
  /** Aborted when the calling agent ends (killed, quota, or finished). */
  readonly signal: AbortSignal;
  /** The label of this call: the caller's context joined with every handle it passed. */
  readonly label: readonly string[];
}

/**
 * A tool the kernel runs on behalf of agents. Tools are trusted host code: they receive arguments that
 * the kernel has already parsed and validated against `input`, and their result is copied back to the
 * agent as JSON. A tool that throws reports E_TOOL_FAILED to the agent with no detail, unless it throws a
 * KernelError, whose code and message it chose to be safe.
 */
export interface Tool<Schema extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly description: string;
  readonly input: Schema;
  /** The capability action every call needs (default: the tool's name), e.g. `fs.read`. */
  readonly action?: string;
  /**
   * The resource a call acts on, derived from its validated arguments and already in normal form (an
   * absolute normalized path, a URL, or a name); undefined refuses the call. Default: the tool's name.
   */
  resource?(args: z.output<Schema>): string | undefined;
  /** The argument that carries the resource, so `kernel.submit({ action, target })` can build the call. */
  readonly target?: string;
  /** Values the tool uses for arguments a call leaves out, so a `{ method: GET }` grant allows a bare call. */
  readonly defaults?: Readonly<Record<string, string | number | boolean>>;
  /**
   * Information flow: `source` tags every result carries (net.http → ['web']); `sinks` maps an argument name
   * (or '*' for every argument) to the tags that may not reach it (email.send → { '*': ['web', 'email'] }).
   */
  readonly labels?: {
    readonly source?: readonly string[];
    readonly sinks?: Readonly<Record<string, readonly string[]>>;
  };
  run(args: z.output<Schema>, ctx: ToolContext): unknown;
}

const TOOL_NAME = /^[a-z][a-z0-9_]*(?:[.:-][a-z0-9_]+)*$/;

/**
 * Declares a tool. Throws TypeError if the name is not a lowercase dotted identifier (for example
 * `fs.read`), if the description is empty, or if `input` is not a zod schema.
 */
export function defineTool<Schema extends z.ZodType>(spec: Tool<Schema>): Tool<Schema> {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('defineTool: spec must be an object');
  if (typeof spec.name !== 'string' || !TOOL_NAME.test(spec.name) || spec.name.length > 64) {
    throw new TypeError('defineTool: name must be a lowercase identifier such as "fs.read"');
  }
  if (typeof spec.description !== 'string' || spec.description.trim() === '') {
    throw new TypeError('defineTool: description must be a non-empty string');
  }
  if (typeof spec.input?.safeParse !== 'function') throw new TypeError('defineTool: input must be a zod schema');
  if (typeof spec.run !== 'function') throw new TypeError('defineTool: run must be a function');
  if (spec.action !== undefined && (typeof spec.action !== 'string' || !TOOL_NAME.test(spec.action))) {
    throw new TypeError('defineTool: action must be a lowercase identifier such as "fs.read"');
  }
  if (spec.resource !== undefined && typeof spec.resource !== 'function') {
    throw new TypeError('defineTool: resource must be a function of the arguments');
  }
  if (spec.target !== undefined && typeof spec.target !== 'string')
    throw new TypeError('defineTool: target must be a string');
  return Object.freeze({ ...spec, defaults: Object.freeze({ ...spec.defaults }) });
}

/** The action a tool's calls are authorized as. */
export function toolAction(tool: Tool): string {
  return tool.action ?? tool.name;
}

/** The tools a kernel can run. Names and actions are unique; registering a duplicate throws. */
export class ToolRegistry {
  readonly #tools = new Map<string, Tool>();
  readonly #byAction = new Map<string, Tool>();

  /** Registers tools. Throws TypeError on a duplicate name or a value not made by defineTool. */
  add(...tools: Tool[]): this {
    for (const tool of tools) {
      if (typeof tool?.name !== 'string' || typeof tool.run !== 'function') {
        throw new TypeError('tools.add: expected a tool made by defineTool');
      }
      if (this.#tools.has(tool.name)) throw new TypeError(`tools.add: a tool named "${tool.name}" is registered`);
      const action = toolAction(tool);
      if (this.#byAction.has(action)) throw new TypeError(`tools.add: a tool for action "${action}" is registered`);
      this.#tools.set(tool.name, tool);
      this.#byAction.set(action, tool);
    }
    return this;
  }

  /** The tool with this name, or undefined. Safe for agent-supplied names (a Map, not an object). */
  get(name: string): Tool | undefined {
    return this.#tools.get(name);
  }

  /** The tool that performs `action`, or undefined. */
  forAction(action: string): Tool | undefined {
    return this.#byAction.get(action);
  }

  list(): Tool[] {
    return [...this.#tools.values()];
  }
}
