// Attack (red-team pass 139): learn labelled data from what another agent's memory does to a clean one. While an
// isolate is busy its heap cannot be read, so the watchdog charges it with the process's growth that no reading
// explains, whoever caused it. A `secret` worker allocates 300 MB or not by a bit of the PIN while its clean sibling
// loops: the sibling ends for memory_mb or not, and its clean parent reads the bit from `join`. Surviving, the
// sibling's heap_peak_mb told the host the same bit in its exit event, labelled []. Both read the PIN exactly in
// both tiers (16 of 16 bits, 3 runs of 3). Now a memory end takes the labels of every agent beside the ended one in
// its process (memory-neighbours.ts), and any other end reports the heap peak of the agent's own readings only.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel, KernelEvent, Tool } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { pinVault, recordingSink } from '../helpers/web-and-mail.js';

const BITS = [1, 0, 1, 1, 0, 1];

// Clean: a fixed amount of CPU work, no clock, no syscall.
const VICTIM = `export default () => {
  let x = 0;
  for (let i = 0; i < 6e8; i++) x = (x + i) | 0;
  return 'survived';
}`;

// Reads the secret; allocates 300 MB of written pages when its bit is 1; then holds them while it loops as long as
// the victim does. (It ends by itself: killing it while it held them was not always confirmed in time on a loaded
// machine, and the host went down with the whole tree.)
const WORKER = `export default async (i) => {
  const { pin } = await sys.tool('vault.read', {});
  let a;
  if (Number(pin) > 0 && ${JSON.stringify(BITS)}[i] === 1) {
    a = new Uint8Array(300 * 1024 * 1024);
    for (let j = 0; j < a.length; j += 4096) a[j] = 1;
  }
  let x = 0;
  for (let k = 0; k < 6e8; k++) x = (x + k) | 0;
  return a === undefined ? x : x + a[0];
}`;

// One pair a bit; the worker is on a budget of its own, so its labelled use moves none of the parent's counters.
const parent = (victimMemoryMb: number) => `export default async () => {
  const own = { cpu_ms: 20000, syscalls: 100, tool_calls: 5, children: 0, tokens_in: 0, tokens_out: 0, cost_usd: 0 };
  const bits = [];
  for (let i = 0; i < ${BITS.length}; i++) {
    const victim = await sys.spawn({ code: ${JSON.stringify(VICTIM)}, budget: { memory_mb: ${victimMemoryMb} } });
    const worker = await sys.spawn({
      code: ${JSON.stringify(WORKER)},
      input: i,
      caps: [{ action: 'vault.read', resource: 'vault.read' }],
      budget: { memory_mb: 700, ...own },
    });
    try { await sys.join(victim); bits.push(0); } catch (e) { bits.push(e.code === 'E_QUOTA' ? 1 : e.code); }
    await sys.join(worker, { handle: true });
  }
  let sent;
  try { await sys.tool('mail', { body: bits.join('') }); sent = 'sent'; } catch (e) { sent = e.code; }
  return { bits: bits.join(''), sent, label: await sys.label() };
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  function channelKernel(sent: unknown[]): Kernel {
    const tools: Tool[] = [pinVault, recordingSink('mail', ['secret'], sent)];
    kernel = testKernel({
      isolation,
      // The parent's room is wide: inline it is charged the workers' growth too when a tick finds it busy.
      limits: { memory_mb: 4096, cpu_ms: 600_000, wall_ms: 600_000, children: 64 },
      tools,
      policy: {
        capabilities: [
          { action: 'vault.read', resource: 'vault.read' },
          { action: 'mail', resource: 'mail' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    return kernel;
  }

  it("a clean sibling's memory end carries the labels of the agents beside it: the parent is labelled, the sink refuses", async () => {
    const sent: unknown[] = [];
    const result = await channelKernel(sent).run({ code: parent(24) });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    const { bits, sent: verdict, label } = (result as { value: { bits: string; sent: string; label: string[] } }).value;
    // The channel ran: some siblings ended for memory, and only those whose worker allocated.
    expect(bits).toMatch(/1/);
    expect(bits.split('').every((bit, i) => bit === '0' || BITS[i] === 1)).toBe(true);
    expect(label).toContain('secret');
    expect(verdict).toBe('E_TAINT');
    expect(sent).toEqual([]);
  }, 300_000);

  it("a surviving clean sibling's heap peak does not move with the memory the agents beside it took", async () => {
    const sent: unknown[] = [];
    const live = channelKernel(sent);
    const peaks: number[] = [];
    live.on('exit', (event: KernelEvent) => {
      if (event.type === 'exit' && event.result.ok && event.result.value === 'survived') {
        expect(event.result.label).toEqual([]);
        peaks.push(event.result.usage.heap_peak_mb);
      }
    });
    const result = await live.run({ code: parent(800) });
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: { bits: '000000' } });
    expect(peaks).toHaveLength(BITS.length);
    // Before, a 1 bit's sibling peaked near 300 MB and a 0 bit's near 2.
    expect(Math.max(...peaks)).toBeLessThan(50);
  }, 300_000);
});
