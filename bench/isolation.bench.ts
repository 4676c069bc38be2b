// The process isolation tier's costs (issue 11), each against a floor measured in the same run:
// - `sys.tool('noop')` round trip from an agent in a sandbox host vs a bare round trip of the same string
//   between the same two processes over the same channel (`ping`), target ≤ 1.5×;
// - a top-level kernel.run of a trivial agent from a warm host (target ≤ 5 ms p50) and back to back, vs the
//   same agent inline;
// - the resident memory of an idle host;
// - syscall throughput with 1, 2 and 4 agents, each on a host of its own;
// - how long a kill takes to be confirmed by the host (what the SIGKILL grace must exceed).
import { readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { z } from 'zod';
import { defineTool, Kernel } from '../index.js';
import { ProcessLauncher } from '../isolates/process-launcher.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../runtime/kernel-options.js';
import { BUILTIN_POLICY_SECTIONS } from '../tools/policy-sections.js';
import { benchOptions, Figures, scaled } from './report.js';

const figures = new Figures({
  'isolation.noop.round_trip': {
    what: "await sys.tool('noop') from an agent in a sandbox host, per call (runs with and without the calls subtracted)",
    floor: 'a bare frame round trip of the same string between the same two processes',
    target: { kind: 'ratio', max: 1.5 },
  },
  'isolation.run.warm_host': {
    what: 'kernel.run of a trivial agent on a warm sandbox host',
    floor: 'the same agent inline, realm pool warm',
    target: { kind: 'p50', maxNs: 5_000_000 },
  },
  'isolation.run.back_to_back': {
    what: 'kernel.run of a trivial agent in the process tier, back to back',
    floor: 'the same agent inline, realm pool warm',
  },
  'isolation.host.idle_rss': { unit: 'bytes', what: 'resident memory of an idle, warm sandbox host' },
  'isolation.throughput.hosts_1': { unit: 'rate', what: 'noop syscalls of 1 agent on its own host (best of 3)' },
  'isolation.throughput.hosts_2': { unit: 'rate', what: 'the same with 2 agents, each on its own host' },
  'isolation.throughput.hosts_4': { unit: 'rate', what: 'the same with 4 agents, each on its own host' },
  'isolation.kill.confirmed': {
    what: 'a spinning agent killed by the host program, until its sandbox host confirms the isolate gone',
  },
});

const CALLS = 200;
const noop = defineTool({ name: 'noop', description: 'does nothing', input: z.unknown(), run: () => null });
const options = {
  tools: [noop],
  policy: { capabilities: [{ action: 'noop', resource: 'noop' }] },
  sandboxHosts: { warm: 4 },
} as const;
const launcher = new ProcessLauncher({ maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES, warm: 4 });
const kernel = new Kernel({ ...options, isolation: 'process' }, { launcher, policySections: BUILTIN_POLICY_SECTIONS });
const inline = Kernel.create({ ...options, isolation: 'inline' });

const run = async (k: Kernel, code: string) => {
  const result = await k.run({ code });
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
};
const calls = (n: number) => `export default async () => { for (let i = 0; i < ${n}; i++) await sys.tool('noop', i); }`;
// The string a `sys.tool('noop', i)` stub sends.
const PAYLOAD = JSON.stringify(['noop', 123, null]);
await launcher.ping(PAYLOAD);

// Untimed pauses let a host come back from its post-run check and the pools refill, as between requests.
const settle = { afterEach: () => new Promise<void>((resolve) => setTimeout(resolve, 60)) };
const bench = new Bench(benchOptions({ time: 3000, warmupTime: 500 }));
bench
  .add(`run with ${CALLS} noop calls (process)`, () => run(kernel, calls(CALLS)), settle)
  .add('run with 0 noop calls (process)', () => run(kernel, calls(0)), settle)
  .add(`${CALLS} bare round trips of the same string`, async () => {
    for (let i = 0; i < CALLS; i++) await launcher.ping(PAYLOAD);
  })
  .add('kernel.run trivial agent (process, warm host)', () => run(kernel, 'export default () => 1'), settle)
  .add('kernel.run trivial agent (process, back to back)', () => run(kernel, 'export default () => 1'))
  .add('kernel.run trivial agent (inline, pool warm)', () => run(inline, 'export default () => 1'), settle);
await bench.run();

const p50 = (name: string) => {
  const result = bench.getTask(name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`no result for ${name}`);
  return result.latency.p50;
};
const perCall = (p50(`run with ${CALLS} noop calls (process)`) - p50('run with 0 noop calls (process)')) / CALLS;
const bare = p50(`${CALLS} bare round trips of the same string`) / CALLS;
figures.fromValues('isolation.noop.round_trip', { p50: perCall * 1e6, p99: null, floor: bare * 1e6 });
const inlineRun = 'kernel.run trivial agent (inline, pool warm)';
figures.fromTasks('isolation.run.warm_host', bench, 'kernel.run trivial agent (process, warm host)', {
  floor: inlineRun,
});
figures.fromTasks('isolation.run.back_to_back', bench, 'kernel.run trivial agent (process, back to back)', {
  floor: inlineRun,
});

// Idle host memory: the hosts the supervisor keeps warm, read from the OS.
await new Promise((resolve) => setTimeout(resolve, 500));
const rss = launcher
  .hostPids()
  .map((pid) => Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096)
  .filter((bytes) => Number.isFinite(bytes));
figures.fromBytes('isolation.host.idle_rss', rss);

// Throughput: K agents at once, each on its own host, each making N calls; best of three.
const N = scaled(1000, 200);
for (const agents of [1, 2, 4] as const) {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = performance.now();
    await Promise.all(Array.from({ length: agents }, () => run(kernel, calls(N))));
    best = Math.min(best, ((performance.now() - started) * 1e6) / (agents * N));
  }
  figures.fromSamples(`isolation.throughput.hosts_${agents}`, [best]);
}

// Kill confirmation: a spinning agent killed by the host program, until the host reports the isolate gone.
const confirmations: number[] = [];
for (let i = 0; i < scaled(10, 3); i++) {
  const handle = kernel.spawn({ code: 'export default () => { for (;;); }' });
  await new Promise((resolve) => setTimeout(resolve, 150));
  const started = performance.now();
  handle.kill('bench');
  const result = await handle.result;
  if (result.ok || result.error.code !== 'E_KILLED') throw new Error('kill was not confirmed as a kill');
  confirmations.push((performance.now() - started) * 1e6);
}
figures.fromSamples('isolation.kill.confirmed', confirmations);

await kernel.close();
await inline.close();
await figures.publish();
