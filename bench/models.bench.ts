// What the kernel adds to model calls, agent-loop turns, Code Mode and MCP calls, each against a floor measured
// in the same run against the same local server: the openai SDK calling the scripted endpoint directly, and the
// MCP SDK client calling the fixture server directly.
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import OpenAI from 'openai';
import { Bench } from 'tinybench';
import { z } from 'zod';
import { createMcpTool, createModelTool, defineTool, Kernel } from '../index.js';
import { answer, type ChatRequest, callTools, startModelServer } from '../test/helpers/model-server.js';
import { benchOptions, Figures } from './report.js';

const figures = new Figures({
  'models.chat': {
    what: 'model.chat from an agent (syscall, gate, labels, charge, audit), per call',
    floor: 'the openai SDK calling the same local endpoint directly',
  },
  'models.loop_turn': {
    what: 'agent loop turn: one model call + one tool call + progress lines',
    floor: 'one direct SDK chat call',
  },
  'models.code_mode_child': {
    what: 'Code Mode child: sys.spawn + sys.join of a module',
    floor: 'a trivial top-level kernel.run',
  },
  'models.mcp_call': {
    what: 'mcp.call from an agent (schema check, kept labels, audit), per call',
    floor: 'the MCP SDK client calling the fixture server directly',
  },
});

const N = 10;
const FIXTURE = fileURLToPath(new URL('../test/fixtures/mcp/fixture-server.mjs', import.meta.url));

// A loop that asks for echo until the conversation holds N tool answers, then answers.
const server = await startModelServer([], (request: ChatRequest) => {
  const done = request.messages.filter((m) => m.role === 'tool').length;
  return done < N ? callTools([{ name: 'echo', arguments: { n: done } }]) : answer('done');
});
const echo = defineTool({
  name: 'echo',
  description: 'returns its arguments',
  input: z.unknown(),
  run: (args) => args,
});
const kernel = Kernel.create({
  isolation: 'inline',
  policy: {
    capabilities: [
      { action: 'model.chat', resource: 'bench' },
      { action: 'echo', resource: 'echo' },
      { action: 'mcp.call', resource: 'fixture/*' },
    ],
  },
  limits: { children: 100_000, wall_ms: 600_000, cpu_ms: 600_000 },
  tools: [
    echo,
    createModelTool({ baseURL: server.baseURL, maxRetries: 0 }),
    createMcpTool({ servers: { fixture: { command: process.execPath, args: [FIXTURE] } } }),
  ],
});
const sdk = new OpenAI({ baseURL: server.baseURL, apiKey: 'x', maxRetries: 0 });
const first = [{ role: 'user' as const, content: 'go' }];

const mcpClient = new Client({ name: 'bench', version: '1' });
await mcpClient.connect(new StdioClientTransport({ command: process.execPath, args: [FIXTURE], stderr: 'ignore' }));

const inAgent = (body: string) => async () => {
  const result = await kernel.run({ code: `export default async () => { ${body} }` });
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
};

const bench = new Bench(benchOptions({ time: 3000, warmupTime: 500 }));
bench
  .add(`${N} direct SDK chat calls`, async () => {
    for (let i = 0; i < N; i++) await sdk.chat.completions.create({ model: 'bench', messages: first });
  })
  .add(
    `${N} model.chat calls in one agent`,
    inAgent(
      `for (let i = 0; i < ${N}; i++) await sys.tool('model.chat', { model: 'bench', messages: [{ role: 'user', content: 'go' }] });`,
    ),
  )
  .add(`agent loop, ${N} tool turns + answer`, async () => {
    const result = await kernel.runAgentLoop({ model: 'bench', prompt: 'go', tools: ['echo'], maxTurns: N + 1 });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
  })
  .add(`${N} trivial top-level kernel.run`, async () => {
    for (let i = 0; i < N; i++) await kernel.run({ code: 'export default async () => 1' });
  })
  .add(`${N} Code Mode-style children (spawn + join)`, async () => {
    const result = await kernel.run({
      caps: [{ action: 'agent.spawn', resource: 'inline' }],
      code: `export default async () => { for (let i = 0; i < ${N}; i++) await sys.join(await sys.spawn({ code: 'export default async () => 1' })); }`,
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
  })
  .add(`${N} direct MCP SDK calls`, async () => {
    for (let i = 0; i < N; i++) await mcpClient.callTool({ name: 'echo', arguments: { text: 'x' } });
  })
  .add(
    `${N} mcp.call in one agent`,
    inAgent(
      `for (let i = 0; i < ${N}; i++) await sys.tool('mcp.call', { server: 'fixture', tool: 'echo', arguments: { text: 'x' } });`,
    ),
  );
await bench.run();
await mcpClient.close();
await kernel.close();
await server.close();

const sdkCalls = `${N} direct SDK chat calls`;
figures.fromTasks('models.chat', bench, `${N} model.chat calls in one agent`, { floor: sdkCalls, per: N });
figures.fromTasks('models.loop_turn', bench, `agent loop, ${N} tool turns + answer`, { floor: sdkCalls, per: N });
figures.fromTasks('models.code_mode_child', bench, `${N} Code Mode-style children (spawn + join)`, {
  floor: `${N} trivial top-level kernel.run`,
  per: N,
});
figures.fromTasks('models.mcp_call', bench, `${N} mcp.call in one agent`, {
  floor: `${N} direct MCP SDK calls`,
  per: N,
});
await figures.publish();
