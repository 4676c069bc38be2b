/**
 * `isokernel mcp serve --policy P [--root DIR ...] [--store DIR]`: the kernel as an MCP server over stdio. The
 * tools it serves are the ones `isokernel run` registers (fs under --root, proc, http, model.chat and the
 * policy's MCP servers) that the policy allows, plus `execute`. stdout carries the protocol and nothing else;
 * the kernel's own lines go to stderr. It exits when the client closes stdin (or on SIGINT/SIGTERM).
 */
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import type { createMcpServer } from '../agents/mcp-server.js';
import type { Kernel } from '../kernel-entry.js';
import { DEFAULT_STORE, EXIT_OK, EXIT_USAGE, type Io } from './io.js';

export interface McpServeOptions {
  policy: string;
  root?: string[];
  store?: string;
  audit?: string;
}

/**
 * Serves MCP on `stdin`/`stdout` until the client goes away. Resolves to 0, or 2 on a usage error (an invalid
 * policy, a bad root) before anything is served.
 */
export async function mcpServe(
  options: McpServeOptions,
  io: Io,
  stdio: { stdin: Readable; stdout: Writable } = { stdin: process.stdin, stdout: process.stdout },
): Promise<number> {
  // Loaded here, not at the CLI's start (see cli/main.ts): the MCP SDK and the kernel are this command's.
  const [{ StdioServerTransport }, { createMcpServer }, { Kernel }, { builtinTools }, { kernelState }] =
    await Promise.all([
      import('@modelcontextprotocol/server/stdio'),
      import('../agents/mcp-server.js'),
      import('../kernel-entry.js'),
      import('./builtin-tools.js'),
      import('./run.js'),
    ]);
  const store = options.store ?? DEFAULT_STORE;
  const auditFile = options.audit ?? join(store, 'audit.jsonl');
  let kernel: Kernel;
  try {
    kernel = Kernel.create({ store, audit: { file: auditFile, fsync: 'interval' }, policy: options.policy });
  } catch (error) {
    io.err(`isokernel mcp serve: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_USAGE;
  }
  let session: ReturnType<typeof createMcpServer>;
  try {
    kernel.tools.add(
      ...builtinTools(kernel.policy, options.root ?? [], kernelState(store, auditFile, [options.policy]), {
        warn: (message) => io.err(`isokernel mcp serve: warning: ${message}`),
      }),
    );
    session = createMcpServer(kernel);
  } catch (error) {
    io.err(`isokernel mcp serve: ${error instanceof Error ? error.message : String(error)}`);
    await kernel.close();
    return EXIT_USAGE;
  }
  const transport = new StdioServerTransport(stdio.stdin, stdio.stdout);
  const closed = new Promise<void>((resolve) => {
    session.server.onclose = () => resolve();
  });
  const stop = () => void session.server.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await session.server.connect(transport);
    io.err(`isokernel mcp serve: serving on stdio (policy ${options.policy}, audit ${auditFile})`);
    await closed;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await kernel.close();
  }
  io.err(`isokernel mcp serve: session ended (label ${JSON.stringify(session.label())})`);
  return EXIT_OK;
}

/** Adds `mcp serve` to the isokernel command. */
export function registerMcp(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('mcp')
    .description('isokernel and the Model Context Protocol')
    .command('serve')
    .description('serve the tools the policy allows, and execute({ code }), over MCP on stdio')
    .requiredOption('--policy <file>', 'policy YAML: what the served tools and executed code may do')
    .option(
      '--root <dir>',
      'directory the fs tools may act in; repeatable (default: the current directory)',
      collect,
      [],
    )
    .option('--store <dir>', 'state that outlives the session: root key, counters, memory', DEFAULT_STORE)
    .option('--audit <file>', 'audit log (JSONL); default <store>/audit.jsonl')
    .action(async (options: McpServeOptions) => {
      setExit(await mcpServe(options, io));
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
