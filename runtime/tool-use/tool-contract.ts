import { z } from 'zod';
import { parseOptions } from '../core/options.js';

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
  /**
   * Joins `tags` into the label kept for `key` and returns the result, atomically: no other `set` or `raise`
   * of the store runs in between, so concurrent raises never lose a tag (a get then a set could).
   */
  raise(key: string, tags: readonly string[]): Promise<readonly string[]>;
  /** Every tag ever kept for any key (it only grows): what a tool that can read anything may return. */
  all(): Promise<readonly string[]>;
  /**
   * Keeps `work` under `id`, replacing what was kept there, or forgets `id` when `work` is undefined. Kept beside
   * the labels, outside their key space, and for the kernel (no tenant's share): in a store directory it survives
   * the process, so the next process on the store knows what work was open when the last one died.
   */
  keepUntracked(id: string, work: UntrackedWorkEntry | undefined): Promise<void>;
  /** Every entry `keepUntracked` kept, by id. */
  listUntracked(): Promise<readonly (readonly [string, UntrackedWorkEntry])[]>;
}

/**
 * Work that may change files where the kernel cannot see which (a program `proc.exec` runs, an MCP call), while it
 * is open (tools/untracked-writes.ts).
 */
export interface UntrackedWorkEntry {
  /** A random id of the process that opened it, told apart from any later process with the same pid. */
  readonly owner: string;
  /**
   * That process's id, its start time (clock ticks since boot), the boot id and its pid namespace (from /proc; null
   * where /proc does not tell), which say whether a pid seen later is that process (runtime/core/process-identity.ts).
   */
  readonly pid: number;
  readonly start: string | null;
  readonly boot: string | null;
  readonly ns: string | null;
  /** When that process last renewed the entry (ms since the epoch): a lease, for readers its pid means nothing to. */
  readonly renewed: number;
  /** The process group doing the work once it started (a program's, an MCP server's), or null before. */
  readonly group: number | null;
  /** What the work was given: joined into the untracked-writes mark when the work is closed. */
  readonly label: readonly string[];
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
  /**
   * Whose share the call draws on (the tenant of the caller's namespace: every agent of a tree shares it), or
   * undefined for the host: what a tool bounds per owner rather than per agent (net.http's name lookups).
   */
  readonly tenant?: string | undefined;
  /** Aborted when the calling agent ends (killed, quota, or finished). */
  readonly signal: AbortSignal;
  /** The label of this call: the caller's context joined with every handle it passed. */
  readonly label: readonly string[];
  /**
   * The source tags the result will carry (the tool's own and the policy's for this resource): a tool that
   * stores what it observed somewhere the kernel reads back (a label for an untracked write) keeps them.
   */
  readonly sources: readonly string[];
  /** Vault secrets bound to this call's action and resource. */
  readonly inject: Injection;
  /**
   * The most bytes the result may take as the reply's JSON, or undefined when it stays in the kernel (a handle,
   * or the host's own call). A result past it is refused after the tool returns; a tool that knows its result
   * will be larger (a file's size) refuses before doing the work.
   */
  readonly maxResultBytes: number | undefined;
  /**
   * Authorizes this call's action again for another resource (an HTTP redirect hop), debiting and auditing
   * like a fresh call, and returns the vault secrets bound to that resource. Throws KernelError when refused.
   */
  reauthorize(resource: string): Injection;
  /**
   * Adds tags to the result's label (a read of a file that was written with labelled data). A call that
   * tainted and then throws raises the caller's label the same way (with the tool's source tags): an error
   * message may quote what the tool read. Any number of tags: past 64 the label is the top, `*` (every tag).
   */
  taint(tags: readonly string[]): void;
  /**
   * Charges usage to the calling agent and every ancestor before the result is returned. Throws KernelError
   * E_BAD_ARG for a non-finite or negative amount, E_QUOTA when a limit is crossed (the agent is killed, its
   * label first joined with the call's and its taints so far: the amount came from what the call saw).
   */
  charge(usage: ToolCharge): void;
  /**
   * Says the call's effect has happened (net.http: a server answered the request). The outcome record says what
   * happened to the effect, so a refusal that still ends the call after this (a redirect hop refused, a body past
   * the memory quota, a charge past a limit) is recorded as `error`, never `denied` or `killed`, which say there
   * was none. A tool that returns has had its effect; this is for the failures after it.
   */
  tookEffect(): void;
  /**
   * Runs `call` and charges the kernel time of its synchronous part to the caller's `cpu_ms`: for a tool's heavy
   * synchronous work after its first await (checking arguments against a schema it just fetched, parsing),
   * which the dispatcher's clock does not see. Returns what `call` returns and rethrows what it throws.
   */
  metered<T>(call: () => T): T;
  /**
   * Charges `bytes` this call keeps in the kernel's memory while it runs (a response body being read) to the
   * calling agent's memory_mb and the kernel's held-memory bound, and returns the function that gives them back
   * (call it when the bytes are dropped; later calls do nothing). Throws KernelError E_QUOTA when the agent's
   * limit is crossed (the agent is ended, its label first joined as for `charge`) or the kernel's bound is full.
   * Free for the host's own calls.
   */
  hold(bytes: number): () => void;
  /** Saves how to undo the effect this call is about to make; resolves to the record id for rollback. */
  saveUndo(capture: UndoCapture): Promise<string>;
  /**
   * Adds an audit record (status ok, the call's label) naming something this call resolved on the caller's
   * behalf, such as the executable a program name runs as (`proc.program`, `/usr/bin/git`). `action` is an
   * action name and `resource` a resource in normal form; anything else throws KernelError E_INTERNAL.
   */
  note(action: string, resource: string): void;
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
   * Joins `tags` into the rollback's label: what the undo read to decide (a file's kept label, before it refuses
   * because the file changed) tells of whoever changed it, so the host's result and the outcome record carry it.
   */
  taint(tags: readonly string[]): void;
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
    /**
     * Other actions whose policy `labels.sources` also tag this tool's results and failures, because the tool
     * observes the same resources (fs.list and fs.stat reveal what fs.read would). `scope` says which of those
     * sources apply: `resource` (default) those matching the call's resource; `subtree` also those matching a
     * resource below it (a directory's listing, size or emptiness reveals the paths it holds); `anywhere`
     * all of them, whatever their resource (a program run by proc.exec can read any path).
     */
    readonly observes?: { readonly actions: readonly string[]; readonly scope?: ObservedScope };
  };
  /**
   * The most calls of this tool one agent tree (an agent and its descendants) may have running at once; a call
   * past it waits, in order, for a place before it is authorized (runtime/tool-use/tool-slots.ts). For tools
   * whose every call holds kernel resources until it ends (a socket, a child process, buffered output): without
   * it, one agent's burst of calls that never end held them all.
   */
  readonly maxInFlight?: number;
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

