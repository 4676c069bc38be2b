import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, loadPolicyText } from '../../index.js';
import { createMcpTool } from '../../tools/mcp.js';
import { alive, fixtureServer, mcpKernel } from '../helpers/mcp-fixture.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * MCP servers as kernel tools, against a real stdio server written with the SDK (test/fixtures/mcp). Every
 * test closes its kernel and checks that the audit log verifies.
 */

type Setup = ReturnType<typeof mcpKernel>;
const setups: Setup[] = [];
afterEach(async () => {
  for (const setup of setups.splice(0)) {
    await setup.kernel.close();
    expect(setup.verify()).toBe(true);
    setup.cleanup();
  }
});

function setup(options: Parameters<typeof mcpKernel>[0]): Setup {
  const made = mcpKernel(options);
  setups.push(made);
  return made;
}

const ALL = [{ action: 'mcp.call', resource: 'fixture/*' }];
const call = (tool: string, args: unknown = {}, server = 'fixture') =>
  `sys.tool('mcp.call', { server: ${JSON.stringify(server)}, tool: ${JSON.stringify(tool)}, arguments: ${JSON.stringify(args)} })`;
/** An agent that makes the calls in order and reports each outcome: the value or { code, message }. */
const agent = (...calls: string[]) => `export default async () => {
  const out = [];
  for (const run of [${calls.map((c) => `() => ${c}`).join(', ')}]) {
    try { out.push({ ok: await run() }); } catch (e) { out.push({ code: e.code, message: e.message }); }
  }
  return { out, label: await sys.label() };
}`;
type Report = { out: ({ ok: unknown } | { code: string; message: string })[]; label: string[] };

async function run(s: Setup, code: string): Promise<Report> {
  const result = await s.kernel.run({ code });
  if (!result.ok) throw new Error(`agent failed: ${JSON.stringify(result.error)}`);
  return result.value as Report;
}

const envOf = (report: Report, index: number) =>
  JSON.parse((report.out[index] as { ok: { content: string[] } }).ok.content[0]!) as {
    keys: string[];
    pid: number;
    cwd: string;
  };

