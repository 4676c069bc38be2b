// Attack (red-team pass 114): read a PIN from a clean agent's report of the kernel's time. The agent keeps a
// `secret` tool result as a handle and echoes the handle twenty times, never reading it. The kernel substitutes,
// scrubs and sizes the handle's value on every call, and that time is charged to the agent's cpu_ms and reported
// as its kernel_ms: 4–33 ms for a one-element value (an even PIN) against 300–470 ms for 20,000 strings (an odd
// one), under the run result's label `[]`. The reports of its usage now carry the labels of what the kernel
// worked on for it; the agent itself stays clean.
// Review 115 found three more: a tool's own metered parse of a `secret` page (read from `kernel.agents()` while the
// call ran, or from the result of a caller that returned first), a `cpu_ms` warning crossed by kernel time on a
// handle, and a snapshot ended by its `cpu_ms` while parsing a `secret` entry, each reported under `[]`.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel, type KernelEvent, type RunResult } from '../../index.js';
import { ISOLATION_MODES, testKernel, testToolsPolicy } from '../helpers/kernel.js';
import { holdTool } from '../helpers/slow-tool.js';

const ECHOES = `export default async () => {
  const h = await sys.tool('page', {}, { handle: true });
  for (let i = 0; i < 20; i++) await sys.tool('echo', { x: h }, { handle: true });
  await sys.tool('hold', {});
  return await sys.label();
}`;

// The same through namespace memory: a `secret` entry taken as a handle and stored again.
const MEMORY = `export default async () => {
  const h = await sys.mem.get('page', { handle: true });
  for (let i = 0; i < 5; i++) await sys.mem.put('copy' + i, h);
  await sys.tool('hold', {});
  return await sys.label();
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  async function report(code: string, odd: boolean) {
    const hold = holdTool();
    const big = Array.from({ length: 2000 }, (_, i) => `item-${i}-abcdefghijklmno`);
    kernel = testKernel({
      isolation,
      tools: [
        defineTool({
          name: 'page',
          description: 'a secret page',
          input: z.strictObject({}),
          labels: { source: ['secret'] },
          run: () => (odd ? big : ['x']),
        }),
        hold.tool,
      ],
      policy: {
        capabilities: [
          ...testToolsPolicy.capabilities,
          { action: 'page', resource: 'page' },
          { action: 'hold', resource: 'hold' },
        ],
      },
    });
    // A labelled writer leaves the page in the namespace the reader shares.
    const writer = await kernel.run({
      code: `export default async () => { await sys.mem.put('page', await sys.tool('page', {})); }`,
      namespace: 'shared',
    });
    expect(writer.ok).toBe(true);
    const exits: Extract<KernelEvent, { type: 'exit' }>[] = [];
    kernel.on('exit', (event) => exits.push(event));
    const agent = kernel.spawn({ code, namespace: 'shared' });
    await hold.holding;
    const live = kernel.agents().find((entry) => entry.id === agent.id);
    hold.release();
    const result = await agent.result;
    return { live, result, exit: exits.find((event) => event.agent === agent.id)?.result };
  }

  for (const [name, code] of [
    ['a tool result kept as a handle', ECHOES],
    ['a memory entry kept as a handle', MEMORY],
  ] as const) {
    it(`the reports of a clean agent's usage carry the label of ${name} the kernel worked on`, async () => {
      for (const odd of [false, true]) {
        const { live, result, exit } = await report(code, odd);
        // The agent never read the value: its own label stays clean ...
        expect(result).toMatchObject({ ok: true, value: [] });
        // ... and every report of the time the kernel spent on the value says what decided it.
        expect(result.label).toContain('secret');
        expect(exit?.label).toContain('secret');
        expect(live?.label).toContain('secret');
        await kernel?.close();
        kernel = undefined;
      }
    });
  }
});

