import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAuditFile } from '../../index.js';
import { type Workspace, workspace } from '../helpers/cli-process.js';
import { injectionWorld, SECRET } from '../helpers/injection-world.js';
import { answer, callTools, type ModelServer, type Step, startModelServer } from '../helpers/model-server.js';

// The real CLI (bin → dist; `npm test` builds first) against a scripted endpoint on 127.0.0.1.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(steps: Step[]): Promise<{ ws: Workspace; server: ModelServer }> {
  const ws = workspace();
  const server = await startModelServer(steps);
  cleanups.push(ws.cleanup, () => server.close());
  return { ws, server };
}

const policyFor = (ws: Workspace, extra: Record<string, unknown>[] = []) =>
  ws.policy({
    capabilities: [
      { action: 'model.chat', resource: 'gpt-test' },
      { action: 'fs.read', resource: `${ws.root}/**` },
      ...extra,
    ],
    tools: { model: { max_retries: 0, prices: { 'gpt-test': { input: 1, output: 2 } } } },
  });

const chat = (ws: Workspace, server: ModelServer, policy: string, ...rest: string[]) =>
  ws.run([
    'chat',
    '--policy',
    policy,
    '--root',
    ws.root,
    '--store',
    ws.store,
    '--model',
    'gpt-test',
    '--base-url',
    server.baseURL,
    ...rest,
  ]);

