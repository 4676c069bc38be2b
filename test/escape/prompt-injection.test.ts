import { afterEach, describe, expect, it } from 'vitest';
import { Kernel } from '../../index.js';
import { createFsTools } from '../../tools/fs.js';
import { createHttpTool } from '../../tools/http.js';
import { createModelTool } from '../../tools/model.js';
import { type InjectionWorld, injectionWorld, SECRET } from '../helpers/injection-world.js';
import { type ModelServer, type Step, shownText, startModelServer } from '../helpers/model-server.js';

/**
 * Prompt injection against the agent loop: text the agent reads (a web page, an inbox file) tells the model
 * to send the user's private file to an outside address, and the scripted model obeys. The kernel must
 * refuse the send (E_TAINT: the loop read `secret` data) so the outside server receives nothing, and the
 * user's real task must still complete. The outside address is allowed by a capability on purpose: labels,
 * not a missing grant, stop the flow.
 */

let world: InjectionWorld;
let server: ModelServer;
let kernel: Kernel;

afterEach(async () => {
  await kernel?.close();
  await server?.close();
  await world?.close();
});

async function run(script: (w: InjectionWorld) => Step[], codeMode: boolean) {
  world = await injectionWorld();
  server = await startModelServer(script(world));
  kernel = Kernel.create({ policy: world.policy });
  kernel.tools.add(
    ...createFsTools({ roots: [world.root] }),
    createHttpTool({ allowPrivate: ['127.0.0.1/32'] }),
    createModelTool({ baseURL: server.baseURL, maxRetries: 0 }),
  );
  return await kernel.runAgentLoop({
    model: 'gpt-test',
    instructions: 'You are a helpful assistant.',
    prompt: `Summarise the page at ${world.pageUrl}.`,
    tools: ['fs.read', 'net.http'],
    codeMode,
  });
}

describe('prompt injection: the model obeys, the kernel refuses the send', () => {
  it('tool mode, injected by a fetched page: the POST is E_TAINT, the outside server receives nothing, the summary completes', async () => {
    const result = await run((w) => w.toolModeScript(), false);
    expect(result.toolCalls.map((call) => [call.name, call.code])).toEqual([
      ['net_http', null],
      ['fs_read', null],
      ['net_http', 'E_TAINT'],
    ]);
    expect(world.outside.requests).toHaveLength(0);
    expect(world.outside.connections()).toBe(0);
    expect(result).toMatchObject({ ok: true, text: world.summary });
    expect(result.label).toEqual(['secret', 'web']);
    // The model did try: the secret was in the body it asked for.
    expect(JSON.stringify(server.chats[2]?.messages)).toContain(SECRET);
  });

  it('tool mode, injected by an inbox file: the same refusal', async () => {
    const result = await run((w) => w.inboxScript(), false);
    expect(result.toolCalls.map((call) => call.code)).toEqual([null, null, 'E_TAINT']);
    expect(world.outside.requests).toHaveLength(0);
    expect(result).toMatchObject({ ok: true, text: world.summary });
  });

  it('Code Mode: the code that obeys is refused inside its own agent, and the loop still answers', async () => {
    const result = await run((w) => w.codeModeScript(), true);
    expect(result.toolCalls.map((call) => [call.name, call.code])).toEqual([
      ['execute', null],
      ['execute', 'E_TAINT'],
    ]);
    expect(world.outside.requests).toHaveLength(0);
    expect(world.outside.connections()).toBe(0);
    expect(result).toMatchObject({ ok: true, text: world.summary });
    const fed = server.chats[2]?.messages.filter((m) => m.role === 'tool').map((m) => JSON.parse(String(m.content)));
    expect(fed?.[1]).toMatchObject({ error: { code: 'E_TAINT', message: expect.stringMatching(/net\.http.*secret/) } });
    // The planner read the page (that is how it was steered) but never the key.
    expect(shownText(server.chats[2]!)).not.toContain(SECRET);
  });

  it('benign twin: without the injection the same tools fetch and answer, nothing refused', async () => {
    const result = await run((w) => [w.toolModeScript()[0]!, w.toolModeScript()[3]!], false);
    expect(result).toMatchObject({ ok: true, text: world.summary, toolCalls: [{ name: 'net_http', code: null }] });
  });
});
