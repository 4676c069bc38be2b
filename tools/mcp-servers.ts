/**
 * The MCP servers the `mcp.call` tool talks to: one connection per configured server, started on first use
 * with the official client SDK over KernelStdioTransport, its tool list read once per start and cached,
 * restarted on the next call after it died, and killed on close. Each tool's JSON Schema check (mcp-schema.ts:
 * linear in the arguments) is compiled when the tool is first called, on a compiler of that start's own: a
 * start costs no compile work for tools nobody calls, and everything compiled goes with the connection (a
 * server that exits after every call, re-listed and recompiled on each start, grew the kernel's heap by
 * 7.5 MB a start when every start's schemas stayed cached on one Ajv instance for the process's life).
 *
 * Failure handling, all without touching the kernel or other servers:
 * - A call that outlives the server's timeout is abandoned and the server is killed (a hung server stays
 *   hung); the next call starts a fresh one.
 * - A server that sends more than its output cap is killed (flood), the call fails, the next one restarts it.
 * - A server that exits fails its in-flight calls; the next call restarts it.
 * - The agent ending cancels its request (the SDK sends notifications/cancelled); the server keeps running.
 */
import type {
  Client,
  JsonSchemaValidator,
  jsonSchemaValidator,
  Tool as McpToolInfo,
} from '@modelcontextprotocol/client';
import { KernelError } from '../runtime/core/errors.js';
import type { ArgumentCheck, SchemaCompiler } from './mcp-schema.js';
import type { KernelStdioTransport, StdioLaunch } from './mcp-transport.js';

/**
 * The SDK checks a tool's structured result against the output schema its server declared, with its own Ajv, on
 * the kernel's event loop, after the call's await and so out of any meter: a server's `uniqueItems` (pairwise),
 * `pattern` (backtracking) or `format: url` held the loop 17 s on an agent's 400 KB echoed back (red-team pass
 * 53). A server's claim about its own output protects nothing here (the result reaches the agent as labelled data,
 * which it can check itself), so nothing is compiled or checked.
 */
const UNCHECKED_OUTPUT: jsonSchemaValidator = {
  getValidator<T>(): JsonSchemaValidator<T> {
    return (input) => ({ valid: true, data: input as T, errorMessage: undefined });
  },
};

/** A configured server, resolved: absolute command, scrubbed environment, limits. */
export interface McpServerSpec extends StdioLaunch {
  readonly name: string;
  readonly timeoutMs: number;
}

/** The content of a tool result as the agent receives it: text parts as strings, other parts as objects. */
export type McpContent = string | Readonly<Record<string, unknown>>;

export interface McpCallResult {
  readonly content: readonly McpContent[];
  /** The tool's structured result, when it returned one. */
  readonly structured?: unknown;
}

/** A listed tool; `check` is compiled on its first call (null: its schema is unusable). */
interface ToolEntry {
  readonly info: McpToolInfo;
  check?: ArgumentCheck | null;
}

interface Live {
  readonly client: Client;
  readonly transport: KernelStdioTransport;
  /** This start's schema compiler: dropped with the connection, and everything it compiled with it. */
  readonly schemas: SchemaCompiler;
  tools: ReadonlyMap<string, ToolEntry>;
  dead: boolean;
}

const MAX_TOOLS = 1024;
const START_TIMEOUT_MS = 10_000;
const MAX_ERROR_TEXT = 1000;

/** One configured server's connection. */
export class McpConnection {
  readonly spec: McpServerSpec;
  #live: Live | undefined;
  #starting: Promise<Live> | undefined;
  // The connection being started, killed by `close` at once: a server that never answers `initialize` held
  // `kernel.close()` (and `isokernel run`) for its whole start timeout, 26 s here (red-team pass 149).
  #startingLive: Live | undefined;
  #closed = false;
  /** How many times the server was started (restarts are visible in tests and to hosts). */
  starts = 0;

  constructor(spec: McpServerSpec) {
    this.spec = spec;
  }

  /** The running server's process group (its pid: it leads its own), or undefined when none runs. */
  get group(): number | undefined {
    return this.#live === undefined || this.#live.dead ? undefined : this.#live.transport.pid;
  }

  /** The server's tools (starting it if needed). Throws KernelError E_TOOL_FAILED when it cannot start. */
  async tools(signal?: AbortSignal): Promise<McpToolInfo[]> {
    const live = await this.#ensure(signal);
    return [...live.tools.values()].map((tool) => tool.info);
  }

