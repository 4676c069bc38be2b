// Attack (red-team pass 108): read a PIN from the host's report of a clean planner's usage. README's recipe keeps
// a planner clean: it gives a labelled worker a budget of its own for every field and keeps the worker's result
// as a handle. The worker reads a `secret` PIN and makes 10·PIN tool calls. The planner stays clean, but its run
// result, its `exit` event and its `kernel.agents()` entry reported the subtree's tool calls (10·PIN + 2) under
// the planner's label `[]`. A report of usage now carries the labels of the use it counts; the planner itself
// stays clean.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel, type KernelEvent } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';
import { holdTool } from '../helpers/slow-tool.js';

const tick = defineTool({
  name: 'tick',
  description: 'counts a slot',
  input: z.strictObject({}),
  run: () => 'ok',
});
const pin = defineTool({
  name: 'pin',
  description: 'a secret PIN',
  input: z.strictObject({}),
  labels: { source: ['secret'] },
  run: () => 4,
});

const PLANNER = `export default async () => {
  const caps = await sys.caps();
  const from = (action) => ({ from: caps.find((c) => c.action === action).id });
  const worker = await sys.spawn({
    code: "export default async () => { const n = await sys.tool('pin', {}); for (let i = 0; i < 10 * n; i++) await sys.tool('tick', {}); return 'done'; }",
    caps: [from('tick'), from('pin')],
    budget: { tool_calls: 200, cpu_ms: 5000, wall_ms: 20000, syscalls: 1000, children: 0, tokens_in: 10, tokens_out: 10, cost_usd: 1 },
  });
  await sys.join(worker, { handle: true });
  await sys.tool('hold', {});
  return await sys.label();
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('the run result, exit event and agents() entry of a clean planner carry its worker’s label with its usage', async () => {
    const hold = holdTool();
    kernel = Kernel.create({
      isolation,
      tools: [tick, pin, hold.tool],
      policy: {
        capabilities: [
          { action: 'tick', resource: 'tick' },
          { action: 'pin', resource: 'pin' },
          { action: 'hold', resource: 'hold' },
          { action: 'agent.spawn', resource: '*' },
        ],
      },
    });
    const exits: Extract<KernelEvent, { type: 'exit' }>[] = [];
    kernel.on('exit', (event) => exits.push(event));
    const planner = kernel.spawn({ code: PLANNER });
    await hold.holding;
    const live = kernel.agents().find((agent) => agent.id === planner.id);
    expect(live?.usage.tool_calls).toBe(42);
    expect(live?.label).toContain('secret');
    hold.release();
    const result = await planner.result;
    // The planner itself stayed clean: only the report of its subtree's use carries the worker's label.
    expect(result).toMatchObject({ ok: true, value: [], usage: { tool_calls: 42 } });
    expect(result.label).toContain('secret');
    expect(exits.find((event) => event.agent === planner.id)?.result.label).toContain('secret');
  });
});
