/**
 * MCP servers as kernel tools: `mcp.call` (agent_os_kernel's provider, on the official TypeScript SDK). The
 * policy's `tools.mcp.servers` names stdio servers; an agent calls `sys.tool('mcp.call', { server, tool,
 * arguments })`, which needs a capability for action `mcp.call` on resource `<server>/<tool>` (so a seed
 * policy's `*\/search` means "any server's search tool").
 *
 * What it guarantees, beyond the kernel's gate:
 * - A server is a program the host configured: `command` is resolved to an absolute, real path when the tool
 *   is created (on PATH for a bare name), it runs without a shell in its own process group with an environment
 *   built from nothing (PATH and LANG, plus the variables the policy names), and it is killed on
 *   `kernel.close()`.
 * - Arguments are checked against the tool's declared JSON Schema before the server sees them (E_BAD_ARG).
 * - Results carry the label `mcp:<server>`, the policy's `labels.sources` for `mcp.call`, and every tag of
 *   every call ever sent to that server up to the moment it answered (calls other agents made while this one
 *   was in flight included): a server is shared state (it may store what one agent sent and return it to
 *   another), so what goes in comes back out labelled, as for files.
 * - A server error (`isError`) is E_TOOL_FAILED with the server's text, bounded and scrubbed of vault secrets
 *   by the kernel; a hang is timed out and the server stopped; a flood is capped and the server stopped; a
 *   crash fails the call; each restarts on the next call. None of it reaches the kernel or other servers.
 */
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { KernelError } from '../runtime/core/errors.js';
import { joinLabels } from '../runtime/labels/label.js';
import { definePolicySection, type PolicySection } from '../runtime/policy/policy.js';
import { defineTool, type Tool } from '../runtime/tool-use/tool-contract.js';
import { type McpCallResult, McpConnection, type McpServerSpec } from './mcp-servers.js';
import { DEFAULT_CHILD_ENV } from './proc.js';
import { type Command, confine, helperExposed, hiddenPaths, sandboxSupport } from './proc-sandbox.js';
import { untrackedWork } from './untracked-writes.js';

/** MCP calls one agent tree may have running at once (Tool.maxInFlight). */
export const MCP_MAX_IN_FLIGHT = 16;

export type { McpCallResult, McpContent } from './mcp-servers.js';

const SERVER_NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_TIMEOUT_MS = 600_000;
const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
/** Where the kernel keeps the tags of everything sent to a server (not a path or URL: nothing collides). */
export const mcpLabelKey = (server: string): string => `(mcp server ${server})`;

const noNul = (value: string) => !value.includes('\0');

const serverSchema = z.strictObject({
  command: z.string().min(1).max(4096).refine(noNul, 'must not contain NUL'),
  args: z.array(z.string().max(4096).refine(noNul, 'must not contain NUL')).max(128).optional(),
  env: z
    .union([
      z.array(z.string().regex(ENV_NAME, 'must be an environment variable name')).max(128),
      z.record(
        z.string().regex(ENV_NAME, 'must be an environment variable name'),
        z.string().max(16_384).refine(noNul),
      ),
    ])
    .optional(),
  cwd: z
    .string()
    .max(4096)
    .refine((path) => isAbsolute(path), 'must be an absolute path')
    .optional(),
  timeout_ms: z.int().min(1).max(MAX_TIMEOUT_MS).optional(),
  max_output_bytes: z.int().min(1024).max(MAX_OUTPUT_BYTES).optional(),
  sandbox: z
    .strictObject({
      write: z.array(z.string().max(4096).refine(isAbsolute, 'must be an absolute path')).max(32).optional(),
      read: z.array(z.string().max(4096).refine(isAbsolute, 'must be an absolute path')).max(32).optional(),
      network: z.boolean().optional(),
    })
    .optional(),
});

/**
 * The policy's `tools.mcp` section: `servers: { <name>: { command, args?, env?, cwd?, timeout_ms?,
 * max_output_bytes?, sandbox? } }`; `sandbox: { write?, read?, network? }` runs the server confined (see
 * confinedServer). `env` is a list of host variable names to pass through, or a map of literal values
 * (never put secrets in a policy: name the variable instead). Strict: unknown keys are refused.
 */
export const mcpConfigSchema = z.strictObject({
  servers: z.record(
    z.string().regex(SERVER_NAME, 'server names are lowercase identifiers such as "search"'),
    serverSchema,
  ),
});

export type McpConfig = z.output<typeof mcpConfigSchema>;

/** The policy's `tools.mcp` section, validated by `mcpConfigSchema`. */
export const mcpPolicySection: PolicySection<McpConfig> = definePolicySection('mcp', mcpConfigSchema);

