import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { closeSessions, connectSession, answerText as text } from '../helpers/mcp-session.js';
import { recordingSink } from '../helpers/web-and-mail.js';

/**
 * Red-team pass 85: an `execute` whose start the tenant's share of held memory refused answered E_INTERNAL and
 * dropped the refusal's label. Whether it was refused depended on what other runs of the session held: code that
 * read a secret filled the share when a bit was 1, a probe `execute` was refused or not, and the client sent the
 * bit through a sink that refuses `secret`, with a clean session label.
 */

const sent: unknown[] = [];
const tools = [
  defineTool({
    name: 'pin.read',
    description: 'reads the PIN',
    input: z.strictObject({}),
    labels: { source: ['secret'] },
    run: () => ({ bit: 1 }),
  }),
  defineTool({
    name: 'blob.make',
    description: 'makes a string of a size',
    input: z.strictObject({ size: z.number().int().max(1_000_000) }),
    run: (args) => 'a'.repeat(args.size),
  }),
  recordingSink('note.send', ['secret'], sent),
];

let kernel: Kernel;
afterEach(async () => {
  await closeSessions();
  await kernel?.close();
  sent.length = 0;
});

// Reads the secret; when its bit is 1, holds handles until the tenant's share is full (ever smaller ones, so a
// few dozen calls fill it), then waits.
const FILLER = `const { bit } = await tools.pin_read({});
  if (bit === 1) {
    for (const size of [100000, 10000, 1000, 100, 10]) {
      try { for (;;) await sys.tool('blob.make', { size }, { handle: true }); } catch {}
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 5000));
  return 'done';`;

describe('a refused execute start carries the label of what the refusing bound holds', () => {
  it('the probe is E_QUOTA, the session takes `secret`, and the sink refuses the bit', async () => {
    kernel = testKernel({
      tools,
      maxHeldBytes: 64 * 1024 * 1024,
      maxHeldBytesPerTenant: 4 * 1024 * 1024,
      policy: { capabilities: [{ action: '*', resource: '**' }] },
    });
    const { client, session } = await connectSession(kernel);

    const filler = client.callTool({ name: 'execute', arguments: { code: FILLER } });
    // Probes until the share is full (a slow machine takes longer to fill it): one that starts is harmless.
    let probe = await client.callTool({ name: 'execute', arguments: { code: 'return 0' } });
    for (let tries = 0; probe.isError !== true && tries < 40; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      probe = await client.callTool({ name: 'execute', arguments: { code: 'return 0' } });
    }
    expect(probe.isError).toBe(true);
    expect(text(probe)).toMatch(/^E_QUOTA: /);
    expect(session.label()).toContain('secret');
    const leak = await client.callTool({ name: 'note.send', arguments: { body: 'bit=1' } });
    expect(text(leak)).toMatch(/^E_TAINT: /);
    expect(sent).toEqual([]);
    await filler;
  });
});
