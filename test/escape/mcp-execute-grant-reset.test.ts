import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { closeSessions, connectSession, answerText as text } from '../helpers/mcp-session.js';
import { recordingSink } from '../helpers/web-and-mail.js';

/**
 * Red-team pass 85: every `execute` of an MCP session started a top agent with fresh root grants of the policy's
 * rules, so a rule's `max_uses` and `expires_in` began again at each run. Under `max_uses: 1` on a sending tool,
 * direct calls were refused after the first while four runs of `execute` sent eight more; past `expires_in` the
 * direct call was refused and an `execute` still sent. The runs now hold the host's own grants, handed on.
 */

const sent: unknown[] = [];
const tools = [recordingSink('note.send', [], sent)];

let kernel: Kernel;
afterEach(async () => {
  await closeSessions();
  await kernel?.close();
  sent.length = 0;
});

const connect = async () => (await connectSession(kernel)).client;
const SEND_TWICE = `await tools.note_send({ body: 'e1' }); return await tools.note_send({ body: 'e2' })`;

describe('execute runs share the policy’s use counters and expiry with the session’s direct calls', () => {
  it('max_uses: 1 allows one send in all, direct or executed, across sessions', async () => {
    kernel = testKernel({ tools, policy: { capabilities: [{ action: 'note.send', resource: '**', max_uses: 1 }] } });
    const client = await connect();
    expect(text(await client.callTool({ name: 'note.send', arguments: { body: 'd1' } }))).toBe('sent');
    expect(text(await client.callTool({ name: 'note.send', arguments: { body: 'd2' } }))).toMatch(/^E_CAP_EXHAUSTED/);
    // A used-up grant is not handed on: the run holds no capability for the tool at all.
    for (let run = 0; run < 3; run++) {
      const executed = await client.callTool({ name: 'execute', arguments: { code: SEND_TWICE } });
      expect(executed.isError).toBe(true);
      expect(JSON.parse(text(executed)).error.code).toMatch(/^E_CAP_(EXHAUSTED|DENIED)$/);
    }
    const other = await connect();
    const fromOther = await other.callTool({ name: 'execute', arguments: { code: SEND_TWICE } });
    expect(JSON.parse(text(fromOther)).error.code).toMatch(/^E_CAP_(EXHAUSTED|DENIED)$/);
    expect(sent).toEqual([{ body: 'd1' }]);
  });

  it('an execute run first uses the one send, and the session’s direct call is refused after it', async () => {
    kernel = testKernel({ tools, policy: { capabilities: [{ action: 'note.send', resource: '**', max_uses: 1 }] } });
    const client = await connect();
    const executed = await client.callTool({ name: 'execute', arguments: { code: SEND_TWICE } });
    expect(JSON.parse(text(executed))).toMatchObject({ error: { code: 'E_CAP_EXHAUSTED' } });
    expect(text(await client.callTool({ name: 'note.send', arguments: { body: 'd1' } }))).toMatch(/^E_CAP_EXHAUSTED/);
    expect(sent).toEqual([{ body: 'e1' }]);
  });

  it('expires_in runs from the kernel’s start for executed code as for direct calls', async () => {
    let now = 1_000_000;
    kernel = testKernel({
      tools,
      now: () => now,
      policy: { capabilities: [{ action: 'note.send', resource: '**', expires_in: '3s' }] },
    });
    const client = await connect();
    now += 4000;
    expect(text(await client.callTool({ name: 'note.send', arguments: { body: 'd1' } }))).toMatch(/^E_CAP_EXPIRED/);
    const executed = await client.callTool({ name: 'execute', arguments: { code: SEND_TWICE } });
    expect(executed.isError).toBe(true);
    expect(JSON.parse(text(executed)).error.code).toMatch(/^E_CAP_(EXPIRED|DENIED)$/);
    expect(sent).toEqual([]);
  });

  it('a run handed a used-up grant takes the label of the uses that spent it (review 88)', async () => {
    kernel = testKernel({ tools, policy: { capabilities: [{ action: 'note.send', resource: '**', max_uses: 1 }] } });
    const send = `export default async () => { try { await sys.tool('note.send', { body: 'x' }); return 'sent' } catch (e) { return e.code } }`;
    // A secret run spends the one use; whether it did is what a later run could tell from its capabilities.
    const spender = await kernel.run({ code: send, label: ['secret'], policyGrants: 'shared' });
    expect(spender).toMatchObject({ ok: true, value: 'sent' });
    const prober = await kernel.run({ code: `export default async () => sys.label()`, policyGrants: 'shared' });
    expect(prober).toMatchObject({ ok: true, value: ['secret'] });
  });
});
