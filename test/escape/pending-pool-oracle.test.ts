import { describe, expect, it } from 'vitest';
import { ISOLATION_MODES, type IsolationMode } from '../helpers/kernel.js';
import { twoTenants } from '../helpers/two-tenants.js';

/**
 * Attack (red-team pass 64): a pending syscall holds 8 KiB against its agent's memory_mb and the kernel's pool,
 * and when the pool is full the call goes on unheld. The pool's refusal was dropped there (and on a reply frame
 * in the process tier), yet whether the pool had room depends on everything it holds, and how many of a
 * child's pending calls were held decides whether a burst of them ends it for memory_mb. A clean parent P spawned
 * children that fired bursts just past their memory_mb: all ended (`KKKKK`) when another tenant's web-labelled
 * agent held nothing, none did (`sssss`) when it filled the pool, and P posted the bit to a sink refusing `web`,
 * every time, both tiers. Now the agent whose hold the pool refused takes the refusal's label, so the children
 * that survive carry `web` to P's join. What remains is documented (SECURITY.md, covert channels): whether P is
 * refused at all is about one bit a run.
 */
const HOLDER = `export default async function main() {
  const { bit } = await sys.tool('secret.get', {});
  if (bit) for (let i = 0; i < 110; i++) await sys.tool('echo', 'x'.repeat(131072), { handle: true });
  await sys.log('ready');
  await new Promise(() => {});
}`;

// Fires n pending calls at once: ended for memory_mb only if the pool had room for all of them. Each waits a second,
// so the first are still pending when the last are sent on a slow machine (with 200 ms, a child survived there
// with room in the pool: `KsKKs`).
const BURST = `export default async (n) => {
  const calls = [];
  for (let i = 0; i < n; i++) calls.push(sys.tool('sleep', { ms: 1000 }).catch((e) => e.code));
  await Promise.all(calls);
  throw new Error('survived');
}`;

const PROBER = `export default async function main() {
  const out = [];
  for (const mb of [8, 12, 16, 20, 24]) {
    const id = await sys.spawn({ code: ${JSON.stringify(BURST)}, input: mb * 128 + 16,
      budget: { memory_mb: mb, syscalls: 100000 }, caps: [{ action: 'sleep', resource: 'sleep' }] });
    try { await sys.join(id); out.push('ok'); }
    catch (e) { out.push(String(e.message).includes('memory_mb') ? 'K' : 's'); }
  }
  const guess = out.filter((x) => x === 'K').length >= 3 ? 0 : 1;
  let posted;
  try { posted = await sys.tool('post', { body: guess }); } catch (e) { posted = e.code; }
  return { pattern: out.join(''), posted, label: await sys.label() };
}`;

function scenario(isolation: IsolationMode, bit: number) {
  return twoTenants({
    isolation,
    secret: { bit },
    source: ['web'],
    maxHeldBytes: 64 * 1024 * 1024,
    holder: HOLDER,
    prober: PROBER,
    proberLimits: { syscalls: 1_000_000 },
  });
}

describe.each(ISOLATION_MODES)('%s tier: pending calls left unheld by a full kernel pool', (isolation) => {
  it("carry the pool's label: a prober whose children survived on a labelled pool cannot post it", async () => {
    const { prober, holder, sent } = await scenario(isolation, 1);
    expect(holder.label).toContain('web');
    // Before: { pattern: 'sssss', posted: 'sent', label: [] }, and the sink got the bit.
    expect(prober).toMatchObject({ ok: true, value: { posted: 'E_TAINT', label: ['web'] } });
    expect(sent).toEqual([]);
  }, 120_000);

  it('benign twin: a pool with room refuses nothing and raises nobody', async () => {
    const { prober, sent } = await scenario(isolation, 0);
    // Mostly `KKKKK`; a child whose first calls settle before its last are sent may survive (`KKKKs` inline).
    if (isolation === 'process') {
      expect(prober).toMatchObject({
        ok: true,
        value: { pattern: expect.stringMatching(/^K+s?$/), posted: 'sent', label: [] },
      });
      expect(sent).toEqual([0]);
      return;
    }
    // Inline, the watchdog's figure that ends a child counts process growth no reading of its heap explains (here the
    // kernel's own, for the burst), which any agent in the process could have caused: such an end takes the labels
    // of every agent beside it (red-team pass 139, memory-attribution-channel.test.ts), the web-labelled holder's
    // too, though it only idles here: the refusal is the price of that channel being closed. A child that the kernel
    // ends first, for its held bytes alone, takes no one's label; whichever way the children end, what the prober
    // posts agrees with its label.
    expect(prober).toMatchObject({ ok: true, value: { pattern: expect.stringMatching(/^K+s?$/) } });
    const { posted, label } = (prober as { value: { posted: string; label: string[] } }).value;
    if (label.length === 0) {
      expect(posted).toBe('sent');
      expect(sent).toEqual([0]);
    } else {
      expect([posted, label]).toEqual(['E_TAINT', ['web']]);
      expect(sent).toEqual([]);
    }
  }, 120_000);
});
