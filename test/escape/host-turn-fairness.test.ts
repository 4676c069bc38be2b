// Attack (red-team pass 75): slow another tenant down with kernel work charged to oneself. In the process tier the
// kernel reads each sandbox host's frames in turns of about 10 ms, but a frame begun is finished: a call carrying
// 1 MB of empty arrays costs about 170 ms of the kernel's loop (decoded, checked, measured, audited, answered),
// charged to the caller's cpu_ms. Six such calls kept in flight took turns back to back, and another tenant's 100
// small calls took 9-45 times as long as without them. A turn that overruns its slice is now paid back: the
// host's next turn waits as long, and the other hosts' frames are read meanwhile.
import { afterEach, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { processTestKernel } from '../helpers/kernel.js';

const ATTACKER = `export default async function main(inFlight) {
  const heavy = JSON.parse('[' + '[],'.repeat(300000) + '[]]');
  await sys.log('go');
  const one = async () => { for (;;) { try { await sys.tool('echo', heavy); } catch (e) { if (e.code === 'E_KILLED') return; } } };
  await Promise.all(Array.from({ length: inFlight }, one));
}`;

const VICTIM = `export default async function main() {
  for (let i = 0; i < 100; i++) await sys.tool('noop', { i });
  return 'done';
}`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

it("another tenant's costly calls slow a tenant's small calls by a small factor, not by their whole cost", async () => {
  kernel = processTestKernel().kernel;
  const k = kernel;
  const victim = async () => {
    const started = performance.now();
    expect(await k.run({ code: VICTIM, namespace: 'bob' })).toMatchObject({ ok: true, value: 'done' });
    return performance.now() - started;
  };
  await victim();
  const alone: number[] = [];
  for (let i = 0; i < 5; i++) alone.push(await victim());

  let going = false;
  k.on('log', (event) => {
    if (event.text === 'go') going = true;
  });
  let stop = false;
  // A host app starting the tenant's next run whenever one ends (for its quota), as a server would.
  const attacking = (async () => {
    while (!stop) await k.run({ code: ATTACKER, namespace: 'alice', input: 6 });
  })();
  while (!going) await new Promise((resolve) => setTimeout(resolve, 10));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const beside: number[] = [];
  for (let i = 0; i < 5; i++) beside.push(await victim());
  stop = true;
  for (const agent of k.agents()) k.kill(agent.id, 'done');
  await attacking;

  const ratio = median(beside) / median(alone);
  // Before: 9.2 to 45 in four runs; now 1.1 to 3.6.
  expect(ratio, `alone ${alone.map(Math.round)} ms, beside ${beside.map(Math.round)} ms`).toBeLessThan(6);
}, 120_000);