/** Options of `createMcpTool`: the `tools.mcp` section's shape. */
export type McpOptions = z.input<typeof mcpConfigSchema>;

/** What the host adds to the policy's configuration. */
export interface McpHostOptions {
  /**
   * Paths a confined server (one with `sandbox`) must never reach although a path it is granted holds them: the
   * kernel's store and audit log, the isokernel package (review 94: a confined server read the root key through its
   * working directory, and rewrote the proc sandbox's helper through its `write` path). Unconfined servers reach
   * them.
   */
  readonly exclude?: readonly string[];
}

/**
 * Creates the `mcp.call` tool for the configured servers (none is started yet). Throws TypeError naming the
 * server when the configuration is malformed, a command is not an executable file (on PATH for a bare name),
 * or a cwd is not an existing directory.
 *
 * A call throws KernelError: E_NOT_FOUND (no such server), E_NO_TOOL (the server has no such tool), E_BAD_ARG
 * (arguments refused by the tool's schema), E_TOOL_FAILED (the server's error with its text, a timeout, a
 * flood, a crash, a server that cannot start), E_KILLED (the agent ended).
 */
export function createMcpTool(options: McpOptions, host: McpHostOptions = {}): Tool {
  const parsed = mcpConfigSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue === undefined ? '' : issue.path.map(String).join('.');
    throw new TypeError(`createMcpTool: options${path === '' ? '' : `.${path}`}: ${issue?.message ?? 'invalid'}`);
  }
  const connections = new Map<string, McpConnection>();
  for (const [name, server] of Object.entries(parsed.data.servers)) {
    connections.set(name, new McpConnection(resolveServer(name, server, host.exclude ?? [])));
  }
  return defineTool({
    name: 'mcp.call',
    description:
      'Call a tool of an MCP server: { server, tool, arguments }. Returns { content: [text as strings, other parts as objects], structured? }.',
    input: z.strictObject({
      server: z.string().regex(SERVER_NAME, 'must be a server name such as "search"'),
      tool: z.string().regex(TOOL_NAME, 'must be an MCP tool name'),
      // A default, not optional: the server is sent `{}` for a call without them, so the call has them, and a sink on
      // `arguments` (which applies to arguments a call has) covers it (red-team pass 150 sent a secret bit by bit
      // as which argument-free tool it called, past `{ arg: arguments, deny: [secret] }`).
      arguments: z.record(z.string(), z.unknown()).default({}),
    }),
    resource: (args) => `${args.server}/${args.tool}`,
    // A server is a host program: it can read any file, so a policy source on any path tags its answers, as
    // for proc.exec (red-team pass 87 read a `web` writer's file, and an `inbox/**` file, clean through one).
    labels: { observes: { actions: ['fs.read', 'fs.list', 'fs.stat'], scope: 'anywhere' } },
    // Each call is a request the server's connection holds open until it answers (a long poll may never).
    maxInFlight: MCP_MAX_IN_FLIGHT,
    run: async (args, ctx): Promise<McpCallResult> => {
      const connection = connections.get(args.server);
      if (connection === undefined) throw new KernelError('E_NOT_FOUND', `mcp.call: no server named "${args.server}"`);
      // Whatever this call sends may come back to anyone: the server keeps its label from now on (recorded
      // before sending, so a call that answers at once already sees it).
      const key = mcpLabelKey(args.server);
      // One atomic join: two calls at once (a get then a set each) could otherwise lose one caller's tags.
      const sent = await ctx.labels.raise(key, ctx.label);
      ctx.taint([`mcp:${args.server}`, ...sent]);
      // Its answer may quote any file it read, with the labels the kernel keeps for files; and it may write any
      // file, which the fs tools then read with what it knew (./untracked-writes.ts).
      ctx.taint(await ctx.labels.all());
      const work = await untrackedWork(ctx.labels, joinLabels(joinLabels(sent, ctx.label), ctx.sources));
      try {
        // Stored before the server may start or be sent the call, so a process that dies during it leaves it open.
        await work.spawning(connection.group);
        return await connection.call(
          args.tool,
          args.arguments,
          ctx.signal,
          ctx.metered,
          (group) => {
            void work.started(group);
          },
          () => ctx.tookEffect(),
        );
      } finally {
        // The reply (or error text) may quote anything the server was sent while this call was in flight (a
        // long poll answered by another agent's put): its label is what the server keeps once it answered,
        // read again here. In `finally`, so a failure carries it too (the kernel joins taints on a throw).
        ctx.taint(await ctx.labels.get(key));
        ctx.taint(await ctx.labels.all());
        // A call cut short by its agent's end is only dropped by the kernel: the server may still be at work on
        // it, and write files, until the call's timeout (review 88 had it copy a file labelled after the cut, which
        // read clean). Its untracked work ends then, not now.
        if (ctx.signal.aborted) endLater(work.ended, connection.spec.timeoutMs);
        else await work.ended();
      }
    },
    close: async () => {
      await Promise.all([...connections.values()].map((connection) => connection.close()));
    },
  });
}

