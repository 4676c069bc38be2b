import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AGENT_LOOP_PROGRAM, LOOP_EVENT_PREFIX } from '../../agents/loop-program.js';
import { type AgentLoopEvent, defineTool, type Kernel } from '../../index.js';
import { cleanup, readAuditRecords, tempDir } from '../helpers/audit-log.js';
import { loopKernel } from '../helpers/loop-kernel.js';
import { answer, callTools, type ModelServer, type Step, startModelServer } from '../helpers/model-server.js';

const servers: ModelServer[] = [];
const kernels: Kernel[] = [];
afterEach(async () => {
  for (const kernel of kernels.splice(0)) await kernel.close();
  for (const server of servers.splice(0)) await server.close();
});

async function setup(steps: Step[], options: Parameters<typeof loopKernel>[1] = {}) {
  const server = await startModelServer(steps);
  servers.push(server);
  const kernel = loopKernel(server, options);
  kernels.push(kernel);
  return { server, kernel };
}

const ECHO = { action: 'echo', resource: 'echo' };
const toolMessages = (server: ModelServer, index: number) =>
  server.chats[index]?.messages
    .filter((message) => message.role === 'tool')
    .map((message) => JSON.parse(String(message.content)));

describe('kernel.runAgentLoop', () => {
  it('a plain answer: one model call, no tools, the text returned', async () => {
    const { server, kernel } = await setup([answer('Paris.', { in: 22, out: 3 })]);
    const result = await kernel.runAgentLoop({
      model: 'gpt-test',
      instructions: 'Be brief.',
      prompt: 'Capital of France?',
    });
    expect(result).toMatchObject({ ok: true, text: 'Paris.', turns: 1, stopped: 'answer', toolCalls: [] });
    expect(result.usage).toMatchObject({ tokens_in: 22, tokens_out: 3, tool_calls: 1 });
    expect(server.chats[0]?.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Capital of France?' },
    ]);
    expect(server.chats[0]?.tools).toBeUndefined();
  });

  it('a tool call then an answer: names rewritten for the model and mapped back to the kernel tool', async () => {
    const { server, kernel } = await setup([callTools([{ name: 'echo', arguments: { say: 'hi' } }]), answer('done')], {
      rules: [ECHO],
    });
    kernel.tools.add(
      defineTool({
        name: 'notes.read',
        description: 'reads a note',
        input: z.strictObject({ id: z.string() }),
        run: ({ id }) => `note ${id}`,
      }),
    );
    const result = await kernel.runAgentLoop({ model: 'gpt-test', prompt: 'go', tools: ['echo', 'notes.read'] });
    expect(result).toMatchObject({
      ok: true,
      text: 'done',
      turns: 2,
      toolCalls: [{ turn: 1, name: 'echo', tool: 'echo', code: null }],
    });
    expect(server.chats[0]?.tools?.map((tool) => tool.function.name)).toEqual(['echo', 'notes_read']);
    expect(server.chats[0]?.tools?.[1]?.function.parameters).toMatchObject({
      type: 'object',
      properties: { id: { type: 'string' } },
    });
    expect(toolMessages(server, 1)).toEqual([{ result: { say: 'hi' } }]);
  });

  it('several tool calls in one turn run in order and each gets its answer', async () => {
    const { server, kernel } = await setup(
      [
        callTools([
          { name: 'echo', arguments: { n: 1 }, id: 'a' },
          { name: 'echo', arguments: { n: 2 }, id: 'b' },
          { name: 'echo', arguments: { n: 3 }, id: 'c' },
        ]),
        answer('three'),
      ],
      { rules: [ECHO] },
    );
    const result = await kernel.runAgentLoop({ model: 'gpt-test', prompt: 'go', tools: ['echo'] });
    expect(result.ok).toBe(true);
    expect(result.toolCalls).toHaveLength(3);
    const second = server.chats[1]!.messages;
    expect(second.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, JSON.parse(String(m.content))])).toEqual(
      [
        ['a', { result: { n: 1 } }],
        ['b', { result: { n: 2 } }],
        ['c', { result: { n: 3 } }],
      ],
    );
  });

  it('a denial goes back to the model as a tool error with its code, and the loop continues', async () => {
    // The policy allows model.chat and echo, not noop: the kernel refuses noop.
    const { server, kernel } = await setup([callTools([{ name: 'noop', arguments: {} }]), answer('could not')], {
      rules: [ECHO],
    });
    const result = await kernel.runAgentLoop({ model: 'gpt-test', prompt: 'go', tools: ['noop'] });
    expect(result).toMatchObject({
      ok: true,
      text: 'could not',
      toolCalls: [{ name: 'noop', tool: 'noop', code: 'E_CAP_DENIED' }],
    });
    expect(toolMessages(server, 1)?.[0]).toMatchObject({ error: { code: 'E_CAP_DENIED' } });
  });

  it('malformed calls (bad JSON, wrong types, an unknown tool) go back as tool errors and the loop continues', async () => {
    const typed = defineTool({
      name: 'count',
      description: 'counts',
      input: z.strictObject({ n: z.int() }),
      run: ({ n }) => n + 1,
    });
    const { server, kernel } = await setup(
      [
        callTools([
          { name: 'count', arguments: '{"n": 1' },
          { name: 'count', arguments: { n: 'one' } },
          { name: 'count', arguments: '[1]' },
          { name: 'rm_rf', arguments: {} },
          { name: 'count', arguments: { n: 41 } },
        ]),
        answer('ok'),
      ],
      { rules: [{ action: 'count', resource: 'count' }], kernel: { tools: [typed] } },
    );
    const result = await kernel.runAgentLoop({ model: 'gpt-test', prompt: 'go', tools: ['count'] });
    expect(result.ok).toBe(true);
    expect(result.toolCalls.map((call) => call.code)).toEqual([
      'E_BAD_ARG',
      'E_BAD_ARG',
      'E_BAD_ARG',
      'E_NO_TOOL',
      null,
    ]);
    const fed = toolMessages(server, 1)!;
    expect(fed[0]).toEqual({ error: { code: 'E_BAD_ARG', message: 'the arguments are not valid JSON' } });
    expect(fed[1].error.message).toMatch(/invalid arguments for "count"/);
    expect(fed[3].error.message).toBe('no tool named "rm_rf"; the tools are: count');
    expect(fed[4]).toEqual({ result: 42 });
  });

  it('stops after maxTurns without a final answer: ok false, E_QUOTA naming maxTurns', async () => {
    const again = (): Step => callTools([{ name: 'echo', arguments: {} }]);
    const { server, kernel } = await setup([again(), again(), again(), again()], { rules: [ECHO] });
    const result = await kernel.runAgentLoop({ model: 'gpt-test', prompt: 'loop', tools: ['echo'], maxTurns: 3 });
    expect(result).toMatchObject({ ok: false, turns: 3, stopped: 'max_turns', error: { code: 'E_QUOTA' } });
    expect(result.error?.message).toMatch(/maxTurns/);
    expect(server.chats).toHaveLength(3);
  });

  it('charges every model call and kills the loop agent at its token limit', async () => {
    const step = (): Step => callTools([{ name: 'echo', arguments: {} }], { in: 40, out: 10 });
    const { server, kernel } = await setup([step(), step(), step(), step()], { rules: [ECHO] });
    const events: AgentLoopEvent[] = [];
    const result = await kernel.runAgentLoop({
      model: 'gpt-test',
      prompt: 'spend',
      tools: ['echo'],
      limits: { tokens_in: 100 },
      onEvent: (event) => events.push(event),
    });
    expect(result).toMatchObject({
      ok: false,
      stopped: 'ended',
      error: { code: 'E_QUOTA', message: 'quota exceeded: tokens_in' },
    });
    // Two calls charged 40 each, as the endpoint counted (more than the estimate of their prompts); the third
    // crossed the limit with its estimate, charged before it was sent: the endpoint never read it.
    expect(result.usage.tokens_in).toBeGreaterThan(100);
    expect(server.chats).toHaveLength(2);
    // Two full turns ran before the third call crossed the limit; the host saw them.
    expect(result.toolCalls).toHaveLength(2);
    // The second call's prompt (the first turn's tool result included) is estimated above the 40 reported.
    const spent = events.filter((event) => event.type === 'model').map((event) => event.usage.tokens_in);
    expect(spent).toHaveLength(2);
    expect(spent[0]).toBe(40);
  });

  it('the endpoint down: ok false with the model call’s code, nothing thrown', async () => {
    const port = await closedPort();
    const server = await startModelServer();
    servers.push(server);
    const kernel = loopKernel({ ...server, baseURL: `http://127.0.0.1:${port}/v1` });
    kernels.push(kernel);
    const result = await kernel.runAgentLoop({ model: 'gpt-test', prompt: 'anyone?' });
    expect(result).toMatchObject({
      ok: false,
      stopped: 'model_error',
      error: { code: 'E_TOOL_FAILED', message: 'model.chat: the endpoint could not be reached' },
    });
  });

  it('a model the policy does not allow is refused (E_CAP_DENIED) before the endpoint is called', async () => {
    const { server, kernel } = await setup([answer('never')]);
    const result = await kernel.runAgentLoop({ model: 'gpt-other', prompt: 'x' });
    expect(result).toMatchObject({ ok: false, stopped: 'model_error', error: { code: 'E_CAP_DENIED' } });
    expect(server.requests).toHaveLength(0);
  });

  it('runs as an agent: every model and tool call is a syscall of the loop agent in the audit log', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    const { kernel } = await setup([callTools([{ name: 'echo', arguments: { x: 1 } }]), answer('ok')], {
      rules: [ECHO],
      kernel: { audit: { file } },
    });
    const result = await kernel.runAgentLoop({ model: 'gpt-test', prompt: 'go', tools: ['echo'] });
    await kernel.close();
    const records = readAuditRecords(file).filter(
      (r) => r.seq >= result.audit.from && r.seq <= result.audit.to && r.syscall === 'tool' && r.phase === 'outcome',
    );
    cleanup(dir);
    const agents = new Set(records.map((r) => r.agent));
    expect(agents.size).toBe(1);
    expect([...agents][0]).not.toBe('host');
    expect(records.map((r) => r.action)).toEqual(['model.chat', 'echo', 'model.chat']);
  });

  it('the label of what the loop read rises and is reported', async () => {
    const fetchTool = defineTool({
      name: 'fetch',
      description: 'web',
      input: z.unknown(),
      labels: { source: ['web'] },
      run: () => 'page',
    });
    const { kernel } = await setup([callTools([{ name: 'fetch', arguments: {} }]), answer('ok')], {
      rules: [{ action: 'fetch', resource: 'fetch' }],
      kernel: { tools: [fetchTool] },
    });
    const result = await kernel.runAgentLoop({ model: 'gpt-test', prompt: 'go', tools: ['fetch'] });
    expect(result.label).toEqual(['web']);
  });

  it('aborting the signal ends the loop with E_KILLED', async () => {
    const { kernel } = await setup([{ kind: 'hang' }], { model: { timeoutMs: 20_000 } });
    const controller = new AbortController();
    const running = kernel.runAgentLoop({ model: 'gpt-test', prompt: 'wait', signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    const result = await running;
    expect(result).toMatchObject({ ok: false, stopped: 'ended', error: { code: 'E_KILLED' } });
    const early = await kernel.runAgentLoop({ model: 'gpt-test', prompt: 'never', signal: controller.signal });
    expect(early).toMatchObject({ ok: false, turns: 0, stopped: 'ended', error: { code: 'E_KILLED' } });
  });

  it('reports progress events: turn, model, tool, done', async () => {
    const { kernel } = await setup([callTools([{ name: 'echo', arguments: {} }]), answer('ok')], { rules: [ECHO] });
    const events: AgentLoopEvent[] = [];
    await kernel.runAgentLoop({
      model: 'gpt-test',
      prompt: 'go',
      tools: ['echo'],
      onEvent: (event) => events.push(event),
    });
    expect(events.map((event) => event.type)).toEqual(['turn', 'model', 'tool', 'turn', 'model', 'done']);
    expect(events[2]).toMatchObject({ type: 'tool', name: 'echo', tool: 'echo', code: null });
  });

  it('refuses host mistakes with TypeError/RangeError naming the option', async () => {
    const { kernel } = await setup([]);
    await expect(kernel.runAgentLoop({ model: 'gpt-test', prompt: 'x', tools: ['nope'] })).rejects.toThrow(
      /tools\[0\]: no tool named "nope"/,
    );
    await expect(kernel.runAgentLoop({ model: 'gpt-test', prompt: 'x', maxTurns: 0 })).rejects.toThrow(RangeError);
    await expect(kernel.runAgentLoop({ model: '', prompt: 'x' })).rejects.toThrow(/options\.model/);
    kernel.tools.add(defineTool({ name: 'a.b', description: 'x', input: z.unknown(), run: () => 1 }));
    kernel.tools.add(defineTool({ name: 'a_b', description: 'x', input: z.unknown(), run: () => 1 }));
    await expect(kernel.runAgentLoop({ model: 'gpt-test', prompt: 'x', tools: ['a.b', 'a_b'] })).rejects.toThrow(
      /both be called "a_b"/,
    );
  });

  it('the program text agrees with the event prefix the host reads', () => {
    // The program is built from the function's source: whichever quotes the transpiler chose.
    expect(
      AGENT_LOOP_PROGRAM.includes(`'${LOOP_EVENT_PREFIX}'`) || AGENT_LOOP_PROGRAM.includes(`"${LOOP_EVENT_PREFIX}"`),
    ).toBe(true);
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
