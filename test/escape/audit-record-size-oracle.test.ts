// Attack: read an unread handle's label from whether the audit log could take the record of a call about it
// (red-team pass 154). A resource is stored as a keyed digest when the call's label holds `secret`, and in clear
// otherwise, where the log refuses one past 4,096 characters. `sys.declassify(h, tags)` names its tags as its
// resource (64 tags of 128 characters: 8,255) and takes the handle's label: for a `secret` handle the call was
// recorded and refused E_CAP_DENIED; for any other, the intent could not be written, the call failed E_INTERNAL
// unrecorded, and the caller's label stayed clean. A clean parent read a PIN a `secret` child wrote, a bit per memory
// key, and mailed it. A resource too long for a record is now always a digest, and a log that refuses a record
// raises whoever is refused by the attempt's label. And declassify with a full handle table spent its capability's
// uses before the table refused it (the same pass); it now keeps the new handle's place first.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const secretTool = defineTool({
  name: 'secret.get',
  description: 'a credential',
  input: z.strictObject({}),
  labels: { source: ['secret'] },
  run: () => '4711',
});

const TAGS = `Array.from({ length: 64 }, (_, i) => 'a'.repeat(124) + String(1000 + i))`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('declassify with tags too long for a record answers the same for a secret handle and a clean one', async () => {
    kernel = testKernel({
      isolation,
      tools: [secretTool],
      policy: {
        capabilities: [
          { action: 'secret.get', resource: 'secret.get' },
          { action: 'echo', resource: 'echo' },
        ],
      },
    });
    const result = await kernel.run({
      code: `export default async () => {
        const handles = [
          await sys.tool('secret.get', {}, { handle: true }),
          await sys.tool('echo', { s: 'clean' }, { handle: true }),
        ];
        const codes = [];
        for (const h of handles) {
          try { await sys.declassify(h, ${TAGS}); codes.push('ok'); } catch (e) { codes.push(e.code); }
        }
        return { codes, label: await sys.label() };
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: { codes: ['E_CAP_DENIED', 'E_CAP_DENIED'], label: [] } });
    const outcomes = kernel.audit.records({ limit: 1000 }).filter((r) => r.syscall === 'declassify');
    expect(outcomes.map((r) => [r.phase, r.status, r.code])).toEqual([
      ['intent', null, null],
      ['outcome', 'denied', 'E_CAP_DENIED'],
      ['intent', null, null],
      ['outcome', 'denied', 'E_CAP_DENIED'],
    ]);
    expect(outcomes.every((r) => (r.resource ?? '').startsWith('redacted:'))).toBe(true);
  }, 30_000);

  it('declassify with a full handle table is refused before it spends a use', async () => {
    kernel = testKernel({
      isolation,
      policy: { capabilities: [{ action: 'label.declassify', resource: 'web', max_uses: 10 }] },
      limits: { wall_ms: 60_000, cpu_ms: 60_000 },
    });
    const result = await kernel.run({
      code: `export default async () => {
        await sys.mem.put('k', 1);
        const h = await sys.mem.get('k', { handle: true });
        for (let i = 1; i < 4096; i++) await sys.mem.get('k', { handle: true });
        const uses = async () => (await sys.caps()).find((c) => c.action === 'label.declassify').remainingUses;
        const before = await uses();
        const codes = [];
        for (let i = 0; i < 3; i++) { try { await sys.declassify(h, ['web']); codes.push('ok'); } catch (e) { codes.push(e.code); } }
        return { before, after: await uses(), codes };
      }`,
    });
    expect(result).toMatchObject({
      ok: true,
      value: { before: 10, after: 10, codes: ['E_QUOTA', 'E_QUOTA', 'E_QUOTA'] },
    });
  }, 60_000);
});
