// Attack (red-team pass 76): read a labelled child's secret from how full its tenant's share of held memory is.
// A pending call holds 8 KiB against its agent's memory_mb, its tenant's share and the kernel's pool, but the hold
// carried no label, while how many calls are pending is the agent's choice. A web-labelled child fired 8·v
// unawaited calls for a secret byte v; its clean parent counted how many handles the tenant's share still took,
// and the share's final refusal left it clean: it posted the byte to a sink refusing `web`, a byte a run, both
// tiers. Holds now carry the label of whoever decided them (pending calls and reply frames the agent's, the
// capabilities an agent starts with its spawner's).
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../../index.js';
import { ISOLATION_MODES, testKernel, testToolsPolicy } from '../helpers/kernel.js';
import { recordingSink } from '../helpers/web-and-mail.js';

const LEAKER = `export default async function main() {
  const { byte } = await sys.tool('secret.get', {});
  for (let i = 0; i < 8 * byte; i++) sys.tool('sleep', { ms: 10000 }).catch(() => {});
  await new Promise(() => {});
}`;

// Clean: counts the 32 KB handles its tenant's share still takes once the child's calls are pending.
const PROBER = `export default async function main() {
  await sys.spawn({ code: ${JSON.stringify(LEAKER)}, budget: { syscalls: 5000, tool_calls: 5000, cpu_ms: 3000 },
    caps: [{ action: 'secret.get', resource: 'secret.get' }, { action: 'sleep', resource: 'sleep' }] });
  await sys.tool('sleep', { ms: 500 });
  let count = 0;
  let refused = 'none';
  for (; count < 5000; count++) {
    try { await sys.tool('echo', 'x'.repeat(32000), { handle: true }); } catch (e) { refused = e.code; break; }
  }
  let posted;
  try { posted = await sys.tool('post', { body: count }); } catch (e) { posted = e.code; }
  return { count, refused, posted, label: await sys.label() };
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it("a share refused after a labelled child's pending calls moved it carries the child's label", async () => {
    const sent: unknown[] = [];
    const kernel = testKernel({
      isolation,
      maxHeldBytes: 16 * 1024 * 1024,
      tools: [
        defineTool({
          name: 'secret.get',
          description: 'a secret byte from the web',
          input: z.unknown(),
          labels: { source: ['web'] },
          run: () => ({ byte: 10 }),
        }),
        recordingSink('post', ['web'], sent),
      ],
      policy: {
        capabilities: [
          ...testToolsPolicy.capabilities,
          { action: 'secret.get', resource: 'secret.get' },
          { action: 'post', resource: 'post' },
          { action: 'agent.spawn', resource: '**' },
        ],
      },
    });
    try {
      const result = await kernel.run({ code: PROBER, namespace: 'alice', limits: { wall_ms: 60_000 } });
      // Before: { refused: 'E_QUOTA', posted: 'sent', label: [] }, and the sink got a count that spelled the byte.
      expect(result).toMatchObject({ ok: true, value: { refused: 'E_QUOTA', posted: 'E_TAINT', label: ['web'] } });
      expect(sent).toEqual([]);
    } finally {
      await kernel.close();
    }
  }, 60_000);
});
