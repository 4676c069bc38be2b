// Attack (laundering): leave out the argument a sink guards. A policy sink on one argument applies to calls that
// have it, and `mcp.call`'s `arguments` was optional: a `secret` agent under README's own rule
// `{ tool: mcp.call, arg: arguments, deny: [secret] }` called argument-free server tools, choosing which from the
// secret, and the server learned a PIN bit by bit (red-team pass 150, both tiers). `arguments` now defaults to
// `{}`, what the server is sent either way, so the call has it and the sink refuses it before the server starts.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';
import { fixtureServer, mcpKernel } from '../helpers/mcp-fixture.js';

const secrets = defineTool({
  name: 'secrets.get',
  description: 'a credential',
  input: z.strictObject({}),
  labels: { source: ['secret'] },
  run: () => '4711',
});

// Reads the secret (or not), then calls the fixture's argument-free `env` tool with no `arguments`.
const AGENT = (readSecret: boolean) => `export default async () => {
  ${readSecret ? "await sys.tool('secrets.get', {});" : ''}
  try { await sys.tool('mcp.call', { server: 'fixture', tool: 'env' }); return 'called'; }
  catch (e) { return { code: e.code, message: e.message }; }
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let made: ReturnType<typeof mcpKernel> | undefined;
  afterEach(async () => {
    await made?.kernel.close();
    made?.cleanup();
    made = undefined;
  });

  const setup = () =>
    mcpKernel({
      servers: { fixture: fixtureServer() },
      rules: [
        { action: 'mcp.call', resource: 'fixture/*' },
        { action: 'secrets.get', resource: 'secrets.get' },
      ],
      labels: { sinks: [{ tool: 'mcp.call', arg: 'arguments', deny: ['secret'] }] },
      kernel: { isolation, tools: [secrets] },
    });

  it('benign twin: a clean agent calls an argument-free tool without `arguments`', async () => {
    made = setup();
    expect(await made.kernel.run({ code: AGENT(false) })).toMatchObject({ ok: true, value: 'called' });
    expect(made.sent()).toContain('"arguments":{}');
  });

  it('a secret agent that leaves `arguments` out is refused by the sink on it, and the server sees nothing', async () => {
    made = setup();
    const result = await made.kernel.run({ code: AGENT(true) });
    expect(result).toMatchObject({
      ok: true,
      value: { code: 'E_TAINT', message: expect.stringMatching(/argument "arguments"/) },
    });
    expect(made.sent()).toBe('');
  });
});
