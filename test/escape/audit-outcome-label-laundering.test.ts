// Attack: launder a secret through the labels of one's own audit records (red-team pass 77). `sys.audit` raises a
// reader by the labels of the records it returns, so a record must carry the label of everything it tells.
// 1. An outcome record kept the label the call had before it ran. Ten agents each guess a PIN with a tool whose
//    result (or failure) carries `secret`; each ends labelled secret, but its records said `[]`. A clean reader
//    found the one outcome that was ok and sent its guess through a sink that refuses `secret`.
// 2. `sys.read` and `sys.declassify` recorded the handle's label instead of the caller's: a secret-labelled agent
//    read a clean handle n times (n the secret), and a clean reader counted the records.
// 3. A tool's charge, decided by what it read, was recorded at the caller's label where the caller does not take the
//    result's: a result kept as a handle, or one that came after the caller ended (the review of pass 77's fix).
//    A clean reader found the guess whose lookup cost 100 tokens.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel, KernelError } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const PIN = 7;
const check = defineTool({
  name: 'check',
  description: 'checks a guess against a PIN',
  input: z.strictObject({ guess: z.number() }),
  run: ({ guess }) => {
    if (guess !== PIN) throw new KernelError('E_NOT_FOUND', 'no');
    return true;
  },
});
const count = defineTool({ name: 'count', description: 'a secret count', input: z.unknown(), run: () => 4 });
// A paid lookup whose cost depends on what it found; it does not look at its abort signal.
const lookup = defineTool({
  name: 'lookup',
  description: 'looks a guess up',
  input: z.strictObject({ guess: z.number() }),
  run: async ({ guess }, ctx) => {
    await new Promise((resolve) => setTimeout(resolve, 50));
    ctx.charge({ tokens_out: guess === PIN ? 100 : 1 });
    return { found: guess === PIN };
  },
});
const POLICY = {
  capabilities: [
    { action: 'check', resource: 'check' },
    { action: 'count', resource: 'count' },
    { action: 'lookup', resource: 'lookup' },
    { action: 'echo', resource: 'echo' },
    { action: 'label.declassify', resource: 'web' },
  ],
  labels: {
    sources: [
      { tool: 'check', tags: ['secret'] },
      { tool: 'count', tags: ['secret'] },
      { tool: 'lookup', tags: ['secret'] },
    ],
    sinks: [{ tool: 'echo', arg: 'text', deny: ['secret'] }],
  },
};

const GUESSER = `export default async (guess) => {
  try { await sys.tool('check', { guess }); } catch {}
}`;
// Sends what the log says to a sink that refuses `secret`: which guessers' checks were ok, how many reads it holds.
const READER = `export default async () => {
  const page = await sys.audit({ after: -1, limit: 1000 });
  const ok = page.filter((r) => r.action === 'check' && r.phase === 'outcome' && r.status === 'ok').map((r) => r.agent);
  const reads = page.filter((r) => r.syscall === 'read' && r.phase === 'outcome').length;
  try { await sys.tool('echo', { text: JSON.stringify({ ok, reads }) }); return 'sent'; } catch (e) { return e.code; }
}`;
const COSTLY = `export default async () => {
  const page = await sys.audit({ after: -1, limit: 1000 });
  const hit = page.filter((r) => r.action === 'lookup' && r.phase === 'outcome' && r.usage.tokens_out === 100);
  try { await sys.tool('echo', { text: JSON.stringify(hit.map((r) => r.agent)) }); return 'sent'; } catch (e) { return e.code; }
}`;
const LOOKUPS = {
  'kept as a handle': `export default async (guess) => { await sys.tool('lookup', { guess }, { handle: true }); }`,
  'after its caller ended': `export default async (guess) => { sys.tool('lookup', { guess }).catch(() => {}); }`,
};
const READS = `export default async () => {
  const handle = await sys.tool('echo', { text: 'clean' }, { handle: true });
  const n = await sys.tool('count', {});
  for (let i = 0; i < n; i++) await sys.read(handle);
  for (let i = 0; i < n; i++) await sys.declassify(handle, ['web']);
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('an outcome record carries the label its caller took from the effect: the guess that matched stays secret', async () => {
    kernel = testKernel({ isolation, tools: [check, count], policy: POLICY, limits: { wall_ms: 20_000 } });
    for (let guess = 0; guess < 10; guess++) {
      const result = await kernel.run({ code: GUESSER, input: guess });
      expect(result.label).toEqual(['secret']);
    }
    const outcomes = kernel.audit.records({ limit: 1000 }).filter((r) => r.action === 'check' && r.phase === 'outcome');
    expect(outcomes).toHaveLength(10);
    for (const record of outcomes) expect(record.label).toContain('secret');
    const reader = await kernel.run({ code: READER });
    expect(reader).toMatchObject({ ok: true, value: 'E_TAINT', label: ['secret'] });
  }, 60_000);

  it.each(Object.entries(LOOKUPS))(
    'an outcome carries the label of what decided its charge: a result %s',
    async (_, code) => {
      kernel = testKernel({ isolation, tools: [lookup], policy: POLICY, limits: { wall_ms: 20_000 } });
      for (let guess = 0; guess < 10; guess++) await kernel.run({ code, input: guess });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const outcomes = kernel.audit
        .records({ limit: 1000 })
        .filter((r) => r.action === 'lookup' && r.phase === 'outcome');
      expect(outcomes.map((r) => r.status)).toEqual(Array(10).fill('ok'));
      for (const record of outcomes) expect(record.label).toContain('secret');
      const reader = await kernel.run({ code: COSTLY });
      expect(reader).toMatchObject({ ok: true, value: 'E_TAINT', label: ['secret'] });
    },
    60_000,
  );

  it("the records of sys.read and sys.declassify carry the caller's context, not the handle's label alone", async () => {
    kernel = testKernel({ isolation, tools: [check, count], policy: POLICY, limits: { wall_ms: 20_000 } });
    const result = await kernel.run({ code: READS });
    expect(result).toMatchObject({ ok: true, label: ['secret'] });
    const records = kernel.audit
      .records({ limit: 1000 })
      .filter((r) => r.syscall === 'read' || r.syscall === 'declassify');
    expect(records).toHaveLength(16);
    for (const record of records) expect(record.label).toContain('secret');
    const reader = await kernel.run({ code: READER });
    expect(reader).toMatchObject({ ok: true, value: 'E_TAINT', label: ['secret'] });
  }, 60_000);
});
