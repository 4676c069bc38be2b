// Attack (red-team pass 108): read a PIN from a snapshot's list of capabilities. A clean planner delegates a
// counted `tick` to a child with a budget of its own; the child reads a `secret` PIN and spends PIN ticks; the
// planner joins it as a handle (staying clean) and snapshots itself. The body listed each capability's remaining
// uses (10 − PIN) under the planner's clean label, and the snapshot's id hashed them: `kernel.inspectSnapshot`,
// `isokernel snapshot ls` and `kernel.restore`'s start label read the PIN clean. A host that spent counted uses in
// a `secret` submit showed the same to any agent's snapshot under shared grants. Restoring never used the list's
// counters, so the body no longer records them: what the host reads of a snapshot is the same whatever the PIN.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';

const tick = defineTool({
  name: 'tick',
  description: 'counts a slot',
  input: z.strictObject({ slot: z.string() }),
  resource: (args) => args.slot,
  target: 'slot',
  run: () => 'ok',
});

const pinTool = (pin: number) =>
  defineTool({
    name: 'pin',
    description: 'a secret PIN',
    input: z.strictObject({}),
    labels: { source: ['secret'] },
    run: () => pin,
  });

const PLANNER = `export default async () => {
  const caps = await sys.caps();
  const tick = caps.find((c) => c.action === 'tick');
  const pin = caps.find((c) => c.action === 'pin');
  const child = await sys.spawn({
    code: "export default async () => { const n = await sys.tool('pin', {}); for (let i = 0; i < n; i++) await sys.tool('tick', { slot: 'd0' }); return 'spent'; }",
    caps: [{ from: tick.id }, { from: pin.id }],
    budget: { tool_calls: 20, cpu_ms: 2000, wall_ms: 10000, syscalls: 100, memory_mb: 32, children: 0 },
  });
  await sys.join(child, { handle: true });
  return { label: await sys.label(), id: await sys.snapshot(null) };
}`;

const kernels: Kernel[] = [];
afterEach(async () => {
  for (const kernel of kernels.splice(0)) await kernel.close();
});

function kernelFor(isolation: (typeof ISOLATION_MODES)[number], pin: number): Kernel {
  const kernel = Kernel.create({
    isolation,
    tools: [tick, pinTool(pin)],
    policy: {
      capabilities: [
        { action: 'tick', resource: 'd0', max_uses: 10 },
        { action: 'pin', resource: 'pin' },
        { action: 'agent.spawn', resource: '*' },
      ],
    },
  });
  kernels.push(kernel);
  return kernel;
}

/** Everything the host reads of the planner's snapshot. */
async function hostView(kernel: Kernel, id: string) {
  const body = await kernel.inspectSnapshot(id);
  const { frame } = await kernel.snapshots.open(id);
  return { id, capabilities: body.capabilities, bodyLabel: body.label, frameLabel: frame.label };
}

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('a clean planner’s snapshot reads the same to the host whatever PIN its labelled child spent', async () => {
    const views = [];
    for (const pin of [4, 7]) {
      const kernel = kernelFor(isolation, pin);
      const result = await kernel.run({ code: PLANNER });
      expect(result).toMatchObject({ ok: true, value: { label: [] } });
      const { id } = result.ok ? (result.value as { id: string }) : { id: '' };
      views.push(await hostView(kernel, id));
    }
    expect(views[0]!.capabilities.map((c) => c.action).sort()).toEqual(['agent.spawn', 'pin', 'tick']);
    expect(views[0]).toEqual(views[1]);
  });
});

it('an agent’s snapshot under shared grants does not tell how many uses a secret host submit spent', async () => {
  const views = [];
  for (const pin of [4, 7]) {
    const kernel = kernelFor('inline', pin);
    for (let i = 0; i < pin; i++) {
      expect(await kernel.submit({ action: 'tick', params: { slot: 'd0' }, label: ['secret'] })).toMatchObject({
        status: 'OK',
      });
    }
    const result = await kernel.run({ code: 'export default () => sys.snapshot(null)', policyGrants: 'shared' });
    expect(result).toMatchObject({ ok: true, label: [] });
    views.push(await hostView(kernel, result.ok ? (result.value as string) : ''));
  }
  expect(views[0]).toEqual(views[1]);
});
