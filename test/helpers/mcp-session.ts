import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import { createMcpServer, type McpServerOptions, type McpSession } from '../../agents/mcp-server.js';
import type { Kernel } from '../../index.js';

/**
 * One MCP session over `kernel`, in process: the SDK's client and the kernel's server over the SDK's in-memory
 * pair. Close the client with `closeSessions` after each test.
 */
const open: Client[] = [];

export async function connectSession(
  kernel: Kernel,
  options: McpServerOptions = {},
): Promise<{ client: Client; session: McpSession }> {
  const session = createMcpServer(kernel, options);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await session.server.connect(serverSide);
  const client = new Client({ name: 'host', version: '1' });
  await client.connect(clientSide);
  open.push(client);
  return { client, session };
}

/** Closes every client `connectSession` opened. */
export async function closeSessions(): Promise<void> {
  for (const client of open.splice(0)) await client.close();
}

/** The text parts of a tool answer, joined. */
export const answerText = (result: Awaited<ReturnType<Client['callTool']>>): string =>
  (result.content as { text: string }[]).map((part) => part.text).join('');
