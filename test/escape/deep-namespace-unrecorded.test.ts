// Attack: run below the audit log's sight (red-team pass 83). A record's namespace holds 256 characters, but a
// child's namespace grows by up to 33 a level: eight levels of 32-character names below `default` made 271, and
// every call of the deepest agent (label, tool, log, mem.put, caps) failed E_INTERNAL with no record at all. A spawn
// whose namespace would be longer than a record holds is now refused (E_BAD_ARG, recorded), so every agent that
// runs is an agent the log can name; a host's namespace is bounded the same way.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, kernelWith, testKernel } from '../helpers/kernel.js';

const SEGMENT = 'a'.repeat(32);
const DEEP = `export default async (level) => {
  try {
    const id = await sys.spawn({ program: 'deep', input: level + 1, namespace: '${SEGMENT}' });
    return await sys.join(id);
  } catch (e) {
    const out = { level, spawn: e.code };
    for (const [name, call] of [['label', () => sys.label()], ['log', () => sys.log('x')], ['put', () => sys.mem.put('k', 1)],
        ['caps', () => sys.caps()]]) {
      try { await call(); out[name] = 'ok'; } catch (e) { out[name] = e.code; }
    }
    return out;
  }
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe.each(ISOLATION_MODES)('%s', (isolation) => {
  it('the spawn that would pass the bound is refused and recorded, and the deepest agent is recorded in full', async () => {
    kernel = kernelWith({ deep: DEEP }, { isolation });
    const run = await kernel.run({ program: 'deep', input: 0 });
    // 'default' + 7 levels of '/' + 32 characters is 238; an eighth would be 271.
    expect(run.ok ? run.value : run.error).toEqual({
      level: 7,
      spawn: 'E_BAD_ARG',
      label: 'ok',
      log: 'ok',
      put: 'ok',
      caps: 'ok',
    });
    const records = kernel.audit.records({ limit: 10_000 });
    expect(Math.max(...records.map((record) => record.namespace.length))).toBe(7 + 7 * 33);
    const intents = records.filter((record) => record.phase === 'intent').length;
    expect(records.filter((record) => record.phase === 'outcome')).toHaveLength(intents);
  });
});

it('a host namespace longer than a record holds is a RangeError-style option error, not a run whose calls all fail', () => {
  kernel = testKernel();
  const long = Array.from({ length: 9 }, () => SEGMENT).join('/');
  expect(long.length).toBeGreaterThan(256);
  expect(() => kernel?.spawn({ code: 'export default () => 1', namespace: long })).toThrow(/namespace/);
});
