// Attack: silence another tenant's audit trail by widening the log's tag vocabulary (red-team pass 83). `sys.audit`
// raises its reader by every tag in the log, and the view handed back that raw list: two runs labelled with 40
// outsider-chosen tags each (a tag per mail sender) left 80 tags, and a clean reader took a label of 80, which
// no record can hold (64 tags at most). Every later call of the reader failed E_INTERNAL, unrecorded: 54 attempts
// without a record and an intent without an outcome. A join past 64 tags is the top label, the reader's too.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { TOP_LABEL } from '../../runtime/labels/label.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const senders = (prefix: string) => Array.from({ length: 40 }, (_, i) => `from:${prefix}${i}`);

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe.each(ISOLATION_MODES)('%s', (isolation) => {
  it('a reader of a log of 80 tags is raised to the top, and every call it makes after is recorded', async () => {
    kernel = testKernel({ isolation });
    for (const prefix of ['alice', 'bob']) {
      const run = await kernel.run({
        label: senders(prefix),
        code: `export default async () => { await sys.tool('noop', {}); }`,
      });
      expect(run.ok).toBe(true);
    }
    const before = kernel.audit.size;
    const reader = await kernel.run({
      code: `export default async () => {
        await sys.audit({ limit: 1 });
        const out = { label: await sys.label() };
        for (const [name, call] of [['noop', () => sys.tool('noop', {})], ['log', () => sys.log('hello')], ['put', () => sys.mem.put('k', 1)]]) {
          try { await call(); out[name] = 'ok'; } catch (e) { out[name] = e.code; }
        }
        return out;
      }`,
    });
    // The top holds every tag; a sink that refuses any refuses it, so `noop` and `log` (no sinks) and the memory
    // write still run, and are recorded.
    expect(reader).toMatchObject({ ok: true, value: { label: TOP_LABEL, noop: 'ok', log: 'ok', put: 'ok' } });
    expect(reader.label).toEqual(TOP_LABEL);
    const records = kernel.audit.records({ limit: 10_000 }).filter((record) => record.seq >= before);
    // audit, label, tool, log, mem.put: each an intent and an outcome (before: one intent, nothing after it).
    expect(records.filter((record) => record.phase === 'intent')).toHaveLength(5);
    expect(records.filter((record) => record.phase === 'outcome')).toHaveLength(5);
  });
});