describe('isokernel chat', () => {
  it('prints the answer on stdout (exit 0) and each turn with tokens and cost on stderr', async () => {
    const { ws, server } = await setup([answer('The answer is 42.', { in: 1000, out: 100 })]);
    const run = await chat(ws, server, policyFor(ws), 'What is the answer?');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('The answer is 42.\n');
    expect(run.stderr).toContain('[turn 1] asking the model (tokens in=0 out=0 cost=$0)');
    expect(run.stderr).toContain('[turn 1] the model answered (tokens in=1000 out=100 cost=$0.0012)');
    expect(run.stderr).toMatch(/isokernel: ok turns=1 tokens in=1000 out=100 cost=\$0\.0012/);
    expect(server.chats[0]?.messages.at(-1)).toEqual({ role: 'user', content: 'What is the answer?' });
    expect(verifyAuditFile(join(ws.store, 'audit.jsonl')).ok).toBe(true);
  });

  it('shows each tool call with the kernel’s decision; the model sees the policy’s tools', async () => {
    const { ws, server } = await setup([]);
    writeFileSync(join(ws.root, 'notes.txt'), 'buy milk');
    server.push(
      callTools([
        { name: 'fs_read', arguments: { path: join(ws.root, 'notes.txt') } },
        { name: 'fs_read', arguments: { path: join(ws.outside, 'x.txt') } },
        { name: 'fs_write', arguments: { path: join(ws.root, 'y.txt'), content: 'x' } },
      ]),
      answer('Your note says: buy milk.'),
    );
    const run = await chat(ws, server, policyFor(ws), 'Read my notes');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('Your note says: buy milk.\n');
    expect(run.stderr).toContain('[turn 1] the model called 3 tools');
    expect(run.stderr).toContain('[turn 1] fs_read -> fs.read: ok');
    expect(run.stderr).toContain('[turn 1] fs_read -> fs.read: refused E_CAP_DENIED');
    expect(run.stderr).toContain('[turn 1] fs_write -> (no such tool): refused E_NO_TOOL');
    // Only the tools the policy allows are offered (fs.read); model.chat itself is not a tool of the model.
    expect(server.chats[0]?.tools?.map((tool) => tool.function.name)).toEqual(['fs_read']);
  });

  it('exits 2 when the policy does not allow the model (the endpoint never hears of it), or there is no policy', async () => {
    const { ws, server } = await setup([answer('never')]);
    const other = ws.policy({ capabilities: [{ action: 'model.chat', resource: 'gpt-other' }] }, 'other.yaml');
    const refused = await chat(ws, server, other, 'hi');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('the policy does not allow model.chat on "gpt-test"');
    const none = await ws.run(['chat', '--store', ws.store, '--model', 'gpt-test', '--base-url', server.baseURL, 'hi']);
    expect(none.status).toBe(2);
    const missing = await ws.run(['chat', '--model', 'gpt-test', 'hi']);
    expect(missing.status).toBe(2);
    expect(server.requests).toHaveLength(0);
  });

  it('exits 1 when the loop fails: the endpoint down, or maxTurns without an answer', async () => {
    const { ws, server } = await setup([
      callTools([{ name: 'fs_read', arguments: { path: 'nope' } }]),
      callTools([{ name: 'fs_read', arguments: { path: 'nope' } }]),
    ]);
    const turns = await chat(ws, server, policyFor(ws), '--max-turns', '2', 'loop');
    expect(turns.status).toBe(1);
    expect(turns.stdout).toBe('');
    expect(turns.stderr).toMatch(/isokernel: E_QUOTA \(agent loop: 2 turns used without a final answer \(maxTurns\)\)/);
    await server.close();
    const down = await chat(ws, server, policyFor(ws), 'hello?');
    expect(down.status).toBe(1);
    expect(down.stderr).toContain('the model call failed: E_TOOL_FAILED');
  });

  it('sends the key from OPENAI_API_KEY and never prints it', async () => {
    const { ws, server } = await setup([answer('ok')]);
    const run = await ws.run(
      [
        'chat',
        '--policy',
        policyFor(ws),
        '--store',
        ws.store,
        '--model',
        'gpt-test',
        '--base-url',
        server.baseURL,
        'hi',
      ],
      undefined,
      { OPENAI_API_KEY: 'sk-cli-test-55555' },
    );
    expect(run.status).toBe(0);
    expect(server.requests[0]?.headers['authorization']).toBe('Bearer sk-cli-test-55555');
    expect(run.stdout + run.stderr).not.toContain('sk-cli-test');
  });

  it('--code-mode gives the model execute over the typed API', async () => {
    const { ws, server } = await setup([]);
    writeFileSync(join(ws.root, 'n.txt'), 'forty-two');
    server.push(
      callTools([
        {
          name: 'execute',
          arguments: {
            code: `async () => (await tools.fs_read({ path: ${JSON.stringify(join(ws.root, 'n.txt'))} })).content`,
          },
        },
      ]),
      answer('It says forty-two.'),
    );
    const run = await chat(ws, server, policyFor(ws), '--code-mode', 'What does n.txt say?');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('It says forty-two.\n');
    expect(run.stderr).toContain('execute -> execute: ok');
    expect(server.chats[0]?.tools?.map((tool) => tool.function.name)).toEqual(['execute']);
    expect(JSON.parse(String(server.chats[1]?.messages.at(-1)?.content))).toEqual({ result: 'forty-two', logs: [] });
  });

  it('prompt injection: the model obeys, the send is refused E_TAINT, nothing reaches the outside, the summary is printed', async () => {
    const world = await injectionWorld();
    cleanups.push(() => world.close());
    const { ws, server } = await setup(world.toolModeScript());
    const policy = ws.policy({
      ...world.policy,
      tools: { ...(world.policy['tools'] as object), model: { max_retries: 0 } },
    });
    const run = await ws.run([
      'chat',
      '--policy',
      policy,
      '--root',
      world.root,
      '--store',
      ws.store,
      '--model',
      'gpt-test',
      '--base-url',
      server.baseURL,
      `Summarise ${world.pageUrl}`,
    ]);
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${world.summary}\n`);
    expect(run.stderr).toContain('net_http -> net.http: refused E_TAINT');
    expect(world.outside.requests).toHaveLength(0);
    expect(run.stdout + run.stderr).not.toContain(SECRET);
    expect(verifyAuditFile(join(ws.store, 'audit.jsonl')).ok).toBe(true);
  });
});