  /**
   * Calls `tool` with `args` after checking them against the tool's declared input schema (E_BAD_ARG, the
   * server never sees a malformed call). Throws KernelError E_NO_TOOL for a tool the server does not list,
   * E_TOOL_FAILED for the server's own error (its text, bounded), a timeout, a flood or a crash, E_KILLED when
   * `signal` aborted. `onServer` is told the server's process group (its pid: it leads its own) before it is sent
   * the call, and `onSent` when the call is sent.
   */
  async call(
    tool: string,
    args: Readonly<Record<string, unknown>>,
    signal: AbortSignal,
    meter: <T>(work: () => T) => T = (work) => work(),
    onServer?: (group: number | undefined) => void,
    onSent?: () => void,
  ): Promise<McpCallResult> {
    const where = `mcp.call: ${this.spec.name}/${tool}`;
    const live = await this.#ensure(signal, meter);
    onServer?.(live.transport.pid);
    const entry = live.tools.get(tool);
    if (entry === undefined)
      throw new KernelError('E_NO_TOOL', `mcp.call: server "${this.spec.name}" has no tool "${tool}"`);
    // Compiling and checking run after the connection's await, out of the dispatcher's sight: the caller is
    // charged for them (a server's schema times the agent's arguments can take a while, see mcp-schema.ts).
    if (entry.check === undefined) entry.check = meter(() => live.schemas.compile(entry.info.inputSchema)) ?? null;
    const check = entry.check;
    if (check === null)
      throw new KernelError('E_TOOL_FAILED', `${where}: the server declared an unusable input schema`);
    const checked = meter(() => check(args));
    if (!checked.valid) {
      throw new KernelError('E_BAD_ARG', `${where}: invalid arguments: ${checked.errorMessage.slice(0, 300)}`);
    }
    live.transport.openWindow();
    // The call goes to the server now: what it does with it may happen whatever ends the call (review 152).
    onSent?.();
    let result: Awaited<ReturnType<Client['callTool']>>;
    let answered = false;
    try {
      result = await live.client.callTool(
        { name: tool, arguments: { ...args } },
        { timeout: this.spec.timeoutMs, signal },
      );
      answered = true;
    } catch (error) {
      if (signal.aborted) throw new KernelError('E_KILLED', `${where}: the agent has ended`);
      // By name: the transport's module loads with the SDK, on a server's first start, not with this one.
      if (isBusy(error)) {
        throw new KernelError('E_TOOL_FAILED', `${where}: the server is not reading its input fast enough`);
      }
      if (live.transport.flooded)
        throw new KernelError('E_TOOL_FAILED', `${where}: the server's output exceeds the cap (it was stopped)`);
      if (live.dead) throw new KernelError('E_TOOL_FAILED', `${where}: the server exited`);
      if (isTimeout(error)) {
        // A hung server stays hung: kill it so the next call starts a fresh one.
        this.#kill(live);
        throw new KernelError(
          'E_TOOL_FAILED',
          `${where}: timed out after ${this.spec.timeoutMs} ms (the server was stopped)`,
        );
      }
      throw new KernelError('E_TOOL_FAILED', `${where}: the call failed`);
    } finally {
      // A call that ended without its answer (its agent ended, it failed) may still be answered: its allowance stays
      // until the call timeout, or the late answer counted against the next agent's call as a flood (a review of
      // pass 55's fix).
      if (answered) live.transport.closeWindow();
      else closeWindowLater(live.transport, this.spec.timeoutMs);
    }
    const content = toContent(result.content);
    if (result.isError === true) {
      const text = content.filter((part): part is string => typeof part === 'string').join('\n');
      const shown =
        text === '' ? 'no detail' : text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text;
      throw new KernelError('E_TOOL_FAILED', `${where} failed: ${shown}`);
    }
    return result.structuredContent === undefined ? { content } : { content, structured: result.structuredContent };
  }

