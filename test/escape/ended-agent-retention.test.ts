// Attack: keep memory in the kernel past one's own end, where no quota counts it (red-team pass 78). Handles keep
// values in the kernel's heap, held against the agent's memory_mb and its tenant's share while it lives; its end gives
// those bytes back. But a sandbox host keeps its ended agents' sessions (to refuse their late calls), and with them
// their handle tables: one process-tier run whose children each kept 50 handles of 1 MB grew the kernel's heap by
// 4 GB and crashed it; 40 runs of 12 MB each, with maxHeldBytes at 128 MiB, kept 219 MiB after they had all ended.
import { randomBytes } from 'node:crypto';
import { queryObjects, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { AgentSession } from '../../runtime/process/session.js';
import { ISOLATION_MODES, testKernel, testToolsPolicy } from '../helpers/kernel.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
// A small call whose large result the agent keeps as a handle (an fs.read of a large file, an HTTP body).
const blob = defineTool({
  name: 'blob',
  description: 'n characters of text',
  input: z.strictObject({ n: z.number().int().max(1_000_000) }),
  run: ({ n }) => randomBytes(n / 2).toString('hex'),
});
const HOLDER = `export default async () => {
  for (let i = 0; i < 12; i++) await sys.tool('blob', { n: 1000000 }, { handle: true });
}`;
const PARENT = `export default async () => {
  for (let c = 0; c < 12; c++) await sys.join(await sys.spawn({ code: ${JSON.stringify(HOLDER)}, caps: [{ action: 'blob', resource: 'blob' }] }));
}`;

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 30));
    gc();
  }
  return process.memoryUsage().heapUsed;
}

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  // A kernel whose agents may spawn up to 1,000 children, and a count of the agents that ended in it.
  function spawningKernel(): { live: Kernel; exits: { count: number } } {
    const live = testKernel({
      isolation,
      policy: { capabilities: [{ action: 'agent.spawn', resource: '*' }, ...testToolsPolicy.capabilities] },
      limits: { wall_ms: 60_000, cpu_ms: 60_000, children: 1000 },
    });
    kernel = live;
    const exits = { count: 0 };
    live.on('exit', () => {
      exits.count += 1;
    });
    return { live, exits };
  }

  it("an ended agent's handles leave the kernel's heap: 144 MB kept by twelve children of one run, then by twelve runs", async () => {
    kernel = testKernel({
      isolation,
      tools: [blob],
      policy: {
        capabilities: [
          { action: 'blob', resource: 'blob' },
          { action: 'agent.spawn', resource: '*' },
        ],
      },
      limits: { wall_ms: 60_000 },
    });
    await kernel.run({ code: 'export default () => 1' });
    const before = await heapAfterGc();
    const tree = await kernel.run({ code: PARENT });
    expect(tree).toMatchObject({ ok: true });
    for (let run = 0; run < 12; run++) {
      const result = await kernel.run({ code: HOLDER, namespace: `tenant${run}` });
      expect(result).toMatchObject({ ok: true });
    }
    // 288 MB were kept in all, 12 MB at most at once; the ended agents' hosts are still alive and warm.
    expect(((await heapAfterGc()) - before) / MiB).toBeLessThan(48);
  }, 120_000);

  it('an ended child is not kept whole while its parent lives: 200 children of 200 KB of source (pass 137)', async () => {
    // Kept for its parent's join, each child's outcome held a refund closure whose context held the child's session,
    // and inline its source: 40 MB here, uncharged; 45 runs of 100 children of 1 MB each aborted the kernel.
    const { live, exits } = spawningKernel();
    await live.run({ code: 'export default () => 1' });
    const before = await heapAfterGc();
    exits.count = 0;
    const parent = live.spawn({
      code: `export default async () => {
        const code = 'export default () => 1 /*' + 'x'.repeat(200000) + '*/';
        for (let i = 0; i < 200; i++) await sys.spawn({ code });
        await sys.tool('sleep', { ms: 10000 });
      }`,
    });
    while (exits.count < 200) await new Promise((resolve) => setTimeout(resolve, 50));
    const during = await heapAfterGc();
    parent.kill();
    await parent.result;
    expect((during - before) / MiB, 'kernel heap kept for 40 MB of ended children').toBeLessThan(12);
  }, 120_000);

  it('no ended agent stays whole in the kernel while its run lives: 300 children joined one by one (review 138, left open)', async () => {
    // A sandbox host kept every agent that ended there whole (its AgentSession, with its key, handle table and slots:
    // 5 KB more an agent) to refuse late calls, and a run's children all run on its host: 1,000 children kept 5 MB
    // more, uncharged, while the run lived, and an agent may spawn 100,000. Now it keeps what a refusal takes
    // (EndedAgent).
    const { live, exits } = spawningKernel();
    const parent = live.spawn({
      code: `export default async () => {
        for (let i = 0; i < 300; i++) await sys.join(await sys.spawn({ code: 'export default () => 1' }));
        for (;;) await sys.tool('sleep', { ms: 10000 });
      }`,
    });
    while (exits.count < 300) await new Promise((resolve) => setTimeout(resolve, 50));
    await heapAfterGc();
    const sessions = queryObjects(AgentSession, { format: 'count' });
    expect(live.agents().map((agent) => agent.id)).toEqual([parent.id]);
    parent.kill();
    await parent.result;
    expect(sessions, 'agent sessions in the kernel while the parent of 300 ended children lives').toBeLessThan(20);
  }, 120_000);

  it("an ended restored agent's state leaves the kernel: ten restores of a 900 KB state (review 138)", async () => {
    // A sandbox host keeps its ended agents' sessions to refuse their late calls, and a session kept the decoded
    // state it was restored from: 9 MB here, uncharged, until the host retired.
    kernel = testKernel({ isolation, limits: { wall_ms: 60_000 } });
    const live = kernel;
    const snap = await live.run({ code: "export default () => sys.snapshot('x'.repeat(900000))" });
    expect(snap.ok).toBe(true);
    const before = await heapAfterGc();
    for (let i = 0; i < 10; i++) {
      const restored = await live.restore((snap as { value: string }).value);
      expect(await restored.result).toMatchObject({ ok: true });
    }
    expect(((await heapAfterGc()) - before) / MiB, 'kernel heap kept for ten restored states').toBeLessThan(4);
  }, 120_000);
});
