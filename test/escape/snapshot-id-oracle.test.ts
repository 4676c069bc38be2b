import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack (red-team issue 12, item 10): `sys.snapshot` hashes the namespace memory, including values another
 * agent stored with the `email` label, without raising the caller's label. An unlabelled agent took the id
 * (a deterministic function of a 4-digit PIN it never read) and sent it out; the PIN falls to 10^4 guesses of
 * the id offline. The id carries the label of everything it covers: the caller's label rises by the labels
 * of the memory it hashes, and the send is refused with E_TAINT.
 */
let kernel: Kernel | undefined;
const sent: unknown[] = [];

afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  sent.length = 0;
});

const mail = defineTool({
  name: 'mail',
  description: 'sends mail',
  input: z.strictObject({ body: z.unknown() }),
  labels: { sinks: { '*': ['email'] } },
  run: (args) => {
    sent.push(args);
    return 'sent';
  },
});

function mailKernel(): Kernel {
  kernel = testKernel({ tools: [mail], policy: { capabilities: [{ action: 'mail', resource: 'mail' }] } });
  return kernel;
}

// The same program freezes the same (empty) state: only the namespace memory differs between ids.
const SNAPSHOT_AND_SEND = `export default async () => {
  const id = await sys.snapshot({});
  const label = await sys.label();
  try { await sys.tool('mail', { body: id }); return [label, 'sent', id]; } catch (e) { return [label, e.code, id]; }
}`;

describe('the snapshot id as an oracle over labelled memory', () => {
  it('an unlabelled agent that snapshots email-labelled memory is labelled email and cannot send the id', async () => {
    const k = mailKernel();
    const store = await k.run({
      code: `export default async (pin) => { await sys.mem.put('pin', pin); return 'stored'; }`,
      input: '4821',
      label: ['email'],
    });
    expect(store).toMatchObject({ ok: true, value: 'stored' });
    const probe = await k.run({ code: SNAPSHOT_AND_SEND });
    expect(probe).toMatchObject({ ok: true, value: [['email'], 'E_TAINT', expect.stringMatching(/^[0-9a-f]{64}$/)] });
    expect(sent).toEqual([]);
  });

  it('the id really is an oracle: it differs with the PIN, so only the label stands between it and the PIN', async () => {
    const ids: unknown[] = [];
    for (const pin of ['0000', '4821']) {
      const k = mailKernel();
      await k.run({ code: `export default async (pin) => sys.mem.put('pin', pin)`, input: pin, label: ['email'] });
      const probe = await k.run({ code: SNAPSHOT_AND_SEND });
      ids.push(probe.ok ? (probe.value as unknown[])[2] : probe.error.code);
      await k.close();
      kernel = undefined;
    }
    expect(ids[0]).not.toEqual(ids[1]);
  });

  it('benign twin: a snapshot of unlabelled memory leaves the label empty and the id can be sent', async () => {
    const k = mailKernel();
    await k.run({ code: `export default async () => sys.mem.put('note', 'public')` });
    const probe = await k.run({ code: SNAPSHOT_AND_SEND });
    expect(probe).toMatchObject({ ok: true, value: [[], 'sent', expect.any(String)] });
    expect(sent).toHaveLength(1);
  });
});
