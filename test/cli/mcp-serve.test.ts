import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAuditFile } from '../../index.js';
import { BIN, type Workspace, workspace } from '../helpers/cli-process.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { fixtureServer } from '../helpers/mcp-fixture.js';

/**
 * A real SDK client connected to the real `isokernel mcp serve` (bin → dist; `npm test` builds first) over
 * stdio. After each session the audit log must verify.
 */

interface Session {
  readonly client: Client;
  readonly ws: Workspace;
  readonly stderr: () => string;
}

const sessions: Session[] = [];
const servers: TestServer[] = [];
afterEach(async () => {
  for (const { client, ws } of sessions.splice(0)) {
    await client.close();
    // The server closes its kernel when stdin ends; give it the moment to flush the log.
    await waitForVerified(join(ws.store, 'audit.jsonl'));
    ws.cleanup();
  }
  for (const server of servers.splice(0)) await server.close();
});

async function serve(policy: (ws: Workspace) => Record<string, unknown>): Promise<Session> {
  const ws = workspace();
  const file = ws.policy(policy(ws));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'mcp', 'serve', '--policy', file, '--root', ws.root, '--store', ws.store],
    cwd: ws.dir,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const client = new Client({ name: 'test-host', version: '1.0.0' });
  await client.connect(transport);
  const session = { client, ws, stderr: () => stderr };
  sessions.push(session);
  return session;
}

const text = (result: Awaited<ReturnType<Client['callTool']>>) =>
  (result.content as { type: string; text: string }[]).map((part) => part.text).join('');

