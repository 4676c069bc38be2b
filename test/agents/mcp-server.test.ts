import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { McpServerOptions } from '../../agents/mcp-server.js';
import { defineTool, type Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { closeSessions, connectSession, answerText as text } from '../helpers/mcp-session.js';

/**
 * The MCP server face of the kernel, in process (SDK client and server over the SDK's in-memory pair); the
 * stdio command is tested end to end in test/cli/mcp-serve.test.ts.
 */

const sent: unknown[] = [];
const tools = [
  defineTool({
    name: 'inbox.read',
    description: 'reads mail',
    input: z.strictObject({}),
    labels: { source: ['email'] },
    run: () => ({ body: 'hi' }),
  }),
  defineTool({
    name: 'mail.send',
    description: 'sends mail',
    input: z.strictObject({ body: z.string() }),
    labels: { sinks: { '*': ['email'] } },
    run: (args) => {
      sent.push(args);
      return 'sent';
    },
  }),
  defineTool({ name: 'raw', description: 'takes anything', input: z.unknown(), run: () => 1 }),
];

let kernel: Kernel;
afterEach(async () => {
  await closeSessions();
  await kernel?.close();
  sent.length = 0;
});

const connect = (options: McpServerOptions = {}) => connectSession(kernel, options);

describe('createMcpServer', () => {
  it('keeps one label per session: what one session read does not taint another', async () => {
    kernel = testKernel({
      tools,
      policy: {
        capabilities: [
          { action: 'inbox.read', resource: 'inbox.read' },
          { action: 'mail.send', resource: 'mail.send' },
        ],
      },
    });
    const a = await connect();
    const b = await connect();
    await a.client.callTool({ name: 'inbox.read', arguments: {} });
    expect(a.session.label()).toEqual(['email']);
    const fromA = await a.client.callTool({ name: 'mail.send', arguments: { body: 'x' } });
    expect(text(fromA)).toMatch(/^E_TAINT: /);
    const fromB = await b.client.callTool({ name: 'mail.send', arguments: { body: 'y' } });
    expect(fromB.isError).toBeFalsy();
    expect(sent).toEqual([{ body: 'y' }]);
    expect(b.session.label()).toEqual([]);
  });

  it('lists only object-schema tools the policy allows, minus the hidden ones', async () => {
    kernel = testKernel({
      tools,
      policy: { capabilities: [{ action: '*', resource: '**' }] },
    });
    const { client } = await connect({ hide: ['mail.send'] });
    const { tools: listed } = await client.listTools();
    const names = listed.map((tool) => tool.name);
    expect(names).toContain('inbox.read');
    expect(names).toContain('execute');
    expect(names).not.toContain('mail.send');
    expect(names).not.toContain('raw'); // z.unknown(): not an object schema, MCP cannot list it
    const hidden = await client.callTool({ name: 'mail.send', arguments: { body: 'x' } });
    expect(text(hidden)).toMatch(/^E_NO_TOOL: /);
  });

  it('execute code reaches only the exposed tools: sys.tool on a hidden one is refused (red-team pass 71)', async () => {
    kernel = testKernel({
      tools,
      policy: { capabilities: [{ action: '*', resource: '**' }] },
    });
    const { client } = await connect({ hide: ['mail.send'] });
    const viaExecute = await client.callTool({
      name: 'execute',
      arguments: { code: `return await sys.tool('mail.send', { body: 'via execute' })` },
    });
    expect(viaExecute.isError).toBe(true);
    expect(JSON.parse(text(viaExecute))).toMatchObject({ error: { code: 'E_CAP_DENIED' } });
    expect(sent).toEqual([]);
    const exposed = await client.callTool({
      name: 'execute',
      arguments: { code: `return [(await tools.inbox_read({})).body, (await sys.tool('inbox.read', {})).body]` },
    });
    expect(exposed.structuredContent).toEqual({ result: ['hi', 'hi'], logs: [] });
  });

  it('maxResultChars bounds structuredContent too: a longer answer comes as cut text only (red-team pass 71)', async () => {
    const big = defineTool({
      name: 'page.read',
      description: 'reads a page',
      input: z.strictObject({ size: z.number() }),
      run: (args) => ({ body: 'B'.repeat(args.size) }),
    });
    kernel = testKernel({ tools: [big], policy: { capabilities: [{ action: 'page.read', resource: '**' }] } });
    const { client } = await connect({ maxResultChars: 1000 });
    const executed = await client.callTool({ name: 'execute', arguments: { code: `return 'A'.repeat(900000)` } });
    expect(executed.structuredContent).toBeUndefined();
    expect(text(executed)).toMatch(/… \[truncated \d+ characters\]$/);
    expect(text(executed).length).toBeLessThan(1100);
    const called = await client.callTool({ name: 'page.read', arguments: { size: 500_000 } });
    expect(called.structuredContent).toBeUndefined();
    expect(text(called).length).toBeLessThan(1100);
    // Within the bound, both still carry it.
    const small = await client.callTool({ name: 'page.read', arguments: { size: 10 } });
    expect(small.structuredContent).toEqual({ body: 'B'.repeat(10) });
    const smallExecuted = await client.callTool({ name: 'execute', arguments: { code: `return 'A'` } });
    expect(smallExecuted.structuredContent).toEqual({ result: 'A', logs: [] });
  });

  it('executed code carries the session label in and brings its own back', async () => {
    kernel = testKernel({
      tools,
      policy: {
        capabilities: [
          { action: 'inbox.read', resource: 'inbox.read' },
          { action: 'mail.send', resource: 'mail.send' },
        ],
      },
    });
    const { client, session } = await connect();
    const read = await client.callTool({
      name: 'execute',
      arguments: { code: 'return (await tools.inbox_read({})).body' },
    });
    expect(read.structuredContent).toEqual({ result: 'hi', logs: [] });
    expect(session.label()).toEqual(['email']);
    const send = await client.callTool({ name: 'mail.send', arguments: { body: 'hi' } });
    expect(text(send)).toMatch(/^E_TAINT: /);
    expect(sent).toEqual([]);
  });
});
