import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { MAX_NAMESPACE_BYTES, MAX_NAMESPACE_ENTRIES } from '../../runtime/store/namespace-memory.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { webAndMailKernel } from '../helpers/web-and-mail.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  /**
   * Attack: reach memory or audit records outside the agent's namespace, or learn labelled data from them
   * without the label (key names, existence, audit records), or fill the host with memory entries.
   */
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  function setup() {
    const made = webAndMailKernel('attacker-controlled-page', isolation);
    kernel = made.kernel;
    return made;
  }

  describe('namespace escape', () => {
    it('sys.audit: key names a web-tainted agent wrote reach a clean agent only with the label', async () => {
      const { kernel, sent } = setup();
      const writer = await kernel.run({
        code: `export default async () => { const page = await sys.tool('fetch', {}); await sys.mem.put('k-' + page, 1); await sys.mem.delete('k-' + page); return 'ok'; }`,
      });
      expect(writer.ok).toBe(true);
      const reader = await kernel.run({
        code: `export default async () => {
        const records = await sys.audit({ limit: 1000 });
        const leaked = records.map((r) => r.resource).find((r) => typeof r === 'string' && r.includes('attacker'));
        try { await sys.tool('mail', { body: leaked }); return 'sent'; } catch (e) { return [e.code, await sys.label()]; }
      }`,
      });
      expect(reader).toMatchObject({ ok: true, value: ['E_TAINT', ['web']] });
      expect(sent).toEqual([]);
    });

    it("sys.audit: a child sees its own namespace's records and a whole mount's, not a sibling's nor a prefix mount's", async () => {
      kernel = testKernel({ isolation, policy: { capabilities: [{ action: 'agent.spawn', resource: 'inline' }] } });
      // A prefix mount shares some keys of the parent's namespace, not its records (they name keys outside it).
      const result = await kernel.run({
        code: `export default async () => {
          const READ = 'export default async () => [...new Set((await sys.audit({ limit: 1000 })).map((r) => r.namespace))].sort()';
          await sys.mem.put('p/shared', 1);
          await sys.join(await sys.spawn({ code: "export default async () => { await sys.mem.put('mine', 1); }", namespace: 'sib' }));
          const prefixed = await sys.join(await sys.spawn({ code: READ, namespace: 'pre', mounts: [{ name: 'm', prefix: 'p/', mode: 'ro' }] }));
          const whole = await sys.join(await sys.spawn({ code: READ, namespace: 'whole', mounts: [{ name: 'm', mode: 'ro' }] }));
          return { prefixed, whole };
        }`,
      });
      expect(result).toMatchObject({
        ok: true,
        value: { prefixed: ['default/pre'], whole: ['default', 'default/whole'] },
      });
    });

    it('mem.delete: the existence of a key a tainted agent wrote raises the deleter', async () => {
      const { kernel, sent } = setup();
      await kernel.run({
        code: `export default async () => { const page = await sys.tool('fetch', {}); if (page.length > 3) await sys.mem.put('bit', 1); return 'ok'; }`,
      });
      const reader = await kernel.run({
        code: `export default async () => {
        const bit = await sys.mem.delete('bit');
        try { await sys.tool('mail', { body: String(bit) }); return 'sent'; } catch (e) { return [e.code, bit]; }
      }`,
      });
      expect(reader).toMatchObject({ ok: true, value: ['E_TAINT', true] });
      expect(sent).toEqual([]);
    });

    it('filling memory: a namespace refuses entries past its count cap with E_QUOTA, and deleting frees room', async () => {
      const { kernel } = setup();
      const result = await kernel.run({
        code: `export default async (max) => {
        for (let i = 0; i < max; i++) await sys.mem.put('k' + i, i);
        let refused;
        try { await sys.mem.put('one-more', 1); } catch (e) { refused = e.code; }
        await sys.mem.put('k0', 'overwrite is fine');
        await sys.mem.delete('k1');
        await sys.mem.put('one-more', 1);
        return refused;
      }`,
        input: MAX_NAMESPACE_ENTRIES,
        limits: { cpu_ms: 60_000 },
      });
      expect(result).toMatchObject({ ok: true, value: 'E_QUOTA' });
    }, 60_000);

    it('filling memory: a namespace refuses bytes past its size cap, even through concurrent puts', async () => {
      const { kernel } = setup();
      const result = await kernel.run({
        code: `export default async (count) => {
        const big = 'x'.repeat(900 * 1024);
        const settled = await Promise.allSettled(Array.from({ length: count }, (_, i) => sys.mem.put('b' + i, big)));
        return settled.map((s) => s.status === 'fulfilled' ? 'ok' : s.reason.code);
      }`,
        input: Math.ceil(MAX_NAMESPACE_BYTES / (900 * 1024)) + 4,
      });
      expect(result.ok).toBe(true);
      const outcomes = (result.ok ? result.value : []) as string[];
      expect(outcomes.filter((o) => o === 'ok').length).toBe(Math.floor(MAX_NAMESPACE_BYTES / (900 * 1024 + 40)));
      expect(new Set(outcomes.filter((o) => o !== 'ok'))).toEqual(new Set(['E_QUOTA']));
    });
  });
});

// Attack (red-team pass 39): LevelDB stores keys as UTF-8, where a lone surrogate becomes U+FFFD, so with a store
// directory a mount prefix "s\uD800" reached the parent's keys "s\uFFFD…" outside it (and read and overwrote one).
describe('lone surrogates in keys, with a store directory', () => {
  it('a mount prefix or key with a lone surrogate is refused E_BAD_ARG, and the key beside it is untouched', async () => {
    const store = mkdtempSync(join(tmpdir(), 'isokernel-surrogate-'));
    const kernel = testKernel({ store, policy: { capabilities: [{ action: 'agent.spawn', resource: '*' }] } });
    try {
      const result = await kernel.run({
        namespace: 'p',
        code: `export default async () => {
          await sys.mem.put('s\\uFFFDother', 'outside-the-mount');
          const codes = [];
          const child = 'export default async () => sys.mem.put("other", "overwritten", { mount: "m" })';
          try { await sys.join(await sys.spawn({ code: child, mounts: [{ name: 'm', prefix: 's\\uD800', mode: 'rw' }] })); codes.push('spawned'); }
          catch (e) { codes.push(e.code); }
          try { await sys.mem.get('s\\uD800other'); codes.push('read'); } catch (e) { codes.push(e.code); }
          return [codes, await sys.mem.get('s\\uFFFDother')];
        }`,
      });
      expect(result, JSON.stringify(result).slice(0, 300)).toMatchObject({
        ok: true,
        value: [['E_BAD_ARG', 'E_BAD_ARG'], 'outside-the-mount'],
      });
    } finally {
      await kernel.close();
      rmSync(store, { recursive: true, force: true });
    }
  }, 60_000);
});
