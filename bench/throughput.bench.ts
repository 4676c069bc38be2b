// Syscall throughput of one kernel process with 1, 2, 4 and 8 agents running at once, each awaiting
// sys.tool('noop') in a loop through the whole kernel path (capability, label, quota, two audit records), against
// the same number of bare isolates, each calling a bare isolated-vm sync callback in a loop from its own thread
// (the cheapest crossing an agent's thread can make), measured in the same run.
//
// Spawning is not timed: every agent first calls a gate tool that holds it until all N have arrived, and the
// window ends when the last agent calls the gate again after its loop. A round's figure is the window divided
// by the syscalls in it; p50 is the median round, p99 about the slowest.
// Run: npm run bench -- --suite throughput (or: node --no-node-snapshot --import ./bench/loader/register.mjs bench/throughput.bench.ts)
import ivm from 'isolated-vm';
import { z } from 'zod';
import { defineTool, Kernel } from '../index.js';
import { Figures, scaled } from './report.js';

const LEVELS = [1, 2, 4, 8] as const;
const FLOOR = 'the same number of bare isolates, each calling a bare sync callback in a loop from its own thread';
const figures = new Figures({
  'throughput.agents_1': {
    unit: 'rate',
    what: "syscalls per second, 1 agent awaiting sys.tool('noop') in a loop (whole kernel path)",
    floor: FLOOR,
  },
  'throughput.agents_2': { unit: 'rate', what: 'the same with 2 agents at once', floor: FLOOR },
  'throughput.agents_4': { unit: 'rate', what: 'the same with 4 agents at once', floor: FLOOR },
  'throughput.agents_8': {
    unit: 'rate',
    what: 'the same with 8 agents at once',
    floor: FLOOR,
    target: { kind: 'rate', min: 150_000, unit: 'syscalls/s' },
  },
});

/** Syscalls in one round, split between the agents; rounds after one untimed warm-up round. */
const CALLS_PER_ROUND = scaled(16_000, 1_000);
const ROUNDS = scaled(8, 2);
const ARGS = { path: '/workspace/notes/today.md', mode: 'utf8', limit: 4096 };

// The gate: holds each agent's first call until all have arrived, and notes when the last one is done.
let expected = 0;
let arrived = 0;
let finished = 0;
let opened = 0;
let closed = 0;
let open: () => void = () => {};
let gateOpen = Promise.resolve();
function resetGate(agents: number): void {
  expected = agents;
  arrived = 0;
  finished = 0;
  gateOpen = new Promise((resolve) => {
    open = resolve;
  });
}
const gate = defineTool({
  name: 'bench.gate',
  description: 'holds agents until all have started; notes when the last has finished',
  input: z.strictObject({ phase: z.enum(['start', 'end']) }),
  run: async ({ phase }) => {
    if (phase === 'end') {
      if (++finished === expected) closed = performance.now();
      return null;
    }
    if (++arrived === expected) {
      opened = performance.now();
      open();
    }
    await gateOpen;
    return null;
  },
});
const noop = defineTool({ name: 'noop', description: 'does nothing', input: z.unknown(), run: () => null });
const kernel = Kernel.create({
  isolation: 'inline',
  tools: [noop, gate],
  policy: {
    capabilities: [
      { action: 'noop', resource: 'noop' },
      { action: 'bench.gate', resource: 'bench.gate' },
    ],
  },
});
const AGENT = `export default async (n) => {
  await sys.tool('bench.gate', { phase: 'start' });
  for (let i = 0; i < n; i++) await sys.tool('noop', ${JSON.stringify(ARGS)});
  await sys.tool('bench.gate', { phase: 'end' });
  return n;
}`;

/** One round of `agents` kernel agents; ns per syscall inside the gate's window. */
async function kernelRound(agents: number): Promise<number> {
  const perAgent = Math.ceil(CALLS_PER_ROUND / agents);
  resetGate(agents);
  const results = await Promise.all(Array.from({ length: agents }, () => kernel.run({ code: AGENT, input: perAgent })));
  for (const result of results) {
    if (!result.ok) throw new Error(`agent failed: ${result.error.code} ${result.error.message}`);
  }
  return ((closed - opened) * 1e6) / (perAgent * agents);
}

/** `agents` bare isolates with the same payload string and a sync callback; ns per call of one round each. */
function bareIsolates(agents: number): { round(): Promise<number>; dispose(): void } {
  const perAgent = Math.ceil(CALLS_PER_ROUND / agents);
  const payload = JSON.stringify(JSON.stringify(['noop', ARGS, null]));
  const isolates = Array.from({ length: agents }, () => {
    const isolate = new ivm.Isolate({ memoryLimit: 128 });
    const context = isolate.createContextSync();
    context.global.setSync('$bare', new ivm.Callback((_name: string, text: string) => `v${text}`, { sync: true }));
    const loop = context.evalSync(`async (n) => { for (let i = 0; i < n; i++) $bare('tool', ${payload}); }`, {
      reference: true,
    }) as ivm.Reference<(n: number) => Promise<void>>;
    return { isolate, loop };
  });
  return {
    async round() {
      const started = performance.now();
      await Promise.all(isolates.map(({ loop }) => loop.apply(undefined, [perAgent], { result: { promise: true } })));
      return ((performance.now() - started) * 1e6) / (perAgent * agents);
    },
    dispose() {
      for (const { isolate } of isolates) isolate.dispose();
    },
  };
}

for (const agents of LEVELS) {
  const bare = bareIsolates(agents);
  await kernelRound(agents);
  await bare.round();
  const measured: number[] = [];
  const floor: number[] = [];
  // Alternating, so a change in the machine's load reaches both.
  for (let round = 0; round < ROUNDS; round++) {
    measured.push(await kernelRound(agents));
    floor.push(await bare.round());
  }
  bare.dispose();
  figures.fromSamples(`throughput.agents_${agents}`, measured, floor);
}
await kernel.close();
await figures.publish();
