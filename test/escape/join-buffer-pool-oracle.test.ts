import { describe, expect, it } from 'vitest';
import { ISOLATION_MODES, type IsolationMode } from '../helpers/kernel.js';
import { twoTenants } from '../helpers/two-tenants.js';

/**
 * Attack (red-team pass 62): a child's result waits in its parent's held memory until the parent joins it, and
 * when the kernel-wide agents' pool cannot take it the result is replaced by the pool's refusal. That refusal
 * depends on everything the pool holds, but the join dropped its label: a clean agent P of another tenant
 * spawned clean children returning strings of chosen sizes, joined each by value and, from which sizes were
 * kept (kept results stay held, so the fits add up), read the pool's remainder to about 1 KiB. A web-labelled
 * agent L held `byte` handles of 32 KiB each: P read the byte (8 bits a run, every time, both tiers) and posted
 * it to a sink that refuses `web`. Now the refused result carries the refusal's label and P takes it.
 */
const L_CODE = `export default async function main() {
  const { byte } = await sys.tool('secret.get', {});
  for (let i = 0; i < byte; i++) await sys.tool('echo', 'x'.repeat(16384), { handle: true });
  await sys.log('ready');
  await new Promise(() => {});
}`;

const P_CODE = `export default async function main() {
  const child = 'export default async (n) => "y".repeat(n)';
  let total = 0;
  let refusals = 0;
  const fits = async (chars) => {
    const id = await sys.spawn({ code: child, input: chars });
    try { await sys.join(id); return true; }
    catch (e) { if (e.code === 'E_QUOTA') { refusals++; return false; } throw e; }
  };
  for (let chars = 524288; chars >= 512; chars /= 2) while (await fits(chars)) total += chars;
  let posted;
  try { posted = await sys.tool('post', { body: total }); } catch (e) { posted = e.code; }
  return { refusals, posted, label: await sys.label() };
}`;

function scenario(isolation: IsolationMode, source: readonly string[]) {
  return twoTenants({
    isolation,
    secret: { byte: 173 },
    source,
    maxHeldBytes: 24 * 1024 * 1024,
    holder: L_CODE,
    prober: P_CODE,
  });
}

describe.each(ISOLATION_MODES)('%s tier: a join refused by the kernel pool', (isolation) => {
  it("carries the pool's label: the prober that read another tenant's labelled holdings cannot post them", async () => {
    const { prober, holder, sent } = await scenario(isolation, ['web']);
    expect(holder.label).toContain('web');
    // Before: { posted: 'sent', label: [] } and the sink got the pool's remainder, which spelled the byte.
    expect(prober).toMatchObject({ ok: true, value: { posted: 'E_TAINT', label: ['web'] } });
    expect((prober as { value: { refusals: number } }).value.refusals).toBeGreaterThan(0);
    expect(sent).toEqual([]);
  }, 120_000);

  it('benign twin: refusals of a pool holding only clean data leave the prober clean', async () => {
    const { prober, sent } = await scenario(isolation, []);
    expect(prober).toMatchObject({ ok: true, value: { posted: 'sent', label: [] } });
    expect((prober as { value: { refusals: number } }).value.refusals).toBeGreaterThan(0);
    expect(sent).toHaveLength(1);
  }, 120_000);
});
