/**
 * Attack: a model endpoint (or whatever sits between the kernel and it) answers the headers at once and then
 * trickles the body a byte every 100 ms. The SDK's timeout stops at the headers and the size cap has no
 * deadline, so `model.chat` held the call open until the agent's wall budget, and a host `kernel.submit`
 * (which has none) forever. `timeoutMs` must bound the whole call, body included.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { createModelTool } from '../../tools/model.js';
import { testKernel } from '../helpers/kernel.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tricklingEndpoint(): Promise<string> {
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((request, response) => {
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write('{"choices":[{"message":{"content":"');
    const timer = setInterval(() => response.write('a'), 100);
    timers.add(timer);
    response.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearInterval(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
}

it('timeoutMs bounds the response body, for the host (submit) and for an agent', async () => {
  const baseURL = await tricklingEndpoint();
  const kernel = testKernel({
    policy: { capabilities: [{ action: 'model.chat', resource: 'gpt-test' }] },
    tools: [createModelTool({ baseURL, maxRetries: 0, timeoutMs: 1_000 })],
  });
  cleanups.push(() => kernel.close());
  const params = { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] };

  const started = performance.now();
  const done = await Promise.race([
    kernel.submit({ action: 'model.chat', params }),
    new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 6_000)),
  ]);
  const elapsed = performance.now() - started;
  expect(done).not.toBe('still running');
  expect(done).toMatchObject({
    status: 'ERROR',
    error: { code: 'E_TOOL_FAILED', message: 'model.chat: the endpoint timed out' },
  });
  expect(elapsed).toBeGreaterThanOrEqual(900);
  expect(elapsed).toBeLessThan(4_000);

  const agentStarted = performance.now();
  const result = await kernel.run({
    code: `export default async (input) => {
      try { await sys.tool('model.chat', input); return 'answered'; } catch (error) { return error.code + ': ' + error.message; }
    }`,
    input: params,
    limits: { wall_ms: 20_000 },
  });
  expect(result).toMatchObject({ ok: true, value: 'E_TOOL_FAILED: model.chat: the endpoint timed out' });
  expect(performance.now() - agentStarted).toBeLessThan(5_000);
});