describe('mcp.call', () => {
  it('calls a server tool: text parts as strings, the result labelled mcp:<server>, the call audited', async () => {
    const s = setup({ servers: { fixture: fixtureServer() }, rules: ALL });
    const report = await run(s, agent(call('search', { query: 'kernels' })));
    expect(report.out[0]).toEqual({ ok: { content: ['results for kernels', 'limit 3'] } });
    expect(report.label).toEqual(['mcp:fixture']);
  });

  it('refuses arguments the tool’s JSON Schema refuses (E_BAD_ARG) before the server sees them', async () => {
    const s = setup({ servers: { fixture: fixtureServer() }, rules: ALL });
    const report = await run(
      s,
      agent(call('search', { query: 42 }), call('search', { query: 'x', limit: 99 }), call('echo', { text: 'seen' })),
    );
    expect(report.out[0]).toMatchObject({
      code: 'E_BAD_ARG',
      message: expect.stringMatching(/fixture\/search: invalid arguments/),
    });
    expect(report.out[1]).toMatchObject({ code: 'E_BAD_ARG' });
    expect(report.out[2]).toEqual({ ok: { content: ['seen'] } });
    const sent = s.sent();
    expect(sent).toContain('"name":"echo"');
    expect(sent).not.toContain('"name":"search"');
  });

  it('needs a capability for <server>/<tool>: refused calls never start the server', async () => {
    const s = setup({
      servers: { fixture: fixtureServer() },
      rules: [{ action: 'mcp.call', resource: 'fixture/search' }],
    });
    const report = await run(s, agent(call('echo', { text: 'x' })));
    expect(report.out[0]).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(s.sent()).toBe('');
  });

  it('unknown server: E_NOT_FOUND; unknown tool: E_NO_TOOL', async () => {
    const s = setup({ servers: { fixture: fixtureServer() }, rules: [{ action: 'mcp.call', resource: '*/*' }] });
    const report = await run(s, agent(call('search', { query: 'x' }, 'nope'), call('teleport')));
    expect(report.out).toEqual([
      { code: 'E_NOT_FOUND', message: 'mcp.call: no server named "nope"' },
      { code: 'E_NO_TOOL', message: 'mcp.call: server "fixture" has no tool "teleport"' },
    ]);
  });

  it('isError is E_TOOL_FAILED with the server’s text, bounded, and the failure still raises the label', async () => {
    const s = setup({ servers: { fixture: fixtureServer() }, rules: ALL });
    const report = await run(s, agent(call('fail', { text: 'disk full' }), call('fail', { text: 'y'.repeat(5000) })));
    expect(report.out[0]).toEqual({ code: 'E_TOOL_FAILED', message: 'mcp.call: fixture/fail failed: disk full' });
    const long = report.out[1] as { message: string };
    expect(long.message.length).toBeLessThan(1100);
    expect(report.label).toEqual(['mcp:fixture']);
  });

  it('scrubs vault secrets from the server’s error text', async () => {
    const s = setup({ servers: { fixture: fixtureServer({ env: { LEAK: 'sk-mcp-secret-777777' } }) }, rules: ALL });
    s.kernel.vault.set('mcpkey', 'sk-mcp-secret-777777', {
      bind: { action: 'mcp.call', resource: 'fixture/*' },
      inject: { bearer: true },
    });
    const report = await run(s, agent(call('leak')));
    expect(report.out[0]).toEqual({
      code: 'E_TOOL_FAILED',
      message: 'mcp.call: fixture/leak failed: the token is [vault:mcpkey]',
    });
  });

  it('scrubs a vault secret a server echoes in PHP, Go, HTML or percent spelling, in results and errors, and labels it', async () => {
    const secret = 'sk-mcp/secret&7777 77';
    const s = setup({ servers: { fixture: fixtureServer({ env: { LEAK: secret } }) }, rules: ALL });
    s.kernel.vault.set('mcpkey', secret, {
      bind: { action: 'mcp.call', resource: 'fixture/*' },
      inject: { bearer: true },
    });
    const spellings = ['php', 'goForm', 'htmlDecimal', 'percentLower'];
    const calls = spellings.flatMap((spelling) => [
      call('spell', { spelling }),
      call('spell', { spelling, fail: true }),
    ]);
    const report = await run(s, agent(...calls));
    const marked = '{"token":"[vault:mcpkey]"}';
    expect(report.out).toEqual(
      spellings.flatMap(() => [
        { ok: { content: [marked] } },
        { code: 'E_TOOL_FAILED', message: `mcp.call: fixture/spell failed: ${marked}` },
      ]),
    );
    expect(report.label).toEqual(['mcp:fixture', 'secret']);
  });

  it('runs the server with an environment built from nothing (PATH, LANG and the names listed)', async () => {
    process.env['ISOKERNEL_MCP_PASSED'] = 'yes';
    process.env['ISOKERNEL_MCP_HIDDEN'] = 'no';
    const s = setup({ servers: { fixture: fixtureServer({ env: ['ISOKERNEL_MCP_PASSED'] }) }, rules: ALL });
    const report = await run(s, agent(call('env')));
    expect(envOf(report, 0).keys).toEqual(['ISOKERNEL_MCP_PASSED', 'LANG', 'PATH']);
  });

  it('a crash is E_TOOL_FAILED and the server restarts on the next call', async () => {
    const s = setup({ servers: { fixture: fixtureServer() }, rules: ALL });
    const report = await run(s, agent(call('env'), call('crash'), call('env')));
    expect(report.out[1]).toEqual({ code: 'E_TOOL_FAILED', message: 'mcp.call: fixture/crash: the server exited' });
    const [before, after] = [envOf(report, 0).pid, envOf(report, 2).pid];
    expect(after).not.toBe(before);
  });

  it('a hang is timed out, the server (and its process group) stopped, and the next call gets a fresh one', async () => {
    const s = setup({ servers: { fixture: fixtureServer({ timeout_ms: 400 }) }, rules: ALL });
    const report = await run(s, agent(call('orphan_pid'), call('env'), call('hang'), call('env')));
    const orphan = Number((report.out[0] as { ok: { content: string[] } }).ok.content[0]);
    const first = envOf(report, 1).pid;
    expect(report.out[2]).toEqual({
      code: 'E_TOOL_FAILED',
      message: 'mcp.call: fixture/hang: timed out after 400 ms (the server was stopped)',
    });
    expect(envOf(report, 3).pid).not.toBe(first);
    await waitUntil(() => !alive(first) && !alive(orphan));
  });

  it('a flood is capped: E_TOOL_FAILED, the server stopped, the next call works', async () => {
    const s = setup({ servers: { fixture: fixtureServer({ max_output_bytes: 64 * 1024 }) }, rules: ALL });
    const report = await run(
      s,
      agent(call('env'), call('flood', { bytes: 1_000_000 }), call('echo', { text: 'after' })),
    );
    expect(report.out[1]).toEqual({
      code: 'E_TOOL_FAILED',
      message: "mcp.call: fixture/flood: the server's output exceeds the cap (it was stopped)",
    });
    expect(report.out[2]).toEqual({ ok: { content: ['after'] } });
    await waitUntil(() => !alive(envOf(report, 0).pid));
  });

  it('a hung server does not hold up other agents or other servers', async () => {
    const s = setup({
      servers: { slow: fixtureServer({ timeout_ms: 3000 }), quick: fixtureServer() },
      rules: [{ action: 'mcp.call', resource: '*/*' }],
    });
    const hung = s.kernel.run({ code: agent(call('hang', {}, 'slow')) });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = performance.now();
    const quick = await run(s, agent(call('echo', { text: 'fast' }, 'quick')));
    const quickMs = performance.now() - started;
    expect(quick.out[0]).toEqual({ ok: { content: ['fast'] } });
    const slow = await hung;
    expect(slow.ok && (slow.value as Report).out[0]).toMatchObject({ code: 'E_TOOL_FAILED' });
    // The quick call finished well before the hung one gave up (3 s).
    expect(quickMs).toBeLessThan(2500);
  });

  it('kernel.close() stops every server and its process group', async () => {
    const s = setup({ servers: { fixture: fixtureServer() }, rules: ALL });
    const report = await run(s, agent(call('env'), call('orphan_pid')));
    const pid = envOf(report, 0).pid;
    const orphan = Number((report.out[1] as { ok: { content: string[] } }).ok.content[0]);
    expect(alive(pid) && alive(orphan)).toBe(true);
    await s.kernel.close();
    await waitUntil(() => !alive(pid) && !alive(orphan));
  });

  it('labels: an MCP result cannot reach a sink that refuses its tags', async () => {
    const sent: unknown[] = [];
    const mail = defineTool({
      name: 'mail',
      description: 'sends mail',
      input: z.strictObject({ body: z.unknown() }),
      labels: { sinks: { '*': ['web'] } },
      run: (args) => {
        sent.push(args);
        return 'sent';
      },
    });
    const s = setup({
      servers: { fixture: fixtureServer() },
      rules: [...ALL, { action: 'mail', resource: 'mail' }],
      labels: { sources: [{ tool: 'mcp.call', resource: '*/search', tags: ['web'] }] },
      kernel: { tools: [mail] },
    });
    const report = await run(s, agent(call('search', { query: 'x' }), `sys.tool('mail', { body: 'the results' })`));
    expect(report.label).toEqual(['mcp:fixture', 'web']);
    expect(report.out[1]).toMatchObject({ code: 'E_TAINT' });
    expect(sent).toEqual([]);
  });

  it('sinks apply to `arguments`: tainted data never reaches the server', async () => {
    const fetchTool = defineTool({
      name: 'fetch',
      description: 'web',
      input: z.unknown(),
      labels: { source: ['secret'] },
      run: () => 'k',
    });
    const s = setup({
      servers: { fixture: fixtureServer() },
      rules: [...ALL, { action: 'fetch', resource: 'fetch' }],
      labels: { sinks: [{ tool: 'mcp.call', arg: 'arguments', deny: ['secret'] }] },
      kernel: { tools: [fetchTool] },
    });
    const report = await run(s, agent(`sys.tool('fetch', {})`, call('echo', { text: 'k' })));
    expect(report.out[1]).toMatchObject({ code: 'E_TAINT', message: expect.stringMatching(/arguments/) });
    expect(s.sent()).toBe('');
  });

  it('a server keeps the label of what it was sent: another agent reads it back labelled', async () => {
    const inbox = defineTool({
      name: 'inbox',
      description: 'mail',
      input: z.unknown(),
      labels: { source: ['email'] },
      run: () => 'note',
    });
    const s = setup({
      servers: { fixture: fixtureServer() },
      rules: [...ALL, { action: 'inbox', resource: 'inbox' }],
      kernel: { tools: [inbox] },
    });
    await run(s, agent(`sys.tool('inbox', {})`, call('echo', { text: 'note' })));
    const other = await run(s, agent(call('echo', { text: 'anything' })));
    expect(other.label).toEqual(['email', 'mcp:fixture']);
  });
});