describe('isokernel mcp serve', () => {
  it('lists the tools the policy allows, with JSON Schemas, and execute with its TypeScript declaration', async () => {
    const { client } = await serve((ws) => ({
      capabilities: [
        { action: 'fs.read', resource: `${ws.root}/**` },
        { action: 'fs.list', resource: `${ws.root}/**` },
      ],
    }));
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['execute', 'fs.list', 'fs.read']);
    const read = tools.find((tool) => tool.name === 'fs.read');
    expect(read?.inputSchema).toMatchObject({
      type: 'object',
      properties: { path: { type: 'string' } },
      required: ['path'],
    });
    const execute = tools.find((tool) => tool.name === 'execute');
    expect(execute?.description).toContain('declare const tools: {');
    expect(execute?.description).toContain('fs_read(args: {');
  });

  it('reads a file under the policy, and is refused outside it (E_CAP_DENIED as an MCP error result)', async () => {
    const { client, ws } = await serve((w) => ({ capabilities: [{ action: 'fs.read', resource: `${w.root}/**` }] }));
    writeFileSync(join(ws.root, 'hello.txt'), 'hello from the workspace');
    writeFileSync(join(ws.outside, 'secret.txt'), 'not yours');
    const ok = await client.callTool({ name: 'fs.read', arguments: { path: join(ws.root, 'hello.txt') } });
    expect(ok.isError).toBeFalsy();
    expect(ok.structuredContent).toMatchObject({ content: 'hello from the workspace' });
    const refused = await client.callTool({ name: 'fs.read', arguments: { path: join(ws.outside, 'secret.txt') } });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/^E_CAP_DENIED: /);
    expect(text(refused)).not.toContain('not yours');
    const notListed = await client.callTool({
      name: 'fs.write',
      arguments: { path: join(ws.root, 'x'), content: 'x' },
    });
    expect(text(notListed)).toMatch(/^E_NO_TOOL: /);
  });

  it('execute runs JavaScript in a fresh agent: the result and its logs, or the typed error', async () => {
    const { client, ws } = await serve((w) => ({ capabilities: [{ action: 'fs.read', resource: `${w.root}/**` }] }));
    writeFileSync(join(ws.root, 'n.txt'), '21');
    const path = JSON.stringify(join(ws.root, 'n.txt'));
    const ok = await client.callTool({
      name: 'execute',
      arguments: {
        code: `async () => { const f = await tools.fs_read({ path: ${path} }); console.log('read', f.content); return Number(f.content) * 2; }`,
      },
    });
    expect(ok.isError).toBeFalsy();
    expect(ok.structuredContent).toEqual({ result: 42, logs: ['read 21'] });
    const viaSys = await client.callTool({
      name: 'execute',
      arguments: { code: `return (await sys.tool('fs.read', { path: ${path} })).content;` },
    });
    expect(viaSys.structuredContent).toEqual({ result: '21', logs: [] });
    const bad = await client.callTool({ name: 'execute', arguments: { code: 'async () => { return (1 + ; }' } });
    expect(bad.isError).toBe(true);
    expect(JSON.parse(text(bad))).toMatchObject({ error: { code: 'E_BAD_CODE' } });
    const denied = await client.callTool({
      name: 'execute',
      arguments: {
        code: `async () => { console.log('trying'); return await tools.fs_read({ path: '/etc/hostname' }); }`,
      },
    });
    expect(JSON.parse(text(denied))).toMatchObject({ error: { code: 'E_CAP_DENIED' }, logs: ['trying'] });
  });

  it('keeps label state per session: data read in one call cannot be sent out by a later call or by executed code', async () => {
    const outside = await startTestServer((_req, res) => res.end('ok'));
    servers.push(outside);
    const { client, ws } = await serve((w) => ({
      capabilities: [
        { action: 'fs.read', resource: `${w.root}/**` },
        { action: 'net.http', resource: `${outside.origin}/**` },
      ],
      labels: {
        sources: [{ tool: 'fs.read', resource: `${w.root}/private/**`, tags: ['secret'] }],
        sinks: [{ tool: 'net.http', arg: 'body', deny: ['secret'] }],
      },
      tools: { http: { allow_private: ['127.0.0.1/32'] } },
    }));
    // Before anything secret is read, the session may post.
    const before = await client.callTool({
      name: 'net.http',
      arguments: { url: `${outside.origin}/a`, method: 'POST', body: 'hello' },
    });
    expect(before.isError).toBeFalsy();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(ws.root, 'private'));
    writeFileSync(join(ws.root, 'private', 'key.txt'), 'sk-session-secret');
    const read = await client.callTool({ name: 'fs.read', arguments: { path: join(ws.root, 'private', 'key.txt') } });
    expect(read.isError).toBeFalsy();
    const send = await client.callTool({
      name: 'net.http',
      arguments: { url: `${outside.origin}/b`, method: 'POST', body: 'anything' },
    });
    expect(text(send)).toMatch(/^E_TAINT: /);
    const viaCode = await client.callTool({
      name: 'execute',
      arguments: {
        code: `async () => tools.net_http({ url: ${JSON.stringify(`${outside.origin}/c`)}, method: 'POST', body: 'x' })`,
      },
    });
    expect(JSON.parse(text(viaCode))).toMatchObject({ error: { code: 'E_TAINT' } });
    expect(outside.requests.map((r) => r.url)).toEqual(['/a']);
  });

  it('serves the policy’s MCP servers through mcp.call, gated by <server>/<tool>', async () => {
    const { client } = await serve(() => ({
      capabilities: [{ action: 'mcp.call', resource: '*/search' }],
      tools: { mcp: { servers: { fixture: fixtureServer() } } },
    }));
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['execute', 'mcp.call']);
    const found = await client.callTool({
      name: 'mcp.call',
      arguments: { server: 'fixture', tool: 'search', arguments: { query: 'mcp' } },
    });
    expect(found.structuredContent).toEqual({ content: ['results for mcp', 'limit 3'] });
    const echo = await client.callTool({
      name: 'mcp.call',
      arguments: { server: 'fixture', tool: 'echo', arguments: { text: 'x' } },
    });
    expect(text(echo)).toMatch(/^E_CAP_DENIED: /);
  });

  it('exits 2 on an invalid policy, before serving', async () => {
    const ws = workspace();
    const bad = ws.file('bad.yaml', 'capabilities:\n  - action: fs.read\n    resource: /data/**\n    bogus: 1\n');
    const run = await ws.run(['mcp', 'serve', '--policy', bad, '--store', ws.store]);
    ws.cleanup();
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/bad\.yaml:4:\d+: capabilities\[0\]\.bogus/);
  });
});

async function waitForVerified(file: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const report = verifyAuditFile(file);
    if (report.ok) return;
    if (performance.now() > deadline) throw new Error(`audit log does not verify: ${JSON.stringify(report)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