// Ends untracked work after `ms`, without keeping the process alive for it.
function endLater(ended: () => Promise<void>, ms: number): void {
  setTimeout(() => void ended().catch(() => undefined), ms).unref();
}

/** The server's command, environment and limits, resolved once. */
function resolveServer(name: string, config: z.output<typeof serverSchema>, exclude: readonly string[]): McpServerSpec {
  const where = `createMcpTool: servers.${name}`;
  const cwd = config.cwd ?? process.cwd();
  try {
    if (!statSync(cwd).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new TypeError(`${where}.cwd must be an existing directory`);
  }
  const maxMessageBytes = config.max_output_bytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const command = resolveCommand(config.command, cwd, `${where}.command`);
  const args = [...(config.args ?? [])];
  const launch =
    config.sandbox === undefined
      ? { command, args }
      : confinedServer({ file: command, argv0: command, args }, cwd, config.sandbox, exclude, `${where}.sandbox`);
  return Object.freeze({
    name,
    command: launch.command,
    args: Object.freeze(launch.args),
    env: serverEnv(config.env),
    cwd,
    timeoutMs: config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
    maxMessageBytes,
    maxWindowBytes: 2 * maxMessageBytes,
    hungAfterMs: config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
  });
}

/**
 * The command line that runs a server confined by the proc tool's sandbox (tools/proc-sandbox.ts): writes only
 * in `write`, reads only `read`, the system directories, its own executable and its cwd, no socket unless
 * `network`. Asked for in the config, so a host that cannot confine refuses to build the tool (TypeError), as do
 * paths that do not exist.
 */
function confinedServer(
  command: Command,
  cwd: string,
  sandbox: {
    readonly write?: readonly string[] | undefined;
    readonly read?: readonly string[] | undefined;
    readonly network?: boolean | undefined;
  },
  exclude: readonly string[],
  where: string,
): { readonly command: string; readonly args: string[] } {
  const support = sandboxSupport();
  if (!support.available) throw new TypeError(`${where}: the server cannot be confined here: ${support.reason}`);
  const real = (paths: readonly string[] | undefined, key: string): string[] =>
    (paths ?? []).map((path, i) => {
      try {
        return realpathSync(path);
      } catch {
        throw new TypeError(`${where}.${key}[${i}] must be an existing path`);
      }
    });
  const writes = real(sandbox.write, 'write');
  const hidden = hiddenPaths(exclude);
  if (helperExposed(support.helper, writes, hidden)) {
    throw new TypeError(`${where}.write: a path holds the sandbox helper (exclude the isokernel package)`);
  }
  const confined = confine(support.helper, command, {
    writes,
    readRoots: [],
    hidden,
    readPaths: [...real(sandbox.read, 'read'), realpathSync(cwd), command.file],
    network: sandbox.network ?? false,
  });
  return { command: confined.file, args: [...confined.args] };
}

/** An absolute, real path to an executable file: a path as given (relative to `cwd`), or a bare name on PATH. */
function resolveCommand(command: string, cwd: string, where: string): string {
  const candidates = command.includes('/')
    ? [resolve(cwd, command)]
    : (process.env['PATH'] ?? '')
        .split(':')
        .filter((dir) => isAbsolute(dir))
        .map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      const real = realpathSync(candidate);
      if (!statSync(real).isFile()) continue;
      accessSync(real, constants.X_OK);
      return real;
    } catch {
      // Next candidate.
    }
  }
  throw new TypeError(
    `${where}: "${command.slice(0, 200)}" is not an executable file${command.includes('/') ? '' : ' on PATH'}`,
  );
}

/**
 * A server's environment, built from nothing as proc's is: a null prototype (a polluted Object.prototype adds
 * nothing), NODE_V8_COVERAGE pinned to undefined (Node would copy the host's), PATH and LANG with fixed values,
 * then the host variables named in a list, or the literal values of a map.
 */
function serverEnv(env: readonly string[] | Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = Object.create(null);
  out['NODE_V8_COVERAGE'] = undefined;
  for (const [key, value] of Object.entries(DEFAULT_CHILD_ENV)) out[key] = value;
  if (Array.isArray(env)) {
    for (const name of env) {
      const value = Object.hasOwn(process.env, name) ? process.env[name] : undefined;
      if (typeof value === 'string') out[name] = value;
    }
  } else if (env !== undefined) {
    for (const [name, value] of Object.entries(env)) out[name] = value;
  }
  return out;
}
