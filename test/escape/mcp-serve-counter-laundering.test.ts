import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { closeSessions, connectSession, answerText as text } from '../helpers/mcp-session.js';
import { PIN, pinVault, recordingSink } from '../helpers/web-and-mail.js';

/**
 * Attack: an `mcp serve` client counts the uses left of a counted rule that a `secret` run spent, one per digit of
 * a PIN, and sends what it counted. An agent reading such a counter takes the label of the uses that moved it, but
 * a client's direct call went through `kernel.submit`, which dropped the decision's `observed` label: the counting
 * session stayed clean and its sink, which refuses `secret`, sent the PIN (red-team pass 97, within one session
 * while an `execute` run slept; here across two sessions, which needs no timing).
 */
const tick = defineTool({
  name: 'tick',
  description: 'counts a slot',
  input: z.strictObject({ slot: z.string().regex(/^d[0-9]$/) }),
  resource: (args) => args.slot,
  target: 'slot',
  run: () => 'ok',
});

let kernel: Kernel | undefined;
afterEach(async () => {
  await closeSessions();
  await kernel?.close();
  kernel = undefined;
});

describe('a counter a secret run moved, read by direct calls of an MCP client', () => {
  it('labels the reading session, so the count never reaches a sink that refuses secret', async () => {
    const sent: unknown[] = [];
    kernel = testKernel({
      tools: [pinVault, tick, recordingSink('note.send', ['secret'], sent)],
      policy: {
        capabilities: [
          { action: 'vault.read', resource: '**' },
          { action: 'note.send', resource: '**' },
          ...[0, 1, 2, 3].map((i) => ({ action: 'tick', resource: `d${i}`, max_uses: 10 })),
        ],
      },
    });
    const spender = await connectSession(kernel);
    const spend = `
      const { pin } = await tools.vault_read({});
      for (let i = 0; i < 4; i++) for (let k = 0; k < Number(pin[i]); k++) await tools.tick({ slot: 'd' + i });
      return 'spent';`;
    const spent = await spender.client.callTool({ name: 'execute', arguments: { code: spend } });
    expect(spent.isError).not.toBe(true);
    expect(spender.session.label()).toContain('secret');

    const reader = await connectSession(kernel);
    let counted = '';
    for (let i = 0; i < 4; i++) {
      let ok = 0;
      for (let k = 0; k < 11; k++) {
        const answer = await reader.client.callTool({ name: 'tick', arguments: { slot: `d${i}` } });
        if (answer.isError === true) {
          expect(text(answer)).toMatch(/^E_CAP_EXHAUSTED/);
          break;
        }
        ok += 1;
      }
      counted += String(10 - ok);
    }
    expect(counted).toBe(PIN); // the count itself is the channel; the kernel's part is to label it
    expect(reader.session.label()).toContain('secret');
    const send = await reader.client.callTool({ name: 'note.send', arguments: { body: counted } });
    expect(text(send)).toMatch(/^E_TAINT/);
    expect(sent).toEqual([]);
    // The records of the direct calls carry the label too: a reader of the log takes what the session took.
    const ticks = kernel.audit.records().filter((r) => r.agent === 'host' && r.action === 'tick');
    expect(ticks.at(-1)).toMatchObject({ phase: 'outcome', status: 'denied' });
    expect(ticks.at(-1)?.label).toContain('secret');
  });

  it('kernel.submit answers with the label of the uses its decision read, allowed or refused', async () => {
    kernel = testKernel({
      tools: [pinVault, tick],
      policy: {
        capabilities: [
          { action: 'vault.read', resource: '**' },
          { action: 'tick', resource: 'd0', max_uses: 2 },
        ],
      },
    });
    const clean = await kernel.submit({ action: 'tick', target: 'd0' });
    expect(clean).toMatchObject({ status: 'OK', label: [] });
    await kernel.submit({ action: 'tick', target: 'd0', label: ['secret'] });
    const refused = await kernel.submit({ action: 'tick', target: 'd0' });
    expect(refused).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_EXHAUSTED' } });
    expect(refused.label).toContain('secret');
  });
});
