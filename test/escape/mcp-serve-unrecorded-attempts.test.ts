import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { closeSessions, connectSession, answerText as text } from '../helpers/mcp-session.js';

/**
 * Attack: an `mcp serve` client probes without a trace. The server turned away a call of a tool the policy does not
 * allow, of a hidden tool, a malformed `execute` and every call past `maxPendingCalls` before `kernel.submit` or
 * `kernel.spawn`, so none of them was recorded (red-team pass 97), where an agent's or the host's same attempt
 * records an intent and a refused outcome. Each is now recorded as the host's refused `submit`.
 */
const ran: string[] = [];
const slow = (name: string) =>
  defineTool({
    name,
    description: name,
    input: z.strictObject({}),
    run: async () => {
      ran.push(name);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return 'done';
    },
  });

let kernel: Kernel | undefined;
afterEach(async () => {
  await closeSessions();
  await kernel?.close();
  kernel = undefined;
  ran.length = 0;
});

describe('calls an MCP session turns away before the kernel', () => {
  it('are recorded: a denied, a hidden and an unknown tool, a malformed execute, a call past the bound', async () => {
    kernel = testKernel({
      tools: [slow('ok.tool'), slow('hidden.tool'), slow('denied.tool')],
      policy: {
        capabilities: [
          { action: 'ok.tool', resource: '**' },
          { action: 'hidden.tool', resource: '**' },
        ],
      },
    });
    const audit = kernel.audit;
    const { client } = await connectSession(kernel, { hide: ['hidden.tool'], maxPendingCalls: 2 });
    const refusals = () =>
      audit.records().filter((r) => r.agent === 'host' && r.phase === 'outcome' && r.code !== null);

    for (const name of ['denied.tool', 'hidden.tool', 'no.such.tool']) {
      expect(text(await client.callTool({ name, arguments: {} }))).toMatch(/^E_NO_TOOL/);
    }
    expect(text(await client.callTool({ name: 'execute', arguments: { code: '  ' } }))).toMatch(/^E_BAD_ARG/);
    expect(refusals().map((r) => [r.action, r.code, r.status])).toEqual([
      ['denied.tool', 'E_NO_TOOL', 'denied'],
      ['hidden.tool', 'E_NO_TOOL', 'denied'],
      ['no.such.tool', 'E_NO_TOOL', 'denied'],
      ['execute', 'E_BAD_ARG', 'denied'],
    ]);
    expect(ran).toEqual([]);

    const burst = await Promise.all(
      Array.from({ length: 6 }, () => client.callTool({ name: 'ok.tool', arguments: {} })),
    );
    const overBound = burst.filter((answer) => /^E_QUOTA/.test(text(answer))).length;
    expect(overBound).toBe(4);
    expect(refusals().filter((r) => r.code === 'E_QUOTA')).toHaveLength(overBound);
    // Each refusal is a whole attempt (an intent and its outcome) in the sealed log.
    const intents = audit.records().filter((r) => r.agent === 'host' && r.phase === 'intent');
    expect(intents).toHaveLength(4 + overBound + 2);
    const last = refusals().at(-1);
    audit.checkpoint();
    expect(last !== undefined && audit.verify(last, audit.prove(last.seq))).toBe(true);
  });

  it('records a call its client cancelled while it waited for a place', async () => {
    const one = defineTool({ ...slow('one.tool'), name: 'one.tool', maxInFlight: 1 });
    kernel = testKernel({ tools: [one], policy: { capabilities: [{ action: 'one.tool', resource: '**' }] } });
    const audit = kernel.audit;
    const { client } = await connectSession(kernel);
    const first = client.callTool({ name: 'one.tool', arguments: {} });
    // The second waits for the first's place; its client gives up before it gets one.
    const waiting = client.callTool({ name: 'one.tool', arguments: {} }, { signal: AbortSignal.timeout(50) });
    await expect(waiting).rejects.toThrow();
    expect(text(await first)).toBe('done');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(ran).toEqual(['one.tool']);
    const outcomes = audit.records().filter((r) => r.agent === 'host' && r.phase === 'outcome');
    expect(outcomes.map((r) => [r.action, r.code])).toEqual(
      expect.arrayContaining([
        ['one.tool', null],
        ['one.tool', 'E_KILLED'],
      ]),
    );
    expect(outcomes).toHaveLength(2);
  });

  it('an execute whose code is past the payload limit is refused E_BAD_ARG and recorded (review 123)', async () => {
    kernel = testKernel({
      tools: [slow('ok.tool')],
      policy: { capabilities: [{ action: 'ok.tool', resource: '**' }] },
    });
    const audit = kernel.audit;
    const { client } = await connectSession(kernel);
    const code = `return ${JSON.stringify('x'.repeat(2 * 1024 * 1024))}.length`;
    expect(text(await client.callTool({ name: 'execute', arguments: { code } }))).toMatch(/^E_BAD_ARG/);
    const refused = audit.records().filter((r) => r.agent === 'host' && r.phase === 'outcome' && r.code !== null);
    expect(refused.map((r) => [r.action, r.code, r.status])).toEqual([['execute', 'E_BAD_ARG', 'denied']]);
  });

  it('records what fits of a name past the record bounds', async () => {
    kernel = testKernel({ tools: [slow('ok.tool')], policy: { capabilities: [] } });
    const audit = kernel.audit;
    const { client } = await connectSession(kernel);
    const name = 'x'.repeat(5000);
    expect(text(await client.callTool({ name, arguments: {} }))).toMatch(/^E_NO_TOOL/);
    const [refused] = audit.records().filter((r) => r.phase === 'outcome');
    expect(refused).toMatchObject({ agent: 'host', code: 'E_NO_TOOL', action: 'x'.repeat(256) });
    // kernel.submit of such a name recorded nothing at all before.
    const submitted = await kernel.submit({ action: name });
    expect(submitted.recordId).not.toBeNull();
  });
});