describe.each(ISOLATION_MODES)('%s tier, review 115', (isolation) => {
  const page = (run: (args: unknown, ctx: { metered: <T>(call: () => T) => T }) => unknown) =>
    defineTool({
      name: 'page',
      description: 'a secret page',
      input: z.strictObject({}),
      labels: { source: ['secret'] },
      run,
    });
  const policy = {
    capabilities: [
      ...testToolsPolicy.capabilities,
      { action: 'page', resource: 'page' },
      { action: 'hold', resource: 'hold' },
    ],
  };

  it("reports a tool's own metered work with the label of what it works on, while the call runs and after", async () => {
    const text = `[${Array(300_000).fill('[]').join(',')}]`;
    let release = (): void => {};
    let held = (): void => {};
    kernel = testKernel({
      isolation,
      policy,
      tools: [
        page(async (_args, ctx) => {
          await Promise.resolve();
          const parsed = ctx.metered(() => JSON.parse(text) as unknown[]);
          await new Promise<void>((resolve) => {
            release = resolve;
            held();
          });
          return parsed.length;
        }),
      ],
    });
    let holding = new Promise<void>((resolve) => {
      held = resolve;
    });
    const agent = kernel.spawn({
      code: `export default async () => { await sys.tool('page', {}, { handle: true }); }`,
    });
    await holding;
    expect(kernel.agents().find((entry) => entry.id === agent.id)?.label).toContain('secret');
    release();
    expect((await agent.result).label).toContain('secret');
    // A caller that returns while its call is still running.
    holding = new Promise<void>((resolve) => {
      held = resolve;
    });
    const early = kernel.spawn({
      code: `export default async () => { sys.tool('page', {}).catch(() => {}); await new Promise((r) => setTimeout(r, 300)); return await sys.label(); }`,
    });
    await holding;
    const result = await early.result;
    release();
    expect(result).toMatchObject({ ok: true, value: [] });
    expect(result.label).toContain('secret');
  });

  it('a cpu_ms warning crossed by kernel time on a handle carries its label', async () => {
    const big = Array.from({ length: 20_000 }, (_, i) => `item-${i}-abcdefghijklmno`);
    kernel = testKernel({ isolation, policy, tools: [page(() => big)] });
    const warns: Extract<KernelEvent, { type: 'warn' }>[] = [];
    kernel.on('warn', (event) => warns.push(event));
    const result = await kernel.run({
      code: `export default async () => {
        const h = await sys.tool('page', {}, { handle: true });
        const end = Date.now() + 4000;
        while (Date.now() < end) await sys.tool('noop', { x: h }, { handle: true });
        return await sys.label();
      }`,
      // Crossed at 2 s of CPU: far past what starting the agent takes (a warning comes once per limit, and one
      // crossed before the handle existed would rightly be clean), well within 4 s of echoing the handle.
      limits: { cpu_ms: 20_000, warn_at: 0.1 },
    });
    expect(result).toMatchObject({ ok: true, value: [] });
    const crossed = warns.filter((event) => event.limit === 'cpu_ms');
    expect(crossed.length).toBeGreaterThan(0);
    for (const event of crossed) expect(event.label).toContain('secret');
  });

  it('a snapshot ended by its cpu_ms while parsing a secret entry reports with its label', async () => {
    kernel = testKernel({
      isolation,
      maxPayloadBytes: 4 * 1024 * 1024,
      policy,
      tools: [page(() => Array.from({ length: 700_000 }, () => []))],
    });
    const writer = await kernel.run({
      code: `export default async () => { await sys.mem.put('a', await sys.tool('page', {})); }`,
      namespace: 'shared',
    });
    expect(writer.ok).toBe(true);
    // The limit must leave room for starting the agent, or it ends before the snapshot with nothing parsed and a
    // rightly clean report: a process-tier agent took 10-100 ms of CPU to start under a loaded CI. Parsing the entry
    // takes 250-1000 ms. So the limit doubles until the agent got as far as the snapshot.
    let result: RunResult | undefined;
    for (let cpu_ms = 60; result === undefined || result.usage.syscalls === 0; cpu_ms *= 2) {
      expect(cpu_ms).toBeLessThan(1000);
      result = await kernel.run({
        code: `export default async () => { await sys.snapshot({}); return await sys.label(); }`,
        namespace: 'shared',
        limits: { cpu_ms, memory_mb: 256 },
      });
    }
    // Ended by its cpu_ms or not (a fast machine finishes), the report says what the parse was of.
    expect(result.label).toContain('secret');
  });
});