  /** Kills the server (if running). The connection can be started again unless `final`. */
  async close(final = true): Promise<void> {
    if (final) this.#closed = true;
    if (this.#startingLive !== undefined) this.#kill(this.#startingLive);
    const live = this.#live ?? (await this.#starting?.catch(() => undefined));
    if (live !== undefined) this.#kill(live);
  }

  async #ensure(signal?: AbortSignal, meter?: <T>(work: () => T) => T): Promise<Live> {
    if (this.#closed) throw new KernelError('E_TOOL_FAILED', `mcp.call: server "${this.spec.name}" is stopped`);
    if (this.#live !== undefined && !this.#live.dead) return this.#live;
    if (this.#starting === undefined) {
      this.#starting = this.#start(meter).finally(() => {
        this.#starting = undefined;
      });
    }
    const starting = this.#starting;
    if (signal === undefined) return await starting;
    return await new Promise<Live>((resolve, reject) => {
      const onAbort = () => reject(new KernelError('E_KILLED', 'mcp.call: the agent has ended'));
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      starting.then(
        (live) => {
          signal.removeEventListener('abort', onAbort);
          resolve(live);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  async #start(meter?: <T>(work: () => T) => T): Promise<Live> {
    this.starts++;
    // The SDK is loaded when a server first starts, not when the tool is made: every kernel with the built-in
    // tools makes the MCP tool, and importing the SDK measured ≈ 0.3 s of the CLI's start (the schema checker,
    // ajv and re2js, likewise).
    const [{ Client }, { KernelStdioTransport }, { createSchemaCompiler }] = await Promise.all([
      import('@modelcontextprotocol/client'),
      import('./mcp-transport.js'),
      import('./mcp-schema.js'),
    ]);
    // A close while the SDK loaded (a process's first start): nothing is started (review 152: the start went on
    // and held close for its whole timeout).
    if (this.#closed) throw new KernelError('E_TOOL_FAILED', `mcp.call: server "${this.spec.name}" is stopped`);
    const transport = new KernelStdioTransport(this.spec, meter);
    const client = new Client(
      { name: 'isokernel', version: '0.1.0' },
      { capabilities: {}, jsonSchemaValidator: UNCHECKED_OUTPUT },
    );
    const live: Live = { client, transport, schemas: createSchemaCompiler(), tools: new Map(), dead: false };
    this.#startingLive = live;
    // Starting a server (a runtime and its SDK loading) can take longer than a call may: at least 10 s.
    const startMs = Math.max(this.spec.timeoutMs, START_TIMEOUT_MS);
    const deadline = AbortSignal.timeout(startMs);
    try {
      await client.connect(transport, { timeout: startMs });
      // The SDK's own close handler is chained: a server that exits is marked dead for the next call.
      const onclose = transport.onclose;
      transport.onclose = () => {
        live.dead = true;
        onclose?.();
      };
      const tools = new Map<string, ToolEntry>();
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor }, {
          timeout: startMs,
          signal: deadline,
        });
        for (const info of page.tools) {
          if (tools.size >= MAX_TOOLS) break;
          tools.set(info.name, { info });
        }
        cursor = page.nextCursor;
      } while (cursor !== undefined && tools.size < MAX_TOOLS);
      live.tools = tools;
    } catch {
      this.#kill(live);
      throw new KernelError('E_TOOL_FAILED', `mcp.call: server "${this.spec.name}" could not be started`);
    } finally {
      this.#startingLive = undefined;
    }
    if (this.#closed) {
      this.#kill(live);
      throw new KernelError('E_TOOL_FAILED', `mcp.call: server "${this.spec.name}" is stopped`);
    }
    this.#live = live;
    return live;
  }

  #kill(live: Live): void {
    live.dead = true;
    if (this.#live === live) this.#live = undefined;
    void live.transport.close();
    void live.client.close().catch(() => undefined);
  }
}

function isTimeout(error: unknown): boolean {
  const text = error instanceof Error ? `${error.name} ${error.message}` : '';
  return /timed? ?out/i.test(text);
}

/** MCP content blocks → what the agent receives: text parts as strings, the rest as plain objects. */
function toContent(blocks: unknown): McpContent[] {
  if (!Array.isArray(blocks)) return [];
  return blocks.map((block): McpContent => {
    if (block === null || typeof block !== 'object') return { type: 'unknown' };
    const part = block as Record<string, unknown>;
    if (part['type'] === 'text' && typeof part['text'] === 'string') return part['text'];
    // Other parts (image, audio, resource, resource_link) are kept as the server sent them, minus metadata.
    const { _meta: _ignored, annotations: _annotations, ...rest } = part;
    return rest;
  });
}

function isBusy(error: unknown): boolean {
  const named = (value: unknown) => value instanceof Error && value.name === 'McpBusyError';
  return named(error) || (error instanceof Error && named(error.cause));
}

// Out of `call`'s scope: a timer made there kept the call's whole context (its arguments, a megabyte each)
// alive until it fired.
function closeWindowLater(transport: KernelStdioTransport, ms: number): void {
  setTimeout(() => transport.closeWindow(), ms).unref();
}