/** Which policy sources of an observed action tag a tool's results (see `Tool.labels.observes`). */
export type ObservedScope = 'resource' | 'subtree' | 'anywhere';

const IDENTIFIER = 'must be a lowercase identifier such as "fs.read"';
const callback = (what: string) => z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', what);

// Strict: a misspelt `resource` would otherwise be ignored and every call would act on the tool's name.
const toolSpecSchema = z.strictObject({
  name: z.string(IDENTIFIER).max(64, IDENTIFIER).regex(TOOL_NAME, IDENTIFIER),
  description: z
    .string('must be a non-empty string')
    .refine((text) => text.trim() !== '', 'must be a non-empty string'),
  input: z.custom<z.ZodType>(
    (value) => typeof (value as { safeParse?: unknown } | null)?.safeParse === 'function',
    'must be a zod schema',
  ),
  run: callback('must be a function'),
  action: z.string(IDENTIFIER).regex(TOOL_NAME, IDENTIFIER).optional(),
  resource: callback('must be a function of the arguments').optional(),
  target: z.string().optional(),
  defaults: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  labels: z
    .strictObject({
      source: z.array(z.string()).optional(),
      sinks: z.record(z.string(), z.array(z.string())).optional(),
      observes: z
        .strictObject(
          {
            actions: z.array(z.string().regex(TOOL_NAME)),
            scope: z.enum(['resource', 'subtree', 'anywhere']).optional(),
          },
          "must be { actions: action names, scope?: 'resource' | 'subtree' | 'anywhere' }",
        )
        .optional(),
    })
    .optional(),
  undo: callback('must be a function').optional(),
  close: callback('must be a function').optional(),
  maxInFlight: z
    .int('must be an integer between 1 and 1000000')
    .min(1, 'must be an integer between 1 and 1000000')
    .max(1_000_000, 'must be an integer between 1 and 1000000')
    .optional(),
});

/**
 * Declares a tool. Throws TypeError naming the field (`defineTool: spec.name: …`) if the name or action is
 * not a lowercase dotted identifier (for example `fs.read`), the description is empty, `input` is not a zod
 * schema, a callback is not a function, or the spec has a key a tool does not have.
 */
export function defineTool<Schema extends z.ZodType>(spec: Tool<Schema>): Tool<Schema> {
  parseOptions(toolSpecSchema, spec, 'defineTool: spec');
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
