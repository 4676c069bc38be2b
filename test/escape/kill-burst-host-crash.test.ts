// Attack: crash every agent on a sandbox host, other tenants' included, by ending many of one's own children at
// once. The kernel asks the host to dispose each killed agent and SIGKILLs the host if a kill is not confirmed
// within the grace (100 ms): the defence against a wedged host. A host confirms kills one at a time, a few
// milliseconds each under load, so the fortieth kill of a burst waited longer than the grace although the host
// was confirming steadily; the kernel then killed the host, and every run on it ended E_CRASHED. A confirmation
// now shows the host is not wedged and re-arms the grace of the kills it still owes.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { testKernel, testToolsPolicy } from '../helpers/kernel.js';

const IDLE = 'export default () => new Promise(() => {})';
// A sibling busy on the host's other core, as a co-tenant would be.
const BUSY = 'export default () => { const end = Date.now() + 3000; while (Date.now() < end) {} return 1; }';
const PARENT = `export default async function main() {
  const busy = await sys.spawn({ code: ${JSON.stringify(BUSY)} });
  const idle = [];
  for (let i = 0; i < 150; i++) idle.push(await sys.spawn({ code: ${JSON.stringify(IDLE)} }));
  await Promise.all(idle.map((id) => sys.kill(id)));
  return (await sys.join(busy)) === 1 ? 'done' : 'busy sibling failed';
}`;

describe('process tier: a burst of kills', () => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('ends the killed children and nothing else on their host', async () => {
    kernel = testKernel({
      isolation: 'process',
      limits: { memory_mb: 256, cpu_ms: 20_000, wall_ms: 30_000, children: 200 },
      policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'agent.spawn', resource: 'inline' }] },
    });
    for (let round = 0; round < 2; round++) {
      const result = await kernel.run({ code: PARENT });
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: 'done' });
    }
  }, 90_000);
});
