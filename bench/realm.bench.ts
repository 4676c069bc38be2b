// What a guest realm costs (isolate, context and the prelude with every guest global), against a bare
// isolated-vm isolate and context measured in the same run: build latency, an agent's spawn from a warm pool,
// and the heap an idle realm holds. The guest globals (console, timers, URL, TextEncoder, fetch, ...) must
// keep both within 20% of what the prelude cost before them (README, "Benchmarks").
// Run: npm run bench -- realm (or: node --no-node-snapshot --import ./bench/loader/register.mjs bench/realm.bench.ts)
import ivm from 'isolated-vm';
import { Bench } from 'tinybench';
import { Kernel } from '../index.js';
import { GuestRealm } from '../isolates/guest-realm.js';
import { PRELUDE_CONFIG } from '../isolates/prelude-config.js';
import { benchOptions, Figures } from './report.js';

const figures = new Figures({
  'realm.build': {
    what: 'guest realm build: isolate + context + prelude with its eager web globals',
    floor: 'a bare isolate + context',
  },
  'realm.build_cpu': {
    what: 'process CPU per guest realm build (all threads; steadier than latency on a shared machine)',
    floor: 'CPU per bare isolate + context',
  },
  'realm.idle_heap': {
    unit: 'bytes',
    what: "V8's used heap (plus external memory) of a fresh guest realm, prelude run",
    floor: 'a bare isolate + context',
  },
  'realm.spawn_warm_pool': { what: 'agent spawn from a warm realm pool (module + main + dispose)' },
});

const MEMORY_MB = 64;
const pause = { afterEach: () => new Promise<void>((resolve) => setTimeout(resolve, 5)) };

const kernel = Kernel.create({ isolation: 'inline' });
const bench = new Bench(benchOptions({ time: 2000, warmupTime: 300 }));
bench
  .add('bare isolate + context', async () => {
    const isolate = new ivm.Isolate({ memoryLimit: MEMORY_MB * 3 + 64 });
    await isolate.createContext();
    isolate.dispose();
  })
  .add('guest realm (isolate + context + prelude)', async () => {
    (await GuestRealm.build(MEMORY_MB, PRELUDE_CONFIG)).dispose();
  })
  .add(
    'agent spawn, warm pool (module + main + dispose)',
    async () => {
      const result = await kernel.run({ code: 'export default () => 1' });
      if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
    },
    pause,
  );
await bench.run();
await kernel.close();

figures.fromTasks('realm.build', bench, 'guest realm (isolate + context + prelude)', {
  floor: 'bare isolate + context',
});
figures.fromTasks('realm.spawn_warm_pool', bench, 'agent spawn, warm pool (module + main + dispose)');

// CPU per build (process.cpuUsage over many builds, all threads): less sensitive than latency to other load on
// a shared machine, which is what comparisons across runs need.
async function cpuPerBuild(build: () => Promise<void>, n = 200): Promise<number> {
  for (let i = 0; i < 20; i++) await build();
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await build();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}
const bareCpu = await cpuPerBuild(async () => {
  const isolate = new ivm.Isolate({ memoryLimit: MEMORY_MB * 3 + 64 });
  await isolate.createContext();
  isolate.dispose();
});
const realmCpu = await cpuPerBuild(async () => (await GuestRealm.build(MEMORY_MB, PRELUDE_CONFIG)).dispose());
figures.fromValues('realm.build_cpu', { p50: realmCpu * 1000, p99: null, floor: bareCpu * 1000 });

// Idle heap: the mean over several realms of V8's used heap (plus external memory) once setup is done (no GC
// is forced: garbage from setup counts, the same way for both).
const SAMPLES = 16;
async function meanHeap(make: () => Promise<{ isolate: ivm.Isolate; dispose(): void }>): Promise<number> {
  let total = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const made = await make();
    const stats = await made.isolate.getHeapStatistics();
    total += stats.used_heap_size + stats.externally_allocated_size;
    made.dispose();
  }
  return total / SAMPLES;
}
const bare = await meanHeap(async () => {
  const isolate = new ivm.Isolate({ memoryLimit: MEMORY_MB * 3 + 64 });
  await isolate.createContext();
  return { isolate, dispose: () => isolate.dispose() };
});
const realm = await meanHeap(() => GuestRealm.build(MEMORY_MB, PRELUDE_CONFIG));
figures.fromBytes('realm.idle_heap', [realm], [bare]);
await figures.publish();
