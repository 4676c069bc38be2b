import { z } from 'zod';

/** Secrets the kernel's vault injects into a request, host-side. Tools must never return or log them. */
export interface Injection {
  /** Header name → value (a bearer binding arrives as `authorization: Bearer …`). */
  readonly headers: Readonly<Record<string, string>>;
  /** Query parameter name → value. */
  readonly query: Readonly<Record<string, string>>;
}

/** Usage a tool reports for its call (a model call's tokens and price). */
export interface ToolCharge {
  readonly tokens_in?: number;
  readonly tokens_out?: number;
  readonly cost_usd?: number;
}

/** What a reversible tool saves before its effect, so `kernel.rollback(recordId)` can undo it. */
export interface UndoCapture {
  /** The action the undo is authorized as when rolled back (restoring a file is `fs.write`). */
  readonly action: string;
  /** The resource the undo acts on, in normal form. */
  readonly resource: string;
  /** Tool-defined JSON the tool's `undo` receives (blob ids, modes, the digest of what it wrote). */
  readonly data: unknown;
}

/** Content-addressed bytes: the id is the SHA-256 of the content, checked again on every read. */
export interface BlobAccess {
  put(bytes: Uint8Array): Promise<string>;
  /** The bytes, or undefined when unknown or corrupt. */
  get(id: string): Promise<Uint8Array | undefined>;
}

/** Labels the kernel keeps for things outside it (a file keeps the label of what was written to it). */
export interface LabelStore {
  get(key: string): Promise<readonly string[]>;
  /** Replaces the tags kept for `key`; an empty list forgets it. */
  set(key: string, tags: readonly string[]): Promise<void>;
  /** Every tag ever kept for any key (it only grows): what a tool that can read anything may return. */
  all(): Promise<readonly string[]>;
}

/**
 * The LabelStore key where a tool that changes files without the kernel seeing which (proc.exec runs
 * programs that may copy or write any file) keeps every tag those files may now hold. It is not a resource,
 * so no path or URL key collides with it; the fs tools join it into every read, listing and stat.
 */
export const UNTRACKED_WRITES_KEY = '(untracked writes)';

/** What a tool sees of the call it is serving. */
export interface ToolContext {
  /** The id of the calling agent ('host' for `kernel.submit` and `kernel.rollback`). */
  readonly agent: string;
  /** Aborted when the calling agent ends (killed, quota, or finished). */
  readonly signal: AbortSignal;
  /** The label of this call: the caller's context joined with every handle it passed. */
  readonly label: readonly string[];
  /** Vault secrets bound to this call's action and resource. */
  readonly inject: Injection;
  /**
   * Authorizes this call's action again for another resource (an HTTP redirect hop), debiting and auditing
   * like a fresh call, and returns the vault secrets bound to that resource. Throws KernelError when refused.
   */
  reauthorize(resource: string): Injection;
  /**
   * Adds tags to the result's label (a read of a file that was written with labelled data). A call that
   * tainted and then throws raises the caller's label the same way (with the tool's source tags): an error
   * message may quote what the tool read.
   */
  taint(tags: readonly string[]): void;
  /**
   * Charges usage to the calling agent and every ancestor before the result is returned. Throws KernelError
   * E_BAD_ARG for a non-finite or negative amount, E_QUOTA when a limit is crossed (the agent is killed).
   */
  charge(usage: ToolCharge): void;
  /** Saves how to undo the effect this call is about to make; resolves to the record id for rollback. */
  saveUndo(capture: UndoCapture): Promise<string>;
  /** The kernel's content-addressed store (previous file contents for undo). */
  readonly blobs: BlobAccess;
  /** Labels the kernel keeps for resources (file paths), persisted with the store. */
  readonly labels: LabelStore;
}

/** What a tool's `undo` sees when the host rolls a call back. */
export interface UndoContext {
  readonly signal: AbortSignal;
  readonly blobs: BlobAccess;
  readonly labels: LabelStore;
  /** Undo even if the resource changed since the recorded call. */
  readonly force: boolean;
  /**
   * The action and resource the rollback was authorized as (the kernel always sets them): the undo must
   * act on exactly that resource, in a way that action covers, whatever its `data` says.
   */
  readonly action?: string;
  readonly resource?: string;
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
  /**
   * Reverses a call that saved an undo record (`ctx.saveUndo`). `data` is what the call saved. Throws
   * KernelError (E_TOOL_FAILED when the resource changed since, unless `ctx.force`).
   */
  undo?(data: unknown, ctx: UndoContext): Promise<void>;
  /**
   * Releases what the tool holds outside the kernel (the processes of MCP servers). `kernel.close()` calls it
   * once, after every agent has ended; what it throws or rejects with is ignored.
   */
  close?(): Promise<void> | void;
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
  if (spec.undo !== undefined && typeof spec.undo !== 'function')
    throw new TypeError('defineTool: undo must be a function');
  if (spec.target !== undefined && typeof spec.target !== 'string')
    throw new TypeError('defineTool: target must be a string');
  if (spec.close !== undefined && typeof spec.close !== 'function')
    throw new TypeError('defineTool: close must be a function');
  return Object.freeze({ ...spec, defaults: Object.freeze({ ...spec.defaults }) });
}

/** The action a tool's calls are authorized as. */
export function toolAction(tool: Tool): string {
  return tool.action ?? tool.name;
}

/** A tool as an LLM function-calling API describes it (OpenAI `tools[].function`, MCP `tools/list`). */
export interface ToolDefinition {
  readonly name: string;
  readonly description: string;
  /** JSON Schema (draft 2020-12) of the arguments, generated from the tool's zod input schema. */
  readonly parameters: Record<string, unknown>;
}

/**
 * The tool's definition for a model: its name, description and the JSON Schema of its input, derived from
 * the same zod schema the kernel validates every call against, so what the model is told and what the
 * kernel accepts cannot drift apart. Input types JSON Schema cannot express (transforms, custom checks)
 * are described as loosely as zod can; the kernel still validates the real schema.
 */
export function toolDefinition(tool: Tool): ToolDefinition {
  const { $schema: _ignored, ...parameters } = z.toJSONSchema(tool.input, { unrepresentable: 'any', io: 'input' });
  return { name: tool.name, description: tool.description, parameters };
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

  /** Every tool's definition for a model (see `toolDefinition`), in registration order. */
  definitions(): ToolDefinition[] {
    return this.list().map(toolDefinition);
  }
}