describe('configuration', () => {
  it("the seed's permissive policy loads and allows mcp.call on */search, not on echo", async () => {
    const file = fileURLToPath(new URL('../fixtures/agent_os_kernel/permissive_policy.yaml', import.meta.url));
    const text = readFileSync(file, 'utf8');
    const policy = loadPolicyText(text, file);
    const mcpRules = policy.capabilities.filter((rule) => rule.action === 'mcp.call');
    expect(mcpRules.map((rule) => rule.resource)).toEqual(['*/search']);
    const s = setup({
      servers: { fixture: fixtureServer() },
      rules: mcpRules.map((rule) => ({ action: rule.action, resource: rule.resource })),
    });
    const report = await run(s, agent(call('search', { query: 'q' }), call('echo', { text: 'q' })));
    expect(report.out[0]).toEqual({ ok: { content: ['results for q', 'limit 3'] } });
    expect(report.out[1]).toMatchObject({ code: 'E_CAP_DENIED' });
  });

  it('resolves a bare command on PATH to an absolute path, refuses one that is not there', () => {
    expect(() => createMcpTool({ servers: { x: { command: 'definitely-not-a-program-xyz' } } })).toThrow(
      /servers\.x\.command: "definitely-not-a-program-xyz" is not an executable file on PATH/,
    );
    expect(() => createMcpTool({ servers: { x: { command: 'node', cwd: 'relative' } } })).toThrow(/cwd/);
    expect(() => createMcpTool({ servers: { 'Bad Name': { command: 'node' } } })).toThrow(/servers/);
    expect(() => createMcpTool({ servers: { x: { command: 'sh' } } })).not.toThrow();
  });
});
