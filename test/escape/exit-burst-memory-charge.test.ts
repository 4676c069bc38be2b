// Attack: end another agent with a memory E_QUOTA it never used, by ending many agents at once while it is busy.
// A busy agent's memory is its last heap reading plus the process's growth outside any V8 heap that the kernel's
// account (isolates/isolate-memory.ts) does not explain. The account used to drop a disposed isolate's whole heap
// size at once, but most of a disposed isolate's pages stay with the allocator: resident memory fell by far less
// (on Node 20, 43 of 61 MB for 40 realms; on Node 24, 13 of 110 MB), and the difference was charged to every busy
// agent as growth. Forty idle children killed together ended a 16 MB sibling busy with a plain loop; the same
// holds for another tenant's agent on the same host or, inline, in the same process. A disposal now debits the
// account with what resident memory measurably gave back.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel, testToolsPolicy } from '../helpers/kernel.js';

const VICTIM = `export default () => {
  const end = Date.now() + 2500;
  while (Date.now() < end) {}
  return 'survived';
}`;
const IDLE = 'export default () => new Promise(() => {})';
const PARENT = `export default async function main() {
  const victim = await sys.spawn({ code: ${JSON.stringify(VICTIM)}, budget: { memory_mb: 16 } });
  const idle = [];
  for (let i = 0; i < 40; i++) idle.push(await sys.spawn({ code: ${JSON.stringify(IDLE)} }));
  // While they wait, the watchdog reads their heaps: the account holds each one's size.
  await sys.tool('sleep', { ms: 150 });
  await Promise.all(idle.map((id) => sys.kill(id)));
  return await sys.join(victim);
}`;

describe.each(ISOLATION_MODES)('%s tier: a burst of agent exits beside a busy agent', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('does not end the busy agent for memory it never used', async () => {
    kernel = testKernel({
      isolation,
      limits: { memory_mb: 256, cpu_ms: 20_000, wall_ms: 30_000, children: 64 },
      policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'agent.spawn', resource: 'inline' }] },
    });
    const result = await kernel.run({ code: PARENT });
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: 'survived' });
  }, 60_000);
});
