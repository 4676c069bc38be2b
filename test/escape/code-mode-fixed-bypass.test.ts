/**
 * Attack: a ToolDef's `fixed` arguments ("every call gets them, whatever the model wrote") were applied in Code
 * Mode only by the typed API (`tools.send(...)`); the model's code called `sys.tool('send', ...)` directly with
 * other values, and its capability had no argument constraints. The child's capability for such a tool must
 * carry the fixed values as constraints, so any other value is refused (E_CAP_DENIED).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { loopKernel } from '../helpers/loop-kernel.js';
import { answer, callTools, type ModelServer, startModelServer } from '../helpers/model-server.js';

const kernels: Kernel[] = [];
const servers: ModelServer[] = [];
afterEach(async () => {
  for (const kernel of kernels.splice(0)) await kernel.close();
  for (const server of servers.splice(0)) await server.close();
});

function sendTool(received: unknown[]) {
  return defineTool({
    name: 'send',
    description: 'sends',
    input: z.strictObject({ method: z.enum(['GET', 'POST', 'DELETE']), url: z.string(), dry: z.boolean().optional() }),
    run: (args) => {
      received.push(args);
      return 'done';
    },
  });
}

async function runCode(
  code: string,
  options: { rule?: Record<string, unknown>; fixed?: Record<string, unknown> } = {},
): Promise<{ received: unknown[]; content: string; code: string | null }> {
  const received: unknown[] = [];
  const server = await startModelServer([callTools([{ name: 'execute', arguments: { code } }]), answer('done')]);
  servers.push(server);
  const kernel = loopKernel(server, { rules: [(options.rule ?? { action: 'send', resource: 'send' }) as never] });
  kernels.push(kernel);
  kernel.tools.add(sendTool(received));
  const result = await kernel.runAgentLoop({
    model: 'gpt-test',
    prompt: 'hi',
    tools: [{ tool: 'send', fixed: options.fixed ?? { method: 'GET' } }],
    codeMode: true,
  });
  expect(result.ok).toBe(true);
  const tool = server.chats.at(-1)?.messages.find((message) => message.role === 'tool');
  return { received, content: String(tool?.content), code: result.toolCalls[0]?.code ?? null };
}

describe('Code Mode enforces fixed arguments on sys.tool', () => {
  it('a direct sys.tool with another value is refused E_CAP_DENIED; the typed API still works', async () => {
    const { received, content } = await runCode(`async () => {
      const out = [await tools.send({ url: 'a', method: 'DELETE' })];
      for (const args of [{ url: 'b', method: 'DELETE' }, { url: 'c', method: 'POST' }, { url: 'd' }]) {
        try { out.push(await sys.tool('send', args)); } catch (error) { out.push(error.code); }
      }
      out.push(await sys.tool('send', { url: 'e', method: 'GET' }));
      return out;
    }`);
    expect(received).toEqual([
      { url: 'a', method: 'GET' },
      { url: 'e', method: 'GET' },
    ]);
    // Leaving `method` out is refused as well (here by the tool's schema, which requires it).
    expect(content).toContain('"result":["done","E_CAP_DENIED","E_CAP_DENIED","E_BAD_ARG","done"]');
  });

  it('fixed numbers and booleans are enforced the same way', async () => {
    const { received, content } = await runCode(
      `async () => {
        const out = [await tools.send({ url: 'a', dry: false })];
        try { out.push(await sys.tool('send', { url: 'b', method: 'POST', dry: false })); } catch (error) { out.push(error.code); }
        try { out.push(await sys.tool('send', { url: 'c', method: 'GET', dry: false })); } catch (error) { out.push(error.code); }
        return out;
      }`,
      { fixed: { method: 'GET', dry: true } },
    );
    expect(received).toEqual([{ url: 'a', method: 'GET', dry: true }]);
    expect(content).toContain('"result":["done","E_CAP_DENIED","E_CAP_DENIED"]');
  });

  it("the policy rule's own constraints still hold alongside the fixed ones", async () => {
    const { received, content } = await runCode(
      `async () => {
        const out = [await tools.send({ url: 'a' })];
        try { out.push(await tools.send({ url: 'z' })); } catch (error) { out.push(error.code); }
        try { out.push(await sys.tool('send', { url: 'a', method: 'POST' })); } catch (error) { out.push(error.code); }
        return out;
      }`,
      { rule: { action: 'send', resource: 'send', constraint: { url: ['a', 'b'] } } },
    );
    expect(received).toEqual([{ url: 'a', method: 'GET' }]);
    expect(content).toContain('"result":["done","E_CAP_DENIED","E_CAP_DENIED"]');
  });

  it('a fixed value the constraint language cannot express is refused at setup in Code Mode (TypeError)', async () => {
    const server = await startModelServer([answer('never')]);
    servers.push(server);
    const kernel = loopKernel(server, { rules: [{ action: 'send', resource: 'send' }] });
    kernels.push(kernel);
    kernel.tools.add(sendTool([]));
    for (const fixed of [
      { url: { href: 'x' } },
      { url: null },
      { url: ['a'] },
      { url: 'x'.repeat(300) },
      { _u: 'x' },
    ]) {
      await expect(
        kernel.runAgentLoop({ model: 'gpt-test', prompt: 'hi', tools: [{ tool: 'send', fixed }], codeMode: true }),
      ).rejects.toThrow(TypeError);
    }
    // Tool mode applies fixed itself (the loop writes every call), so it takes any JSON.
    const plain = await kernel.runAgentLoop({
      model: 'gpt-test',
      prompt: 'hi',
      tools: [{ tool: 'send', fixed: { url: { href: 'x' } } }],
    });
    expect(plain.ok).toBe(true);
  });
});
