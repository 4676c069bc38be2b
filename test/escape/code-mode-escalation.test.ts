import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { loopKernel } from '../helpers/loop-kernel.js';
import { answer, callTools, type ModelServer, startModelServer } from '../helpers/model-server.js';

/**
 * Code Mode code is model-written and may be steered: it must not get more than the tools it was given. Each
 * attempt below runs as the code of one `execute` call; the loop holds more (model.chat, noop, agent.spawn)
 * than the code may use.
 */

let server: ModelServer;
const open: { kernel: Kernel; server: ModelServer }[] = [];
afterEach(async () => {
  for (const { kernel, server } of open.splice(0)) {
    await kernel.close();
    await server.close();
  }
});

async function attempt(code: string): Promise<unknown> {
  server = await startModelServer([callTools([{ name: 'execute', arguments: { code } }]), answer('done')]);
  const kernel = loopKernel(server, {
    rules: [
      { action: 'echo', resource: 'echo' },
      { action: 'noop', resource: 'noop' },
    ],
  });
  open.push({ kernel, server });
  kernel.programs.add('helper', 'export default async () => sys.tool("noop", {})');
  const result = await kernel.runAgentLoop({ model: 'gpt-test', prompt: 'x', tools: ['echo'], codeMode: true });
  expect(result.ok).toBe(true);
  const fed = server.chats[1]?.messages.find((m) => m.role === 'tool')?.content;
  return JSON.parse(String(fed));
}

const codeOf = (expression: string) =>
  `async () => { try { await ${expression}; return 'allowed'; } catch (e) { return e.code; } }`;

describe('Code Mode code cannot escalate past its tools', () => {
  it('cannot call the model (spending the loop’s tokens)', async () => {
    const fed = await attempt(
      codeOf(`sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] })`),
    );
    expect(fed).toEqual({ result: 'E_CAP_DENIED', logs: [] });
    expect(server.chats).toHaveLength(2);
  });

  it('cannot call a tool the loop holds but did not list', async () => {
    expect(await attempt(codeOf(`sys.tool('noop', {})`))).toEqual({ result: 'E_CAP_DENIED', logs: [] });
  });

  it('cannot spawn inline code, a registered program, or hand off', async () => {
    expect(await attempt(codeOf(`sys.spawn({ code: 'export default () => 1' })`))).toEqual({
      result: 'E_CAP_DENIED',
      logs: [],
    });
    expect(await attempt(codeOf(`sys.spawn({ program: 'helper' })`))).toEqual({ result: 'E_QUOTA', logs: [] });
    expect(await attempt(codeOf(`sys.handoff({ to: 'helper' })`))).toEqual({ result: 'E_QUOTA', logs: [] });
  });

  it('cannot widen the capabilities it was given by delegating them', async () => {
    const fed = await attempt(
      codeOf(`sys.spawn({ code: 'export default () => 1', caps: [{ action: 'noop', resource: 'noop' }] })`),
    );
    expect(fed).toEqual({ result: 'E_CAP_DENIED', logs: [] });
  });

  it('sees only its own attenuated capability', async () => {
    const fed = (await attempt('async () => (await sys.caps()).map((c) => [c.action, c.resource])')) as {
      result: unknown;
    };
    expect(fed.result).toEqual([['echo', 'echo']]);
  });
});
