// Attack (red-team pass 75): fill the kernel's pool of what agents hold, from one tenant, so that every other
// tenant's runs are refused. The agents' half of `maxHeldBytes` was one pool for every tenant, while `memory_mb`
// bounds each agent alone: one run of six children, each keeping handles of a 1 MB tool result under its own
// 128 MB, filled the pool to the last bytes, and another tenant's `kernel.run` threw "the kernel memory held for
// agents is exhausted" at its start (which holds its capabilities), in both tiers, until the attacker was killed.
// Each tenant now holds at most its share of the pool (`maxHeldBytesPerTenant`, default a quarter), as the stores'.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel, testToolsPolicy } from '../helpers/kernel.js';

// Keeps handles of one 1 MB result (held at 2 MB each) up to its memory_mb, then halves its holds to the last byte.
const CHILD = `export default async function main() {
  const first = await sys.tool('echo', 'x'.repeat(1000000), { handle: true });
  for (let n = 1; n < 55; n++) {
    try { await sys.tool('echo', first, { handle: true }); } catch { break; }
  }
  for (let size = 1 << 19; size >= 1; size >>= 1) {
    for (;;) {
      try { await sys.tool('echo', 'y'.repeat(size), { handle: true }); } catch { break; }
    }
  }
  await sys.log('full');
  await new Promise(() => {});
}`;

const ATTACKER = `export default async function main(children) {
  for (let i = 0; i < children; i++) await sys.spawn({ code: ${JSON.stringify(CHILD)}, caps: [{ action: 'echo', resource: 'echo' }] });
  await new Promise(() => {});
}`;

// Another tenant's ordinary run: a handle, a child, a join.
const VICTIM = `export default async function main() {
  const kept = await sys.tool('echo', { hello: 'world' }, { handle: true });
  const child = await sys.join(await sys.spawn({ code: 'export default async () => "child result"' }));
  return { child, kept: await sys.read(kept) };
}`;

const CHILDREN = 6;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it("one tenant's tree holding all it may leaves other tenants' runs able to start and finish", async () => {
    kernel = testKernel({
      isolation,
      policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'agent.spawn', resource: '**' }] },
    });
    const k = kernel;
    let full = 0;
    k.on('log', (event) => {
      if (event.text === 'full') full += 1;
    });
    const attacker = k.spawn({ code: ATTACKER, namespace: 'alice', input: CHILDREN });
    const started = Date.now();
    while (full < CHILDREN && Date.now() - started < 60_000) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(full).toBe(CHILDREN);
    for (let i = 0; i < 2; i++) {
      expect(await k.run({ code: VICTIM, namespace: 'bob' })).toMatchObject({
        ok: true,
        value: { child: 'child result', kept: { hello: 'world' } },
      });
    }
    attacker.kill('done');
  }, 120_000);
});
